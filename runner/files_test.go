package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFileEndpoints(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})

	status, body := tr.request("PUT", "/files/data/in put.csv", strings.NewReader("a,b\n1,2\n"))
	if status != http.StatusCreated || string(body) != "{\"path\":\"data/in put.csv\",\"size\":8}\n" {
		t.Fatalf("PUT: %d %s", status, body)
	}
	tr.put("z.txt", "last")
	tr.put("a.txt", "first")
	if got := tr.get("data/in%20put.csv"); got != "a,b\n1,2\n" {
		t.Errorf("GET returned %q", got)
	}
	if st, err := os.Stat(filepath.Join(tr.work, "data", "in put.csv")); err != nil || st.Size() != 8 {
		t.Errorf("the file is not in the workdir: %v", err)
	}

	status, body = tr.request("GET", "/files", nil)
	var list struct {
		Files []listedFile `json:"files"`
	}
	if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil {
		t.Fatalf("list: %d %s", status, body)
	}
	var paths []string
	for _, f := range list.Files {
		paths = append(paths, f.Path)
		if f.Mtime <= 0 || f.Size <= 0 {
			t.Errorf("bad entry %+v", f)
		}
	}
	if got := strings.Join(paths, ","); got != "a.txt,data/in put.csv,z.txt" {
		t.Errorf("list: got %s, want every file, recursively, sorted", got)
	}

	// User code can change what the API uploaded (it belongs to the child uid).
	if res := tr.run("py", "open('a.txt', 'a').write(' changed')"); res.ExitCode != 0 {
		t.Errorf("user code cannot modify an uploaded file: %s", res)
	}

	if status, _ := tr.request("DELETE", "/files/a.txt", nil); status != http.StatusNoContent {
		t.Errorf("DELETE: %d", status)
	}
	if status, _ := tr.request("GET", "/files/a.txt", nil); status != http.StatusNotFound {
		t.Errorf("GET after DELETE: %d, want 404", status)
	}
	if status, _ := tr.request("DELETE", "/files/a.txt", nil); status != http.StatusNotFound {
		t.Errorf("DELETE of a missing file: %d, want 404", status)
	}
	if status, _ := tr.request("GET", "/files/data", nil); status != http.StatusNotFound {
		t.Errorf("GET of a directory: %d, want 404", status)
	}
	if status, _ := tr.request("DELETE", "/files/data", nil); status != http.StatusNoContent {
		t.Errorf("DELETE of a directory: %d, want 204", status)
	}
}

func TestFilePathsCannotEscapeTheWorkdir(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	outside := filepath.Join(filepath.Dir(tr.work), "outside")
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o644)
	// User code plants symlinks pointing out of the workdir.
	res := tr.run("py", "import os\nos.symlink('"+outside+"', 'abs_dir')\nos.symlink('../outside', 'rel_dir')\n"+
		"os.symlink('"+outside+"/secret.txt', 'abs_file')\nos.symlink('/etc/passwd', 'passwd')\n")
	if res.ExitCode != 0 {
		t.Fatalf("planting symlinks: %s", res)
	}
	paths := []string{
		"../outside/secret.txt", "%2e%2e/outside/secret.txt", "a/../../outside/secret.txt", "/" + outside + "/secret.txt",
		"abs_dir/secret.txt", "rel_dir/secret.txt", "abs_file", "passwd", "./abs_file", "abs_dir/",
	}
	for _, p := range paths {
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			status, body := tr.request(method, "/files/"+p, strings.NewReader("overwritten"))
			if status != http.StatusBadRequest {
				t.Errorf("%s %s: %d %s, want 400", method, p, status, body)
			}
		}
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret.txt")); string(b) != "secret" {
		t.Errorf("the file outside the workdir was changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(outside, "secret.txt")); err != nil {
		t.Errorf("the file outside the workdir was deleted")
	}
	// A symlink inside the workdir to a file inside it is fine.
	tr.put("real.txt", "inside")
	tr.run("py", "import os\nos.symlink('real.txt', 'alias.txt')")
	if got := tr.get("alias.txt"); got != "inside" {
		t.Errorf("GET through an inner symlink: %q", got)
	}
}

func TestFileUploadLimit(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{args: []string{"--max-file-size", "10"}})
	if status, _ := tr.request("PUT", "/files/small", strings.NewReader("0123456789")); status != http.StatusCreated {
		t.Errorf("10 bytes: %d, want 201", status)
	}
	if status, _ := tr.request("PUT", "/files/big", strings.NewReader("0123456789A")); status != http.StatusRequestEntityTooLarge {
		t.Errorf("11 bytes: %d, want 413", status)
	}
}

// A runner given only the token's SHA-256 (as a Kubernetes pod spec carries it) takes the token,
// and not the hash itself.
func TestAuthenticationByTheTokensHash(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte(testToken))
	hash := hex.EncodeToString(sum[:])
	tr := newRunner(t, runnerOpts{env: map[string]string{"RUNNER_TOKEN": "", "RUNNER_TOKEN_SHA256": hash}})
	if status, body := tr.requestWithToken("GET", "/files", nil, testToken); status != http.StatusOK {
		t.Errorf("the token: %d %s, want 200", status, body)
	}
	for _, token := range []string{hash, testToken + "x", ""} {
		if status, _ := tr.requestWithToken("GET", "/files", nil, token); status != http.StatusUnauthorized {
			t.Errorf("token %q: %d, want 401", token, status)
		}
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	for _, token := range []string{"", "wrong", testToken + "x", strings.ToUpper(testToken)} {
		for _, r := range []struct{ method, path string }{{"POST", "/execute"}, {"GET", "/files"}, {"GET", "/files/x"}, {"PUT", "/files/x"}, {"DELETE", "/files/x"}} {
			status, body := tr.requestWithToken(r.method, r.path, strings.NewReader(`{"language":"py","code":"print(1)"}`), token)
			if status != http.StatusUnauthorized || string(body) != "{\"error\":\"unauthorized\"}\n" {
				t.Errorf("%s %s with token %q: %d %s, want 401", r.method, r.path, token, status, body)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(tr.work, "x")); err == nil {
		t.Error("an unauthenticated PUT wrote a file")
	}
	status, body := tr.requestWithToken("GET", "/health", nil, "")
	if status != http.StatusOK || !strings.Contains(string(body), `"status":"ok"`) {
		t.Errorf("health without a token: %d %s", status, body)
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	for _, body := range []string{`{`, `{"language":"cobol","code":"x"}`, `{"language":"py","code":"x","state":"%%%"}`} {
		status, out := tr.request("POST", "/execute", strings.NewReader(body))
		var e map[string]string
		if status != http.StatusBadRequest || json.Unmarshal(out, &e) != nil || e["error"] == "" {
			t.Errorf("%s: %d %s, want 400 with a JSON error", body, status, out)
		}
	}
}

// Names as code writes them: every one is listed with a ref that reads the file back byte for byte.
func TestAnyFileNameIsListedWithARefThatReadsIt(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	names := map[string]string{ // what the test writes -> the path the runner should display
		"a b.txt": "a b.txt", "é.txt": "é.txt", "数据.csv": "数据.csv", "a+b.txt": "a+b.txt",
		"a%20b.txt": "a%20b.txt", "a#b.txt": "a#b.txt", "a?b.txt": "a?b.txt", "it's.txt": "it's.txt",
		"a&b.txt": "a&b.txt", `q"q.txt`: `q"q.txt`, "a;b=c.txt": "a;b=c.txt", "{x}.txt": "{x}.txt",
		"new\nline.txt": "new\nline.txt", "tab\t\x01\x7f.txt": "tab\t\x01\x7f.txt", `back\slash`: `back\slash`,
		"sub dir/ü/x y.txt": "sub dir/ü/x y.txt", "bad\xff\xfe.txt": "bad\ufffd\ufffd.txt",
		strings.Repeat("n", 251) + ".txt": strings.Repeat("n", 251) + ".txt",
		strings.Repeat("é", 127) + "a":    strings.Repeat("é", 127) + "a", // 255 bytes
	}
	var code strings.Builder
	code.WriteString("import os\n")
	for name := range names {
		fmt.Fprintf(&code, "p = %s\nos.makedirs(os.path.dirname(p) or b'.', exist_ok=True)\nopen(p, 'wb').write(p)\n", pyBytes(name))
	}
	res := tr.run("py", code.String())
	if res.ExitCode != 0 {
		t.Fatalf("writing the files: %s", res)
	}
	if len(res.Files) != len(names) {
		t.Fatalf("listed %d files, want %d: %s", len(res.Files), len(names), res)
	}
	byDisplay := map[string]fileChange{}
	for _, f := range res.Files {
		byDisplay[f.Path] = f
	}
	for written, shown := range names {
		f, ok := byDisplay[shown]
		if !ok {
			t.Errorf("%q is not listed as %q", written, shown)
			continue
		}
		if f.Ref != escapePath(written) {
			t.Errorf("%q: ref %q, want %q", written, f.Ref, escapePath(written))
		}
		if got := tr.get(f.Ref); got != written {
			t.Errorf("GET %s returned %q, want %q", f.Ref, got, written)
		}
	}
	status, body := tr.request("GET", "/files", nil)
	var list struct {
		Files []listedFile `json:"files"`
	}
	if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil {
		t.Fatalf("list: %d %s", status, body)
	}
	for _, f := range list.Files {
		if got := tr.get(f.Ref); len(got) != int(f.Size) {
			t.Errorf("GET %s (listed): %d bytes, want %d", f.Ref, len(got), f.Size)
		}
	}
	// The same escaping works for uploads: PUT by ref, the file has the exact name.
	tr.put(escapePath("up\xffload é.txt"), "x")
	if _, err := os.Stat(filepath.Join(tr.work, "up\xffload é.txt")); err != nil {
		t.Errorf("PUT by an escaped path: %v", err)
	}
}

// pyBytes is a Python bytes literal of s.
func pyBytes(s string) string {
	var b strings.Builder
	b.WriteString("b'")
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "\\x%02x", s[i])
	}
	b.WriteString("'")
	return b.String()
}

func TestEscapeAndDisplayPath(t *testing.T) {
	for in, want := range map[string]string{
		"a.txt": "a.txt", "d/a b.txt": "d/a%20b.txt", "a%20b": "a%2520b", "é": "%C3%A9",
		"a+b&c=d;e?f#g": "a%2Bb%26c%3Dd%3Be%3Ff%23g", "~_-.": "~_-.", "\xff\n": "%FF%0A",
	} {
		if got := escapePath(in); got != want {
			t.Errorf("escapePath(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"ok é": "ok é", "a\xffb": "a\ufffdb", "\xe6\x95": "\ufffd\ufffd"} {
		if got := displayPath(in); got != want {
			t.Errorf("displayPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAHugeNumberOfFilesIsCounted(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10,050 files")
	}
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	res := tr.run("py", "import os\nfor d in range(201):\n  os.makedirs(f'd{d}')\n  for i in range(50): open(f'd{d}/f{i}', 'w').close()\n")
	if res.ExitCode != 0 || len(res.Files) != maxListedFiles || res.FilesOmitted != 201*50-maxListedFiles {
		t.Fatalf("listed %d files, %d omitted: exit %d %s", len(res.Files), res.FilesOmitted, res.ExitCode, res.Stderr)
	}
}

// Names are bounded too: the runner builds the answer in its own memory, where a name of control
// bytes costs 9 times its length (escaped in path and in ref).
func TestLongNamesAreCountedPastTheirBound(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	// 2,000 files in a folder whose name is 2,250 control bytes: about 22 KB of names each (JSON path
	// and ref), 44 MB in all, over the bound.
	res := tr.run("py", `import os
d = '\x01' * 250
for i in range(8):
    d = os.path.join(d, '\x01' * 250)
os.makedirs(d)
for i in range(2000):
    open(os.path.join(d, '%04d' % i + '\x01' * 200), 'w').close()
`)
	if res.ExitCode != 0 {
		t.Fatalf("%s", res)
	}
	names := 0
	for _, f := range res.Files {
		names += nameBytes(f.Path, f.Ref)
	}
	if len(res.Files) == 0 || res.FilesOmitted == 0 || len(res.Files)+res.FilesOmitted != 2000 || names > maxListedNameBytes {
		t.Fatalf("listed %d files (%d bytes of names), %d omitted", len(res.Files), names, res.FilesOmitted)
	}
	_, list := tr.request("GET", "/files", nil)
	var got struct {
		Files   []listedFile `json:"files"`
		Omitted int          `json:"files_omitted"`
	}
	if err := json.Unmarshal(list, &got); err != nil || len(got.Files) != len(res.Files) || got.Omitted != res.FilesOmitted {
		t.Fatalf("GET /files: %d listed, %d omitted (%v), want %d and %d", len(got.Files), got.Omitted, err, len(res.Files), res.FilesOmitted)
	}
}

func TestPutWithThePathInAHeader(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	long := strings.Repeat(strings.Repeat("数", 60)+"/", 8) + "x y\xff.txt" // over 4 KiB encoded
	put := func(header string) (int, []byte) {
		req, _ := http.NewRequest("PUT", tr.http.URL+"/files", strings.NewReader("content"))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set(pathHeader, header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if status, body := put(escapePath(long)); status != http.StatusCreated {
		t.Fatalf("PUT by header: %d %s", status, body)
	}
	if b, err := os.ReadFile(filepath.Join(tr.work, long)); err != nil || string(b) != "content" {
		t.Errorf("the file is not at its exact name: %v %q", err, b)
	}
	for _, bad := range []string{"", "../x", "a/../../x", "%2e%2e/x", "a%zz", "/abs", "a%00b"} {
		if status, _ := put(bad); status != http.StatusBadRequest {
			t.Errorf("PUT by header %q: %d, want 400", bad, status)
		}
	}
	req, _ := http.NewRequest("PUT", tr.http.URL+"/files", strings.NewReader("x"))
	req.Header.Set(pathHeader, "a.txt")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("PUT by header without the token: %v %v", err, resp)
	}
}

// A folder the runner cannot look into (here: deeper than PATH_MAX; on Kubernetes also a folder user
// code made unreadable) is reported, and the files it had are not reported deleted.
func TestAFolderTheRunnerCannotListIsReported(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	tr.put("deep/input.txt", "in")
	res := tr.run("py", "import os\nos.chdir('deep')\nfor i in range(20):\n  os.mkdir('d' * 250)\n  os.chdir('d' * 250)\nopen('x.txt', 'w').write('x')\n")
	if res.ExitCode != 0 {
		t.Fatalf("%s", res)
	}
	if len(res.Unlisted) == 0 || !strings.HasPrefix(res.Unlisted[0].Path, "deep/ddd") ||
		res.Unlisted[0].Error != "file name too long" || res.Unlisted[0].Ref != escapePath(res.Unlisted[0].Path) {
		t.Errorf("unlisted: %+v", res.Unlisted)
	}
	if len(res.Deleted) != 0 {
		t.Errorf("deleted: %v", res.Deleted)
	}
}

func TestFilesInAnUnlistedFolderAreNotDeleted(t *testing.T) {
	// What the walk after the run left of the snapshot: sec2.txt was still there.
	left := &workdirSnapshot{named: map[string]fileStat{"sec/x.txt": {1, 1}, "gone.txt": {1, 1}}}
	deleted := deletedNames(left, []unlistedPath{{raw: "sec"}})
	if strings.Join(deleted, ",") != "gone.txt" {
		t.Errorf("deleted: %v", deleted)
	}
}

// nameBytes is what a listed name costs in a JSON answer, from the strings themselves: path as a
// JSON string (at most; a control byte is escaped to 6 bytes) and ref, ASCII that needs no escape.
func nameBytes(path, ref string) int {
	n := len(ref)
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c < 0x20:
			n += 6
		case c == '"' || c == '\\':
			n += 2
		default:
			n++
		}
	}
	return n
}

// The runner prices a name before it builds its path and ref: the price is what they cost.
func TestANameIsPricedAsWhatItCostsInTheAnswer(t *testing.T) {
	for _, name := range []string{"", "a.txt", "dir/sub/x y.csv", "\x01\x1f\"\\", "é数😀", "\xff\xfe", "a\xffé\xc3",
		"\xef\xbf\xbd", "\xed\xa0\x80", "%~-._/", strings.Repeat("\x01", 300) + "/" + strings.Repeat("\xff", 255)} {
		if got, want := listedCost(name), nameBytes(displayPath(name), escapePath(name)); got != want {
			t.Errorf("%q: priced %d, costs %d", name, got, want)
		}
		if got, want := displayCost(name), nameBytes(displayPath(name), ""); got != want {
			t.Errorf("%q: path priced %d, costs %d", name, got, want)
		}
	}
}

// A listing is the first names that fit in its budget, the others counted: ten thousand names at
// most, and 4 MiB of them.
func TestAListingStopsAtItsBudget(t *testing.T) {
	var b listBudget
	n := 0
	for b.admit(1) {
		n++
	}
	if n != maxListedFiles || b.admit(0) {
		t.Errorf("%d names of 1 byte admitted, want %d and no more", n, maxListedFiles)
	}
	b = listBudget{}
	if !b.admit(maxListedNameBytes-10) || b.admit(11) || b.admit(1) {
		t.Errorf("past 4 MiB of names, or after a name that did not fit, nothing more is admitted")
	}
}

// Only regular files are returned; a symlink, a named pipe or a socket the code leaves is named,
// with what it is, instead of being dropped silently. The regular files of the run still come back.
func TestEntriesThatAreNotFilesAreNamed(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	res := tr.run("py", "import os, socket\n"+
		"open('real.txt', 'w').write('x')\n"+
		"os.symlink('real.txt', 'link.txt')\n"+
		"os.symlink('/etc', 'etc-link')\n"+
		"os.mkfifo('pipe')\n"+
		"s = socket.socket(socket.AF_UNIX)\ns.bind('sock')\n")
	if res.ExitCode != 0 {
		t.Fatalf("%s", res)
	}
	if len(res.Files) != 1 || res.Files[0].Path != "real.txt" {
		t.Errorf("files: %+v", res.Files)
	}
	kinds := map[string]string{}
	for _, u := range res.Unlisted {
		kinds[u.Path] = u.Kind
		if u.Ref != escapePath(u.Path) || !strings.HasPrefix(u.Error, "not a regular file: a ") {
			t.Errorf("unlisted: %+v", u)
		}
	}
	want := map[string]string{"link.txt": "symlink", "etc-link": "symlink", "pipe": "named pipe", "sock": "socket"}
	for p, k := range want {
		if kinds[p] != k {
			t.Errorf("%s: kind %q, want %q (all: %+v)", p, kinds[p], k, res.Unlisted)
		}
	}
}

// The runner (root, outside every sandbox's CPU limit, in jail mode one process for all of them)
// walks the workdir after each run. Opening each folder by its whole path from the workdir cost a
// system call per level: 5,000 folders at the bottom of a chain 1,900 deep, which a run makes in a
// fraction of a second, cost it 10 million, about 8 s of CPU. Each is opened from a folder held open
// at most 32 levels above it.
func TestWalkingADeepTreeCostsTheRunnerLittleCPU(t *testing.T) {
	dir := t.TempDir()
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1900; i++ {
		next, err := mkdirOpen(fd, "d")
		syscall.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	for i := 0; i < 5000; i++ {
		if err := syscall.Mkdirat(fd, fmt.Sprintf("%d", i), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := mkdirOpen(fd, "last")
	syscall.Close(fd)
	if ff, err := syscall.Openat(f, "file", syscall.O_CREAT|syscall.O_WRONLY, 0o644); err == nil {
		syscall.Close(ff)
	}
	syscall.Close(f)

	before := cpuTime()
	var files []string
	unlisted := walkWorkdir(dir, func(rel string, st fileStat) { files = append(files, rel) })
	spent := cpuTime() - before
	if want := strings.Repeat("d/", 1900) + "last/file"; len(files) != 1 || files[0] != want || len(unlisted) != 0 {
		t.Fatalf("files %d, unlisted %v", len(files), unlisted)
	}
	t.Logf("the walk took %v of CPU", spent)
	if spent > 2*time.Second {
		t.Errorf("the walk took %v of CPU, want under 2 s", spent)
	}
}

func mkdirOpen(fd int, name string) (int, error) {
	if err := syscall.Mkdirat(fd, name, 0o755); err != nil {
		return -1, err
	}
	return syscall.Openat(fd, name, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
