package main

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// proc is one started child (a compiler, a program or a shim) with its pipes.
type proc struct {
	pid  int
	done chan struct{}      // closed once the process has exited and been reaped
	ws   syscall.WaitStatus // how it ended; valid once done is closed
	// A pid is signalled only while it is known to be this process's, alive or a zombie not yet
	// reaped: a reaped pid is free, and the next process the host starts may get it (and, a session
	// leader, its number as process group). mu guards the two ways of knowing.
	mu sync.Mutex
	// A child of the runner (startProc): set before its reap, under mu; until then kill signals its
	// process group by number.
	reaped bool
	// A jail child, reaped by its template: the pidfd the template sent with its pid (-1 once the
	// template reported its end, or when there is none). kill signals through it, never by number.
	pidfd int
	// A jail child: never signalled by number (its template reaps it, unseen by the runner).
	jailed bool
	stdin  *os.File // write end, nil when stdin is /dev/null
	stdout *os.File // read end
	stderr *os.File // read end; nil when stderr goes to the stdout pipe
	status *os.File // read end of the status pipe (fd 3 of the child), or nil
	job    *os.File // write end of a job pipe still to be written (a child forked ahead), or nil
	// Jail mode: the template it was forked from died, and took it along (set before done is closed).
	templateDied bool
}

// procOpts says which pipes a child gets besides stdout.
type procOpts struct {
	stdin       bool // a stdin pipe instead of /dev/null
	mergeStderr bool // stderr into the stdout pipe (compiler diagnostics)
	status      bool // a status pipe as fd 3 (the Python shim reports its exit code there)
	jobPipe     bool // jail mode: a job pipe left open for the caller to write (p.job)
}

// startProc starts argv (already prefixed with the __child re-exec) in its own session.
func (s *Server) startProc(argv []string, o procOpts) (*proc, error) {
	p := &proc{done: make(chan struct{}), pidfd: -1}
	var childEnds []*os.File
	closeAll := func() {
		for _, f := range append(childEnds, p.stdin, p.stdout, p.stderr, p.status) {
			if f != nil {
				f.Close()
			}
		}
	}
	cmd := &exec.Cmd{Path: argv[0], Args: argv, Env: s.env, Dir: s.cfg.Workdir,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p.stdout, cmd.Stdout, cmd.Stderr = outR, outW, outW
	childEnds = append(childEnds, outW)
	if !o.mergeStderr {
		errR, errW, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, err
		}
		p.stderr, cmd.Stderr = errR, errW
		childEnds = append(childEnds, errW)
	}
	if o.stdin {
		inR, inW, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, err
		}
		p.stdin, cmd.Stdin = inW, inR
		childEnds = append(childEnds, inR)
	}
	if o.status {
		stR, stW, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, err
		}
		p.status, cmd.ExtraFiles = stR, []*os.File{stW}
		childEnds = append(childEnds, stW)
	}
	if err := startTracked(cmd); err != nil {
		closeAll()
		return nil, err
	}
	for _, f := range childEnds {
		f.Close()
	}
	p.pid = cmd.Process.Pid
	go func() {
		// Wait for the exit without reaping (WNOWAIT), then mark it reaped under mu and only then reap:
		// a kill holding mu meanwhile signals a zombie that still holds its pid and process group.
		waitExited(p.pid)
		p.mu.Lock()
		p.reaped = true
		p.mu.Unlock()
		waitTracked(cmd)
		p.ws = cmd.ProcessState.Sys().(syscall.WaitStatus)
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has already exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitExited blocks until child pid has exited, leaving it a zombie for the caller to reap.
func waitExited(pid int) {
	var info [128]byte // siginfo_t
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, 1 /* P_PID */, uintptr(pid), uintptr(unsafe.Pointer(&info[0])),
			syscall.WEXITED|0x1000000 /* WNOWAIT */, 0, 0)
		if e != syscall.EINTR {
			return
		}
	}
}

// kill sends SIGKILL to the process and, for a child of the runner, its whole process group (it is a
// session leader, so pgid == pid), but never once the process has been reaped: its pid may belong to
// another process by then. It is then a no-op, as is a jail child's once its template reported its
// end. A jail child is signalled alone: what it started is in its sandbox's cgroup, which
// killLeftovers empties.
func (p *proc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pidfd >= 0 {
		syscall.Syscall6(sysPidfdSendSignal, uintptr(p.pidfd), uintptr(syscall.SIGKILL), 0, 0, 0, 0)
		return
	}
	if p.reaped || p.jailed {
		return
	}
	syscall.Kill(-p.pid, syscall.SIGKILL)
	syscall.Kill(p.pid, syscall.SIGKILL)
}

// releasePidfd closes a jail child's pidfd once its template has reported its end (it is reaped).
func (p *proc) releasePidfd() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pidfd >= 0 {
		syscall.Close(p.pidfd)
		p.pidfd = -1
	}
}

// closePipes closes the runner's ends of the pipes.
func (p *proc) closePipes() {
	for _, f := range []*os.File{p.stdin, p.stdout, p.stderr, p.status, p.job} {
		if f != nil {
			f.Close()
		}
	}
}

// stepResult is how one step (compile or run) ended.
type stepResult struct {
	exitCode int
	signal   string
	timedOut bool
	reported bool // the child reported its exit code on the status pipe (it had closed its output first)
	// The step's process was killed by the death of the template it was forked from (jail mode).
	templateDied bool
}

// wait waits for p until the deadline, then kills everything the step left behind (killLeftovers: every
// descendant outside the warm interpreters, or in jail mode every process of the sandbox's cgroup but
// those) so that no background process keeps the pipes open. p itself is killed only while it runs.
// A status (from the Python shim, which closed its stdout and stderr first) ends the step at once: the
// exit of an interpreter with numpy and pandas loaded takes milliseconds and need not be waited for.
// The status is the program's word, no more trusted than its exit code (the code runs in the process
// that writes it, and could write one early): it ends the run as an exit would, and the kill below
// ends whatever of the run was still going.
func (s *Server) wait(p *proc, deadline time.Time, status <-chan int) stepResult {
	var res stepResult
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-p.done:
	case <-s.runAbort():
		// A programmatic run ended by the runner (its limits, a cancel): killed like any SIGKILL.
		p.kill()
		s.killLeftovers() // a jail child without a pidfd (a template built from older source) too
		<-p.done
	case code := <-status:
		p.kill()
		s.killLeftovers()
		return stepResult{exitCode: code & 0xff, reported: true}
	case <-timer.C:
		res.timedOut = true
		p.kill()
		s.killLeftovers()
		<-p.done
	}
	// Not p.kill() again: p has been reaped, its pid is free. What it left is killLeftovers' to kill.
	s.killLeftovers()
	if res.timedOut {
		res.exitCode = 124
		return res
	}
	res.templateDied = p.templateDied
	ws := p.ws
	switch {
	case ws.Signaled():
		res.exitCode = 128 + int(ws.Signal())
		res.signal = signalName(ws.Signal())
	default:
		res.exitCode = ws.ExitStatus()
	}
	return res
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT", syscall.SIGILL: "SIGILL",
	syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT", syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE",
	syscall.SIGKILL: "SIGKILL", syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM", syscall.SIGXCPU: "SIGXCPU",
	syscall.SIGXFSZ: "SIGXFSZ", syscall.SIGSYS: "SIGSYS",
}

func signalName(sig syscall.Signal) string {
	if n, ok := signalNames[sig]; ok {
		return n
	}
	return "SIG" + strconv.Itoa(int(sig))
}

// readStatus delivers the exit code the child writes to its status pipe as a decimal line, if it does.
// Anything else (no line in the first 32 bytes, not a number, EOF) delivers nothing: the step then ends
// with the process's exit status. It stops reading then; the writers never block on the pipe.
func readStatus(f *os.File) <-chan int {
	ch := make(chan int, 1)
	go func() {
		var b [32]byte
		n := 0
		for n < len(b) {
			m, err := f.Read(b[n:])
			n += m
			if i := bytes.IndexByte(b[:n], '\n'); i >= 0 {
				// An exit code is 0-255: anything else is not a status (the code wrote it), as garbage is not.
				if code, err := strconv.Atoi(string(b[:i])); err == nil && code >= 0 && code <= 255 {
					ch <- code
				}
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}
