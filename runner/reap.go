package main

import (
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The runner is a child subreaper (and PID 1 in a pod), so orphaned descendants of a run become its
// children. The reaper collects those zombies, but only pids that no exec.Cmd is waiting for: reaping a
// tracked child would steal its exit status from Cmd.Wait. Starting a process and registering its pid
// happen under the same lock the reaper holds, so a fast-exiting child is never reaped early.
var procs = struct {
	sync.Mutex
	tracked map[int]bool
}{tracked: map[int]bool{}}

var reaperOnce sync.Once

// startReaper makes the runner a subreaper and reaps untracked children on SIGCHLD. Once per process.
func startReaper() {
	reaperOnce.Do(func() {
		prctl(prSetSubreaper, 1)
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGCHLD)
		go func() {
			for range ch {
				procs.Lock()
				reapUntrackedLocked()
				procs.Unlock()
			}
		}()
	})
}

func startTracked(cmd *exec.Cmd) error {
	procs.Lock()
	defer procs.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	procs.tracked[cmd.Process.Pid] = true
	return nil
}

func waitTracked(cmd *exec.Cmd) error {
	err := cmd.Wait()
	procs.Lock()
	delete(procs.tracked, cmd.Process.Pid)
	procs.Unlock()
	return err
}

// reapUntrackedLocked collects exited children nobody waits for. Caller holds procs.
func reapUntrackedLocked() {
	for _, pid := range orphans() {
		if !procs.tracked[pid] {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		}
	}
}

// sweep kills every descendant of the runner outside the subtrees of tracked children (running steps,
// warm interpreters): after a step has ended, those are its leftovers, e.g. background jobs or processes
// that escaped the process group with setsid and were re-parented to the runner.
func sweep() { killDescendants(false) }

// killAll kills every descendant of the runner (at shutdown).
func killAll() { killDescendants(true) }

func killDescendants(all bool) {
	deadline := time.Now().Add(5 * time.Second)
	for pause := 100 * time.Microsecond; ; pause = min(2*pause, 20*time.Millisecond) {
		procs.Lock()
		var victims []int
		kids := orphans()
		if all {
			kids = childrenOf(os.Getpid())
		}
		for _, c := range kids {
			if all || !procs.tracked[c] {
				victims = appendTree(victims, c)
			}
		}
		for _, pid := range victims {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		reapUntrackedLocked()
		procs.Unlock()
		if len(victims) == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(pause)
	}
}

// orphans lists the children of the runner's main thread. Untracked children are always orphans
// re-parented to the runner, and the kernel gives those to the first live thread of the subreaper (or
// PID 1), which is the main thread: one small read instead of one per runner thread.
func orphans() []int {
	self := strconv.Itoa(os.Getpid())
	b, err := os.ReadFile("/proc/" + self + "/task/" + self + "/children")
	if err != nil {
		return childrenOf(os.Getpid())
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// appendTree appends pid and all its descendants.
func appendTree(out []int, pid int) []int {
	out = append(out, pid)
	for _, c := range childrenOf(pid) {
		out = appendTree(out, c)
	}
	return out
}

// childrenOf lists the children of pid from /proc/PID/task/*/children, or by scanning /proc when the
// kernel lacks that file.
func childrenOf(pid int) []int {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "children"))
		if err != nil {
			if os.IsNotExist(err) {
				return scanChildren(pid)
			}
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// scanChildren finds pid's children by reading every /proc/N/stat.
func scanChildren(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the parenthesised command name: state ppid ...
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 1 && f[1] == strconv.Itoa(pid) {
				out = append(out, n)
			}
		}
	}
	return out
}
