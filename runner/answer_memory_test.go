package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// The runner builds each answer in its own memory: in jail mode one root process, outside every
// sandbox's memory limit, serves all sandboxes, so what hostile code leaves behind (a state, a file
// tree) must cost it a bounded amount. These tests serve a request in this process and measure what
// the runner allocated meanwhile. They do not run in parallel: other tests' allocations would count.

// fileResponse is an http.ResponseWriter that keeps the answer in a file, out of the heap measured.
type fileResponse struct {
	header http.Header
	status int
	f      *os.File
}

func (w *fileResponse) Header() http.Header { return w.header }
func (w *fileResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *fileResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.f.Write(b)
}

// heapUse is what the runner's heap cost while it served one request.
type heapUse struct {
	allocated uint64 // every byte allocated (runtime.MemStats.TotalAlloc), however soon it was freed
	peak      uint64 // the highest heap in use seen (sampled every millisecond), over the heap before
}

// serveMeasured serves one request with the runner's handler in this process, the answer going to a
// file, and returns the answer's body and what serving it cost the heap. The garbage collector is
// made eager meanwhile (GOGC 10), so the peak is what the runner holds, not garbage waiting.
func (tr *testRunner) serveMeasured(method, path string, req any) ([]byte, heapUse) {
	tr.t.Helper()
	var body io.Reader
	if req != nil {
		b, _ := json.Marshal(req)
		body = bytes.NewReader(b)
	}
	r := httptest.NewRequest(method, path, body)
	r.Header.Set("Authorization", "Bearer "+testToken)
	out, err := os.Create(filepath.Join(tr.t.TempDir(), "answer"))
	if err != nil {
		tr.t.Fatal(err)
	}
	defer out.Close()
	w := &fileResponse{header: http.Header{}, f: out}
	h := tr.srv.handler()

	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var start, end runtime.MemStats
	runtime.ReadMemStats(&start)
	var peak uint64
	stop, sampled := make(chan struct{}), sync.WaitGroup{}
	sampled.Add(1)
	go func() {
		defer sampled.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	}()
	h.ServeHTTP(w, r)
	close(stop)
	sampled.Wait()
	runtime.ReadMemStats(&end)
	if w.status != http.StatusOK {
		b, _ := os.ReadFile(out.Name())
		tr.t.Fatalf("%s %s: %d %s", method, path, w.status, b)
	}
	b, err := os.ReadFile(out.Name())
	if err != nil {
		tr.t.Fatal(err)
	}
	return b, heapUse{allocated: end.TotalAlloc - start.TotalAlloc, peak: max(peak, start.HeapInuse) - start.HeapInuse}
}

// The attack of a Python run asked for its state: user code writes the largest errors.json the
// runner reads (64 MiB of empty strings: 21 million of them) and the largest state, then exits before
// the shim would overwrite them. The answer still carries the state, byte for byte, and the first
// errors, with a note for the rest; the runner allocates a few MiB for it, not the ~1 GB of decoding
// that JSON into a slice and encoding the state into a string, then into a JSON buffer.
func TestAHostileStateCostsTheRunnerLittleMemory(t *testing.T) {
	tr := newRunner(t, runnerOpts{})
	code := `import os, hashlib
d = os.path.join(os.path.dirname(os.environ['TMPDIR']), 'state')
open(os.path.join(d, 'errors.json'), 'w').write('[' + ','.join(['""'] * 21_000_000) + ']')
b = os.urandom(64 << 20)
open(os.path.join(d, 'out.bin'), 'wb').write(b)
print(hashlib.sha256(b).hexdigest(), flush=True)
os._exit(0)
`
	body, use := tr.serveMeasured("POST", "/execute", map[string]any{"language": "py", "code": code, "capture_state": true, "timeout_ms": 60000})
	var res result
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("the answer is not JSON: %v", err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("%s", res.Stderr)
	}
	state, err := base64.StdEncoding.DecodeString(res.State)
	if sum := sha256.Sum256(state); err != nil || len(state) != 64<<20 || hex.EncodeToString(sum[:])+"\n" != res.Stdout {
		t.Errorf("the state is not what the code wrote: %d bytes, %v", len(state), err)
	}
	if n := len(res.StateErrors); n != maxStateErrors+1 || res.StateErrors[0] != "" ||
		!strings.Contains(res.StateErrors[n-1], "more state errors not shown") {
		t.Errorf("want the first %d errors and a note, got %d, the last %.300q", maxStateErrors, n, res.StateErrors[max(n-1, 0):])
	}
	t.Logf("the runner allocated %d MiB, its heap grew by %d MiB at most", use.allocated>>20, use.peak>>20)
	if use.allocated > 16<<20 {
		t.Errorf("the runner allocated %d MiB for the answer, want at most 16 MiB", use.allocated>>20)
	}
}

// The attack on the file listing: names as long as a path can be (15 folders of 255 bytes, then a
// file of 255) in the costliest bytes: control bytes for the folders (6 bytes of JSON as text, 3 in
// the ref; a folder whose name is not UTF-8 is not looked into, it is unlisted), bytes that are not
// UTF-8 for the files (3 and 3); 16,300 of them (what a sandbox's inodes allow, and no disk).
// Listing them all would take ~600 MB of strings in the runner, the snapshot ~70 MB; the answer lists
// what fits in the budget of names and counts the others, and the runner's heap stays within a few
// times that budget.
func TestAHostileTreeCostsTheRunnerLittleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 16,300 files")
	}
	tr := newRunner(t, runnerOpts{})
	// A file from before the run, so the runner compares with a snapshot.
	tr.put("input.txt", "in")
	const files = 16300
	code := `import os
for i in range(15):
    name = b'\x01' * 253 + b'%02d' % i
    os.mkdir(name)
    os.chdir(name)
for i in range(16300):
    os.close(os.open(b'\xff' * 250 + b'%05d' % i, os.O_CREAT | os.O_WRONLY))
`
	body, use := tr.serveMeasured("POST", "/execute", map[string]any{"language": "py", "code": code, "timeout_ms": 60000})
	var res result
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("the answer is not JSON: %v", err)
	}
	if res.ExitCode != 0 || len(res.Unlisted) != 0 {
		t.Fatalf("exit %d, stderr %.2000q, %d unlisted", res.ExitCode, res.Stderr, len(res.Unlisted))
	}
	names := 0
	for _, f := range res.Files {
		names += nameBytes(f.Path, f.Ref)
	}
	if len(res.Files) == 0 || len(res.Files)+res.FilesOmitted != files || names > maxListedNameBytes {
		t.Errorf("listed %d files (%d bytes of names), %d omitted, want %d in all", len(res.Files), names, res.FilesOmitted, files)
	}
	t.Logf("execute: the runner allocated %d MiB, its heap grew by %d MiB at most", use.allocated>>20, use.peak>>20)
	if use.peak > 48<<20 {
		t.Errorf("the runner's heap grew by %d MiB to answer, want at most 48 MiB", use.peak>>20)
	}

	body, use = tr.serveMeasured("GET", "/files", nil)
	var list struct {
		Files   []listedFile `json:"files"`
		Omitted int          `json:"files_omitted"`
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Files) == 0 || len(list.Files)+list.Omitted != files+1 {
		t.Errorf("GET /files: %d listed, %d omitted (%v), want %d in all", len(list.Files), list.Omitted, err, files+1)
	}
	t.Logf("GET /files: the runner allocated %d MiB, its heap grew by %d MiB at most", use.allocated>>20, use.peak>>20)
	if use.peak > 48<<20 {
		t.Errorf("the runner's heap grew by %d MiB to list the files, want at most 48 MiB", use.peak>>20)
	}
}
