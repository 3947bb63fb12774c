package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// A sandbox's holder ("runner __holder SPEC") owns the sandbox's namespaces: the jail server starts it
// in new user, mount, pid, network, ipc and uts namespaces, with uid/gid 0 inside mapped to the jail's
// unprivileged root uid and 65532 inside mapped to the sandbox's own host uid (nothing else is mapped).
// It assembles the sandbox's root from the skeleton (its /mnt/data and /tmp bound from the sandbox's
// tmpfs, a bounded /dev/shm, its own /dev/pts and /proc), pivots into it, says "ok" on fd 3 and then
// only reaps: it is PID 1 of the sandbox, so orphans of user code end up here. Runs are forked by a
// template and enter these namespaces through the holder's pidfd; the holder itself runs no user code.
//
// A template ("runner __template SPEC") is set up the same way but stays in the host's user and pid
// namespaces (it must be able to enter the sandboxes'): a mount namespace with the skeleton, a private
// /tmp and /mnt/data at the same paths as a sandbox's, then it execs the Python template (zygote.py).
const (
	holderCommand   = "__holder"
	templateCommand = "__template"
)

// holderSpec: paths are as the jail server sees them (under /.kcr of its own root).
type holderSpec struct {
	Skeleton  string `json:"skeleton"`
	NewRoot   string `json:"newroot"`
	Data      string `json:"data"` // the sandbox's /mnt/data on the host side
	Tmp       string `json:"tmp"`  // its /tmp
	ShmSize   uint64 `json:"shm_size"`
	ShmInodes uint64 `json:"shm_inodes"`
}

func holderMain(args []string) {
	ready := os.NewFile(3, "ready")
	var spec holderSpec
	err := json.Unmarshal([]byte(args[0]), &spec)
	if err == nil {
		err = setupHolder(spec)
	}
	if err != nil {
		fmt.Fprintf(ready, "error: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintln(ready, "ok")
	ready.Close()
	// PID 1: reap whatever ends up here until the jail server kills us.
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, syscall.SIGCHLD)
	for range ch {
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}

func setupHolder(spec holderSpec) error {
	if err := assembleRoot(spec.Skeleton, spec.NewRoot); err != nil {
		return err
	}
	in := func(p string) string { return filepath.Join(spec.NewRoot, p) }
	for src, dst := range map[string]string{spec.Data: "mnt/data", spec.Tmp: "tmp"} {
		// nosuid and nodev come (locked) from the sandbox's tmpfs.
		if err := syscall.Mount(src, in(dst), "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding %s: %v", dst, err)
		}
	}
	shm := fmt.Sprintf("mode=1777,size=%d,nr_inodes=%d", spec.ShmSize, spec.ShmInodes)
	if err := syscall.Mount("shm", in("dev/shm"), "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, shm); err != nil {
		return fmt.Errorf("mounting /dev/shm: %v", err)
	}
	if err := syscall.Mount("devpts", in("dev/pts"), "devpts", syscall.MS_NOSUID|syscall.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("mounting /dev/pts: %v", err)
	}
	if err := mountProc(in("proc")); err != nil {
		return err
	}
	// No user namespace below this one (seccomp denies creating one too): the limit of the sandbox's
	// user namespace, which applies to everything inside it.
	if err := os.WriteFile(in("proc/sys/user/max_user_namespaces"), []byte("0"), 0); err != nil {
		return fmt.Errorf("setting max_user_namespaces: %v", err)
	}
	if err := readOnlyProcKnobs(in("proc")); err != nil {
		return err
	}
	if err := syscall.Sethostname([]byte("sandbox")); err != nil {
		return fmt.Errorf("sethostname: %v", err)
	}
	if err := loopbackUp(); err != nil {
		return fmt.Errorf("bringing up the loopback interface: %v", err)
	}
	return enterRoot(spec.NewRoot)
}

// loopbackUp brings up lo in the sandbox's network namespace (a new one has it down): code may talk
// to itself over 127.0.0.1, and to nothing else.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var req struct {
		name  [16]byte
		flags uint16
		_     [22]byte
	}
	copy(req.name[:], "lo")
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&req))); e != 0 {
		return e
	}
	req.flags |= syscall.IFF_UP
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&req))); e != 0 {
		return e
	}
	return nil
}

// startHolder starts the holder of a sandbox whose runs are host uid uid, and waits for it to be ready.
// It returns the process and its pidfd.
func (j *jail) startHolder(spec holderSpec, uid int) (*exec.Cmd, int, error) {
	b, _ := json.Marshal(spec)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, -1, err
	}
	defer r.Close()
	pidfd := -1
	ids := []syscall.SysProcIDMap{{ContainerID: 0, HostID: j.cfg.UIDBase, Size: 1}, {ContainerID: sandboxUID, HostID: uid, Size: 1}}
	cmd := &exec.Cmd{Path: selfExe, Args: []string{selfExe, holderCommand, string(b)}, Env: []string{}, Dir: "/",
		ExtraFiles: []*os.File{w},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
				syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
			UidMappings: ids, GidMappings: ids,
			// Root inside (the jail's unprivileged root uid outside), so it keeps its capabilities in its
			// namespaces across the exec. setgroups stays denied in the sandbox's user namespace.
			Credential: &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
			Pdeathsig:  syscall.SIGKILL,
			PidFD:      &pidfd,
		}}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return nil, -1, fmt.Errorf("starting the holder: %v", err)
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	var msg string
	select {
	case msg = <-line:
	case <-time.After(j.cfg.StartTimeout):
		msg = "error: not ready in time"
	}
	if msg != "ok" {
		cmd.Process.Kill()
		cmd.Wait()
		if pidfd >= 0 {
			syscall.Close(pidfd)
		}
		return nil, -1, fmt.Errorf("sandbox holder: %s", strings.TrimPrefix(msg, "error: "))
	}
	return cmd, pidfd, nil
}

type templateSpec struct {
	Mode     string            `json:"mode"` // py | exec
	Skeleton string            `json:"skeleton"`
	NewRoot  string            `json:"newroot"`
	Argv     []string          `json:"argv"` // the Python command
	Env      []string          `json:"env"`
	Files    map[string][]byte `json:"files"` // written into the template's /tmp (shims, filter, spec)
	MplSeed  string            `json:"mpl_seed"`
}

func templateMain(args []string) {
	var spec templateSpec
	err := json.Unmarshal([]byte(args[0]), &spec)
	if err == nil {
		err = setupTemplate(spec)
	}
	if err == nil {
		err = syscall.Exec(spec.Argv[0], spec.Argv, spec.Env)
	}
	fmt.Fprintf(os.Stderr, "runner: template %s: %v\n", spec.Mode, err)
	os.Exit(1)
}

func setupTemplate(spec templateSpec) error {
	if err := assembleRoot(spec.Skeleton, spec.NewRoot); err != nil {
		return err
	}
	in := func(p string) string { return filepath.Join(spec.NewRoot, p) }
	for _, d := range []string{"tmp", "mnt/data"} {
		if err := syscall.Mount("kcr-template", in(d), "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755,size=64m"); err != nil {
			return fmt.Errorf("mounting %s: %v", d, err)
		}
	}
	if err := mountProc(in("proc")); err != nil {
		return err
	}
	for name, b := range spec.Files {
		p := in(path.Join("tmp", name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	for _, d := range []string{dirHome, dirTmp} {
		os.MkdirAll(in(path.Join("tmp", d)), 0o755)
	}
	// The font list matplotlib would otherwise build at import (the children's MPLCONFIGDIR path).
	if lists := readFontLists(spec.MplSeed); len(lists) > 0 {
		dst := in("tmp/" + dirHome + "/.config/matplotlib")
		os.MkdirAll(dst, 0o755)
		for name, b := range lists {
			os.WriteFile(filepath.Join(dst, name), b, 0o644)
		}
	}
	return enterRoot(spec.NewRoot)
}
