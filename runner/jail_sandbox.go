package main

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// jailSandbox is one sandbox of the jail server: a tmpfs (its /mnt/data and /tmp), cgroups, a host uid
// of its own, a holder owning its namespaces, and a runner Server answering its requests.
type jailSandbox struct {
	j       *jail
	id      string
	token   string
	uid     int
	dir     string // the tmpfs
	cg      *sandboxCgroups
	net     *netns // its network namespace, from the jail's pool; nil: the holder made its own
	holder  *holder
	gone    chan struct{} // closed when the holder has exited: the sandbox is dead
	srv     *Server
	handler http.Handler

	mu     sync.Mutex // guards closed against starts, and ahead
	closed bool
	// The jail's own end of a single-use sandbox, the API's DELETE and a shutdown can meet: the first
	// destroys, the others wait until it is done.
	destroyOnce sync.Once
	// A child forked and jailed ahead for a pooled sandbox's run (from a Python template, or the Node
	// one), waiting for its job: the run then pays neither the fork nor entering the jail, whose cgroup
	// migration waits for an RCU grace period when the machine was idle (~10 ms here).
	ahead     *proc
	aheadFrom *template
}

// sandboxID is what the API may name a sandbox (POST /sandboxes "id"): lower-case hex, so it is safe
// in a path (the sandbox's tmpfs is named after it).
var sandboxID = regexp.MustCompile(`^[0-9a-f]{16,64}$`)

// errSandboxIDTaken: the id the API named is another live sandbox's (or one being made).
var errSandboxIDTaken = errors.New("a sandbox with this id exists already")

// create makes a sandbox named id ("": a random id of its own). Until it is made, the id is reserved:
// a DELETE of it in the meantime (the API gave up on the create) has the sandbox destroyed as soon as
// it is made, and create then fails.
func (j *jail) create(id, lang string, warm, singleUse bool) (*jailSandbox, error) {
	if id == "" {
		id = randomHex(12)
	}
	j.mu.Lock()
	_, making := j.creating[id]
	if making || j.byID[id] != nil {
		j.mu.Unlock()
		return nil, errSandboxIDTaken
	}
	j.creating[id] = false
	j.mu.Unlock()
	sb, err := j.build(id, lang, warm, singleUse)
	j.mu.Lock()
	doomed := j.creating[id]
	delete(j.creating, id)
	if err == nil {
		j.live[sb] = true
		if !doomed {
			j.byID[sb.id] = sb
			j.byToken[tokenKey("Bearer "+sb.token)] = sb
		}
	}
	j.mu.Unlock()
	if err == nil && doomed {
		j.destroy(sb)
		return nil, fmt.Errorf("sandbox %s was deleted while it was being made", id)
	}
	return sb, err
}

// build makes a sandbox for create. warm: for js, a Node shim is started at once and waits for the run.
func (j *jail) build(id, lang string, warm, singleUse bool) (*jailSandbox, error) {
	uid, err := j.allocUID()
	if err != nil {
		return nil, err
	}
	sb := &jailSandbox{j: j, id: id, token: randomHex(24), uid: uid}
	sb.dir = filepath.Join(jailDisks, sb.id)
	defer func() {
		if err != nil {
			sb.teardown()
		}
	}()
	if err = mountSandboxDisk(sb.dir, j.cfg.DiskSize, j.cfg.DiskInodes, uid); err != nil {
		sb.dir = ""
		return nil, err
	}
	c := j.cfg.Child
	if sb.cg, err = j.cg.newSandboxCgroups(); err != nil {
		return nil, fmt.Errorf("sandbox cgroups: %v", err)
	}
	spec := holderSpec{Skeleton: jailSkeleton, NewRoot: jailNewRoot, Data: filepath.Join(sb.dir, "data"),
		Tmp: filepath.Join(sb.dir, "tmp"), ShmSize: j.cfg.ShmSize, ShmInodes: 1024}
	if j.nets != nil {
		if sb.net = j.nets.take(); sb.net != nil {
			spec.Net = sb.net.f
		}
	}
	if sb.holder, err = j.startHolder(spec, uid); err != nil {
		return nil, err
	}
	sb.gone = make(chan struct{})
	go func() {
		// Whatever the sandbox ran died with its pid namespace (every process of it is forked
		// inside), and a run in progress with it: PID 1 exits only once the others have.
		sb.holder.cmd.Wait()
		close(sb.gone)
	}()
	cfg := *c
	cfg.TokenSHA256, cfg.SingleUse = sha256.Sum256([]byte(sb.token)), singleUse
	cfg.Workdir, cfg.Scratch = filepath.Join(sb.dir, "data"), filepath.Join(sb.dir, "tmp")
	cfg.ChildWorkdir, cfg.ChildScratch = "/mnt/data", "/tmp"
	cfg.ChildUID, cfg.ChildGID = uid, uid
	// A js sandbox waits with a Node of its own only when there is no Node template to fork from;
	// a go one seeds its build cache ahead.
	cfg.Warm = map[string]bool{}
	if warm && (lang == "go" || lang == "js" && j.js == nil) {
		cfg.Warm[lang] = true
	}
	if sb.srv, err = newServerIn(&cfg, sb); err != nil {
		return nil, err
	}
	sb.srv.rust = j.rust
	sb.handler = sb.srv.handler()
	sb.srv.startBackground()
	if warm {
		sb.forkAhead(lang)
	}
	return sb, nil
}

// isClosed reports whether the sandbox is being destroyed or is gone. Checked under the server's busy
// lock, it stays false until that lock is given back: destroy waits for it before it releases the
// cgroups, which another sandbox may then get.
func (sb *jailSandbox) isClosed() bool {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.closed
}

// destroy kills everything of the sandbox and removes it; a run in progress ends as killed. Every call
// returns once that is done.
func (j *jail) destroy(sb *jailSandbox) {
	sb.destroyOnce.Do(func() {
		j.mu.Lock()
		delete(j.byID, sb.id)
		delete(j.byToken, tokenKey("Bearer "+sb.token))
		j.mu.Unlock()
		sb.mu.Lock()
		sb.closed = true
		sb.mu.Unlock()
		// The holder is PID 1 of the sandbox (every sandbox destroy sees has one): its death kills
		// every process of the sandbox, a run in progress too, at once (no polling of the cgroup while
		// a killed interpreter unmaps).
		sb.holder.kill()
		if sb.srv != nil {
			sb.srv.busy.Lock() // a run in progress has ended (killed) and answered
			sb.srv.Close()
			sb.srv.busy.Unlock()
		}
		sb.teardown()
		j.mu.Lock()
		delete(j.live, sb)
		j.mu.Unlock()
	})
}

// teardown releases what create acquired, in reverse.
func (sb *jailSandbox) teardown() {
	if sb.holder != nil {
		sb.holder.kill() // PID 1 of the sandbox: whatever was left in its pid namespace dies too
		<-sb.gone
		syscall.Close(sb.holder.pidfd)
	}
	// Then through the cgroups, which must be empty before another sandbox gets them: on the usual
	// path one look finds them so.
	if sb.cg != nil {
		if err := sb.cg.killAll(); err != nil {
			log.Printf("runner jail: sandbox %s: %v", sb.id, err)
		}
	}
	// No process is left in its network namespace now: the pool looks at what they left of it.
	if sb.net != nil {
		sb.j.nets.give(sb.net)
		sb.net = nil
	}
	// The disk first: its pages are charged to the memory cgroup, which goes back for reuse empty.
	if sb.dir != "" {
		unmountSandboxDisk(sb.dir)
	}
	if sb.cg != nil {
		sb.j.cg.release(sb.cg)
	}
	sb.j.freeUID(sb.uid)
}

// start runs argv (a compiler, a program, a Node shim) in the sandbox through the exec template.
func (sb *jailSandbox) start(argv []string, o procOpts) (*proc, error) {
	job, _ := json.Marshal(map[string]any{"argv": argv, "env": sb.srv.env})
	return sb.spawn(sb.j.exec, o, job, nil)
}

// forkPython forks the Python template into the sandbox, for a run; nil, nil when the template is not
// ready (the run then starts a cold interpreter).
//
// Code that imports only the standard library (and restores no state) is forked from the bare
// template: forking a 12 MB interpreter instead of a 100 MB one costs a fraction, and nothing it
// imports was preloaded anyway. Everything else comes from the template with RUNNER_PY_PRELOAD. A
// child forked ahead serves the run when it came from that template, or from the bare one for code
// that needs only the stdlib.
func (sb *jailSandbox) forkPython(o procOpts, job []byte, code string, state bool) (*proc, error) {
	t := sb.j.py
	stdlib := sb.j.py0.stdlib.Load()
	bare := !state && sb.j.py0.ready.Load() && stdlib != nil && onlyImports(code, *stdlib)
	if bare {
		t = sb.j.py0
	}
	sb.j.notePythonRun(!bare)
	if p := sb.takeAhead(t); p != nil {
		p.stdin.Write(job) // it reads its job once it has all of it
		p.stdin.Close()
		p.stdin = nil
		return p, nil
	}
	if !t.ready.Load() {
		return nil, nil
	}
	return sb.spawn(t, o, nil, job)
}

// forkAhead forks the child of a pooled sandbox's run ahead: Node from its template, Python from the
// preloaded template when one of the last Python runs needed it, else from the bare one. A guess
// only: a preloaded child serves any run, a bare one only code that needs just the stdlib, and
// forking the preloaded template costs several times the bare one's CPU, so a server running only
// print(1) should not fork it for every sandbox, nor one plotting fork a bare child in vain.
func (sb *jailSandbox) forkAhead(lang string) {
	var t *template
	o := procOpts{stdin: true, status: true} // a Python child reads its job on stdin
	switch {
	case lang == "py" && sb.j.preloadAhead() && sb.j.py.ready.Load():
		t = sb.j.py
	case lang == "py" && sb.j.py0.ready.Load():
		t = sb.j.py0
	case lang == "js" && sb.j.js != nil && sb.j.js.ready.Load():
		t, o = sb.j.js, procOpts{jobPipe: true, status: true}
	default:
		return
	}
	p, err := sb.spawn(t, o, nil, nil)
	if err != nil {
		log.Printf("runner jail: sandbox %s: forking ahead: %v", sb.id, err)
		return
	}
	sb.mu.Lock()
	sb.ahead, sb.aheadFrom = p, t
	sb.mu.Unlock()
}

// preloadWindow is how many of the last Python runs preloadAhead looks at. A wrong guess either way
// is not equal: a preloaded child serving print(1) costs a few ms of CPU, a bare child forked for a
// plot costs the plot its fork and its pages copied ahead (25-40 ms of its time): a workload that
// mixes them gets preloaded children.
const preloadWindow = 8

// notePythonRun records whether a Python run needed the preloaded template.
func (j *jail) notePythonRun(preloaded bool) {
	for {
		old := j.pyNeededPreload.Load()
		next := old << 1 & (1<<preloadWindow - 1)
		if preloaded {
			next |= 1
		}
		if j.pyNeededPreload.CompareAndSwap(old, next) {
			return
		}
	}
}

// preloadAhead reports whether one of the last preloadWindow Python runs needed the preloaded template.
func (j *jail) preloadAhead() bool { return j.pyNeededPreload.Load() != 0 }

// takeAhead hands out the child forked ahead, if it is still alive and can serve a run that would fork
// want: a child of the preloaded Python template also serves a run of the bare one.
func (sb *jailSandbox) takeAhead(want *template) *proc {
	sb.mu.Lock()
	p := sb.ahead
	if p == nil || sb.aheadFrom != want && !(sb.aheadFrom == sb.j.py && want == sb.j.py0) {
		sb.mu.Unlock()
		return nil
	}
	sb.ahead = nil
	sb.mu.Unlock()
	if p.exited() {
		p.closePipes()
		return nil
	}
	return p
}

// Compiled on first use: every holder and template is this binary too, and pays the package's init.
var (
	pyImport = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?m)^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import|import[ \t]+([^#\n;]+))`)
	})
	pyDynamicImp = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`__import__|importlib|import_module|exec\(|eval\(`) })
)

// onlyImports reports whether every module Python code imports (statically; any dynamic import or
// exec says no) is in allowed.
func onlyImports(code string, allowed map[string]bool) bool {
	if pyDynamicImp().MatchString(code) {
		return false
	}
	for _, m := range pyImport().FindAllStringSubmatch(code, -1) {
		names := []string{m[1]}
		if m[1] == "" {
			names = strings.Split(m[2], ",")
		}
		for _, n := range names {
			fields := strings.Fields(n) // "numpy as np"
			if len(fields) == 0 {
				continue
			}
			top, _, _ := strings.Cut(strings.Trim(fields[0], "()"), ".")
			if top != "" && !allowed[top] {
				return false
			}
		}
	}
	return true
}

// forkNode forks the Node template into the sandbox to run code (a .js file) with args; nil, nil
// when there is no Node template or it is not ready.
func (sb *jailSandbox) forkNode(code string, args []string) (*proc, error) {
	job, _ := json.Marshal(map[string]any{"argv": append([]string{code}, args...)})
	if p := sb.takeAhead(sb.j.js); p != nil {
		w := p.job
		p.job = nil
		go func() { // a pipe holds 64 KiB: the arguments may be more
			w.Write(job)
			w.Close()
		}()
		return p, nil
	}
	if sb.j.js == nil || !sb.j.js.ready.Load() {
		return nil, nil
	}
	return sb.spawn(sb.j.js, procOpts{status: true}, job, nil)
}

// spawn has template t fork a child into the sandbox with the pipes o asks for, a job pipe carrying
// job when not nil, and input written to its stdin (which is then closed, and p.stdin nil). Both are
// written before the fork when they fit in the pipe, so the child need not wait for this process to
// be scheduled again.
func (sb *jailSandbox) spawn(t *template, o procOpts, job, input []byte) (*proc, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.closed {
		return nil, fmt.Errorf("the sandbox is gone")
	}
	p := &proc{done: make(chan struct{}), pidfd: -1, jailed: true}
	var ours, theirs []*os.File
	closeAll := func(files []*os.File) {
		for _, f := range files {
			f.Close()
		}
	}
	names := []string{"ns"}
	fds := []int{sb.holder.pidfd}
	pipe := func(name string, childReads bool) (*os.File, error) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		mine, child := r, w
		if childReads {
			mine, child = w, r
		}
		ours, theirs = append(ours, mine), append(theirs, child)
		names, fds = append(names, name), append(fds, int(child.Fd()))
		return mine, nil
	}
	var err error
	if o.stdin {
		p.stdin, err = pipe("stdin", true)
	}
	if err == nil {
		p.stdout, err = pipe("stdout", false)
	}
	if err == nil && o.mergeStderr {
		names, fds = append(names, "stderr"), append(fds, fds[len(fds)-1])
	} else if err == nil {
		p.stderr, err = pipe("stderr", false)
	}
	if err == nil && o.status {
		p.status, err = pipe("status", false)
	}
	var jobW *os.File
	if err == nil && (job != nil || o.jobPipe) {
		jobW, err = pipe("job", true)
	}
	if err != nil {
		closeAll(ours)
		closeAll(theirs)
		return nil, err
	}
	for _, f := range sb.cg.procs {
		names, fds = append(names, "cg"), append(fds, int(f.Fd()))
	}
	var later []func()
	feed := func(w *os.File, data []byte) {
		if len(data) <= 32<<10 { // a pipe holds 64 KiB
			w.Write(data)
			w.Close()
		} else {
			later = append(later, func() { w.Write(data); w.Close() })
		}
	}
	if jobW != nil && job != nil {
		feed(jobW, job)
	} else if jobW != nil {
		p.job = jobW // written by whoever takes the child
	}
	if input != nil && p.stdin != nil {
		feed(p.stdin, input)
		p.stdin = nil
	}
	err = t.spawn(names, fds, p)
	closeAll(theirs)
	if err != nil {
		closeAll(ours)
		return nil, err
	}
	for _, f := range later {
		go f()
	}
	return p, nil
}

// dead reports whether the sandbox's holder is gone (killed from outside): its runs cannot be trusted
// to have run, and the sandbox cannot run anything any more. A run the holder's death killed is
// reported (SIGKILL) a moment before the holder has finished exiting, so after a SIGKILL it waits up
// to grace for the holder's pidfd to say so. A sandbox being destroyed is not dead: destroy killed
// the holder, and with it the run, which is reported as killed.
func (sb *jailSandbox) dead(grace time.Duration) bool {
	if sb.isClosed() {
		return false
	}
	select {
	case <-sb.gone:
		return true
	default:
	}
	// A pidfd that cannot be polled says nothing of the holder: not taken for its death.
	readable, e := pidfdReadable(sb.holder.pidfd, grace)
	return e == 0 && readable
}

// limitNotices are the stderr lines of a run that hit a limit of the sandbox: the process limit
// (pids.max refused a fork during the run), and, for a run that failed, a full disk, a full inode
// table or a full /dev/shm.
func (sb *jailSandbox) limitNotices(pidsBefore uint64, failed bool) []string {
	var out []string
	c := sb.j.cfg
	if sb.cg.pidsLimitHits() > pidsBefore {
		out = append(out, fmt.Sprintf("[kubecoderun] the sandbox process limit (%d) was reached", c.Child.MaxProcs))
	}
	if !failed {
		return out
	}
	if noSpace, noInodes := statfsFull(sb.dir); noSpace {
		out = append(out, fmt.Sprintf("[kubecoderun] the sandbox disk limit (%s for /mnt/data and /tmp together) was reached", humanBytes(c.DiskSize)))
	} else if noInodes {
		out = append(out, fmt.Sprintf("[kubecoderun] the sandbox file count limit (%d files) was reached", c.DiskInodes))
	}
	if noSpace, _ := statfsFull("/proc/" + strconv.Itoa(sb.holder.pid) + "/root/dev/shm"); noSpace {
		out = append(out, fmt.Sprintf("[kubecoderun] the sandbox /dev/shm limit (%s) was reached", humanBytes(c.ShmSize)))
	}
	return out
}
