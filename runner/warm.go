package main

import (
	"bufio"
	"errors"
	"log"
	"os"
	"strings"
	"sync"
)

// Python and Node code runs through a shim (shims/pyrun.py, shims/noderun.js) that starts, prints
// readyMarker, reads its job (all of stdin: NUL-separated fields, so the shim needs no JSON parser)
// and runs the job like `python3 code.py` / `node code.js` would. A warm shim was started ahead (Python with modules pre-imported) and is already waiting; a cold
// shim is started for the run and gets the job at once. Both are the same code.
//
// The Node shim is a preload (node -r noderun.js code/code.js): once it has the job it returns, and Node
// itself loads the entry point, which the runner wrote before sending the job (tsc writes its output
// there too). Stack traces are then exactly those of `node code.js`.
const readyMarker = "\x00kcr-ready\n"

// shimJob is what a shim is told: for Python the code file, the state files ("" = none) and the
// arguments; for Node only the arguments (the entry point is fixed at start).
type shimJob struct {
	File, StateIn, StateOut, StateErrors string
	Argv                                 []string
}

// encode is the job as the shim reads it: Python "file\0state_in\0state_out\0state_errors[\0arg...]",
// Node "argv[\0arg...]". Never empty: an empty stdin means the runner went away.
func (j shimJob) encode(lang string) []byte {
	fields := append([]string{"argv"}, j.Argv...)
	if lang == "py" {
		fields = append([]string{j.File, j.StateIn, j.StateOut, j.StateErrors}, j.Argv...)
	}
	return []byte(strings.Join(fields, "\x00"))
}

type shim struct {
	p     *proc
	out   *bufio.Reader // stdout; the ready marker is consumed by waitReady
	taken bool          // handed to a run (guarded by its warmSlot's mu)
}

// startShim starts a Python or Node shim. Only a warm Python shim pre-imports RUNNER_PY_PRELOAD. job,
// when not nil, is written to a Python run forked in jail mode before it starts (its stdin is then
// nil: the shim has it already); other shims get their job from the caller.
func (s *Server) startShim(lang string, warm bool, job []byte, r *run) (*shim, error) {
	var argv []string
	switch lang {
	case "py":
		preload := ""
		if warm {
			preload = strings.Join(s.cfg.PyPreload, ",")
		}
		argv = []string{s.cfg.Tools["PYTHON"], s.child(dirShims, "pyrun.py"), preload}
	case "js":
		argv = []string{s.cfg.Tools["NODE"], "--enable-source-maps", "-r", s.child(dirShims, "noderun.js"), s.child(dirCode, "code.js")}
	}
	o := procOpts{stdin: true, status: lang == "py"}
	var p *proc
	var err error
	if lang == "py" && !warm && s.jail != nil {
		// Jail mode: a run forks the Python template (preloaded, warm) when it is ready.
		if p, err = s.jail.forkPython(o, job, r.req.Code, r.state != nil); p != nil {
			s.warmRuns.Add(1)
		}
	}
	if p == nil && err == nil {
		if err = s.writeShims(); err == nil {
			p, err = s.startChild(argv, o)
		}
	}
	if err != nil {
		return nil, err
	}
	return &shim{p: p, out: bufio.NewReaderSize(p.stdout, 64<<10)}, nil
}

// waitReady consumes the ready marker. If anything else comes first (the interpreter failed to start),
// those bytes stay in the reader and become the run's output.
func (sh *shim) waitReady() bool {
	b, err := sh.out.Peek(len(readyMarker))
	if err != nil || string(b) != readyMarker {
		return false
	}
	sh.out.Discard(len(readyMarker))
	return true
}

// warmSlot holds at most one warm shim of a language.
type warmSlot struct {
	lang    string
	enabled bool
	mu      sync.Mutex
	sh      *shim // started, maybe not ready yet
	ready   bool
}

func (w *warmSlot) isReady() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sh != nil && w.ready && !w.sh.p.exited()
}

// take hands out the warm shim if it is ready and alive, else nil (the caller then starts a cold one).
func (w *warmSlot) take() *shim {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sh == nil || !w.ready || w.sh.p.exited() {
		return nil
	}
	sh := w.sh
	sh.taken = true
	w.sh, w.ready = nil, false
	return sh
}

// refill starts a warm shim in the slot if it is enabled and empty.
func (s *Server) refill(w *warmSlot) {
	w.mu.Lock()
	if !w.enabled || (w.sh != nil && !w.sh.p.exited()) {
		w.mu.Unlock()
		return
	}
	sh, err := s.startShim(w.lang, true, nil, nil)
	if err != nil {
		w.mu.Unlock()
		log.Printf("runner: starting warm %s: %v", w.lang, err)
		return
	}
	w.sh = sh
	w.mu.Unlock()

	ok := sh.waitReady()
	w.mu.Lock()
	if w.sh == sh {
		w.ready = ok
	}
	w.mu.Unlock()
	if !ok {
		log.Printf("runner: warm %s did not start", w.lang)
	}
	// If the shim dies while idle (or never got ready), drop it; a run then falls back to cold.
	<-sh.p.done
	w.mu.Lock()
	if w.sh == sh {
		w.sh, w.ready = nil, false
	}
	taken := sh.taken
	w.mu.Unlock()
	if !taken {
		sh.p.closePipes()
	}
}

// shim runs a job in the warm shim of lang, or in a cold one if none is ready.
func (r *run) shim(lang string, job shimJob) stepResult {
	r.shimUsed = lang
	line := job.encode(lang)
	var sh *shim
	if slot := r.s.warm[lang]; slot != nil {
		sh = slot.take()
	}
	if sh != nil {
		if _, err := sh.p.stdin.Write(line); err != nil { // it died just now
			sh.p.kill()
			sh.p.closePipes()
			sh = nil
		} else {
			r.s.warmRuns.Add(1)
		}
	}
	cold := sh == nil
	if cold {
		var err error
		if sh, err = r.s.startShim(lang, false, line, r); err != nil {
			return r.fail("runner: starting %s: %v", lang, err)
		}
		if sh.p.stdin != nil {
			sh.p.stdin.Write(line) // a failure shows as the shim's own exit
		}
	}
	if sh.p.stdin != nil {
		sh.p.stdin.Close() // the end of the job
	}

	var d drainers
	stdout := sh.out
	d.startReader(readerFunc(func(b []byte) (int, error) {
		if cold {
			// Once the run has ended the pipe has a read deadline, which fails a read at once when
			// this goroutine comes late, the marker still unread: the drain tries again then.
			if _, err := sh.out.Peek(len(readyMarker)); errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, err
			}
			sh.waitReady()
			cold = false
		}
		return stdout.Read(b)
	}), sh.p.stdout, &r.s.stdout)
	d.start(sh.p.stderr, &r.s.stderr)
	return r.finish(sh.p, &d)
}

// readerFunc adapts a function to io.Reader.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

// stop kills the warm shim and keeps the slot empty.
func (w *warmSlot) stop() {
	w.mu.Lock()
	sh := w.sh
	w.enabled, w.sh, w.ready = false, nil, false
	w.mu.Unlock()
	if sh != nil {
		sh.p.kill()
		<-sh.p.done
	}
}
