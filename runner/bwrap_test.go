package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bwrapPrefix is the bubblewrap command line the Java local backend passes with --wrap.
func bwrapPrefix(t *testing.T, work, scratch string) string {
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		t.Skip("bubblewrap is not installed")
	}
	wrap := []string{bwrap, "--unshare-all", "--die-with-parent", "--new-session",
		"--uid", "65532", "--gid", "65532", "--cap-drop", "ALL", "--hostname", "sandbox",
		"--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
		"--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin"}
	// The tools dir, as the Java backend binds it: the Python the tests run is its venv's.
	for _, ro := range []string{"/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime", "/etc/ssl", "/opt/kubecoderun"} {
		wrap = append(wrap, "--ro-bind-try", ro, ro)
	}
	wrap = append(wrap, "--proc", "/proc", "--dev", "/dev", "--bind", work, "/mnt/data", "--bind", scratch, "/tmp",
		"--chdir", "/mnt/data", "--")
	b, _ := json.Marshal(wrap)
	return string(b)
}

// newBwrapRunner is a runner whose children all run inside bubblewrap, seeing the workdir at /mnt/data
// and the scratch dir at /tmp. extra adds flags (e.g. --child-uid).
func newBwrapRunner(t *testing.T, extra ...string) *testRunner {
	dir := filepath.Join(testBase, fmt.Sprintf("bw%d", nextDir.Add(1)))
	work, scratch := filepath.Join(dir, "work"), filepath.Join(dir, "scratch")
	os.MkdirAll(work, 0o755)
	os.MkdirAll(scratch, 0o755)
	args := append([]string{"--workdir", work, "--scratch", scratch, "--child-workdir", "/mnt/data",
		"--child-scratch", "/tmp", "--wrap", bwrapPrefix(t, work, scratch)}, extra...)
	return newRunnerAt(t, args, nil)
}

func TestBubblewrap(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("the bubblewrap tests run as root, like the local backend")
	}
	modes := map[string][]string{
		"bwrap as root":  {"--child-uid", "-1"},    // the default with a wrap: a pids cgroup bounds processes
		"bwrap as 65532": {"--child-uid", "65532"}, // unprivileged user namespace: RLIMIT_NPROC applies
	}
	for name, extra := range modes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if name == "bwrap as root" && pidsHierarchy() == "" {
				t.Skip("no pids cgroup: a root bubblewrap cannot bound processes")
			}
			tr := newBwrapRunner(t, append(extra, "--warm", "py", "--max-procs", "64")...)
			tr.waitWarm("py")
			res := tr.run("py", "import os, sys\nprint('hello', os.getuid(), os.getcwd(), __file__)\nopen('out.txt', 'w').write('written inside')\n")
			if res.ExitCode != 0 || res.Stdout != "hello 65532 /mnt/data /tmp/code/code.py\n" {
				t.Fatalf("py hello under bubblewrap: %s", res)
			}
			if got := strings.Join(changedPaths(res.Files), ","); got != "created out.txt" || tr.get("out.txt") != "written inside" {
				t.Errorf("file written inside the sandbox: files %q", got)
			}
			if tr.srv.warmRuns.Load() != 1 {
				t.Errorf("the warm interpreter was not used under bubblewrap")
			}
			// Cold, with the network unshared.
			res = tr.run("bash", "echo $HOME $TMPDIR; cat /etc/hostname 2>/dev/null; hostname; (exec 3<>/dev/tcp/1.1.1.1/53) 2>/dev/null && echo online || echo offline")
			if res.Stdout != "/tmp/home /tmp/tmp\nsandbox\noffline\n" {
				t.Errorf("sandbox environment: %s", res)
			}

			// A compiled language: the compiler writes into /tmp/build although the cwd is /mnt/data.
			res = tr.run("c", "#include <stdio.h>\nint main(void) { puts(\"compiled\"); return 0; }\n")
			if res.ExitCode != 0 || res.Stdout != "compiled\n" || len(res.Files) != 0 {
				t.Errorf("C under bubblewrap: %s", res)
			}
			// The timeout kills the program inside the sandbox, and whatever it started.
			res = tr.execute(map[string]any{"language": "bash", "timeout_ms": 1000, "code": "sleep 1006 &\nsetsid sleep 1007 &\nwhile :; do :; done\n"})
			if !res.TimedOut || res.ExitCode != 124 {
				t.Errorf("timeout under bubblewrap: %s", res)
			}
			if !eventually(3*time.Second, func() bool {
				return len(processesWithArgs("sleep", "1006"))+len(processesWithArgs("sleep", "1007")) == 0
			}) {
				t.Errorf("processes started inside the sandbox survived the timeout")
			}

			start := time.Now()
			res = tr.execute(map[string]any{"language": "bash", "timeout_ms": 3000, "code": "bomb() { bomb | bomb & }\nbomb\nsleep 5\n"})
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("fork bomb held the runner for %v", took)
			}
			if !strings.Contains(res.Stderr, "Resource temporarily unavailable") {
				t.Errorf("the process limit did not bite: %s", res)
			}
			if tr.srv.cg.pids != "" && !eventually(5*time.Second, func() bool { return cgroupTasks(tr.srv.cg.pids) <= warmTasks(tr) }) {
				t.Errorf("%d tasks left in the cgroup after the bomb", cgroupTasks(tr.srv.cg.pids))
			}
			if res := tr.run("py", "print('alive')"); res.Stdout != "alive\n" {
				t.Errorf("runner unusable after the bomb: %s", res)
			}
		})
	}
}

func cgroupTasks(dir string) int {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	return len(strings.Fields(string(b)))
}

// warmTasks counts the processes of the idle warm interpreter (__child/bwrap, bwrap's init, python).
func warmTasks(tr *testRunner) int {
	w := tr.srv.warm["py"]
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sh == nil {
		return 0
	}
	return len(appendTree(nil, w.sh.p.pid))
}

// A pool sandbox under bubblewrap serves one run: the drains end when the pipes are empty (bubblewrap
// holds them open until the interpreter's teardown is over) without losing a byte, and no interpreter
// is warmed again afterwards.
func TestSingleUseWarmPythonUnderBubblewrap(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("the bubblewrap tests run as root, like the local backend")
	}
	tr := newBwrapRunner(t, "--child-uid", "-1", "--warm", "py", "--single-use")
	tr.waitWarm("py")
	res := tr.run("py", "import sys\nfor i in range(4000):\n    print('%05d' % i + 'x' * 44)\nsys.stderr.write('e' * 100000)\nprint('end')\n")
	if res.ExitCode != 0 || len(res.Stdout) != 4000*50+4 || !strings.HasSuffix(res.Stdout, "03999"+strings.Repeat("x", 44)+"\nend\n") {
		t.Fatalf("stdout of the warm run is incomplete: %d bytes, exit %d", len(res.Stdout), res.ExitCode)
	}
	if len(res.Stderr) != 100000 {
		t.Fatalf("stderr of the warm run is incomplete: %d bytes", len(res.Stderr))
	}
	if tr.srv.warmRuns.Load() != 1 {
		t.Fatalf("the warm interpreter was not used")
	}
	// Settled before the answer: the slot is stopped, so no refill can warm it later either.
	w := tr.srv.warm["py"]
	w.mu.Lock()
	rewarmed, enabled := w.sh != nil, w.enabled
	w.mu.Unlock()
	if rewarmed || enabled {
		t.Errorf("a single-use runner warmed another interpreter after its run (or can still: %v)", enabled)
	}
}
