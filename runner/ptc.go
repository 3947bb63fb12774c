package main

// Programmatic tool calling (PTC): a run whose code calls tools the API's client runs. The code's
// stubs talk to the runner over a unix socket in the runner's own scratch sub-directory (shims/,
// which children can read but not change); the runner hands each batch of calls to the API, keeps the
// program blocked on its socket while the client runs the tools, and writes the results back when the
// API continues. See docs/runner-protocol.md, "Programmatic tool calling".

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

const (
	ptcSocket   = "ptc.sock"
	ptcMaxLine  = 1 << 20 // one batch message from the code, and each connection's reply
	ptcMaxCalls = 64      // calls in one batch
	ptcMaxConns = 32      // connections open at once
	// ptcMaxHeld bounds the batch messages all connections of a run hold at once (being read, or
	// read and waiting for their results): the runner reads them into its own memory, outside the
	// sandbox's limit (in jail mode one process serves every sandbox), and 32 connections of a
	// line of 1 MiB each cost it 57 MiB.
	ptcMaxHeld       = 4 << 20
	ptcMaxTools      = 256      // tools of one run
	ptcMaxNameLen    = 256      // a tool's registered name
	ptcMaxResults    = 32 << 20 // a continue request's body
	ptcDefaultRounds = 20
	ptcWaitPoll      = 25 * time.Second // the longest /ptc/wait answers 202 after
)

type ptcRequest struct {
	Tools         []string `json:"tools"`           // registered names, as the client knows them
	MaxRounds     int      `json:"max_rounds"`      // batches handed out at most; the next one ends the run
	IdleTimeoutMS int64    `json:"idle_timeout_ms"` // how long a batch waits for its results
	RunID         string   `json:"run_id"`          // the API's id of the run, which a cancel may name
}

// ptcCall is one tool call of a batch, as the API sees it.
type ptcCall struct {
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// ptcResult is the client's result of one call.
type ptcResult struct {
	CallID       string          `json:"call_id"`
	Result       json.RawMessage `json:"result"`
	IsError      bool            `json:"is_error"`
	ErrorMessage string          `json:"error_message,omitempty"`
}

// ptcReply answers /execute (ptc), /ptc/continue: a batch to run, or the end of the run (its result
// from /ptc/wait).
type ptcReply struct {
	Status    string    `json:"status"` // "tool_call_required" | "ended"
	ToolCalls []ptcCall `json:"tool_calls,omitempty"`
	Round     int       `json:"round,omitempty"`
}

// batchMsg is what a connection sent: its calls, and where their results go.
type batchMsg struct {
	calls []ptcCall
	reply chan []ptcResult // buffered 1
}

type ptcRun struct {
	s         *Server
	id        string // ptcRequest.RunID
	names     map[string]bool
	segment   time.Duration
	idle      time.Duration
	maxRounds int
	ln        net.Listener
	batches   chan *batchMsg
	events    chan ptcReply // to the one waiter (initial execute or continue); buffered 2
	results   chan []ptcResult
	cancel    chan struct{}
	cancelOne sync.Once
	abort     chan struct{} // closed to kill the run: every step's wait ends (proc.go)
	abortOne  sync.Once
	done      chan struct{} // closed when the run ended and final is set

	mu       sync.Mutex
	conns    int
	held     int            // bytes of ptcMaxHeld the connections hold
	waiting  bool           // a batch is out, its results not yet accepted
	pending  []*batchMsg    // the batch that is out
	ids      map[string]int // call id -> index in the batch
	round    int
	nextCall int
	final    *execResponse
	finalErr error
	end      string // why the runner ended the run, "" when it ended on its own
	detail   string
}

var ptcNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[^\x00-\x1f]{1,256}$`) })

// handlePTCExecute starts a programmatic run (busy held by the caller) and answers its first batch, or
// its end. It returns true when the run took over busy (it unlocks it when it ends).
func (s *Server) handlePTCExecute(w http.ResponseWriter, req *execRequest, lang language) bool {
	p := req.PTC
	if req.Language != "py" && req.Language != "bash" {
		writeError(w, http.StatusBadRequest, "programmatic tool calling is for py and bash, not %q", req.Language)
		return false
	}
	if len(p.Tools) > ptcMaxTools {
		writeError(w, http.StatusBadRequest, "at most %d tools", ptcMaxTools)
		return false
	}
	names := map[string]bool{}
	idents := map[string]string{}
	for _, n := range p.Tools {
		if !ptcNameRE().MatchString(n) {
			writeError(w, http.StatusBadRequest, "invalid tool name %q", n)
			return false
		}
		id := normalizeToolName(n, req.Language == "bash")
		if other, dup := idents[id]; dup && other != n {
			writeError(w, http.StatusBadRequest, "tools %q and %q have the same function name %s", other, n, id)
			return false
		}
		idents[id], names[n] = n, true
	}
	run := &ptcRun{s: s, id: p.RunID, names: names, maxRounds: p.MaxRounds, batches: make(chan *batchMsg, ptcMaxConns),
		events: make(chan ptcReply, 2), results: make(chan []ptcResult, 1), cancel: make(chan struct{}), abort: make(chan struct{}),
		done: make(chan struct{})}
	if run.maxRounds <= 0 {
		run.maxRounds = ptcDefaultRounds
	}
	run.segment = time.Duration(req.TimeoutMS) * time.Millisecond
	if run.segment <= 0 || run.segment > s.cfg.MaxTimeout {
		run.segment = s.cfg.MaxTimeout
	}
	run.idle = time.Duration(p.IdleTimeoutMS) * time.Millisecond
	if run.idle <= 0 {
		run.idle = 5 * time.Minute
	}
	code, err := s.ptcProgram(req.Language, req.Code, idents)
	if err == nil {
		err = run.listen()
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return false
	}
	s.ptcMu.Lock()
	s.ptc = run
	if p.RunID != "" && s.ptcCancelled == p.RunID {
		// Cancelled before it got here: watch ends it at once, before its first batch.
		run.cancelOne.Do(func() { close(run.cancel) })
	}
	s.ptcCancelled = ""
	s.ptcMu.Unlock()
	preq := *req
	preq.Code = code
	if req.Language == "py" {
		preq.extra = map[string]string{"main.py": req.Code}
	}
	preq.State, preq.CaptureState = "", false
	// The segment limit is the watchdog's: the program's own deadline only bounds a run gone wrong.
	preq.longDeadline = (run.segment + run.idle) * time.Duration(run.maxRounds+1)
	go func() {
		defer s.busy.Unlock()
		resp, err := s.execute(&preq, lang, nil)
		run.finish(resp, err)
	}()
	go run.accept()
	go run.watch()
	writeJSON(w, http.StatusOK, run.next())
	return true
}

// listen makes the socket children connect to; only the runner writes shims/. A path longer than a
// socket address holds (a deep scratch dir) is reached through the directory's /proc/self/fd link.
func (run *ptcRun) listen() error {
	s := run.s
	name := path.Join(dirShims, ptcSocket)
	_ = s.scratchRoot.Remove(name)
	addr := path.Join(s.cfg.Scratch, name)
	if len(addr) >= 100 {
		dir, err := s.scratchRoot.Open(dirShims)
		if err != nil {
			return fmt.Errorf("ptc socket: %v", err)
		}
		defer dir.Close()
		addr = fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), ptcSocket)
	}
	ln, err := net.Listen("unix", addr)
	if err != nil {
		return fmt.Errorf("ptc socket: %v", err)
	}
	// Removed by name when the run ends (the /proc path may name another directory by then).
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := s.scratchRoot.Chmod(name, 0o666); err != nil {
		ln.Close()
		return fmt.Errorf("ptc socket: %v", err)
	}
	run.ln = ln
	return nil
}

// accept serves the code's connections: each sends batches, one line of JSON each, and reads the
// results, one line per batch.
func (run *ptcRun) accept() {
	for {
		c, err := run.ln.Accept()
		if err != nil {
			return
		}
		run.mu.Lock()
		full := run.conns >= ptcMaxConns
		if !full {
			run.conns++
		}
		run.mu.Unlock()
		if full {
			c.Close()
			continue
		}
		go run.serve(c)
	}
}

type wireCall struct {
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

func (run *ptcRun) serve(c net.Conn) {
	held := 0 // of ptcMaxHeld, by this connection's line
	hold := func(n int) bool {
		run.mu.Lock()
		defer run.mu.Unlock()
		if run.held+n > ptcMaxHeld {
			return false
		}
		run.held += n
		held += n
		return true
	}
	release := func() {
		run.mu.Lock()
		run.held -= held
		run.mu.Unlock()
		held = 0
	}
	defer func() {
		c.Close()
		release()
		run.mu.Lock()
		run.conns--
		run.mu.Unlock()
	}()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-run.done:
			c.Close()
		case <-stop:
		}
	}()
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		release() // the last batch has its results
		line, err := readLine(br, ptcMaxLine, hold)
		if errors.Is(err, errPTCHeld) {
			fmt.Fprintf(c, "{\"error\":\"%v\"}\n", err)
			return
		}
		if err != nil {
			return
		}
		var msg struct {
			Calls []wireCall `json:"calls"`
		}
		if err := json.Unmarshal(line, &msg); err != nil || len(msg.Calls) == 0 || len(msg.Calls) > ptcMaxCalls {
			fmt.Fprintf(c, "{\"error\":\"a batch is 1 to %d calls of {name, input}\"}\n", ptcMaxCalls)
			return
		}
		b := &batchMsg{reply: make(chan []ptcResult, 1)}
		for _, wc := range msg.Calls {
			in := wc.Input
			if len(in) == 0 || string(in) == "null" {
				in = json.RawMessage("{}")
			}
			b.calls = append(b.calls, ptcCall{Name: wc.Name, Input: in})
		}
		select {
		case run.batches <- b:
		case <-run.done:
			return
		}
		var res []ptcResult
		select {
		case res = <-b.reply:
		case <-run.done: // killed while the batch was out
			return
		}
		out, _ := json.Marshal(map[string]any{"results": res})
		if len(out) > ptcMaxLine*32 {
			return
		}
		if _, err := c.Write(append(out, '\n')); err != nil {
			return
		}
	}
}

var errPTCHeld = fmt.Errorf("the run's connections hold more than %d MiB of tool calls at once", ptcMaxHeld>>20)

// readLine reads one line of at most max bytes, each byte held (hold) before it is read into it.
func readLine(br *bufio.Reader, max int, hold func(n int) bool) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > max {
			return nil, errors.New("line too long")
		}
		if !hold(len(chunk)) {
			return nil, errPTCHeld
		}
		line = append(line, chunk...)
		if err == nil {
			return line, nil
		}
		if err != bufio.ErrBufferFull {
			return nil, err
		}
	}
}

// watch enforces the segment limit (while the code runs) and the idle limit (while a batch is out),
// hands batches to the waiter and ends the run when it must.
func (run *ptcRun) watch() {
	seg := time.NewTimer(run.segment)
	defer seg.Stop()
	for {
		// The code runs: a batch, the segment limit, a cancel or the end.
		select {
		case b := <-run.batches:
			seg.Stop()
			batch := []*batchMsg{b}
		drain:
			for {
				select {
				case more := <-run.batches:
					batch = append(batch, more)
				default:
					break drain
				}
			}
			if reason, detail := run.check(batch); reason != "" {
				run.kill(reason, detail)
				<-run.done
				run.events <- ptcReply{Status: "ended"}
				return
			}
			run.events <- run.publish(batch)
			idle := time.NewTimer(run.idle)
			select {
			case res := <-run.results:
				idle.Stop()
				run.deliver(batch, res)
				seg.Reset(run.segment)
			case <-idle.C:
				run.kill("idle_timeout", "no tool results within the continuation timeout")
				<-run.done
				return
			case <-run.cancel:
				idle.Stop()
				run.kill("cancelled", "")
				<-run.done
				return
			case <-run.done:
				idle.Stop()
				return
			}
		case <-seg.C:
			run.kill("timeout", "")
			<-run.done
			run.events <- ptcReply{Status: "ended"}
			return
		case <-run.cancel:
			run.kill("cancelled", "")
			<-run.done
			run.events <- ptcReply{Status: "ended"}
			return
		case <-run.done:
			run.events <- ptcReply{Status: "ended"}
			return
		}
	}
}

// check refuses a batch past the round-trip cap or naming a tool that is not registered.
func (run *ptcRun) check(batch []*batchMsg) (string, string) {
	n := 0
	for _, b := range batch {
		for _, c := range b.calls {
			if !run.names[c.Name] {
				return "unregistered_tool", c.Name
			}
			n++
		}
	}
	if n > ptcMaxCalls {
		return "too_many_calls", fmt.Sprintf("more than %d tool calls at once", ptcMaxCalls)
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.round >= run.maxRounds {
		return "round_trips", fmt.Sprintf("more than %d tool call round trips", run.maxRounds)
	}
	return "", ""
}

// publish numbers the calls of a batch and makes it the one out.
func (run *ptcRun) publish(batch []*batchMsg) ptcReply {
	run.mu.Lock()
	defer run.mu.Unlock()
	run.round++
	run.ids = map[string]int{}
	var calls []ptcCall
	for _, b := range batch {
		for i := range b.calls {
			run.nextCall++
			b.calls[i].ID = fmt.Sprintf("call_%03d", run.nextCall)
			run.ids[b.calls[i].ID] = len(calls)
			calls = append(calls, b.calls[i])
		}
	}
	run.pending, run.waiting = batch, true
	return ptcReply{Status: "tool_call_required", ToolCalls: calls, Round: run.round}
}

// deliver writes each connection its results, in the order of its calls.
func (run *ptcRun) deliver(batch []*batchMsg, res []ptcResult) {
	byID := map[string]ptcResult{}
	for _, r := range res {
		byID[r.CallID] = r
	}
	for _, b := range batch {
		out := make([]ptcResult, len(b.calls))
		for i, c := range b.calls {
			out[i] = byID[c.ID]
			if len(out[i].Result) == 0 {
				out[i].Result = json.RawMessage("null")
			}
		}
		b.reply <- out
	}
}

// accept results: exactly the calls of the batch out, once.
func (run *ptcRun) offer(res []ptcResult) error {
	run.mu.Lock()
	defer run.mu.Unlock()
	if !run.waiting {
		return errStale
	}
	seen := map[string]bool{}
	for _, r := range res {
		if _, ok := run.ids[r.CallID]; !ok || seen[r.CallID] {
			return errStale
		}
		seen[r.CallID] = true
	}
	if len(seen) != len(run.ids) {
		return errStale
	}
	run.waiting = false
	run.results <- res
	return nil
}

var errStale = errors.New("these results are not those of the batch waiting for them")

// kill ends the run early: the step in progress is killed with what it started, as at a timeout, and
// the result says why.
func (run *ptcRun) kill(reason, detail string) {
	run.mu.Lock()
	if run.end == "" {
		run.end, run.detail = reason, detail
	}
	run.mu.Unlock()
	run.abortOne.Do(func() { close(run.abort) })
}

// runAbort is closed when the programmatic run in progress must stop (nil: never).
func (s *Server) runAbort() <-chan struct{} {
	s.ptcMu.Lock()
	defer s.ptcMu.Unlock()
	if s.ptc == nil {
		return nil
	}
	select {
	case <-s.ptc.done: // ended: later runs are not its
		return nil
	default:
		return s.ptc.abort
	}
}

// next is what the waiter answers: the next batch, or the end.
func (run *ptcRun) next() ptcReply {
	select {
	case e := <-run.events:
		return e
	case <-run.done:
		return ptcReply{Status: "ended"}
	}
}

// finish records the run's end and releases everything that waits for it.
func (run *ptcRun) finish(resp *execResponse, err error) {
	run.ln.Close()
	_ = run.s.scratchRoot.Remove(path.Join(dirShims, ptcSocket))
	run.mu.Lock()
	if resp != nil {
		resp.PTCEnd, resp.PTCDetail = run.end, run.detail
		if run.end == "timeout" {
			resp.TimedOut, resp.ExitCode, resp.Signal = true, 124, nil
		}
		resp.PTCRounds = run.round
	}
	run.final, run.finalErr = resp, err
	run.mu.Unlock()
	close(run.done)
}

// current is the PTC run of this server, or nil.
func (s *Server) currentPTC() *ptcRun {
	s.ptcMu.Lock()
	defer s.ptcMu.Unlock()
	return s.ptc
}

// handlePTCContinue: POST /ptc/continue {"run_id"?, "tool_results": [...]}: the results of the batch out;
// answers the next batch or the end. 404 when run_id names another run than this sandbox's current one
// (a token of an earlier run of a kept sandbox), 410 when the run has ended (on its own, with a batch
// still out: the API then answers with the run's end), 409 when no batch waits or the results are not
// exactly its calls.
func (s *Server) handlePTCContinue(w http.ResponseWriter, r *http.Request) {
	run := s.currentPTC()
	if run == nil {
		writeError(w, http.StatusNotFound, "no programmatic run")
		return
	}
	var body struct {
		RunID       string      `json:"run_id"`
		ToolResults []ptcResult `json:"tool_results"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, ptcMaxResults)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "malformed request: %v", err)
		return
	}
	if body.RunID != "" && body.RunID != run.id {
		writeError(w, http.StatusNotFound, "no programmatic run %q", body.RunID)
		return
	}
	select {
	case <-run.done:
		writeError(w, http.StatusGone, "the run has ended")
		return
	default:
	}
	if err := run.offer(body.ToolResults); err != nil {
		writeError(w, http.StatusConflict, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, run.next())
}

// handlePTCWait: POST /ptc/wait: the run's result (as /execute answers it) once it has ended; 202
// {"status":"running"} after a while without.
func (s *Server) handlePTCWait(w http.ResponseWriter, r *http.Request) {
	run := s.currentPTC()
	if run == nil {
		writeError(w, http.StatusNotFound, "no programmatic run")
		return
	}
	t := time.NewTimer(ptcWaitPoll)
	defer t.Stop()
	select {
	case <-run.done:
	case <-t.C:
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "running"})
		return
	case <-r.Context().Done():
		return
	}
	run.mu.Lock()
	resp, err := run.final, run.finalErr
	run.mu.Unlock()
	if err == nil && s.jail != nil && s.jail.dead(killGrace(resp)) && resp.PTCEnd == "" {
		err = errors.New("the sandbox died during the run")
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeAnswer(w, resp)
}

// handlePTCCancel: POST /ptc/cancel {"run_id"?}: kills the programmatic run (204 either way). A cancel
// naming a run that has not started here yet (its /execute still on its way) is kept for it, until the
// next programmatic run starts.
func (s *Server) handlePTCCancel(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RunID string `json:"run_id"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "invalid cancel: %v", err)
		return
	}
	s.ptcMu.Lock()
	run := s.ptc
	if run != nil && (body.RunID == "" || body.RunID == run.id) {
		run.cancelOne.Do(func() { close(run.cancel) })
	} else if body.RunID != "" {
		s.ptcCancelled = body.RunID
	}
	s.ptcMu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

var pythonKeywords = setOf("False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield")
var bashReserved = setOf("if then else elif fi case esac for select while until do done in function time coproc")

func setOf(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// normalizeToolName is the function name of a tool, as LibreChat's client computes it: hyphens and
// spaces (and for bash dots) become _, other characters outside [A-Za-z0-9_] are dropped, a leading
// digit gets a _ before it, a keyword (reserved word) gets _tool after it.
func normalizeToolName(name string, bash bool) string {
	var b strings.Builder
	for _, c := range name {
		switch {
		case c == '-' || c == ' ' || bash && c == '.':
			b.WriteByte('_')
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			b.WriteRune(c)
		}
	}
	id := b.String()
	if id == "" {
		id = "_"
	}
	if id[0] >= '0' && id[0] <= '9' {
		id = "_" + id
	}
	if bash && bashReserved[id] || !bash && pythonKeywords[id] {
		id += "_tool"
	}
	return id
}

// ptcProgram is the code file of a PTC run: the stubs, then the user's code (Python: compiled with top-
// level await allowed, from a file of its own so tracebacks show its lines).
func (s *Server) ptcProgram(lang, code string, idents map[string]string) (string, error) {
	sock := s.child(dirShims, ptcSocket)
	keys := make([]string, 0, len(idents))
	for k := range idents {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	if lang == "bash" {
		// The runner binary itself calls the tool (ptccall.go): images without Python have it too.
		runner := s.self
		if s.jail != nil {
			runner = jailRunnerPath
		}
		for _, id := range keys {
			fmt.Fprintf(&b, "%s() { %s %s %s %s \"$@\"; }; ", id, shQuote(runner), ptcCallCommand, shQuote(sock), shQuote(idents[id]))
		}
		b.WriteString("\n")
		b.WriteString(code)
		return b.String(), nil
	}
	user := s.child(dirCode, "main.py")
	prelude, _ := shimFiles.ReadFile("shims/ptc.py")
	b.Write(prelude)
	// The stubs are bound by main, so a tool named like a name of the prelude cannot break it.
	stubs := map[string]string{}
	for _, id := range keys {
		stubs[id] = idents[id]
	}
	js, _ := json.Marshal(stubs)
	fmt.Fprintf(&b, "\n_KcrPTC(%s).main(%s, globals(), %s)\n", pyQuote(sock), pyQuote(user), pyQuote(string(js)))
	return b.String(), nil
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func pyQuote(s string) string {
	b, _ := json.Marshal(s) // a JSON string is a valid Python string literal
	return string(b)
}
