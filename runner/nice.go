package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// A warm interpreter starts (about a second of CPU for Python with numpy, pandas and matplotlib) and
// waits at a low CPU priority (--warm-nice), so that refilling pools does not slow down the runs being
// served on the same machine. The interpreter a run takes gets the normal priority back first. Only a
// root runner may raise a priority again, so elsewhere (pods run the runner as 65532) it stays off.

// withNice returns the child prefix with nice=N among the __child arguments (before their "--").
func withNice(prefix []string, n int) []string {
	i := slices.Index(prefix, "--")
	if i < 0 {
		return prefix
	}
	return slices.Insert(slices.Clone(prefix), i, "nice="+strconv.Itoa(n))
}

// renice sets the nice value of every thread of pid and of all its descendants (nice is per thread on
// Linux, and an interpreter's helper threads, e.g. OpenBLAS's, inherit it).
func renice(pid, n int) error {
	var first error
	seen := map[int]bool{}
	var walk func(int)
	walk = func(p int) {
		if seen[p] {
			return
		}
		seen[p] = true
		tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(p), "task"))
		if err != nil {
			return // gone meanwhile
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, n); err != nil && first == nil && err != syscall.ESRCH {
				first = err
			}
			children, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "task", t.Name(), "children"))
			for _, c := range strings.Fields(string(children)) {
				if cp, err := strconv.Atoi(c); err == nil {
					walk(cp)
				}
			}
		}
	}
	walk(pid)
	return first
}
