package main

import (
	"hash/maphash"
	"io/fs"
	"os"
	"path"
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

// walkWorkdir calls file for each regular file under dir, with its "/"-separated relative path, in
// the order of fs.WalkDir (each folder's entries by name, a folder's content right after it), and
// returns what it could not look into (at most maxUnlisted). Symlinks are not followed, and the walk
// stays inside dir even while user code swaps a folder for a symlink under it (the runner is root in
// jail mode, and dir's parent holds the other sandboxes' folders): it goes through os.Roots, which
// refuse a path that leaves them and stat each entry relative to its open folder. file must not keep
// more of what it is given than its budget allows: a tree may hold many files with long names.
func walkWorkdir(dir string, file func(rel string, st fileStat)) []unlistedPath {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil
	}
	defer root.Close()
	w := &walker{file: file}
	w.folder(root, ".", "", 0)
	return w.unlisted
}

// walkHold is how many levels a folder is opened through, at most, from one the walk holds open. An
// os.Root resolves a path one system call a level: opening each folder from the workdir, a run's
// folders at the bottom of a chain 2,000 deep (PATH_MAX) cost the runner, outside the sandbox's
// CPU limit, a second of CPU per thousand of them. Holding every level open instead would hold up
// to 2,000 descriptors a walk.
const walkHold = 32

type walker struct {
	file     func(rel string, st fileStat)
	unlisted []unlistedPath
}

func (w *walker) note(rel, msg, kind string) {
	if len(w.unlisted) < maxUnlisted {
		w.unlisted = append(w.unlisted, unlistedPath{Path: displayPath(rel), Ref: escapePath(rel), Error: msg, Kind: kind, raw: rel})
	}
}

// folder walks the folder at sub under held (which is at the workdir's rel, "" for the workdir
// itself), depth levels under the workdir.
func (w *walker) folder(held *os.Root, sub, rel string, depth int) {
	if depth%walkHold == 0 && sub != "." {
		r, err := held.OpenRoot(sub)
		if err != nil {
			w.note(rel, unwrapPathError(err).Error(), "")
			return
		}
		defer r.Close()
		held, sub = r, "."
	}
	f, err := held.Open(sub)
	if err != nil {
		if rel != "" {
			w.note(rel, unwrapPathError(err).Error(), "")
		}
		return
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil && rel != "" {
		w.note(rel, unwrapPathError(err).Error(), "")
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		p := path.Join(rel, e.Name())
		switch {
		case len(p) >= syscall.PathMax:
			// Walked through open folders, a path can grow past PATH_MAX: nothing could open it by name.
			w.note(p, syscall.ENAMETOOLONG.Error(), "")
		case e.IsDir():
			w.folder(held, path.Join(sub, e.Name()), p, depth+1)
		case !e.Type().IsRegular():
			if kind := specialKind(e.Type()); kind != "" {
				w.note(p, "not a regular file: a "+kind, kind)
			}
		default:
			if info, err := e.Info(); err == nil {
				w.file(p, fileStat{size: info.Size(), mtime: info.ModTime().UnixNano()})
			}
		}
	}
}

// workdirSnapshot is the workdir before a run, to tell what the run changed. Its cost is bounded
// whatever the tree holds: the first files (within the budget of a listing) are kept by name, the
// others by a 128-bit hash of their name, so a tree of long names costs about 50 bytes a file past
// the first 4 MiB of names. A file kept by hash is still told apart (unchanged, modified or created),
// but if the run deletes it, it cannot be named: the answer's deleted list leaves it out.
type workdirSnapshot struct {
	named     map[string]fileStat
	hashed    map[pathHash]fileStat
	nameBytes int
}

type pathHash [2]uint64

// pathSeeds key the hash with this process's random seeds: user code cannot make two names collide.
var pathSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func hashPath(p string) pathHash {
	return pathHash{maphash.String(pathSeeds[0], p), maphash.String(pathSeeds[1], p)}
}

// snapshotWorkdir records the regular files under dir (see walkWorkdir).
func snapshotWorkdir(dir string) *workdirSnapshot {
	s := &workdirSnapshot{named: map[string]fileStat{}, hashed: map[pathHash]fileStat{}}
	walkWorkdir(dir, func(rel string, st fileStat) {
		if len(s.named) < maxListedFiles && s.nameBytes+len(rel) <= maxListedNameBytes {
			s.named[rel] = st
			s.nameBytes += len(rel)
		} else {
			s.hashed[hashPath(rel)] = st
		}
	})
	return s
}

// take returns what the snapshot has of rel and forgets it: what is left at the end of a walk after
// the run is what the run deleted.
func (s *workdirSnapshot) take(rel string) (fileStat, bool) {
	if st, ok := s.named[rel]; ok {
		delete(s.named, rel)
		return st, true
	}
	if len(s.hashed) == 0 {
		return fileStat{}, false
	}
	h := hashPath(rel)
	st, ok := s.hashed[h]
	delete(s.hashed, h)
	return st, ok
}

// listBudget is what a listing in an answer may hold: at most maxListedFiles names and
// maxListedNameBytes of them as JSON. The runner builds the answer in its own memory, outside every
// sandbox's limit (in jail mode one process serves all sandboxes), so a name is priced from its
// bytes before any string is built for it. The listing is the first names that fit; once one does
// not, no later one is taken (the rest are only counted), so the listing does not depend on which
// later names happen to be short.
type listBudget struct {
	n, bytes int
	full     bool
}

func (b *listBudget) admit(cost int) bool {
	if b.full || b.n >= maxListedFiles || b.bytes+cost > maxListedNameBytes {
		b.full = true
		return false
	}
	b.n++
	b.bytes += cost
	return true
}

// listedCost is what a listed name costs in a JSON answer: displayPath(rel) as a JSON string and
// escapePath(rel), computed without building either (files_test.go checks it against them).
func listedCost(rel string) int {
	return displayCost(rel) + refCost(rel)
}

// displayCost is the length of displayPath(p) as a JSON string, at most (a control byte is escaped
// to 6 bytes, '"' and '\\' to 2, a byte that is not UTF-8 becomes U+FFFD, 3 bytes).
func displayCost(p string) int {
	n := 0
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRuneInString(p[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 3
		case r < 0x20:
			n += 6
		case r == '"' || r == '\\':
			n += 2
		default:
			n += size
		}
		i += size
	}
	return n
}

// refCost is the length of escapePath(p): 3 bytes for each byte it percent-encodes.
func refCost(p string) int {
	n := 0
	for i := 0; i < len(p); i++ {
		if unreserved(p[i]) {
			n++
		} else {
			n += 3
		}
	}
	return n
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

// diffWorkdir walks dir after a run and lists the files created or modified (size or mtime changed)
// since before, and the files deleted, each sorted and within a listBudget: omitted counts the
// created or modified files past it (a deleted file past it is left out). It returns what it could
// not look into too; a file under an unlisted folder is not known to be gone, so it is not reported
// deleted. It uses up before.
func diffWorkdir(dir string, before *workdirSnapshot) (files []fileChange, omitted int, deleted []string, unlisted []unlistedPath) {
	files = []fileChange{}
	var budget listBudget
	unlisted = walkWorkdir(dir, func(rel string, a fileStat) {
		b, existed := before.take(rel)
		change := "created"
		if existed {
			if a == b {
				return
			}
			change = "modified"
		}
		if !budget.admit(listedCost(rel)) {
			omitted++
			return
		}
		files = append(files, fileChange{Path: displayPath(rel), Ref: escapePath(rel), Size: a.size, Mtime: float64(a.mtime) / 1e9, Change: change})
	})
	sort.Slice(files, func(i, j int) bool { return byPath(files[i].Path, files[i].Ref, files[j].Path, files[j].Ref) })
	return files, omitted, deletedNames(before, unlisted), unlisted
}

// deletedNames lists, as text and sorted, the files a snapshot still has by name (after diffWorkdir
// took those still there), within a listBudget (priced as the path alone).
func deletedNames(left *workdirSnapshot, unlisted []unlistedPath) []string {
	var gone []string
	for p := range left.named {
		if !under(p, unlisted) {
			gone = append(gone, p)
		}
	}
	sort.Strings(gone)
	deleted := []string{}
	var budget listBudget
	for _, p := range gone {
		if !budget.admit(displayCost(p)) {
			break
		}
		deleted = append(deleted, displayPath(p))
	}
	sort.Strings(deleted)
	return deleted
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
		if unreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// unreserved is a byte escapePath keeps as it is.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '/'
}
