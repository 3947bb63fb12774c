package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// freshScratchHelper names the scratch dir the test binary, run as another user, makes anew.
const freshScratchHelper = "KCR_TEST_FRESH_SCRATCH"

// freshScratchMain is the test binary as a runner without root (as on Kubernetes, where user code
// runs as the runner's own uid): it makes the per-run scratch dirs of dir anew, as POST /reset does.
func freshScratchMain(dir string) {
	root, err := os.OpenRoot(dir)
	if err == nil {
		s := &Server{cfg: &Config{ChildUID: -1}, scratchRoot: root}
		for _, d := range []string{dirCode, dirBuild, dirState, dirHome, dirTmp} {
			if err = s.freshDir(d); err != nil {
				break
			}
		}
	}
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	os.Exit(0)
}

// User code that took the permissions away from a directory it made in TMPDIR (its own uid on
// Kubernetes: root's override does not apply) does not keep a reset from making the scratch anew.
func TestResetMakesScratchAnewWhatUserCodeLockedAsTheRunnersOwnUser(t *testing.T) {
	needRoot(t, "needs root to run the runner's code as another user")
	dir := filepath.Join(testBase, fmt.Sprintf("locked-scratch-%d", nextDir.Add(1)))
	locked := filepath.Join(dir, dirTmp, "locked", "in")
	if err := os.MkdirAll(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(locked, "f"), []byte("x"), 0o644)
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 65534, 65534) })
	os.Chmod(filepath.Join(dir, dirTmp, "locked"), 0)
	// The test binary lives in a directory only root may enter: TestMain made a copy anyone may run.
	self, _ := executable()
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), freshScratchHelper+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := combinedOutput(cmd); err != nil {
		t.Fatalf("the scratch not made anew: %v %s", err, out)
	}
	if entries, err := os.ReadDir(filepath.Join(dir, dirTmp)); err != nil || len(entries) != 0 {
		t.Fatalf("TMPDIR after: %v %v", entries, err)
	}
}
