package main

import (
	"io/fs"
	"os"
	"sort"
	"strings"
	"syscall"
	"unicode/utf8"
)

// fileStat is what a workdir snapshot keeps of a regular file: enough to tell it changed.
type fileStat struct {
	size  int64
	mtime int64 // UnixNano
}

type fileChange struct {
	Path   string  `json:"path"` // displayPath of the name
	Ref    string  `json:"ref"`  // escapePath of the name: what to GET under /files/
	Size   int64   `json:"size"`
	Mtime  float64 `json:"mtime"`
	Change string  `json:"change"` // "created" or "modified"
}

// unlistedPath is a folder (or entry) the snapshot could not look into, e.g. a folder user code made
// unreadable: what is inside cannot be listed, and the API says so instead of dropping it silently.
type unlistedPath struct {
	Path  string `json:"path"`
	Ref   string `json:"ref"`
	Error string `json:"error"`
	// Kind is set for an entry that is not a file or folder (symlink, named pipe, socket, device):
	// only regular files are returned, and the API names the others instead of dropping them.
	Kind string `json:"kind,omitempty"`
	raw  string // the relative path itself
}

const maxUnlisted = 100

// snapshot lists the regular files under dir, recursively, by "/"-separated relative path, and
// what it could not look into (at most maxUnlisted). Symlinks are not followed, and the walk stays
// inside dir even while user code swaps a folder for a symlink under it (the runner is root in jail
// mode, and dir's parent holds the other sandboxes' folders): it goes through an os.Root, which
// refuses a path that leaves dir and stats each entry relative to its open folder.
func snapshot(dir string) (map[string]fileStat, []unlistedPath) {
	out := map[string]fileStat{}
	var unlisted []unlistedPath
	root, err := os.OpenRoot(dir)
	if err != nil {
		return out, nil
	}
	defer root.Close()
	note := func(rel, msg, kind string) {
		if len(unlisted) < maxUnlisted {
			unlisted = append(unlisted, unlistedPath{Path: displayPath(rel), Ref: escapePath(rel), Error: msg, Kind: kind, raw: rel})
		}
	}
	fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			if rel != "." {
				note(rel, unwrapPathError(err).Error(), "")
			}
			return nil
		case len(rel) >= syscall.PathMax:
			// Walked through open folders, a path can grow past PATH_MAX: nothing could open it by name.
			note(rel, syscall.ENAMETOOLONG.Error(), "")
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		case !d.Type().IsRegular():
			if kind := specialKind(d.Type()); kind != "" {
				note(rel, "not a regular file: a "+kind, kind)
			}
			return nil
		}
		if info, err := d.Info(); err == nil {
			out[rel] = fileStat{size: info.Size(), mtime: info.ModTime().UnixNano()}
		}
		return nil
	})
	return out, unlisted
}

// specialKind names an entry that is neither a regular file nor a folder ("" for those two).
func specialKind(t fs.FileMode) string {
	switch {
	case t.IsRegular(), t.IsDir():
		return ""
	case t&fs.ModeSymlink != 0:
		return "symlink"
	case t&fs.ModeNamedPipe != 0:
		return "named pipe"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeDevice != 0:
		return "device"
	default:
		return "special file"
	}
}

// diffSnapshots lists files created or modified (size or mtime changed) and files deleted, sorted.
// A file under an unlisted folder is not known to be gone, so it is not reported deleted.
func diffSnapshots(before, after map[string]fileStat, unlisted []unlistedPath) ([]fileChange, []string) {
	files, deleted := []fileChange{}, []string{}
	for p, a := range after {
		b, existed := before[p]
		change := "created"
		if existed {
			if a == b {
				continue
			}
			change = "modified"
		}
		files = append(files, fileChange{Path: displayPath(p), Ref: escapePath(p), Size: a.size, Mtime: float64(a.mtime) / 1e9, Change: change})
	}
	for p := range before {
		if _, ok := after[p]; !ok && !under(p, unlisted) {
			deleted = append(deleted, displayPath(p))
		}
	}
	sort.Slice(files, func(i, j int) bool { return byPath(files[i].Path, files[i].Ref, files[j].Path, files[j].Ref) })
	sort.Strings(deleted)
	return files, deleted
}

func under(p string, unlisted []unlistedPath) bool {
	for _, u := range unlisted {
		if p == u.raw || strings.HasPrefix(p, u.raw+"/") {
			return true
		}
	}
	return false
}

// byPath orders by name, then by ref (two names may display alike when they are not UTF-8).
func byPath(pathA, refA, pathB, refB string) bool {
	if pathA != pathB {
		return pathA < pathB
	}
	return refA < refB
}

// displayPath is a name as JSON can carry it: a name that is not valid UTF-8 has each invalid byte
// replaced by U+FFFD (encoding/json would do the same, silently). Use the ref to address the file.
func displayPath(p string) string {
	if utf8.ValidString(p) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRuneInString(p[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(p[i : i+n])
		}
		i += n
	}
	return b.String()
}

// escapePath percent-encodes every byte of p (RFC 3986, upper-case hex) except the unreserved
// characters and "/": the exact name, whatever its bytes, for a /files/{path} URL. The API sends it
// back as it is, so neither side re-encodes a name (docs/runner-protocol.md, "Files").
func escapePath(p string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '/' {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
