// Package container runs one process in an image's root filesystem the way a container runtime
// would, with nothing but the kernel: its own mount, PID, UTS and IPC namespaces (and, for a pod with
// hostUsers: false, its own user namespace), the image's files as the root (read-only, or under an
// overlay), the pod's volumes bind-mounted where the pod spec says, /proc, a minimal /dev, the host's
// /sys read-only, a uid and gid, no_new_privs, and the cgroups the caller puts it in. The network
// stays the host's (pods listen on loopback addresses of their own), and there is no seccomp filter.
//
// The process is the calling binary re-executed with InitArg: it sets all of this up inside the new
// namespaces and then executes the container's command, which becomes PID 1 of its PID namespace
// (when it exits, the kernel kills everything left in it). A binary using the package calls
// MaybeInit first thing in main (or TestMain).
package container

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// InitArg is os.Args[1] of the re-executed binary that sets the container up.
const InitArg = "__kcr-container-init"

// Mount is a host file or directory bound into the container.
type Mount struct {
	Source   string // host path
	Target   string // absolute path inside the container
	ReadOnly bool
}

// IDMap maps container ids 0..Size-1 to host ids HostID..HostID+Size-1 (a user namespace).
type IDMap struct {
	HostID int
	Size   int
}

// Spec is one container.
type Spec struct {
	Rootfs       string   // the image's root filesystem (never written when ReadOnlyRoot)
	Root         string   // an empty host dir, the mount point of the container's root
	Layer        string   // host dir for the writable layer (overlay upper and work dirs) when !ReadOnlyRoot
	ReadOnlyRoot bool     //
	Args         []string // the command; Args[0] is looked up on the PATH of Env inside the root
	Env          []string
	Dir          string // working directory inside the container
	UID, GID     int    // inside the container
	Groups       []int  // supplementary groups (fsGroup)
	Hostname     string
	Mounts       []Mount
	UserNS       *IDMap // nil: the host's users
	NoNewPrivs   bool
}

// Command returns the command that runs spec: start it, put its process into cgroups if wanted, then
// call Release (nothing happens inside before that).
func Command(spec Spec) (*exec.Cmd, *Starter, error) {
	if !filepath.IsAbs(spec.Rootfs) || !filepath.IsAbs(spec.Root) || len(spec.Args) == 0 {
		return nil, nil, fmt.Errorf("container: needs absolute Rootfs and Root, and a command")
	}
	if !spec.ReadOnlyRoot && spec.Layer == "" {
		return nil, nil, fmt.Errorf("container: a writable root needs a Layer dir")
	}
	if !spec.ReadOnlyRoot && spec.UserNS != nil {
		// The overlay's copy-up would have to create files owned by ids the namespace does not map
		// (the image's root); a runtime uses idmapped layers for that, this package does not.
		return nil, nil, fmt.Errorf("container: a writable root in a user namespace is not supported (use readOnlyRootFilesystem)")
	}
	// Done here, as the host's root, what the init could not do as a user namespace's root: the
	// mount points missing in the image (made in the image's root filesystem, as a runtime makes them
	// in the container's layer) and the writable layer, owned by the container's root.
	for _, m := range spec.Mounts {
		if err := ensureMountPoint(m.Source, filepath.Join(spec.Rootfs, filepath.Clean("/"+m.Target))); err != nil {
			return nil, nil, fmt.Errorf("container: mount point %s: %w", m.Target, err)
		}
	}
	if !spec.ReadOnlyRoot {
		for _, d := range []string{spec.Layer, filepath.Join(spec.Layer, "upper"), filepath.Join(spec.Layer, "work")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, nil, err
			}
			if spec.UserNS != nil {
				if err := os.Chown(d, spec.UserNS.HostID, spec.UserNS.HostID); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	// The init is this binary, executed through an open file: its directory may be closed to the
	// container's host uid (a user namespace's).
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	self, err := os.Open(exe)
	if err != nil {
		return nil, nil, err
	}
	// The root filesystem as a detached copy of its mount tree, made here and attached by the init:
	// a user namespace's root may not reach its path (an image's layers under /var/lib/containers
	// are closed to other users), and a bind mount cannot take its source from another namespace.
	rootfd, err := unix.OpenTree(unix.AT_FDCWD, spec.Rootfs, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		self.Close()
		return nil, nil, fmt.Errorf("container: root filesystem %s: %w", spec.Rootfs, err)
	}
	rootfs := os.NewFile(uintptr(rootfd), spec.Rootfs)
	r, w, err := os.Pipe()
	if err != nil {
		self.Close()
		rootfs.Close()
		return nil, nil, err
	}
	cmd := &exec.Cmd{Path: "/proc/self/fd/4", Args: []string{"kcr-container", InitArg}, Env: []string{}}
	// fd 3: the spec, then EOF = go; fd 4: the binary; fd 5: the root filesystem.
	cmd.ExtraFiles = []*os.File{r, self, rootfs}
	attr := &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
	}
	if m := spec.UserNS; m != nil {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: m.HostID, Size: m.Size}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: m.HostID, Size: m.Size}}
		attr.GidMappingsEnableSetgroups = true
		// Root inside: the init needs its capabilities in the new namespaces to mount.
		attr.Credential = &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}}
	}
	cmd.SysProcAttr = attr
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, nil, err
	}
	return cmd, &Starter{r: r, w: w, self: self, rootfs: rootfs, spec: b}, nil
}

// Starter holds the container's setup until Release.
type Starter struct {
	r, w, self, rootfs *os.File
	spec               []byte
}

// Release lets the started process set the container up and run its command. Call it once after
// cmd.Start (or Abort when Start failed).
func (s *Starter) Release() error {
	s.r.Close()
	s.self.Close()
	s.rootfs.Close()
	_, err := s.w.Write(s.spec)
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	return err
}

// Abort closes the pipe without starting anything.
func (s *Starter) Abort() {
	s.r.Close()
	s.self.Close()
	s.rootfs.Close()
	s.w.Close()
}

// MaybeInit runs the container setup when this process is the re-executed init; it never returns then.
func MaybeInit() {
	if len(os.Args) < 2 || os.Args[1] != InitArg {
		return
	}
	if err := initContainer(); err != nil {
		fmt.Fprintf(os.Stderr, "container: %v\n", err)
		os.Exit(127)
	}
	os.Exit(127) // not reached: initContainer executes the command
}

func initContainer() error {
	syscall.Close(4) // the binary
	pipe := os.NewFile(3, "spec")
	b, err := io.ReadAll(pipe)
	pipe.Close()
	if err != nil {
		return fmt.Errorf("reading the spec: %w", err)
	}
	if len(b) == 0 {
		return fmt.Errorf("aborted before start")
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("the spec: %w", err)
	}
	// Nothing mounted here propagates back to the host.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	root := s.Root
	// The detached root filesystem the parent made (fd 5), attached at root; a writable root is an
	// overlay on top of it, at the same place.
	if err := unix.MoveMount(5, "", unix.AT_FDCWD, root, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attaching the root filesystem: %w", err)
	}
	if !s.ReadOnlyRoot {
		upper, work := filepath.Join(s.Layer, "upper"), filepath.Join(s.Layer, "work")
		opts := "lowerdir=" + root + ",upperdir=" + upper + ",workdir=" + work
		if err := syscall.Mount("overlay", root, "overlay", 0, opts); err != nil {
			return fmt.Errorf("overlay root: %w", err)
		}
	}
	inRoot := func(p string) string { return filepath.Join(root, filepath.Clean("/"+p)) }

	if err := syscall.Mount("proc", inRoot("/proc"), "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	if err := mountDev(inRoot("/dev")); err != nil {
		return fmt.Errorf("/dev: %w", err)
	}
	if err := bindReadOnly("/sys", inRoot("/sys"), true); err != nil {
		return fmt.Errorf("/sys: %w", err)
	}
	for _, m := range s.Mounts {
		target := inRoot(m.Target)
		if m.ReadOnly {
			err = bindReadOnly(m.Source, target, false)
		} else {
			err = syscall.Mount(m.Source, target, "", syscall.MS_BIND|syscall.MS_REC, "")
		}
		if err != nil {
			return fmt.Errorf("mounting %s at %s: %w", m.Source, m.Target, err)
		}
	}
	if s.ReadOnlyRoot {
		if err := remountReadOnly(root); err != nil {
			return fmt.Errorf("read-only root: %w", err)
		}
	}
	syscall.Close(5)
	if err := syscall.Chdir(root); err != nil {
		return err
	}
	if err := syscall.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := syscall.Unmount(".", syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the old root: %w", err)
	}
	if s.Hostname != "" {
		if err := syscall.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	}
	dir := s.Dir
	if dir == "" {
		dir = "/"
	}
	if err := syscall.Chdir(dir); err != nil {
		return fmt.Errorf("working dir %s: %w", dir, err)
	}
	// Resolved before the user changes: a file only root may look at fails below, at exec.
	path, err := lookPath(s.Args[0], s.Env)
	if err != nil {
		return err
	}
	if err := syscall.Setgroups(s.Groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(s.GID, s.GID, s.GID); err != nil {
		return fmt.Errorf("setgid %d: %w", s.GID, err)
	}
	// From root to another uid the kernel clears the capabilities.
	if err := syscall.Setresuid(s.UID, s.UID, s.UID); err != nil {
		return fmt.Errorf("setuid %d: %w", s.UID, err)
	}
	if s.NoNewPrivs {
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0, 0); e != 0 {
			return fmt.Errorf("no_new_privs: %w", e)
		}
	}
	return syscall.Exec(path, s.Args, s.Env)
}

const prSetNoNewPrivs = 38

// mountDev makes a small /dev: a tmpfs with the host's harmless character devices bound in, /dev/shm
// and the usual links, as container runtimes do.
func mountDev(dev string) error {
	if err := syscall.Mount("tmpfs", dev, "tmpfs", syscall.MS_NOSUID|syscall.MS_NOEXEC, "mode=755,size=65536k"); err != nil {
		return err
	}
	for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		target := filepath.Join(dev, d)
		if err := os.WriteFile(target, nil, 0o666); err != nil {
			return err
		}
		if err := syscall.Mount("/dev/"+d, target, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding /dev/%s: %w", d, err)
		}
	}
	shm := filepath.Join(dev, "shm")
	if err := os.Mkdir(shm, 0o1777); err != nil {
		return err
	}
	if err := syscall.Mount("shm", shm, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return err
	}
	for name, to := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(to, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	return nil
}

// bindReadOnly binds src (recursive: with its submounts) at target and makes the bind read-only.
func bindReadOnly(src, target string, recursive bool) error {
	flags := uintptr(syscall.MS_BIND)
	if recursive {
		flags |= syscall.MS_REC
	}
	if err := syscall.Mount(src, target, "", flags, ""); err != nil {
		return err
	}
	return remountReadOnly(target)
}

// remountReadOnly makes the bind mount at target read-only, keeping its other flags: in a user
// namespace the kernel refuses a remount that would drop nosuid, nodev, noexec or the atime flags.
func remountReadOnly(target string) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(target, &st); err != nil {
		return err
	}
	flags := uintptr(syscall.MS_BIND | syscall.MS_REMOUNT | syscall.MS_RDONLY)
	for st_, ms := range map[int64]uintptr{
		0x2: syscall.MS_NOSUID, 0x4: syscall.MS_NODEV, 0x8: syscall.MS_NOEXEC,
		0x400: syscall.MS_NOATIME, 0x800: syscall.MS_NODIRATIME, 0x1000: syscall.MS_RELATIME,
	} {
		if st.Flags&st_ != 0 {
			flags |= ms
		}
	}
	return syscall.Mount("", target, "", flags, "")
}

// ensureMountPoint creates target like src (a dir, or an empty file) when it does not exist.
func ensureMountPoint(src, target string) error {
	if _, err := os.Lstat(target); err == nil {
		return nil
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return os.MkdirAll(target, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	return os.WriteFile(target, nil, 0o644)
}

// lookPath finds cmd on the PATH of env, inside the new root.
func lookPath(cmd string, env []string) (string, error) {
	if strings.Contains(cmd, "/") {
		return cmd, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, cmd)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found on PATH %s", cmd, path)
}

// Image is an unpacked image: scripts/build-images --rootfs DIR/<name>/{rootfs,config.json,.image-id}.
type Image struct {
	Rootfs string
	ID     string // the image id, "" when unknown
	Config ImageConfig
}

// ImageConfig is the part of an image's configuration (OCI or Docker: the same field names) a
// container runs with.
type ImageConfig struct {
	Env        []string
	Entrypoint []string
	Cmd        []string
	User       string
	WorkingDir string
	Labels     map[string]string
}

// ReadImage reads the unpacked image in dir; nil (and no error) when dir has no rootfs.
func ReadImage(dir string) (*Image, error) {
	if fi, err := os.Stat(filepath.Join(dir, "rootfs")); err != nil || !fi.IsDir() {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	img := &Image{Rootfs: filepath.Join(dir, "rootfs")}
	if err := json.Unmarshal(b, &img.Config); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	id, _ := os.ReadFile(filepath.Join(dir, ".image-id"))
	img.ID = strings.TrimSpace(string(id))
	return img, nil
}
