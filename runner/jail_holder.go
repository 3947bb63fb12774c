package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A sandbox's holder owns the sandbox's namespaces: new user, mount, pid, network, ipc and uts
// namespaces, with uid/gid 0 inside mapped to the jail's unprivileged root uid and 65532 inside mapped
// to the sandbox's own host uid (nothing else is mapped). It assembles the sandbox's root from the
// skeleton (its /mnt/data and /tmp bound from the sandbox's tmpfs, a bounded /dev/shm, its own /dev/pts
// and /proc), pivots into it, says "ok" and then only reaps: it is PID 1 of the sandbox, so orphans of
// user code end up here. Runs are forked by a template and enter these namespaces through the holder's
// pidfd; the holder itself runs no user code. It is a small C program (holder/holder.c, which says why),
// started by the jail server as runner-holder.
//
// A template ("runner __template SPEC") is set up the same way but stays in the host's user and pid
// namespaces (it must be able to enter the sandboxes'): a mount namespace with the skeleton, a private
// /tmp and /mnt/data at the same paths as a sandbox's, then it execs the Python template (zygote.py).
const templateCommand = "__template"

// jailHolderExe is where the jail server finds runner-holder in its own root (copied there at start).
const jailHolderExe = jailPrivate + "/runner-holder"

// holderSpec: paths are as the jail server sees them (under /.kcr of its own root).
type holderSpec struct {
	Skeleton  string
	NewRoot   string
	Data      string // the sandbox's /mnt/data on the host side
	Tmp       string // its /tmp
	ShmSize   uint64
	ShmInodes uint64
	Net       *os.File // the sandbox's network namespace, made by the jail server; nil: the holder makes one
}

// pidfd_open(2) and pidfd_send_signal(2): the same numbers on amd64 and arm64.
const (
	sysPidfdOpen       = 434
	sysPidfdSendSignal = 424
)

// holder is a started sandbox holder: cmd is the process that made its namespaces and waits for it
// (it exits when the holder does); pid and pidfd are the holder's own, PID 1 of the sandbox.
type holder struct {
	cmd   *exec.Cmd
	pid   int
	pidfd int
}

// startHolder starts the holder of a sandbox whose runs are host uid uid, and waits for it to be ready.
// runner-holder makes the user namespace itself, so it is started with a plain vfork (Go copies the
// whole address space for a child it puts in a new user namespace); this side writes its uid and gid
// maps, which only a process outside the namespace may.
func (j *jail) startHolder(spec holderSpec, uid int) (*holder, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	sp, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		w.Close()
		return nil, err
	}
	syscall.SetNonblock(sp[0], true) // for deadlines
	sync, theirs := os.NewFile(uintptr(sp[0]), "holder-sync"), os.NewFile(uintptr(sp[1]), "holder-sync")
	defer sync.Close()
	net := "-"
	files := []*os.File{w, theirs}
	switch {
	case spec.Net != nil:
		net = "=" + strconv.Itoa(3+len(files)) // its fd in the holder
		files = append(files, spec.Net)
	case j.netParent != nil:
		net = strconv.Itoa(3 + len(files))
		files = append(files, j.netParent)
	}
	cmd := &exec.Cmd{Path: jailHolderExe, Env: []string{}, Dir: "/",
		Args: []string{jailHolderExe, spec.Skeleton, spec.NewRoot, spec.Data, spec.Tmp,
			strconv.FormatUint(spec.ShmSize, 10), strconv.FormatUint(spec.ShmInodes, 10), net,
			strconv.Itoa(uid)},
		ExtraFiles:  files,
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}}
	err = cmd.Start()
	w.Close()
	theirs.Close()
	if err != nil {
		return nil, fmt.Errorf("starting the holder: %v", err)
	}
	h := &holder{cmd: cmd, pidfd: -1}
	deadline := time.Now().Add(j.cfg.StartTimeout)
	r.SetDeadline(deadline)
	sync.SetDeadline(deadline)
	err = h.handshake(sync, uid, j.cfg.UIDBase)
	if err != nil {
		h.kill() // not left waiting for a step of ours that will not come
	}
	// The holder's own word: "ok", or what failed (it wins over a handshake broken by its exit).
	line, _ := bufio.NewReader(r).ReadString('\n')
	switch msg := strings.TrimSpace(line); {
	case strings.HasPrefix(msg, "error: "):
		err = errors.New(strings.TrimPrefix(msg, "error: "))
	case err == nil && msg != "ok":
		err = errors.New("not ready in time")
	}
	if err != nil {
		h.kill()
		cmd.Wait()
		if h.pidfd >= 0 {
			syscall.Close(h.pidfd)
		}
		return nil, fmt.Errorf("sandbox holder: %v", err)
	}
	return h, nil
}

// handshake does the jail server's part of runner-holder's start (holder/holder.c).
func (h *holder) handshake(sync *os.File, uid, rootUID int) error {
	b := make([]byte, 32)
	if n, err := sync.Read(b[:1]); n != 1 || b[0] != 'u' {
		return fmt.Errorf("no user namespace (%v)", err)
	}
	proc := "/proc/" + strconv.Itoa(h.cmd.Process.Pid) + "/"
	ids := fmt.Sprintf("0 %d 1\n%d %d 1\n", rootUID, sandboxUID, uid)
	for _, f := range []struct{ name, data string }{{"setgroups", "deny"}, {"uid_map", ids}, {"gid_map", ids}} {
		if err := os.WriteFile(proc+f.name, []byte(f.data), 0); err != nil {
			return fmt.Errorf("writing its %s: %v", f.name, err)
		}
	}
	if _, err := sync.Write([]byte("m")); err != nil {
		return err
	}
	n, err := io.ReadAtLeast(sync, b, 1)
	for err == nil && b[n-1] != '\n' && n < len(b) {
		var m int
		m, err = sync.Read(b[n:])
		n += m
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || perr != nil || pid <= 0 {
		return fmt.Errorf("no holder pid (%v)", err)
	}
	// Its pid cannot be reused yet: runner-holder does not reap it before our "r".
	fd, _, e := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	if e != 0 {
		return fmt.Errorf("pidfd_open: %v", e)
	}
	h.pid, h.pidfd = pid, int(fd)
	_, err = sync.Write([]byte("r"))
	return err
}

// kill kills the holder, and with it its pid namespace; the process waiting for it reaps it and exits.
// Before the holder's pidfd is ours, that process is killed instead (the holder dies with it).
func (h *holder) kill() {
	if h.pidfd >= 0 {
		syscall.Syscall6(sysPidfdSendSignal, uintptr(h.pidfd), uintptr(syscall.SIGKILL), 0, 0, 0, 0)
		return
	}
	h.cmd.Process.Kill()
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
