package main

import (
	"io/fs"
	"net/http"
	"os"
	"path"
)

// handleReset makes a used sandbox like a fresh one, for the next run of the same session (the
// Kubernetes backend's session-bound pods, K8S_POD_REUSE=session): the warm interpreters are
// stopped, the workdir emptied, the per-run scratch dirs (code, build, state, HOME, TMPDIR) made
// anew and the matplotlib cache seeded again, then the warm interpreters started again, after the
// wipe, so nothing the last run left can shape them. The runner's shims and the Go build cache (a
// content-addressed copy of the seed) stay. Refused by a single-use runner, and while a run is on.
func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	if s.cfg.SingleUse {
		writeError(w, http.StatusConflict, "a single-use runner is not reused")
		return
	}
	if !s.busy.TryLock() {
		writeError(w, http.StatusConflict, "busy")
		return
	}
	defer s.busy.Unlock()
	if s.ended() {
		writeError(w, http.StatusGone, "the sandbox has ended")
		return
	}
	for _, slot := range s.warm {
		slot.stop()
	}
	// Whatever a run started was killed when it ended; a process left now would be the runner's own
	// bug, but one more sweep costs nothing. In jail mode, of this sandbox only: the jail server's
	// other children are the templates and the other sandboxes' holders.
	s.killLeftovers()
	if err := emptyRoot(s.root); err != nil {
		writeError(w, http.StatusInternalServerError, "cannot empty the workdir: %v", unwrapPathError(err))
		return
	}
	for _, d := range []string{dirCode, dirBuild, dirState, dirHome, dirTmp} {
		if err := s.freshDir(d); err != nil {
			writeError(w, http.StatusInternalServerError, "cannot make scratch %s anew: %v", d, unwrapPathError(err))
			return
		}
	}
	s.seedMatplotlibCache()
	for _, slot := range s.warm {
		slot.mu.Lock()
		slot.enabled = true
		slot.mu.Unlock()
		go s.refill(slot)
	}
	w.WriteHeader(http.StatusNoContent)
}

// emptyRoot removes everything under root.
func emptyRoot(root *os.Root) error {
	names, err := readNames(root, ".")
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := removeAll(root, n); err != nil {
			return err
		}
	}
	return nil
}

// removeAll removes name under root. User code (the runner's uid on Kubernetes) may have taken
// permissions away from what it made: the owner gives them back (never following a symlink: the
// Root stays inside), then removes again.
func removeAll(root *os.Root, name string) error {
	if err := root.RemoveAll(name); err == nil {
		return nil
	}
	restorePermissions(root, name)
	return root.RemoveAll(name)
}

func readNames(root *os.Root, dir string) ([]string, error) {
	f, err := root.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// restorePermissions makes the directories under name (itself included) writable and searchable by
// their owner again, best effort.
func restorePermissions(root *os.Root, name string) {
	fi, err := root.Lstat(name)
	if err != nil || !fi.IsDir() {
		return
	}
	root.Chmod(name, fi.Mode().Perm()|0o700)
	names, err := readNames(root, name)
	if err != nil {
		return
	}
	for _, n := range names {
		p := path.Join(name, n)
		if fi, err := root.Lstat(p); err == nil && fi.Mode().Type() == fs.ModeDir {
			restorePermissions(root, p)
		}
	}
}
