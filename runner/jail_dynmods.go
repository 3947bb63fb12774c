package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"unsafe"
)

// favorDynmods turns on cgroup's favordynmods flag (--cgroup-favordynmods). Every run's child moves
// into its sandbox's cgroups when it enters the jail; without the flag each move write-locks the lock
// that every fork, exec and exit on the host read-locks, and waits for an RCU grace period while
// holding it: about 10 ms here as soon as another CPU is busy, during which every other sandbox's
// forks and exits wait too. With the flag a move takes 0.4 ms and blocks nothing else; forks and
// exits take a plain read lock instead of a per-CPU one, a few nanoseconds more.
//
// The flag belongs to the host, not to the jail: it is the cgroup v2 root's, and it also changes how
// cgroup v1 hierarchies move processes. Since Linux 6.18 part of it stays on until a reboot (the
// kernel's per-process move lock cannot be turned off again). It is set by reconfiguring the cgroup2
// mount with its current options plus favordynmods: a reconfigure without them would clear them.
// It returns what it did, for the log; an error only says why it could not (the jail works without).
func favorDynmods() (string, error) {
	h := findCgroupHierarchies()
	if h.v2 == "" {
		return "", fmt.Errorf("no cgroup2 mount to set it on")
	}
	if slices.Contains(h.v2Opts, "favordynmods") {
		return "cgroup favordynmods was already on", nil
	}
	if !kernelHasFavorDynmods() {
		return "", fmt.Errorf("this kernel has no cgroup favordynmods (Linux 6.0 or later)")
	}
	if err := reconfigureCgroup2(h.v2, append(slices.Clone(h.v2Opts), "favordynmods")); err != nil {
		return "", err
	}
	// The kernel applies the cgroup2 flags only from the host's cgroup namespace, silently otherwise.
	if !slices.Contains(findCgroupHierarchies().v2Opts, "favordynmods") {
		return "", fmt.Errorf("the kernel kept it off (not the host's cgroup namespace?)")
	}
	return "cgroup favordynmods turned on (" + h.v2 + "): moving a run into its cgroups no longer stalls the host's forks", nil
}

// kernelHasFavorDynmods reports whether the kernel knows the flag (the mount options it lists).
func kernelHasFavorDynmods() bool {
	features, err := os.ReadFile("/sys/kernel/cgroup/features")
	return err == nil && slices.Contains(strings.Fields(string(features)), "favordynmods")
}

// reconfigureCgroup2 sets the flags of the cgroup2 mount at mnt to opts (its superblock options).
func reconfigureCgroup2(mnt string, opts []string) error {
	fd, err := fspick(mnt)
	if err != nil {
		return fmt.Errorf("fspick %s: %v", mnt, err)
	}
	defer syscall.Close(fd)
	for _, o := range opts {
		if o == "rw" || o == "ro" || o == "" { // the superblock's read-only state stays as it is
			continue
		}
		key, value, hasValue := strings.Cut(o, "=")
		if hasValue {
			err = fsconfig(fd, fsconfigSetString, key, value)
		} else {
			err = fsconfig(fd, fsconfigSetFlag, key, "")
		}
		if err != nil {
			return fmt.Errorf("fsconfig %s: %v", o, err)
		}
	}
	if err := fsconfig(fd, fsconfigCmdReconfigure, "", ""); err != nil {
		return fmt.Errorf("reconfiguring %s: %v", mnt, err)
	}
	return nil
}

// The new mount API (Linux 5.2); its syscall numbers are in unifiedSysNumbers.
const (
	fspickCloexec          = 0x1
	fsconfigSetFlag        = 0
	fsconfigSetString      = 1
	fsconfigCmdReconfigure = 7
)

func fspick(path string) (int, error) {
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	fd, _, e := syscall.Syscall(uintptr(unifiedSysNumbers["fspick"]), uintptr(0xffffff9c) /* AT_FDCWD */, uintptr(unsafe.Pointer(p)), fspickCloexec)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

func fsconfig(fd, cmd int, key, value string) error {
	var k, v *byte
	var err error
	if key != "" {
		if k, err = syscall.BytePtrFromString(key); err != nil {
			return err
		}
	}
	if cmd == fsconfigSetString {
		if v, err = syscall.BytePtrFromString(value); err != nil {
			return err
		}
	}
	_, _, e := syscall.Syscall6(uintptr(unifiedSysNumbers["fsconfig"]), uintptr(fd), uintptr(cmd), uintptr(unsafe.Pointer(k)), uintptr(unsafe.Pointer(v)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
