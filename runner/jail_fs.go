package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"unsafe"
)

// The jail server lives in a mount namespace of its own, whose root is a tmpfs (mounted at its --base
// directory, then pivoted into):
//
//	/usr, /opt/..., ...  the host paths it and its children use, read-only, at their own paths
//	/proc, /sys/fs/cgroup, /dev/null
//	/.kcr/skeleton       the root of every sandbox: a read-only tmpfs with the system's /usr (and /bin,
//	                     /lib, ... as on the host), a few /etc files, the toolchains outside /usr, /dev
//	                     nodes, empty mount points (/mnt/data, /tmp, /proc, /dev/shm, /dev/pts) and
//	                     the runner binary at /.kcr/runner (bash PTC stubs run it)
//	/.kcr/newroot        an empty directory where holders and templates assemble their root
//	/.kcr/sb/<id>        one tmpfs per sandbox (size- and inode-bounded): data/ (its /mnt/data) and
//	                     tmp/ (its /tmp)
//
// Nothing of this is visible on the host, and all of it goes away with the jail server's processes.

// skeletonEtc are the /etc entries toolchains read; everything else of /etc stays hidden.
var skeletonEtc = []string{
	"/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/nsswitch.conf",
	"/etc/localtime", "/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/etc/ca-certificates", "/etc/ca-certificates.conf", "/etc/fonts",
	"/etc/mime.types", "/etc/matplotlibrc", "/etc/R", "/etc/php", "/etc/ldc2.conf", "/etc/gprofng.rc",
	"/etc/java-17-openjdk", "/etc/java-21-openjdk", "/etc/java-25-openjdk", "/etc/perl", "/etc/mono",
	"/etc/python3", "/etc/python3.11",
}

const (
	skeletonPasswd = "root:x:0:0:root:/root:/bin/sh\nsandbox:x:65532:65532:sandbox:/tmp:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	skeletonGroup = "root:x:0:\nsandbox:x:65532:\nnogroup:x:65534:\n"

	mountAttrRdonly = 0x1
	mountAttrNosuid = 0x2
	mountAttrNodev  = 0x4
	atRecursive     = 0x8000
)

// buildSkeleton makes the read-only root at dir: /usr and the rest of roBinds bound read-only at their
// own path (a path inside one already bound is skipped), the /etc files, generated passwd and group.
func buildSkeleton(dir string, roBinds []string) error {
	if err := syscall.Mount("kcr-skeleton", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755,size=16m"); err != nil {
		return fmt.Errorf("mounting the skeleton tmpfs: %v", err)
	}
	in := func(p string) string { return filepath.Join(dir, p) }
	for _, d := range []string{"usr", "mnt/data", "tmp", "proc", "dev/shm", "dev/pts", "etc"} {
		if err := os.MkdirAll(in(d), 0o755); err != nil {
			return err
		}
	}
	os.Chmod(in("tmp"), 0o1777)
	// /bin, /lib... as on the host: symlinks into /usr (merged /usr), or directories bound read-only.
	binds := []string{"/usr"}
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		st, err := os.Lstat(d)
		switch {
		case err != nil:
		case st.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(d)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, in(d)); err != nil {
				return err
			}
		default:
			binds = append(binds, d)
		}
	}
	binds = append(binds, skeletonEtc...)
	binds = append(binds, roBinds...)
	for _, name := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		if err := bindInto(dir, "/dev/"+name, false); err != nil {
			return err
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"} {
		if err := os.Symlink(target, in("dev/"+name)); err != nil {
			return err
		}
	}
	if err := os.WriteFile(in("etc/passwd"), []byte(skeletonPasswd), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(in("etc/group"), []byte(skeletonGroup), 0o644); err != nil {
		return err
	}
	// Parents before children, and nothing inside a path already bound (it is visible already).
	sort.Strings(binds)
	var done []string
	for _, b := range binds {
		b = filepath.Clean(b)
		if !filepath.IsAbs(b) || b == "/" || insideAny(b, done) {
			continue
		}
		if insideAny(b, []string{"/tmp", "/mnt/data", "/proc", "/dev"}) {
			log.Printf("runner jail: %s is not bound into sandboxes: their own %s covers it", b, strings.SplitN(b, "/", 3)[1])
			continue
		}
		if _, err := os.Stat(b); err != nil {
			continue // a toolchain that is not installed, an /etc file this system lacks
		}
		if err := bindInto(dir, b, true); err != nil {
			return err
		}
		done = append(done, b)
	}
	if err := bindRunner(dir); err != nil {
		return err
	}
	// The skeleton's own tmpfs becomes read-only for good (the superblock, not only this mount).
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV, ""); err != nil {
		return fmt.Errorf("making the skeleton read-only: %v", err)
	}
	return nil
}

// bindRunner binds the runner binary read-only at jailRunnerPath: bash PTC stubs run it (ptc-call),
// wherever the binary is on the host.
func bindRunner(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dst := filepath.Join(dir, jailRunnerPath)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dst, nil, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(self, dst, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding the runner binary: %v", err)
	}
	return makeReadOnly(dst)
}

func insideAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if within(p, d) {
			return true
		}
	}
	return false
}

// bindInto binds the host path src at the same path under root, creating the mount point (a file or
// a directory, with its parents). readOnly also makes it nosuid and nodev, recursively. A symlink is
// copied as a symlink (e.g. /etc/localtime, which tools read as a link to learn the time zone).
func bindInto(root, src string, readOnly bool) error {
	dst := filepath.Join(root, src)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if lst, err := os.Lstat(src); err == nil && lst.Mode()&os.ModeSymlink != 0 {
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	}
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if st.IsDir() {
		err = os.Mkdir(dst, 0o755)
	} else {
		var f *os.File
		if f, err = os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
			f.Close()
		}
	}
	if err != nil && !os.IsExist(err) {
		return err
	}
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("binding %s: %v", src, err)
	}
	if !readOnly {
		return nil
	}
	return makeReadOnly(dst)
}

// makeReadOnly makes a bind mount and everything mounted below it read-only, nosuid and nodev.
func makeReadOnly(dst string) error {
	if err := mountSetattr(dst, mountAttrRdonly|mountAttrNosuid|mountAttrNodev, true); err == nil {
		return nil
	} else if !errors.Is(err, syscall.ENOSYS) {
		return fmt.Errorf("making %s read-only: %v", dst, err)
	}
	// Before Linux 5.12: the top mount only.
	return syscall.Mount("", dst, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV, "")
}

// mountSetattr sets mount attributes (mount_setattr(2), Linux 5.12+), recursively if asked.
func mountSetattr(path string, set uint64, recursive bool) error {
	attr := struct{ set, clr, propagation, userns uint64 }{set: set}
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return err
	}
	flags := uintptr(0)
	if recursive {
		flags = atRecursive
	}
	_, _, e := syscall.Syscall6(uintptr(unifiedSysNumbers["mount_setattr"]), uintptr(0xffffff9c) /* AT_FDCWD */, uintptr(unsafe.Pointer(p)),
		flags, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0)
	if e != 0 {
		return e
	}
	return nil
}

// mountSandboxDisk mounts the tmpfs of one sandbox at dir, with data/ (owned by uid) and tmp/.
func mountSandboxDisk(dir string, size, inodes uint64, uid int) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	opts := fmt.Sprintf("mode=0755,size=%d,nr_inodes=%d", size, inodes)
	if err := syscall.Mount("kcr-sandbox", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		os.Remove(dir)
		return fmt.Errorf("mounting the sandbox tmpfs: %v", err)
	}
	for _, d := range []string{"data", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			unmountSandboxDisk(dir)
			return err
		}
	}
	if err := os.Lchown(filepath.Join(dir, "data"), uid, uid); err != nil {
		unmountSandboxDisk(dir)
		return err
	}
	return nil
}

func unmountSandboxDisk(dir string) {
	syscall.Unmount(dir, syscall.MNT_DETACH)
	os.Remove(dir)
}

// buildJailRoot prepares the jail server's own root at dir: roBinds and the skeleton's system paths
// read-only at their own paths, a proc, the host's cgroup filesystems (writable) and /dev/null.
func buildJailRoot(dir string, roBinds []string) error {
	binds := []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}
	binds = append(append(binds, skeletonEtc...), roBinds...)
	sort.Strings(binds)
	var done []string
	for _, b := range binds {
		if b == "" {
			continue
		}
		b = filepath.Clean(b)
		if !filepath.IsAbs(b) || b == "/" || insideAny(b, done) || within(b, jailPrivate) {
			continue
		}
		if _, err := os.Stat(b); err != nil {
			continue
		}
		if err := bindInto(dir, b, true); err != nil {
			return err
		}
		done = append(done, b)
	}
	if err := os.MkdirAll(filepath.Join(dir, "proc"), 0o755); err != nil {
		return err
	}
	if err := mountProc(filepath.Join(dir, "proc")); err != nil {
		return err
	}
	if err := bindInto(dir, "/sys/fs/cgroup", false); err != nil {
		return err
	}
	return bindInto(dir, "/dev/null", false)
}

// assembleRoot is the start of a holder or a template in its new mount namespace: private propagation,
// then the skeleton (recursively) at newroot, ready for the mounts of this instance.
func assembleRoot(skeleton, newroot string) error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("private mounts: %v", err)
	}
	if err := syscall.Mount(skeleton, newroot, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("binding the skeleton: %v", err)
	}
	return nil
}

// enterRoot makes newroot the root of the mount namespace and drops the old one.
func enterRoot(newroot string) error {
	if err := syscall.Chdir(newroot); err != nil {
		return err
	}
	if err := syscall.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %v", err)
	}
	if err := syscall.Unmount(".", syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the old root: %v", err)
	}
	return syscall.Chdir("/")
}

// mountProc mounts a proc for the caller's pid namespace at dir, with the kernel knobs read-only.
func mountProc(dir string) error {
	if err := syscall.Mount("proc", dir, "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting proc: %v", err)
	}
	return nil
}

// statfsFull reports whether a filesystem has no free blocks or no free inodes left.
func statfsFull(path string) (noSpace, noInodes bool) {
	var st syscall.Statfs_t
	if syscall.Statfs(path, &st) != nil {
		return false, false
	}
	// tmpfs keeps no reserve: full is zero available blocks (a few KiB of slack for a partial page).
	return st.Bavail*uint64(st.Bsize) < 64<<10, st.Files > 0 && st.Ffree == 0
}

func humanBytes(n uint64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return strings.TrimSpace(fmt.Sprintf("%d bytes", n))
}
