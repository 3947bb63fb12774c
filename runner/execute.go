package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

type execRequest struct {
	Language     string   `json:"language"`
	Code         string   `json:"code"`
	TimeoutMS    int64    `json:"timeout_ms"`
	Args         []string `json:"args"`
	State        string   `json:"state"`
	CaptureState bool     `json:"capture_state"`
	// MaxStateBytes is the largest state the caller keeps (0: maxStateBytes): a larger one is not
	// sent, so its answer is not one the caller cannot read.
	MaxStateBytes int64 `json:"max_state_bytes"`
	// PTC makes it a programmatic run (ptc.go): the answer comes when the code first calls a tool.
	PTC *ptcRequest `json:"ptc,omitempty"`

	extra        map[string]string // more files for code/ (the user's code of a Python PTC run)
	longDeadline time.Duration     // when set, the run's deadline instead of timeout_ms (PTC)
}

type execResponse struct {
	ExitCode        int            `json:"exit_code"`
	Signal          *string        `json:"signal"`
	TimedOut        bool           `json:"timed_out"`
	Stdout          string         `json:"stdout"`
	Stderr          string         `json:"stderr"`
	StdoutTruncated bool           `json:"stdout_truncated"`
	StderrTruncated bool           `json:"stderr_truncated"`
	DurationMS      float64        `json:"duration_ms"`
	State           string         `json:"state,omitempty"`
	StateErrors     []string       `json:"state_errors,omitempty"`
	Files           []fileChange   `json:"files"`
	FilesOmitted    int            `json:"files_omitted,omitempty"`
	Unlisted        []unlistedPath `json:"unlisted,omitempty"`
	Deleted         []string       `json:"deleted"`
	// PTC runs: why the runner ended the run ("timeout", "cancelled", "idle_timeout", "round_trips",
	// "unregistered_tool", "too_many_calls"; absent when it ended on its own), and round trips made.
	PTCEnd    string `json:"ptc_end,omitempty"`
	PTCDetail string `json:"ptc_detail,omitempty"`
	PTCRounds int    `json:"ptc_rounds,omitempty"`
	// A single-use jail sandbox whose run left no file to read ends itself once this answer is out:
	// the API then has no destroy call to make.
	SandboxEnded bool `json:"sandbox_ended,omitempty"`

	// The captured Python state: its file, open, which writeAnswer streams into the answer as
	// "state", and its size. The caller of execute closes it.
	stateFile *os.File
	stateSize int64
}

const (
	maxRequestBytes = 256 << 20
	maxStateBytes   = 64 << 20
	// maxListedFiles bounds the answer of a run that created a huge number of files (the API keeps
	// at most MAX_OUTPUT_FILES, at most 1000, and names the others): the rest are only counted.
	maxListedFiles = 10000
	// maxListedNameBytes bounds the names in that answer (path and ref together, as JSON), which the
	// runner builds in its own memory, outside every sandbox's limit: a name may be 4 KiB, and a
	// control byte in it is 6 bytes of JSON in path and 3 in ref.
	maxListedNameBytes = 4 << 20
)

func (s *Server) handleExecute(w http.ResponseWriter, r *http.Request) {
	if !s.busy.TryLock() {
		writeError(w, http.StatusConflict, "busy")
		return
	}
	handedOff := false
	defer func() {
		if !handedOff {
			s.busy.Unlock()
		}
	}()
	if s.ended() {
		writeError(w, http.StatusGone, "the sandbox has ended")
		return
	}
	var req execRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "malformed request: %v", err)
		return
	}
	lang, ok := languages[req.Language]
	if !ok {
		writeError(w, http.StatusBadRequest, "unknown language %q", req.Language)
		return
	}
	for _, t := range lang.tools {
		if s.cfg.Tools[t] == "" {
			writeError(w, http.StatusBadRequest, "language %s is not available here: %s not found (RUNNER_TOOL_%s)", req.Language, toolDefaults[t], t)
			return
		}
	}
	if req.PTC != nil {
		// The run goes on after this answer; it unlocks busy when it ends.
		handedOff = s.handlePTCExecute(w, &req, lang)
		return
	}
	var state []byte
	if req.State != "" && req.Language == "py" {
		var err error
		if state, err = base64.StdEncoding.DecodeString(req.State); err != nil {
			writeError(w, http.StatusBadRequest, "state is not base64: %v", err)
			return
		}
	}
	resp, err := s.execute(&req, lang, state)
	if resp != nil && resp.stateFile != nil {
		defer resp.stateFile.Close()
	}
	if err == nil && s.jail != nil && s.jail.dead(killGrace(resp)) {
		err = errors.New("the sandbox died during the run")
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	resp.SandboxEnded = s.jail != nil && s.cfg.SingleUse && len(resp.Files) == 0
	writeAnswer(w, resp)
	if resp.SandboxEnded {
		// In a goroutine: destroy waits for busy, which this handler holds until it has returned.
		go s.jail.j.destroy(s.jail)
	}
}

// run is one execution in progress.
type run struct {
	s        *Server
	req      *execRequest
	state    []byte // Python state to restore, raw bytes
	src      string // the code file as children see it
	deadline time.Time
	shimUsed string // "py" or "js" when a shim ran, so its warm slot is refilled
}

func (s *Server) execute(req *execRequest, lang language, state []byte) (*execResponse, error) {
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	if timeout <= 0 || timeout > s.cfg.MaxTimeout {
		timeout = s.cfg.MaxTimeout
	}
	if req.longDeadline > 0 {
		timeout = req.longDeadline
	}
	name := lang.file
	if req.Language == "java" {
		name = javaMainClass(req.Code) + ".java"
	}
	dirs := []string{dirCode}
	if lang.build {
		dirs = append(dirs, dirBuild)
	}
	if req.Language == "py" && (state != nil || req.CaptureState) {
		dirs = append(dirs, dirState)
	}
	before := snapshotWorkdir(s.cfg.Workdir)
	if err := s.prepareRun(dirs, name, req.Code); err != nil {
		return nil, err
	}
	for n, content := range req.extra {
		if err := s.writeScratch(path.Join(dirCode, n), []byte(content)); err != nil {
			return nil, err
		}
	}
	r := &run{s: s, req: req, state: state, src: s.child(dirCode, name)}
	s.stdout.reset(s.cfg.MaxOutput)
	s.stderr.reset(s.cfg.MaxOutput)

	oomBefore, _, oomErr := s.cg.oomKills()
	var pidsBefore uint64
	if s.jail != nil {
		pidsBefore = s.jail.cg.pidsLimitHits()
	}
	start := time.Now()
	r.deadline = start.Add(timeout)
	res := lang.run(r)
	duration := time.Since(start)
	if s.cfg.SingleUse {
		// A single-use sandbox is destroyed after this run: warming another interpreter (a second of
		// CPU for Python with pandas) would only slow down the machine's other sandboxes. Stopped
		// slots stay empty: nothing warms them again.
		for _, slot := range s.warm {
			slot.stop()
		}
	} else if slot := s.warm[r.shimUsed]; slot != nil {
		go s.refill(slot)
	}

	resp := &execResponse{
		ExitCode: res.exitCode, TimedOut: res.timedOut,
		Stdout: string(s.stdout.buf), Stderr: string(s.stderr.buf),
		StdoutTruncated: s.stdout.truncated, StderrTruncated: s.stderr.truncated,
		DurationMS: float64(duration.Microseconds()) / 1000,
	}
	if res.signal != "" {
		resp.Signal = &res.signal
	}
	if oomErr == nil {
		// The OOM killer of the memory cgroup killed a process during the run. The notice goes after
		// the capped stderr, so a run that flooded stderr still says it.
		if n, exact, err := s.cg.oomKills(); err == nil && n > oomBefore && (exact || res.signal == "SIGKILL") {
			resp.Stderr = withNotice(resp.Stderr, memoryNotice(s.cg.memLimit))
		}
	}
	if s.jail != nil {
		for _, n := range s.jail.limitNotices(pidsBefore, res.exitCode != 0) {
			resp.Stderr = withNotice(resp.Stderr, n)
		}
	}
	if res.templateDied {
		// Not the code's doing, nor a limit: say so rather than leave an unexplained SIGKILL.
		resp.Stderr = withNotice(resp.Stderr, templateDiedNotice)
	}
	if s.stopping.Load() {
		// SIGTERM (the pod deleted, the host stopping) killed the run: say so rather than leave an
		// unexplained SIGKILL.
		resp.Stderr = withNotice(resp.Stderr, stoppedNotice)
	}
	resp.Files, resp.FilesOmitted, resp.Deleted, resp.Unlisted = diffWorkdir(s.cfg.Workdir, before)
	if req.Language == "py" && req.CaptureState {
		resp.stateFile, resp.stateSize, resp.StateErrors = s.readState(stateLimit(req.MaxStateBytes))
	}
	return resp, nil
}

// prepareRun empties the per-run scratch dirs the run uses and writes the code file.
func (s *Server) prepareRun(dirs []string, name, code string) error {
	for _, d := range dirs {
		if err := s.clearDir(d); err != nil {
			// Replaced by user code (e.g. with a symlink): start over with a new directory.
			if err := s.freshDir(d); err != nil {
				return err
			}
		}
	}
	return s.writeScratch(path.Join(dirCode, name), []byte(code))
}

// stateLimit is the largest state an answer carries: what the caller keeps, at most maxStateBytes.
func stateLimit(asked int64) int64 {
	if asked <= 0 || asked > maxStateBytes {
		return maxStateBytes
	}
	return asked
}

// stateTooLarge is the state error of a state over the limit; the API knows it by its start (its
// Java twin, ExecutionService.stateTooLarge, words a state a runner sent past the limit anyway).
func stateTooLarge(size, limit int64) string {
	// Rounded up and down to a tenth: a state just over the limit never reads as its equal.
	mib := func(n int64, round func(float64) float64) float64 { return round(float64(n)/(1<<20)*10) / 10 }
	return fmt.Sprintf("the Python state (%.1f MiB) is larger than the %.1f MiB this deployment keeps", mib(size, math.Ceil), mib(limit, math.Floor))
}

// readState opens what the Python shim captured: the state file, nil when there is none, it is
// empty or larger than limit (an error then says so), with its size (writeAnswer streams it into
// the answer), and the errors.
func (s *Server) readState(limit int64) (*os.File, int64, []string) {
	var errs []string
	if f, size, err := s.openScratch(path.Join(dirState, "errors.json"), math.MaxInt64); err == nil {
		errs = decodeStateErrors(f, size)
		f.Close()
	}
	f, size, err := s.openScratch(path.Join(dirState, "out.bin"), math.MaxInt64)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, "runner: state not captured: "+unwrapPathError(err).Error())
		}
		return nil, 0, errs
	}
	if size == 0 || size > limit {
		f.Close()
		if size > limit {
			errs = append(errs, stateTooLarge(size, limit))
		}
		return nil, 0, errs
	}
	return f, size, errs
}

// The state errors the answer carries. User code can write the shim's errors.json as it likes (up
// to its disk): decoded whole, 64 MiB of "" would be 21 million strings, gigabytes of the runner's
// memory. The shim writes one error per variable it could not keep, each under 300 bytes or so.
const (
	maxStateErrors      = 100      // errors kept, then a note says there were more
	maxStateErrorsBytes = 64 << 10 // of the file read; a note says when there was more
	maxStateErrorBytes  = 1024     // of one error; the rest is cut, with "..."
)

// decodeStateErrors reads the shim's JSON list of strings, one at a time, from the first
// maxStateErrorsBytes of r (size bytes in all), within the bounds above.
func decodeStateErrors(r io.Reader, size int64) []string {
	var errs []string
	broken := func(err error) []string {
		if size > maxStateErrorsBytes {
			return append(errs, fmt.Sprintf("runner: more state errors not shown (only the first %d KiB of them are read)", maxStateErrorsBytes>>10))
		}
		return append(errs, "runner: unreadable state errors: "+err.Error())
	}
	dec := json.NewDecoder(io.LimitReader(r, maxStateErrorsBytes))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return broken(fmt.Errorf("not a JSON list"))
	}
	for dec.More() {
		if len(errs) == maxStateErrors {
			return append(errs, fmt.Sprintf("runner: more state errors not shown (at most %d)", maxStateErrors))
		}
		var e string
		if err := dec.Decode(&e); err != nil {
			return broken(err)
		}
		if len(e) > maxStateErrorBytes {
			e = strings.ToValidUTF8(e[:maxStateErrorBytes], "") + "..."
		}
		errs = append(errs, e)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return broken(err)
	}
	return errs
}

// answerMarker stands for a streamed field in the answer writeAnswer encodes, where it then writes
// the field. No field before can hold `"name":"` + answerMarker + `"`: inside a JSON string every
// quote is escaped.
const answerMarker = "kcr-streamed-field"

// writeAnswer writes the 200 answer of /execute: the same bytes as writeJSON, but the big fields are
// written straight into the response instead of into one buffer of the whole answer. stdout and
// stderr are encoded a piece at a time (as JSON, a byte can take 6), and the state is streamed from
// its file as base64 (64 MiB of state would cost 85 MiB as base64, as much again in the buffer). In
// jail mode one process serves every sandbox: what an answer holds is only its fields, its file list
// (bounded by listBudget) and a few small buffers.
func writeAnswer(w http.ResponseWriter, resp *execResponse) {
	type streamed struct {
		name  string
		field *string
		write func(w io.Writer) error
	}
	// A copy with markers in place of the streamed fields (a PTC run's answer may be written by two
	// requests at once: the answer itself is left as it is).
	marked := *resp
	fields := []streamed{
		{"stdout", &marked.Stdout, func(w io.Writer) error { return writeJSONString(w, resp.Stdout) }},
		{"stderr", &marked.Stderr, func(w io.Writer) error { return writeJSONString(w, resp.Stderr) }},
	}
	if resp.stateFile != nil {
		fields = append(fields, streamed{"state", &marked.State, func(w io.Writer) error {
			b64 := base64.NewEncoder(base64.StdEncoding, w)
			if _, err := io.CopyN(b64, resp.stateFile, resp.stateSize); err != nil {
				return err
			}
			return b64.Close()
		}})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, f := range fields {
		*f.field = answerMarker
	}
	if err := enc.Encode(&marked); err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the answer: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rest := buf.Bytes()
	for _, f := range fields {
		before, after, _ := bytes.Cut(rest, []byte(`"`+f.name+`":"`+answerMarker+`"`))
		w.Write(before)
		io.WriteString(w, `"`+f.name+`":"`)
		if err := f.write(w); err != nil {
			// The client went away, or the state file got shorter since it was opened (a process of
			// the run outlived it?): the answer stops here, cut short, which is not JSON (the API
			// takes it for a failed sandbox).
			log.Printf("runner: writing the answer's %s: %v", f.name, err)
			return
		}
		io.WriteString(w, `"`)
		rest = after
	}
	w.Write(rest)
}

// writeJSONString writes s as the inside of a JSON string, as encoding/json (without HTML escaping)
// writes it, a piece at a time: encoding/json encodes each character on its own, so pieces cut where
// no character spans the cut encode to the same bytes as the whole.
func writeJSONString(w io.Writer, s string) error {
	const piece = 32 << 10
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for len(s) > 0 {
		n := min(piece, len(s))
		// Cut before the start of a character among the last 4 bytes, if there is one: a valid
		// character is at most 4 bytes, so none then spans the cut.
		for i := n; n < len(s) && i > n-utf8.UTFMax; i-- {
			if utf8.RuneStart(s[i]) {
				n = i
				break
			}
		}
		buf.Reset()
		if err := enc.Encode(s[:n]); err != nil {
			return err
		}
		b := buf.Bytes()
		if _, err := w.Write(b[1 : len(b)-2]); err != nil { // without the quotes and the newline
			return err
		}
		s = s[n:]
	}
	return nil
}

// fail ends the run with a runner-side error reported like a failed program.
func (r *run) fail(format string, a ...any) stepResult {
	r.s.stderr.write([]byte(fmt.Sprintf(format, a...) + "\n"))
	return stepResult{exitCode: 1}
}

func (r *run) tool(name string) string { return r.s.cfg.Tools[name] }
func (r *run) bin() string             { return r.s.child(dirBuild, "prog") }
func (r *run) args() []string {
	if r.req.Args == nil {
		return []string{}
	}
	return r.req.Args
}

// compile runs a compiler; its stdout and stderr both go to the run's stderr. ok is false when the
// run must stop here (compile error or timeout), res then being the run's result.
func (r *run) compile(argv ...string) (res stepResult, ok bool) {
	p, err := r.s.startChild(argv, procOpts{mergeStderr: true})
	if err != nil {
		return r.fail("runner: starting %s: %v", argv[0], err), false
	}
	var d drainers
	d.start(p.stdout, &r.s.stderr)
	res = r.s.wait(p, r.deadline, nil)
	d.wait(p)
	p.closePipes()
	return res, res.exitCode == 0 && !res.timedOut
}

// exec runs the program with stdout and stderr captured separately.
func (r *run) exec(argv ...string) stepResult {
	p, err := r.s.startChild(argv, procOpts{})
	if err != nil {
		return r.fail("runner: starting %s: %v", argv[0], err)
	}
	return r.collect(p)
}

// collect captures a started program's stdout and stderr until it ends or the deadline.
func (r *run) collect(p *proc) stepResult {
	var d drainers
	d.start(p.stdout, &r.s.stdout)
	d.start(p.stderr, &r.s.stderr)
	return r.finish(p, &d)
}

// finish waits for p to end, or to report its exit code on its status pipe when it has one (a Python
// shim, a forked Node: they close stdout and stderr first, so all output is in the pipes then), and
// for d to have drained its output.
func (r *run) finish(p *proc, d *drainers) stepResult {
	var status <-chan int
	if p.status != nil {
		status = readStatus(p.status)
	}
	res := r.s.wait(p, r.deadline, status)
	if res.reported {
		d.finishWhenEmpty()
	}
	d.wait(p)
	p.closePipes()
	return res
}

// compiled compiles then runs the binary with the request's args.
func (r *run) compiled(compiler ...string) stepResult {
	if res, ok := r.compile(compiler...); !ok {
		return res
	}
	return r.exec(append([]string{r.bin()}, r.args()...)...)
}

// prefixed returns a fresh copy of the child prefix (the __child re-exec).
func (s *Server) prefixed() []string {
	return append(make([]string, 0, len(s.prefix)+16), s.prefix...)
}

const stoppedNotice = "[kubecoderun] killed: the sandbox was stopped during the run"

// templateDiedNotice ends the stderr of a run killed by the death of the jail template it was forked
// from (its children die with it): a failure of the service, which a new run does not meet (the
// template is started again).
const templateDiedNotice = "[kubecoderun] killed: the process this run was forked from died during the run " +
	"(a failure of the service, not of the code); running it again should work"

// withNotice appends a notice line to stderr, on a line of its own.
func withNotice(stderr, notice string) string {
	if stderr != "" && stderr[len(stderr)-1] != '\n' {
		stderr += "\n"
	}
	return stderr + notice + "\n"
}

// killGrace is how long to wait for a sandbox's holder to be seen dead after a run: only a run killed
// by SIGKILL (what the holder's death does to it) may have been killed that way.
func killGrace(resp *execResponse) time.Duration {
	if resp.Signal != nil && *resp.Signal == "SIGKILL" && !resp.TimedOut {
		return 200 * time.Millisecond
	}
	return 0
}
