package main

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// proc is one started child (a compiler, a program or a shim) with its pipes.
type proc struct {
	pid    int
	done   chan struct{}      // closed once the process has exited and been reaped
	ws     syscall.WaitStatus // how it ended; valid once done is closed
	killFn func()             // kills it and what it started; nil = its process group
	stdin  *os.File           // write end, nil when stdin is /dev/null
	stdout *os.File           // read end
	stderr *os.File           // read end; nil when stderr goes to the stdout pipe
	status *os.File           // read end of the status pipe (fd 3 of the child), or nil
	job    *os.File           // write end of a job pipe still to be written (a child forked ahead), or nil
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
	p := &proc{done: make(chan struct{})}
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

// kill kills the process and what it started: by default its whole process group (it is a session
// leader, so pgid == pid).
func (p *proc) kill() {
	if p.killFn != nil {
		p.killFn()
		return
	}
	syscall.Kill(-p.pid, syscall.SIGKILL)
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

// wait waits for p until the deadline, then kills everything the step left behind (its process group,
// and via sweep any descendant that escaped it) so that no background process keeps the pipes open.
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
		<-p.done
	case code := <-status:
		p.kill()
		s.killLeftovers()
		return stepResult{exitCode: code & 0xff, reported: true}
	case <-timer.C:
		res.timedOut = true
		p.kill()
		<-p.done
	}
	p.kill()
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
