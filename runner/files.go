package main

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// File endpoints. Every access goes through os.Root on the workdir, which refuses any path that
// resolves outside it, symlinks included; "..", absolute and unclean paths are refused up front.

type listedFile struct {
	Path  string  `json:"path"` // displayPath of the name
	Ref   string  `json:"ref"`  // escapePath of the name
	Size  int64   `json:"size"`
	Mtime float64 `json:"mtime"`
}

func (s *Server) handleListFiles(w http.ResponseWriter, r *http.Request) {
	files, omitted := []listedFile{}, 0
	var budget listBudget
	walkWorkdir(s.cfg.Workdir, func(rel string, st fileStat) {
		if !budget.admit(listedCost(rel)) {
			omitted++
			return
		}
		files = append(files, listedFile{Path: displayPath(rel), Ref: escapePath(rel), Size: st.size, Mtime: float64(st.mtime) / 1e9})
	})
	sort.Slice(files, func(i, j int) bool { return byPath(files[i].Path, files[i].Ref, files[j].Path, files[j].Ref) })
	reply := map[string]any{"files": files}
	if omitted > 0 {
		reply["files_omitted"] = omitted
	}
	writeJSON(w, http.StatusOK, reply)
}

func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/files/")
	if !validRelPath(name) {
		writeError(w, http.StatusBadRequest, "invalid path %q: want a clean relative path inside the workdir", name)
		return
	}
	switch r.Method {
	case http.MethodPut:
		s.putFile(w, r, name)
	case http.MethodGet, http.MethodHead:
		s.getFile(w, name)
	case http.MethodDelete:
		s.deleteFile(w, name)
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, DELETE")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

// pathHeader names the file of a "PUT /files": its path encoded as in a /files/{path} URL. The API
// uploads this way because its HTTP client (Helidon 4.4) garbles the request line of a streamed
// request longer than about 1 KiB, which a long or deeply nested non-ASCII name reaches.
const pathHeader = "X-Kcr-Path"

func (s *Server) handlePutByHeader(w http.ResponseWriter, r *http.Request) {
	name, err := url.PathUnescape(r.Header.Get(pathHeader))
	if err != nil || !validRelPath(name) {
		writeError(w, http.StatusBadRequest, "invalid %s %q: want a clean relative path inside the workdir", pathHeader, r.Header.Get(pathHeader))
		return
	}
	s.putFile(w, r, name)
}

// validRelPath accepts "a/b.txt" but not "", "/a", "a/../b", "../a", "a//b", "./a" or "a/".
func validRelPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) || path.Clean(p) != p {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "." {
			return false
		}
	}
	return true
}

func (s *Server) putFile(w http.ResponseWriter, r *http.Request, name string) {
	if dir := path.Dir(name); dir != "." {
		if err := s.root.MkdirAll(dir, 0o755); err != nil {
			fileError(w, err)
			return
		}
		for d := dir; d != "."; d = path.Dir(d) {
			s.chown(d)
		}
	}
	// O_NONBLOCK: opening a FIFO planted by user code fails instead of hanging the runner.
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		fileError(w, err)
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		writeError(w, http.StatusBadRequest, "%s is not a regular file", name)
		return
	}
	s.chown(name)
	n, err := io.Copy(f, http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxFileSize)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "file larger than %d bytes", s.cfg.MaxFileSize)
			return
		}
		writeError(w, http.StatusInternalServerError, "writing %s: %v", name, err)
		return
	}
	if err := f.Close(); err != nil {
		writeError(w, http.StatusInternalServerError, "writing %s: %v", name, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"path": name, "size": n})
}

func (s *Server) getFile(w http.ResponseWriter, name string) {
	f, err := s.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		fileError(w, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		writeError(w, http.StatusNotFound, "%s is not a regular file", name)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	w.WriteHeader(http.StatusOK)
	io.Copy(w, f)
}

func (s *Server) deleteFile(w http.ResponseWriter, name string) {
	st, err := s.root.Lstat(name)
	if err == nil && st.Mode()&fs.ModeSymlink != 0 {
		// A symlink resolving outside the workdir is refused like any other such path.
		if _, serr := s.root.Stat(name); serr != nil && !errors.Is(serr, fs.ErrNotExist) {
			err = serr
		}
	}
	if err == nil {
		if st.IsDir() {
			err = s.root.RemoveAll(name)
		} else {
			err = s.root.Remove(name)
		}
	}
	if err != nil {
		fileError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// chown gives a file written by the runner to the child uid, so user code can modify it.
func (s *Server) chown(name string) {
	if s.cfg.ChildUID >= 0 && s.cfg.ChildUID != os.Geteuid() {
		s.root.Lchown(name, s.cfg.ChildUID, s.cfg.ChildGID)
	}
}

func fileError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		writeError(w, http.StatusNotFound, "not found")
	case strings.Contains(err.Error(), "path escapes from parent"):
		writeError(w, http.StatusBadRequest, "path escapes the workdir")
	default:
		writeError(w, http.StatusBadRequest, "%v", unwrapPathError(err))
	}
}

// unwrapPathError drops the host path from an error message.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
