package main

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Once a step's process has been reaped its pid is free, and the next process the host starts may get
// it (as a session leader, its number as process group too). A kill of the ended step must then reach
// nothing: here the pid is really given to another process (ns_last_pid), which must survive it.
func TestKillOfAReapedChildSparesTheProcessThatGotItsPid(t *testing.T) {
	needRoot(t, "ns_last_pid is root's")
	tr := newRunner(t, runnerOpts{})
	p, err := tr.srv.startChild([]string{"/bin/true"}, procOpts{})
	if err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.closePipes()

	decoy := reusePid(t, p.pid)
	p.kill()
	// A SIGKILL sent above is already the decoy's fate; a SIGTERM now decides it only if there was none.
	decoy.Process.Signal(syscall.SIGTERM)
	waitTracked(decoy)
	if sig := decoy.ProcessState.Sys().(syscall.WaitStatus).Signal(); sig != syscall.SIGTERM {
		t.Fatalf("the process that got the ended step's pid %d died of %v: the kill reached it", p.pid, sig)
	}
}

// reusePid starts a session leader (its own process group) with pid, free now: ns_last_pid makes it
// the next pid given, unless another process of the host forks first (then it tries again).
func reusePid(t *testing.T, pid int) *exec.Cmd {
	t.Helper()
	for try := 0; try < 200; try++ {
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			t.Skipf("cannot choose the next pid: %v", err)
		}
		cmd := exec.Command("sleep", "60")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := startTracked(cmd); err != nil {
			t.Fatal(err)
		}
		if cmd.Process.Pid == pid {
			t.Cleanup(func() { cmd.Process.Kill() })
			return cmd
		}
		cmd.Process.Kill()
		waitTracked(cmd)
	}
	t.Skipf("pid %d was taken by another process each time", pid)
	return nil
}

// sweep lists a leftover's tree from /proc, then kills it. A leftover's child that ends in between is
// reaped by that leftover, not by the runner, so its pid is free at once: here it is really given to
// another process (ns_last_pid), which the kill must spare, while the leftover itself still dies.
func TestSweepSparesTheProcessThatGotTheLeftoverChildsPid(t *testing.T) {
	needRoot(t, "ns_last_pid is root's")
	// The leftover: a shell whose child (cat) ends when its stdin does. Tracked, so that the sweeps of
	// parallel tests leave it alone; its tree is listed here as sweep lists an untracked one.
	leftover := exec.Command("sh", "-c", "cat; exec sleep 60")
	stdin, err := leftover.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := startTracked(leftover); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { leftover.Process.Kill() })
	var child int
	if !eventually(5*time.Second, func() bool {
		kids := childrenOf(leftover.Process.Pid)
		if len(kids) == 1 {
			child = kids[0]
		}
		return child != 0
	}) {
		t.Fatal("the leftover's child did not start")
	}
	found := appendTree(nil, leftover.Process.Pid, os.Getpid())
	if len(found) != 2 || found[1].pid != child {
		t.Fatalf("want the leftover and its child %d listed, got %v", child, found)
	}

	stdin.Close()
	if !eventually(5*time.Second, func() bool { return parentOf(child) == 0 }) {
		t.Fatalf("the leftover's child %d was not reaped", child)
	}
	decoy := reusePid(t, child)
	killFound(found)

	waitTracked(leftover)
	if sig := leftover.ProcessState.Sys().(syscall.WaitStatus).Signal(); sig != syscall.SIGKILL {
		t.Errorf("the leftover ended with %v, want SIGKILL", leftover.ProcessState)
	}
	// A SIGKILL sent above is already the decoy's fate; a SIGTERM now decides it only if there was none.
	decoy.Process.Signal(syscall.SIGTERM)
	waitTracked(decoy)
	if sig := decoy.ProcessState.Sys().(syscall.WaitStatus).Signal(); sig != syscall.SIGTERM {
		t.Fatalf("the process that got the leftover child's pid %d died of %v: the sweep reached it", child, sig)
	}
}
