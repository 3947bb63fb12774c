package main

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

//go:embed shims/pyrun.py shims/noderun.js shims/tscrun.js shims/zygote.py shims/nodezygote.js shims/ptc.py
var shimFiles embed.FS

// Scratch sub-directories. Only the runner writes shims/; children may write the others.
const (
	dirCode    = "code"    // the user's code file (and tsc's output)
	dirBuild   = "build"   // compiler output
	dirState   = "state"   // Python state in and out
	dirHome    = "home"    // HOME of children
	dirTmp     = "tmp"     // TMPDIR of children
	dirGoCache = "gocache" // GOCACHE, copied from the seed
	dirShims   = "shims"   // pyrun.py, noderun.js, tscrun.js
)

// executable is the runner binary's path (the tests point it at a copy children can reach).
var executable = os.Executable

// Server is one runner: its configuration, the sandbox directories and the warm interpreters.
type Server struct {
	cfg    *Config
	self   string          // the runner binary, re-executed as __child and run by bash PTC stubs (ptc-call)
	prefix []string        // __child re-exec prefix, prepended to every child command (classic mode)
	env    []string        // environment of every child
	cg     *sandboxCgroups // the children's cgroups: where the runner could make them, or its jail sandbox's
	root   *os.Root        // the workdir; file endpoints never leave it
	// The scratch dir. Children own most of it (and it is their /tmp in a jail sandbox), so after start
	// the runner touches it only through this Root: a planted symlink cannot redirect its writes.
	scratchRoot *os.Root
	busy        sync.Mutex
	warm        map[string]*warmSlot

	goCache       sync.Once
	goCacheSeeded atomic.Bool                    // seedGoCache has finished (copied, or found no seed)
	rust          func() (rustc, edition string) // detected on first use
	// The shims (pyrun.py, noderun.js, tscrun.js) are written into the scratch dir on first use
	// (writeShims): only a cold interpreter or tsc needs them, not a run forked from a template (most
	// runs in a jail).
	shimsMu      sync.Mutex
	shimsWritten bool
	fontLists    map[string][]byte // RUNNER_MPL_CACHE_SEED's font lists, seeded at start and reset
	nodeModules  string            // the node_modules holding tsc (the npm packages of js and ts), or ""

	stdout, stderr capture // reused by every run (runs are serialised by busy)
	warmRuns       atomic.Int64
	stopping       atomic.Bool // SIGTERM received: a run ending now was killed by the stop

	ptcMu sync.Mutex
	ptc   *ptcRun // the programmatic run in progress or last ended, nil before any
	// the run id of a cancel that came before its run (ptcRequest.RunID), "" when none
	ptcCancelled string

	// jail is the sandbox this server serves in jail mode (one jail server, many sandboxes): children
	// start inside its namespaces through the templates. nil for a classic runner.
	jail *jailSandbox
}

// newServer prepares the scratch dir and workdir. It starts no process; see startBackground.
func newServer(cfg *Config) (*Server, error) {
	return newServerIn(cfg, nil)
}

// newServerIn prepares a server; with a jail sandbox, its children run in that sandbox (whose cgroups
// the jail made) instead of as __child re-execs.
func newServerIn(cfg *Config, jail *jailSandbox) (*Server, error) {
	self, err := executable()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, self: self, warm: map[string]*warmSlot{}, jail: jail}
	if jail != nil {
		s.cg = jail.cg
	} else {
		var pidsErr, memErr error
		s.cg, pidsErr, memErr = setupCgroups(cfg.MaxProcs, cfg.MaxMemory)
		if pidsErr != nil {
			log.Printf("runner: no pids cgroup (%v); processes are bounded by RLIMIT_NPROC only", pidsErr)
		}
		if memErr != nil {
			log.Printf("runner: no memory cgroup (%v); --max-memory %d is NOT enforced: the memory of children is unbounded", memErr, cfg.MaxMemory)
		}
		s.prefix = cfg.childPrefix(self, s.cg.dirs())
	}
	if err := os.MkdirAll(cfg.Workdir, 0o755); err != nil {
		return nil, err
	}
	if err := s.chownTree(cfg.Workdir); err != nil {
		return nil, err
	}
	if s.root, err = os.OpenRoot(cfg.Workdir); err != nil {
		return nil, err
	}
	// The scratch dir is sticky and world-writable like /tmp (it is /tmp in a jail sandbox). Directories
	// children write to belong to the child uid; shims/ stays the runner's, so children cannot swap it.
	if err := os.MkdirAll(cfg.Scratch, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(cfg.Scratch, 0o777|os.ModeSticky); err != nil {
		log.Printf("runner: cannot make %s sticky and world-writable: %v", cfg.Scratch, err)
	}
	if s.scratchRoot, err = os.OpenRoot(cfg.Scratch); err != nil {
		return nil, err
	}
	for _, d := range []string{dirShims, dirCode, dirBuild, dirState, dirHome, dirTmp, dirGoCache} {
		if err := s.freshDir(d); err != nil {
			return nil, err
		}
	}
	if jail != nil {
		s.fontLists = jail.j.fontLists // read once by the jail for all its sandboxes
		s.env = jail.j.env             // the same for every sandbox: built once
	} else {
		s.fontLists = readFontLists(cfg.MplCacheSeed)
		s.env = buildEnv(cfg)
	}
	s.nodeModules = nodeModulesOf(cfg.Tools["TSC"])
	s.seedMatplotlibCache()
	s.rust = sync.OnceValues(s.detectRust)
	for lang := range cfg.Warm {
		if languages[lang].warm == warmInterpreter {
			s.warm[lang] = &warmSlot{lang: lang, enabled: true}
		}
	}
	return s, nil
}

// startBackground makes the runner a subreaper and prepares the --warm languages.
func (s *Server) startBackground() {
	if s.jail == nil {
		startReaper()
		// Children of the same uid must not read the token from /proc/<runner>/environ or ptrace us.
		prctl(prSetDumpable, 0)
	}
	for _, slot := range s.warm {
		go s.refill(slot)
	}
	for lang := range s.cfg.Warm {
		if languages[lang].warm == warmBuildCache {
			go s.goCache.Do(s.seedGoCache)
		}
	}
}

// Close stops the warm interpreters and removes the cgroups. No run may be in progress. In jail mode
// the jail sandbox kills what is left and removes its cgroups itself.
func (s *Server) Close() {
	for _, w := range s.warm {
		w.stop()
	}
	if s.jail == nil {
		sweep()
		s.cg.remove()
	}
	s.root.Close()
	s.scratchRoot.Close()
}

// startChild starts a child; argv is the command as children see it. In jail mode it starts inside the
// sandbox's jail, else as a __child re-exec.
func (s *Server) startChild(argv []string, o procOpts) (*proc, error) {
	if s.jail != nil {
		return s.jail.start(argv, o)
	}
	return s.startProc(append(s.prefixed(), argv...), o)
}

// killLeftovers kills what a step left running (background jobs, processes that left its process
// group), sparing idle warm interpreters.
func (s *Server) killLeftovers() {
	if s.jail != nil {
		var keep []int
		for _, w := range s.warm {
			w.mu.Lock()
			if w.sh != nil && !w.sh.taken {
				keep = append(keep, w.sh.p.pid)
			}
			w.mu.Unlock()
		}
		s.jail.cg.signalAll(keep)
		return
	}
	sweep()
	s.emptyTerminationLog()
}

// emptyTerminationLog empties the pod's termination message file once nothing of the step runs. The
// kubelet mounts it writable (mode 0666) from the node's own disk, outside the pod's ephemeral-storage
// accounting (kubernetes/kubernetes#122224): up to RLIMIT_FSIZE written there would stay on the node
// for as long as the pod lives (a session's pod: many runs), never counted, never evicted.
func (s *Server) emptyTerminationLog() {
	if s.cfg.TerminationLog == "" {
		return
	}
	if err := os.Truncate(s.cfg.TerminationLog, 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Printf("runner: cannot empty the termination log %s: %v", s.cfg.TerminationLog, err)
	}
}

// ended reports whether this is a jail sandbox that has been destroyed. A request that was routed to
// it just before must not touch its cgroups (another sandbox may have them now): checked once busy is
// held.
func (s *Server) ended() bool {
	return s.jail != nil && s.jail.isClosed()
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.Handle("POST /execute", s.auth(http.HandlerFunc(s.handleExecute)))
	mux.Handle("GET /files", s.auth(http.HandlerFunc(s.handleListFiles)))
	mux.Handle("PUT /files", s.auth(http.HandlerFunc(s.handlePutByHeader)))
	mux.Handle("POST /reset", s.auth(http.HandlerFunc(s.handleReset)))
	mux.Handle("POST /ptc/continue", s.auth(http.HandlerFunc(s.handlePTCContinue)))
	mux.Handle("POST /ptc/wait", s.auth(http.HandlerFunc(s.handlePTCWait)))
	mux.Handle("POST /ptc/cancel", s.auth(http.HandlerFunc(s.handlePTCCancel)))
	files := s.auth(http.HandlerFunc(s.handleFile))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// File paths bypass ServeMux, which would answer an unclean path ("a/../b") with a redirect
		// instead of the 400 the protocol promises.
		if strings.HasPrefix(r.URL.Path, "/files/") {
			files.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// handleHealth reports, for each --warm language, whether it is prepared: its interpreter waits for a
// job, or its build cache is in place. The API waits for that before it hands out a pool sandbox.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	warm := map[string]bool{}
	for lang := range s.cfg.Warm {
		switch languages[lang].warm {
		case warmInterpreter:
			warm[lang] = s.warm[lang].isReady()
		case warmBuildCache:
			warm[lang] = s.goCacheSeeded.Load()
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "warm": warm})
}

// child is a path inside the scratch dir as children see it.
func (s *Server) child(elem ...string) string {
	return path.Join(append([]string{s.cfg.ChildScratch}, elem...)...)
}

// freshDir replaces a scratch sub-directory with an empty one, owned by the child uid unless it is
// shims/. Nothing is followed: a symlink put in its place is removed, not its target.
func (s *Server) freshDir(d string) error {
	if err := removeAll(s.scratchRoot, d); err != nil {
		return err
	}
	if err := s.scratchRoot.Mkdir(d, 0o755); err != nil {
		return err
	}
	if d != dirShims && s.cfg.ChildUID >= 0 && s.cfg.ChildUID != os.Geteuid() {
		return s.scratchRoot.Lchown(d, s.cfg.ChildUID, s.cfg.ChildGID)
	}
	return nil
}

// readFontLists reads the prebuilt matplotlib font lists (fontlist-*.json) of seed: name -> content.
// Without a seed there are none, and matplotlib builds the list itself.
func readFontLists(seed string) map[string][]byte {
	entries, err := os.ReadDir(seed)
	if err != nil {
		return nil
	}
	lists := map[string][]byte{}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), "fontlist") {
			continue
		}
		if b, err := os.ReadFile(path.Join(seed, e.Name())); err == nil {
			lists[e.Name()] = b
		}
	}
	return lists
}

// seedMatplotlibCache writes the prebuilt matplotlib font lists into the children's MPLCONFIGDIR, so
// a Python does not rebuild it at import (about 0.2 s of CPU per sandbox). Best effort.
func (s *Server) seedMatplotlibCache() {
	if len(s.fontLists) == 0 {
		return
	}
	dir := path.Join(dirHome, ".config", "matplotlib")
	if err := s.scratchRoot.MkdirAll(dir, 0o755); err != nil {
		return
	}
	chown := s.cfg.ChildUID >= 0 && s.cfg.ChildUID != os.Geteuid()
	if chown {
		s.scratchRoot.Lchown(path.Join(dirHome, ".config"), s.cfg.ChildUID, s.cfg.ChildGID)
		s.scratchRoot.Lchown(dir, s.cfg.ChildUID, s.cfg.ChildGID)
	}
	for name, b := range s.fontLists {
		if s.writeScratch(path.Join(dir, name), b) != nil {
			continue
		}
		if chown {
			s.scratchRoot.Lchown(path.Join(dir, name), s.cfg.ChildUID, s.cfg.ChildGID)
		}
	}
}

// clearDir removes everything in a scratch sub-directory; it fails if d is not a directory of its own
// (the caller then makes it anew).
func (s *Server) clearDir(d string) error {
	dir, err := s.openScratchDir(d)
	if err != nil {
		return err
	}
	defer dir.Close()
	return emptyRoot(dir)
}

// openScratchDir opens a scratch sub-directory, which children may have replaced: it fails unless d is
// a directory of its own. OpenRoot alone would follow a symlink that stays inside the scratch dir
// (code that replaced code/ with "code -> shims" would have the next run empty shims/, the shims and
// ptc.sock, and write its code file there), and would wait forever for a writer on a named pipe (it
// opens without O_NONBLOCK). So d must be a directory itself (Lstat), and the one opened.
func (s *Server) openScratchDir(d string) (*os.Root, error) {
	fi, err := s.scratchRoot.Lstat(d)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("scratch %s is not a directory", d)
	}
	dir, err := s.scratchRoot.OpenRoot(d)
	if err != nil {
		return nil, err
	}
	// Swapped for a symlink between the two (no user code runs between runs; still): not it.
	if opened, err := dir.Stat("."); err != nil || !os.SameFile(fi, opened) {
		dir.Close()
		return nil, fmt.Errorf("scratch %s was replaced", d)
	}
	return dir, nil
}

// writeScratch creates a new file in the scratch dir (readable by children, owned by the runner).
func (s *Server) writeScratch(name string, data []byte) error {
	f, err := s.scratchRoot.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeShims writes the shims unless they are there. A write that failed (the sandbox's disk full) is
// tried again by the next run that needs them, over what it left.
func (s *Server) writeShims() error {
	s.shimsMu.Lock()
	defer s.shimsMu.Unlock()
	if s.shimsWritten {
		return nil
	}
	for _, name := range []string{"pyrun.py", "noderun.js", "tscrun.js"} {
		b, _ := shimFiles.ReadFile("shims/" + name)
		p := path.Join(dirShims, name)
		s.scratchRoot.Remove(p) // what a failed attempt left; shims/ is the runner's alone
		if err := s.writeScratch(p, b); err != nil {
			return err
		}
	}
	s.shimsWritten = true
	return nil
}

// openScratch opens a regular file a child wrote, if it is at most max bytes, and returns its size;
// a FIFO cannot block the runner.
func (s *Server) openScratch(name string, max int64) (*os.File, int64, error) {
	f, err := s.scratchRoot.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	switch {
	case err != nil:
	case !st.Mode().IsRegular():
		err = fmt.Errorf("%s is not a regular file", name)
	case st.Size() > max:
		err = fmt.Errorf("%s is larger than %d bytes", name, max)
	default:
		return f, st.Size(), nil
	}
	f.Close()
	return nil, 0, err
}

// chownTree gives dir and everything in it to the child uid, when children run as another user.
func (s *Server) chownTree(dir string) error {
	if s.cfg.ChildUID < 0 || s.cfg.ChildUID == os.Geteuid() {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, s.cfg.ChildUID, s.cfg.ChildGID)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		log.Printf("runner: writing response: %v", err)
	}
}

func writeError(w http.ResponseWriter, status int, format string, a ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, a...)})
}
