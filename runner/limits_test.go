package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTimeoutKillsACompiledProgram(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	start := time.Now()
	res := tr.execute(map[string]any{"language": "c", "timeout_ms": 1500,
		"code": "#include <stdio.h>\nint main(void) { printf(\"spinning\\n\"); fflush(stdout); for (;;) {} }\n"})
	if !res.TimedOut || res.ExitCode != 124 || res.Stdout != "spinning\n" {
		t.Fatalf("want timed_out, exit 124 and the output so far, got %s", res)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a 1.5 s timeout took %v to answer", took)
	}
	if tr.uid > 0 && !eventually(2*time.Second, func() bool { return len(processesOf(tr.uid)) == 0 }) {
		t.Errorf("processes of the run are still alive: %v", processesOf(tr.uid))
	}
}

func TestTimeoutKillsTheWholeTree(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	// A grandchild in the background holds stdout open; the shell waits for it.
	res := tr.execute(map[string]any{"language": "bash", "timeout_ms": 1000,
		"code": "sleep 1001 &\necho started\nwait\n"})
	if !res.TimedOut || res.ExitCode != 124 || res.Stdout != "started\n" {
		t.Fatalf("want a timeout with the output so far, got %s", res)
	}
	if !eventually(2*time.Second, func() bool { return len(processesWithArgs("sleep", "1001")) == 0 }) {
		t.Errorf("the background sleep survived the timeout")
	}
}

func TestBackgroundProcessesDoNotHoldTheResponse(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	cases := []struct{ lang, code, marker string }{
		// The program exits at once; a background child keeps stdout open.
		{"bash", "sleep 1002 &\necho done\n", "1002"},
		{"py", "import subprocess\nsubprocess.Popen(['sleep', '1003'])\nprint('done')\n", "1003"},
		// setsid leaves the process group; double fork re-parents to the runner (a subreaper).
		{"bash", "setsid sleep 1004 &\nuntil pgrep -f 'sleep 1004' >/dev/null; do sleep 0.01; done\necho done\n", "1004"},
		{"py", "import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.execvp('sleep', ['sleep', '1005'])\n    os._exit(0)\nos.wait()\nprint('done')\n", "1005"},
	}
	for _, c := range cases {
		start := time.Now()
		res := tr.execute(map[string]any{"language": c.lang, "code": c.code, "timeout_ms": 20000})
		if res.ExitCode != 0 || res.Stdout != "done\n" || res.TimedOut {
			t.Errorf("%s: want exit 0 and \"done\", got %s", c.marker, res)
		}
		if took := time.Since(start); took > 1900*time.Millisecond { // the runner gives up on open pipes after 2 s
			t.Errorf("%s: took %v: a leftover process held the response", c.marker, took)
		}
		if !eventually(2*time.Second, func() bool { return len(processesWithArgs("sleep", c.marker)) == 0 }) {
			t.Errorf("%s: the background sleep outlived the run", c.marker)
		}
	}
}

// An endless flood must not grow the runner's memory: output is capped while it streams.
func TestOutputFloodKeepsRunnerMemoryBounded(t *testing.T) {
	tr := newRunner(t, runnerOpts{args: []string{"--max-output", "1048576"}})
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	}()
	// 512 MiB to stdout and 128 MiB to stderr.
	res := tr.execute(map[string]any{"language": "py", "timeout_ms": 60000, "code": "import sys, os\n" +
		"chunk = b'x' * 65536\nfor i in range(8192):\n    os.write(1, chunk)\n    if i % 4 == 0:\n        os.write(2, chunk)\n"})
	close(stop)
	wg.Wait()

	if res.ExitCode != 0 || !res.StdoutTruncated || !res.StderrTruncated {
		t.Fatalf("want exit 0 and both streams truncated, got exit %d truncated %v/%v", res.ExitCode, res.StdoutTruncated, res.StderrTruncated)
	}
	if len(res.Stdout) != 1<<20 || len(res.Stderr) != 1<<20 {
		t.Errorf("want exactly 1 MiB per stream, got %d and %d", len(res.Stdout), len(res.Stderr))
	}
	if grew := int64(peak) - int64(base.HeapInuse); grew > 16<<20 {
		t.Errorf("runner heap grew by %d MiB during a 640 MiB flood", grew>>20)
	}
}

func TestRlimitsOfChildren(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{args: []string{"--max-procs", "77", "--max-open-files", "64", "--max-file-size", "1048576"}})
	res := tr.run("py", "import resource as r\n"+
		"for name in ('RLIMIT_NPROC', 'RLIMIT_NOFILE', 'RLIMIT_FSIZE', 'RLIMIT_CORE'):\n"+
		"    print(name, r.getrlimit(getattr(r, name))[0])\n")
	want := "RLIMIT_NPROC 77\nRLIMIT_NOFILE 64\nRLIMIT_FSIZE 1048576\nRLIMIT_CORE 0\n"
	if res.Stdout != want {
		t.Fatalf("want limits\n%s\ngot %s", want, res)
	}
	// The limits bite: a 2 MiB file and a 100th open file both fail.
	res = tr.run("py", "try:\n    open('big', 'wb').write(b'x' * (2 << 20))\nexcept OSError as e:\n    print('write:', e.strerror)\n"+
		"files = []\ntry:\n    for i in range(100):\n        files.append(open('/dev/null'))\nexcept OSError as e:\n    print('open:', e.strerror)\n")
	if res.Stdout != "write: File too large\nopen: Too many open files\n" {
		t.Errorf("want the file size and open files limits to apply, got %s", res)
	}
}

// A pod's runtime may let its processes take real-time scheduling or raise their priority (a raised
// RLIMIT_RTPRIO or RLIMIT_NICE). The user's code must not inherit that: a SCHED_FIFO busy loop
// escapes the container's CPU quota and starves the node. The jail's version of this test is
// TestJailRunsGetNoRealTimeSchedulingOrRaisedPriority.
func TestChildrenGetNoRealTimeSchedulingOrRaisedPriority(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	// Every child is asked for both, also where the runner has none to give (seen wherever the rest
	// of this test cannot run).
	for _, limit := range []string{"nice=0", "rtprio=0"} {
		if !slices.Contains(tr.srv.prefix, limit) {
			t.Errorf("the child prefix %q does not set %s", tr.srv.prefix, limit)
		}
	}
	needRealTimeLimits(t)
	// As a runner given them would start its children: each child starts with the raised limits.
	tr.srv.prefix = append(withRealTimeLimits(), tr.srv.prefix...)
	res := tr.run("py", realTimeProbe)
	if res.Stdout != noRealTime {
		t.Fatalf("a run got %q, want %q (%s)", res.Stdout, noRealTime, res)
	}
}

// The runner gives up the limits too: on Kubernetes the code shares its uid and may set the scheduling
// of any process of that uid whose own RLIMIT_RTPRIO allows it, the runner's included; what the runner
// starts next (a warm interpreter, the next run of a kept pod) would inherit SCHED_FIFO.
func TestTheRunnerGivesUpRealTimeLimitsItWasGiven(t *testing.T) {
	needRealTimeLimits(t)
	p := startRunnerMain(t, withRealTimeLimits())
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max nice priority") || strings.HasPrefix(line, "Max realtime priority") {
			if f := strings.Fields(line); f[3] != "0" || f[4] != "0" {
				t.Errorf("the runner keeps %q", line)
			}
		}
	}
}

// raiseRealTimeLimits gives a shell real-time limits, as LimitRTPRIO= and LimitNICE= in a systemd
// unit or --ulimit rtprio for a container would give a runner or the jail.
const raiseRealTimeLimits = `ulimit -r 99 && ulimit -e 40`

// withRealTimeLimits is a wrapper command that runs the command after it ("$0" "$@") with them.
func withRealTimeLimits() []string {
	return []string{"/bin/sh", "-c", raiseRealTimeLimits + ` && exec "$0" "$@"`}
}

// needRealTimeLimits skips t where no process can be given them: raising a hard limit needs
// CAP_SYS_RESOURCE, which some containers (this project's CI's among them) do not give even to root.
// There the host already keeps runs from both, and there is nothing to take away.
func needRealTimeLimits(t *testing.T) {
	t.Helper()
	if err := exec.Command("sh", "-c", raiseRealTimeLimits).Run(); err != nil {
		t.Skipf("this host cannot give a process real-time limits (%v): nothing to take away", err)
	}
}

// realTimeProbe is Python that prints its RLIMIT_RTPRIO and RLIMIT_NICE, then whether it could take
// real-time scheduling and raise its priority; noRealTime is what it prints in a run allowed neither.
const realTimeProbe = `import os, resource
print(resource.getrlimit(resource.RLIMIT_RTPRIO), resource.getrlimit(resource.RLIMIT_NICE))
try:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    print("real-time")
except PermissionError:
    print("refused")
try:
    os.setpriority(os.PRIO_PROCESS, 0, -5)
    print("raised")
except PermissionError:
    print("refused")
`

const noRealTime = "(0, 0) (0, 0)\nrefused\nrefused\n"

func TestForkBombIsContained(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{args: []string{"--max-procs", "64"}})
	start := time.Now()
	res := tr.execute(map[string]any{"language": "bash", "timeout_ms": 3000, "code": "bomb() { bomb | bomb & }\nbomb\nsleep 5\n"})
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the fork bomb kept the runner busy for %v", took)
	}
	if !res.TimedOut && res.ExitCode == 0 {
		t.Errorf("want the bomb to time out or fail, got %s", res)
	}
	if tr.uid > 0 && !eventually(5*time.Second, func() bool { return len(processesOf(tr.uid)) == 0 }) {
		t.Errorf("%d processes of the bomb survived", len(processesOf(tr.uid)))
	}
	// The runner still works.
	if res := tr.run("bash", "echo alive"); res.Stdout != "alive\n" {
		t.Errorf("runner unusable after the bomb: %s", res)
	}
}

func TestSignalsAreReported(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	res := tr.run("c", "#include <stdio.h>\nint main(void) { puts(\"before\"); fflush(stdout); int *p = 0; return *p; }\n")
	if res.ExitCode != 139 || res.Signal == nil || *res.Signal != "SIGSEGV" || res.Stdout != "before\n" {
		t.Errorf("want exit 139 and signal SIGSEGV, got %s", res)
	}
}

func TestInvalidUTF8AndStderrOnSuccess(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	res := tr.run("py", "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe end\\n')\nprint('careful', file=sys.stderr)\n")
	if res.ExitCode != 0 || res.Stdout != "ok \ufffd\ufffd end\n" || res.Stderr != "careful\n" {
		t.Errorf("want invalid bytes as U+FFFD and stderr kept on success, got %s", res)
	}
}

func TestTimeoutIsClampedToTheCeiling(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{args: []string{"--max-timeout-ms", "1000"}})
	for _, timeout := range []int{0, -5, 999999} {
		start := time.Now()
		res := tr.execute(map[string]any{"language": "bash", "code": "sleep 30", "timeout_ms": timeout})
		if !res.TimedOut || time.Since(start) > 5*time.Second {
			t.Errorf("timeout_ms %d: want the 1 s ceiling to apply, got %s", timeout, res)
		}
	}
}

func TestOneExecutionAtATime(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	done := make(chan result)
	// The first run marks that it runs, then waits for the test to let it finish.
	code := "touch started\nwhile [ ! -e finish ]; do sleep 0.02; done\necho first"
	go func() { done <- tr.execute(map[string]any{"language": "bash", "code": code}) }()
	if !eventually(30*time.Second, func() bool { return exists(filepath.Join(tr.work, "started")) }) {
		t.Fatal("the first run never started")
	}
	body, _ := json.Marshal(map[string]any{"language": "bash", "code": "echo second"})
	status, out := tr.request("POST", "/execute", bytes.NewReader(body))
	if status != http.StatusConflict || !strings.Contains(string(out), `"error":"busy"`) {
		t.Errorf("want 409 busy while a run is in progress, got %d %s", status, out)
	}
	if err := os.WriteFile(filepath.Join(tr.work, "finish"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if res := <-done; res.Stdout != "first\n" {
		t.Errorf("first run: %s", res)
	}
	if res := tr.run("bash", "echo third"); res.Stdout != "third\n" {
		t.Errorf("after the first run ended: %s", res)
	}
}

func TestChildEnvironment(t *testing.T) {
	t.Setenv("KCR_CANARY", "leaked")
	tr := newRunner(t, runnerOpts{})
	res := tr.run("py", "import os, json\nprint(json.dumps(dict(os.environ)))\nprint(os.getcwd())\n")
	lines := strings.SplitN(res.Stdout, "\n", 2)
	var env map[string]string
	if err := json.Unmarshal([]byte(lines[0]), &env); err != nil {
		t.Fatalf("bad output %s", res)
	}
	for _, k := range []string{"RUNNER_TOKEN", "KCR_CANARY"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s leaked into the child environment", k)
		}
	}
	for _, v := range []string{env["RUNNER_TOKEN"], env["KCR_CANARY"]} {
		if v != "" {
			t.Errorf("runner environment leaked: %q", v)
		}
	}
	scratch := tr.scratch + "/"
	if !strings.HasPrefix(env["HOME"], scratch) || !strings.HasPrefix(env["TMPDIR"], scratch) || !strings.HasPrefix(env["GOCACHE"], scratch) {
		t.Errorf("HOME, TMPDIR and GOCACHE must be in the scratch dir: %v", env)
	}
	if env["LANG"] != "C.UTF-8" || env["GOPROXY"] != "off" || env["PYTHONUNBUFFERED"] != "1" || env["MPLBACKEND"] != "Agg" {
		t.Errorf("missing settings in %v", env)
	}
	if env["CPLUS_INCLUDE_PATH"] != "/usr/include/eigen3" {
		t.Errorf("CPLUS_INCLUDE_PATH = %q, want Eigen's folder", env["CPLUS_INCLUDE_PATH"])
	}
	if target, err := os.Readlink("/etc/localtime"); err == nil && strings.Contains(target, "zoneinfo/") {
		if want := target[strings.Index(target, "zoneinfo/")+len("zoneinfo/"):]; env["TZ"] != want {
			t.Errorf("TZ = %q, want %q (the /etc/localtime link)", env["TZ"], want)
		}
	}
	if strings.TrimSpace(lines[1]) != tr.work {
		t.Errorf("cwd = %q, want the workdir %q", lines[1], tr.work)
	}
	if tr.uid > 0 {
		if res := tr.run("py", "import os\nprint(os.getuid(), os.getgid())"); res.Stdout != strconv.Itoa(tr.uid)+" "+strconv.Itoa(tr.uid)+"\n" {
			t.Errorf("children must run as the child uid %d: %s", tr.uid, res)
		}
	}
}

func TestWorkdirChangesAreListed(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	tr.put("keep.txt", "same")
	tr.put("edit.txt", "old")
	tr.put("gone.txt", "bye")
	tr.put("sub/gone2.txt", "bye")
	res := tr.run("py", "import os\nopen('edit.txt', 'a').write(' and new')\nos.remove('gone.txt')\nos.remove('sub/gone2.txt')\n"+
		"os.makedirs('out/deep')\nopen('out/deep/new.csv', 'w').write('a,b')\nos.symlink('/etc/passwd', 'link')\n")
	if got, want := strings.Join(changedPaths(res.Files), ","), "created out/deep/new.csv,modified edit.txt"; got != want {
		t.Errorf("files: got %q, want %q (%s)", got, want, res)
	}
	if got, want := strings.Join(res.Deleted, ","), "gone.txt,sub/gone2.txt"; got != want {
		t.Errorf("deleted: got %q, want %q", got, want)
	}
	for _, f := range res.Files {
		if f.Path == "out/deep/new.csv" && (f.Size != 3 || f.Mtime < float64(time.Now().Add(-time.Minute).Unix())) {
			t.Errorf("bad size or mtime: %+v", f)
		}
	}
}

// Orphans re-parented to the runner (a subreaper, or PID 1 in a pod) are reaped when they exit, even
// while the run that made them goes on: no zombies pile up.
func TestOrphansAreReaped(t *testing.T) {
	tr := newRunner(t, runnerOpts{})
	done := make(chan result)
	// The subshell leaves an orphan (its background sleep) and names it; the run goes on until the
	// test lets it finish.
	go func() {
		done <- tr.run("bash", "(sleep 0.1 & echo $! > orphan.pid)\nwhile [ ! -e finish ]; do sleep 0.02; done\necho ok\n")
	}()
	orphan := 0
	reaped := eventually(30*time.Second, func() bool {
		if orphan == 0 {
			b, _ := os.ReadFile(filepath.Join(tr.work, "orphan.pid"))
			orphan, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			return false
		}
		return !exists("/proc/" + strconv.Itoa(orphan)) // a zombie would still be listed
	})
	if !reaped {
		t.Errorf("the orphan %d was not reaped during the run (zombie children: %v)", orphan, zombieChildren())
	}
	if z := zombieChildren(); len(z) != 0 {
		t.Errorf("zombie children of the runner during the run: %v", z)
	}
	if err := os.WriteFile(filepath.Join(tr.work, "finish"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if res := <-done; res.Stdout != "ok\n" {
		t.Fatalf("%s", res)
	}
}

// zombieChildren lists zombies whose parent is this process.
func zombieChildren() []int {
	var out []int
	for _, pid := range childrenOf(os.Getpid()) {
		if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && bytes.Contains(st, []byte(") Z ")) {
			out = append(out, pid)
		}
	}
	return out
}
