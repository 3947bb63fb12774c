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
	"unsafe"
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
	self := os.Getpid()
	deadline := time.Now().Add(5 * time.Second)
	for pause := 100 * time.Microsecond; ; pause = min(2*pause, 20*time.Millisecond) {
		procs.Lock()
		var found []descendant
		kids := orphans()
		if all {
			kids = childrenOf(self)
		}
		for _, c := range kids {
			if all || !procs.tracked[c] {
				found = appendTree(found, c, self)
			}
		}
		killFound(found)
		reapUntrackedLocked()
		procs.Unlock()
		if len(found) == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(pause)
	}
}

// descendant is a process found in /proc, with the parent it was found under.
type descendant struct{ pid, parent int }

// killFound sends SIGKILL to the processes found (parents before their children). Never by number: a
// pid read from /proc may have been reaped since (by a parent that is a leftover too, not the runner),
// and the host may have given it to a process of its own. So each is opened as a pidfd first, and
// signalled through it only if, read after that, the pid's parent still is the process it was found
// under: the pidfd's process is then that parent's child. The parent's own identity holds the same way
// (it was checked first, and its pidfd still says it has not exited); the runner's is never in doubt.
// One whose check fails is left to the next round: if it was the process found, its parent's death
// made it an orphan of the runner, found again there.
func killFound(found []descendant) {
	self := os.Getpid()
	fds := map[int]int{}
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	for _, d := range found {
		if _, dup := fds[d.pid]; dup {
			continue
		}
		fd, _, e := syscall.Syscall(sysPidfdOpen, uintptr(d.pid), 0, 0)
		if e == syscall.ENOSYS {
			// A kernel older than 5.3 has no pidfds: kill by number, as the best there is.
			syscall.Kill(d.pid, syscall.SIGKILL)
			continue
		}
		if e != 0 {
			continue // gone
		}
		parentFd, parentChecked := fds[d.parent]
		if parentOf(d.pid) != d.parent || (d.parent != self && (!parentChecked || exited(parentFd))) {
			syscall.Close(int(fd))
			continue
		}
		fds[d.pid] = int(fd)
	}
	for _, fd := range fds {
		syscall.Syscall6(sysPidfdSendSignal, uintptr(fd), uintptr(syscall.SIGKILL), 0, 0, 0, 0)
	}
}

// parentOf is pid's parent from /proc/PID/stat, 0 when pid is gone.
func parentOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name: state ppid ...
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		if f := strings.Fields(s[i+1:]); len(f) > 1 {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// exited reports whether the process of pidfd fd has exited (its pidfd polls readable). A pidfd
// that cannot be polled counts as exited: the process is not known to be there.
func exited(fd int) bool {
	readable, e := pidfdReadable(fd, 0)
	return e != 0 || readable
}

// pidfdReadable polls pidfd fd for up to wait (zero: not at all): readable once its process has
// exited. The errno is the poll's own, for each caller to judge.
func pidfdReadable(fd int, wait time.Duration) (bool, syscall.Errno) {
	fds := []struct {
		fd      int32
		events  int16
		revents int16
	}{{fd: int32(fd), events: 0x1 /* POLLIN */}}
	ts := syscall.NsecToTimespec(wait.Nanoseconds())
	n, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	return n == 1, e
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

// appendTree appends pid, found under parent, and all its descendants, each after its parent.
func appendTree(out []descendant, pid, parent int) []descendant {
	out = append(out, descendant{pid, parent})
	for _, c := range childrenOf(pid) {
		out = appendTree(out, c, pid)
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
		if parentOf(n) == pid {
			out = append(out, n)
		}
	}
	return out
}
