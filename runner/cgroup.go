package main

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
)

// A pids cgroup bounds the number of tasks of all children together, whatever their uid. It matters
// when the runner is root and starts bubblewrap as root: the sandboxed processes are then host uid 0,
// which the kernel exempts from RLIMIT_NPROC, so without it a fork bomb would only be stopped by the
// timeout. Used when the runner can create one (root, cgroup v1 pids or cgroup v2 with the pids
// controller at the root); every __child joins it before exec.

const cgroupPrefix = "kcr-runner-"

var cgroupSeq atomic.Int64

// setupPidsCgroup creates a pids cgroup with pids.max = max for one server and returns its path.
func setupPidsCgroup(max uint64) (string, error) {
	if os.Geteuid() != 0 {
		return "", nil
	}
	parent := pidsHierarchy()
	if parent == "" {
		return "", errors.New("no writable pids cgroup hierarchy")
	}
	removeStaleCgroups(parent)
	dir := filepath.Join(parent, cgroupPrefix+strconv.Itoa(os.Getpid())+"-"+strconv.FormatInt(cgroupSeq.Add(1), 10))
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.FormatUint(max, 10)), 0); err != nil {
		os.Remove(dir)
		return "", err
	}
	return dir, nil
}

// pidsHierarchy finds where to create the cgroup: the root of a cgroup v1 pids hierarchy, or the root
// of cgroup v2 when it delegates the pids controller to its children.
func pidsHierarchy() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	v2 := ""
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - FSTYPE SOURCE SUPEROPTS
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		left, right := strings.Fields(pre), strings.Fields(post)
		if len(left) < 5 || len(right) < 3 || left[3] != "/" {
			continue
		}
		mnt := left[4]
		switch right[0] {
		case "cgroup":
			for _, o := range strings.Split(right[2], ",") {
				if o == "pids" {
					return mnt
				}
			}
		case "cgroup2":
			if b, err := os.ReadFile(filepath.Join(mnt, "cgroup.subtree_control")); err == nil &&
				strings.Contains(" "+string(b)+" ", " pids") {
				v2 = mnt
			}
		}
	}
	return v2
}

// removeStaleCgroups removes cgroups of runners that are gone (rmdir fails while a task is inside).
func removeStaleCgroups(parent string) {
	ents, _ := os.ReadDir(parent)
	for _, e := range ents {
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(e.Name(), cgroupPrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if !e.IsDir() || !strings.HasPrefix(e.Name(), cgroupPrefix) || err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			os.Remove(filepath.Join(parent, e.Name()))
		}
	}
}

// joinCgroup moves the calling process into the cgroup (in __child, before exec).
func joinCgroup(dir string) error {
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0)
}
