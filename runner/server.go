package main

import (
	"embed"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

//go:embed shims/pyrun.py shims/noderun.js
var shimFiles embed.FS

// Scratch sub-directories. Only the runner writes shims/; children may write the others.
const (
	dirCode    = "code"    // the user's code file (and tsc's output)
	dirBuild   = "build"   // compiler output
	dirState   = "state"   // Python state in and out
	dirHome    = "home"    // HOME of children
	dirTmp     = "tmp"     // TMPDIR of children
	dirGoCache = "gocache" // GOCACHE, copied from the seed
	dirShims   = "shims"   // pyrun.py, noderun.js
)

// Server is one runner: its configuration, the sandbox directories and the warm interpreters.
type Server struct {
	cfg    *Config
	self   string   // the runner binary, re-executed as __child
	prefix []string // __child re-exec prefix + wrap, prepended to every child command
	env    []string // environment of every child
	root   *os.Root // the workdir; file endpoints never leave it
	busy   sync.Mutex
	warm   map[string]*warmSlot

	goCache sync.Once
	rust    func() (rustc, edition string) // detected on first use

	stdout, stderr capture // reused by every run (runs are serialised by busy)
}

// newServer prepares the scratch dir and workdir. It starts no process; see startBackground.
func newServer(cfg *Config) (*Server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, self: self, warm: map[string]*warmSlot{}}
	s.prefix = append(cfg.childPrefix(self), cfg.Wrap...)
	if err := os.MkdirAll(cfg.Workdir, 0o755); err != nil {
		return nil, err
	}
	// Directories children write to belong to the child uid; shims/ stays the runner's.
	for _, d := range []string{dirCode, dirShims, dirBuild, dirState, dirHome, dirTmp, dirGoCache} {
		if err := os.MkdirAll(s.scratch(d), 0o755); err != nil {
			return nil, err
		}
		if d != dirShims {
			if err := s.chownTree(s.scratch(d)); err != nil {
				return nil, err
			}
		}
	}
	if err := s.chownTree(cfg.Workdir); err != nil {
		return nil, err
	}
	for _, name := range []string{"pyrun.py", "noderun.js"} {
		b, _ := shimFiles.ReadFile("shims/" + name)
		if err := os.WriteFile(s.scratch(dirShims, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	if s.root, err = os.OpenRoot(cfg.Workdir); err != nil {
		return nil, err
	}
	s.env = buildEnv(cfg)
	s.rust = sync.OnceValues(s.detectRust)
	for _, lang := range []string{"py", "js"} {
		s.warm[lang] = &warmSlot{lang: lang, enabled: cfg.Warm[lang]}
	}
	return s, nil
}

// startBackground makes the runner a subreaper and prepares the --warm languages.
func (s *Server) startBackground() {
	startReaper()
	// Children of the same uid must not read the token from /proc/<runner>/environ or ptrace us.
	prctl(prSetDumpable, 0)
	for _, slot := range s.warm {
		if slot.enabled {
			go s.refill(slot)
		}
	}
	if s.cfg.Warm["go"] {
		go s.goCache.Do(s.seedGoCache)
	}
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.Handle("POST /execute", s.auth(http.HandlerFunc(s.handleExecute)))
	mux.Handle("GET /files", s.auth(http.HandlerFunc(s.handleListFiles)))
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

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	warm := map[string]bool{}
	for lang, slot := range s.warm {
		warm[lang] = slot.isReady()
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "warm": warm})
}

// scratch is a host path inside the scratch dir; child is the same path as children see it.
func (s *Server) scratch(elem ...string) string {
	return filepath.Join(append([]string{s.cfg.Scratch}, elem...)...)
}

func (s *Server) child(elem ...string) string {
	return path.Join(append([]string{s.cfg.ChildScratch}, elem...)...)
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
