package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
