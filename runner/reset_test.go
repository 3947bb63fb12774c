package main

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

// POST /reset empties the workdir and the per-run scratch dirs (HOME included) and starts the warm
// interpreter again after the wipe; the next run sees a sandbox like a fresh one.
func TestResetMakesAUsedSandboxLikeAFreshOne(t *testing.T) {
	tr := newRunner(t, runnerOpts{args: []string{"--warm", "py"}})
	tr.waitWarm("py")
	r := tr.run("py", "import os\n"+
		"os.makedirs('d/e')\n"+
		"open('d/e/f.txt', 'w').write('x')\n"+
		"open('top.txt', 'w').write('x')\n"+
		"open(os.path.expanduser('~/.Rprofile'), 'w').write('x')\n"+
		"print('ok')")
	if r.ExitCode != 0 {
		t.Fatalf("first run: %v", r)
	}
	first := tr.srv.warm["py"]
	if status, body := tr.request("POST", "/reset", nil); status != http.StatusNoContent {
		t.Fatalf("reset: %d %s", status, body)
	}
	if entries, _ := os.ReadDir(tr.work); len(entries) != 0 {
		t.Errorf("workdir not empty after reset: %v", entries)
	}
	tr.waitWarm("py")
	if tr.srv.warm["py"] != first {
		t.Fatal("the slot itself is kept")
	}
	r = tr.run("py", "import os\nprint(sorted(os.listdir('.')), os.path.exists(os.path.expanduser('~/.Rprofile')))")
	if r.Stdout != "[] False\n" {
		t.Errorf("after reset: %v", r)
	}
	// Files put after the reset are there as usual.
	tr.put("in.txt", "hello")
	if r := tr.run("bash", "cat in.txt"); r.Stdout != "hello" {
		t.Errorf("after reset, input: %v", r)
	}
}

// A single-use runner (a pool pod serving one run) is never reset: the API deletes it instead.
func TestResetIsRefusedBySingleUseRunners(t *testing.T) {
	tr := newRunner(t, runnerOpts{args: []string{"--single-use"}})
	status, body := tr.request("POST", "/reset", nil)
	if status != http.StatusConflict || !strings.Contains(string(body), "single-use") {
		t.Fatalf("want 409 single-use, got %d %s", status, body)
	}
	if status, _ := tr.requestWithToken("POST", "/reset", nil, "wrong"); status != http.StatusUnauthorized {
		t.Fatalf("without the token: %d", status)
	}
}
