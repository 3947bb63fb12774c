package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// template is one long-lived template process (shims/zygote.py) and the control socket to it.
type template struct {
	j    *jail
	mode string // "py" (forks Python runs) or "exec" (forks children that exec a command)

	mu      sync.Mutex // guards sock, cmd and pending, and serialises sends
	sock    *os.File   // our end of the SOCK_SEQPACKET pair
	cmd     *exec.Cmd
	pending map[uint64]*templateJob
	ready   atomic.Bool
	nextID  atomic.Uint64
	starts  atomic.Int64 // how many times the template was started (1 + restarts)
	stopped atomic.Bool
	stdlib  atomic.Pointer[map[string]bool] // a Python template's standard library modules
	// The pages a child forked ahead copies while it waits (zygote.py prefault), for /health.
	prefaultPages atomic.Int64
	// Its memory in 2 MiB pages once warm (pyrun.py huge_pages), for /health.
	hugeKB atomic.Int64
	// It sent a child's pid without its pidfd once (logged once).
	warnedNoPidfd atomic.Bool
}

type templateJob struct {
	started chan error // the template forked the child (nil) or could not (the error)
	p       *proc
	forked  bool
}

type templateMsg struct {
	Ready  bool     `json:"ready"`
	Stdlib []string `json:"stdlib"`
	// The pages its children forked ahead copy while they wait (a Python template with matplotlib).
	PrefaultPages int64  `json:"prefault_pages"`
	HugeKB        int64  `json:"huge_kb"`
	ID            uint64 `json:"id"`
	Pid           int    `json:"pid"`
	Error         string `json:"error"`
	Status        *int   `json:"status"`
}

func newTemplate(j *jail, mode string) *template {
	return &template{j: j, mode: mode, pending: map[uint64]*templateJob{}}
}

// run keeps the template running until stop: it starts it, serves its messages, and starts it again
// (after a pause) when it dies.
func (t *template) run() {
	for !t.stopped.Load() {
		start := time.Now()
		err := t.serve()
		if t.stopped.Load() {
			return
		}
		log.Printf("runner: %s template stopped (%v); starting it again", t.mode, err)
		if time.Since(start) < 5*time.Second {
			time.Sleep(time.Second)
		}
	}
}

// serve starts the template and reads its messages until it exits.
func (t *template) serve() error {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	syscall.SetNonblock(fds[0], true) // our end goes through the poller; the template's stays blocking
	ours, theirs := os.NewFile(uintptr(fds[0]), "template"), os.NewFile(uintptr(fds[1]), "template-child")
	spec, err := t.j.templateSpec(t.mode)
	if err != nil {
		ours.Close()
		theirs.Close()
		return err
	}
	b, _ := json.Marshal(spec)
	cmd := &exec.Cmd{Path: selfExe, Args: []string{selfExe, templateCommand, string(b)}, Env: []string{}, Dir: "/",
		ExtraFiles: []*os.File{theirs}, Stdout: os.Stderr, Stderr: os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL, Setsid: true}}
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		ours.Close()
		return err
	}
	t.starts.Add(1)
	t.mu.Lock()
	t.sock, t.cmd = ours, cmd
	t.mu.Unlock()
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
		ours.Close() // unblocks the read below if the template died without closing its end
	}()

	buf := make([]byte, 64<<10)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	rc, err := ours.SyscallConn()
	if err != nil {
		cmd.Process.Kill()
		<-exited
		return err
	}
	for {
		// A fork's message carries the child's pidfd (SCM_RIGHTS): the template reaps the child, so
		// its pid is never safe to signal by number.
		var n, oobn int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			n, oobn, _, _, rerr = syscall.Recvmsg(int(fd), buf, oob, syscall.MSG_CMSG_CLOEXEC)
			return rerr != syscall.EAGAIN
		}); err != nil || rerr != nil || n == 0 {
			break
		}
		var fds []int
		if cmsgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, c := range cmsgs {
				if r, err := syscall.ParseUnixRights(&c); err == nil {
					fds = append(fds, r...)
				}
			}
		}
		var m templateMsg
		if json.Unmarshal(buf[:n], &m) != nil {
			closeFds(fds)
			continue
		}
		t.handle(m, fds)
	}
	t.ready.Store(false)
	cmd.Process.Kill()
	<-exited
	// Its children died with it (parent-death signal): fail what was pending.
	t.mu.Lock()
	pending := t.pending
	t.pending, t.sock, t.cmd = map[uint64]*templateJob{}, nil, nil
	t.mu.Unlock()
	for _, job := range pending {
		if !job.forked {
			job.started <- errors.New("the template stopped")
			continue
		}
		job.p.ws, job.p.templateDied = syscall.WaitStatus(syscall.SIGKILL), true
		job.p.releasePidfd()
		close(job.p.done)
	}
	return errors.New(cmd.ProcessState.String())
}

// closeFds closes descriptors received with a message that has no use for them.
func closeFds(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}

// handle acts on one message of the template; fds came with it (a fork's pidfd), and are closed
// unless kept.
func (t *template) handle(m templateMsg, fds []int) {
	if m.Ready {
		closeFds(fds)
		if m.Stdlib != nil {
			set := map[string]bool{}
			for _, name := range m.Stdlib {
				set[name] = true
			}
			t.stdlib.Store(&set)
		}
		t.prefaultPages.Store(m.PrefaultPages)
		t.hugeKB.Store(m.HugeKB)
		t.ready.Store(true)
		return
	}
	t.mu.Lock()
	job := t.pending[m.ID]
	if job != nil && (m.Status != nil || m.Error != "") {
		delete(t.pending, m.ID)
	}
	if job != nil && m.Pid > 0 {
		job.forked = true
		job.p.pid = m.Pid
		if len(fds) == 1 {
			job.p.mu.Lock()
			job.p.pidfd, fds = fds[0], nil
			job.p.mu.Unlock()
		} else if !t.warnedNoPidfd.Swap(true) {
			// Its child is then killed only through its sandbox's cgroup.
			log.Printf("runner jail: the %s template sends no pidfd with its children: built from an older source: rebuild it (scripts/build makes runner-zygote.so, scripts/install-prereqs the Node addon)", t.mode)
		}
	}
	t.mu.Unlock()
	closeFds(fds)
	switch {
	case job == nil:
	case m.Error != "":
		job.started <- errors.New(m.Error)
	case m.Pid > 0:
		job.started <- nil
	case m.Status != nil:
		job.p.ws = syscall.WaitStatus(*m.Status)
		job.p.releasePidfd() // reaped: from now on kill is a no-op
		close(job.p.done)
	}
}

// spawn asks the template to fork a child with these fds (names say what each is, see zygote.py) and
// waits until it did. p.done is closed once the child is gone.
func (t *template) spawn(names []string, fds []int, p *proc) error {
	job := &templateJob{started: make(chan error, 1), p: p}
	id := t.nextID.Add(1)
	hdr, _ := json.Marshal(map[string]any{"id": id, "fds": names})
	t.mu.Lock()
	if t.sock == nil || !t.ready.Load() {
		t.mu.Unlock()
		return fmt.Errorf("the %s template is not running", t.mode)
	}
	t.pending[id] = job
	rc, err := t.sock.SyscallConn()
	if err == nil {
		cerr := rc.Write(func(fd uintptr) bool {
			err = syscall.Sendmsg(int(fd), hdr, syscall.UnixRights(fds...), nil, 0)
			return err != syscall.EAGAIN
		})
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		delete(t.pending, id)
	}
	t.mu.Unlock()
	if err != nil {
		return fmt.Errorf("sending to the %s template: %v", t.mode, err)
	}
	select {
	case err = <-job.started:
	case <-time.After(30 * time.Second):
		err = fmt.Errorf("the %s template did not fork in time", t.mode)
	}
	return err
}

// stop kills the template for good.
func (t *template) stop() {
	t.stopped.Store(true)
	t.mu.Lock()
	cmd := t.cmd
	t.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		cmd.Process.Kill()
	}
}

// stats are the template's pid, resident memory and forks so far, for /health.
func (t *template) stats() map[string]any {
	t.mu.Lock()
	cmd := t.cmd
	t.mu.Unlock()
	out := map[string]any{"ready": t.ready.Load(), "starts": t.starts.Load(), "forks": t.nextID.Load(),
		"prefault_pages": t.prefaultPages.Load(), "huge_kb": t.hugeKB.Load()}
	if cmd != nil && cmd.Process != nil {
		out["pid"] = cmd.Process.Pid
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status"); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
					out["rss_kb"] = kb
				}
			}
		}
	}
	return out
}
