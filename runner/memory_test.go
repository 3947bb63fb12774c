package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const testMemoryLimit = 256 << 20

// needMemoryCgroup skips a test that needs the runner to make a memory cgroup.
func needMemoryCgroup(t *testing.T) {
	t.Helper()
	needRoot(t, "a memory cgroup needs root")
	if memoryHierarchy() == "" {
		t.Skip("no cgroup hierarchy with the memory controller (v1 memory, or v2 delegating memory)")
	}
}

// memoryLimitOf reads the limit the runner wrote into its memory cgroup.
func memoryLimitOf(t *testing.T, cg *sandboxCgroups) string {
	t.Helper()
	file := "memory.limit_in_bytes"
	if cg.memV2 {
		file = "memory.max"
	}
	b, err := os.ReadFile(filepath.Join(cg.memory, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Python code that touches n MiB (so the pages are really committed), then prints how many.
func allocate(mib int) string {
	return "b = b'x' * (" + strconv.Itoa(mib) + " * 1024**2)\nprint(len(b) >> 20, 'MiB')\n"
}

// With --max-memory every child joins a memory cgroup: a run that goes over it is killed and says so,
// a run that fits is not disturbed, and the runner goes on serving. The warm Python (numpy, pandas and
// matplotlib preloaded) counts against the limit, and a killed warm one is replaced.
func TestMemoryLimitKillsARunAndSaysSo(t *testing.T) {
	t.Parallel()
	needMemoryCgroup(t)
	tr := newRunner(t, runnerOpts{args: []string{"--max-memory", strconv.Itoa(testMemoryLimit), "--warm", "py"}})
	cg := tr.srv.cg
	if cg.memory == "" {
		t.Fatal("no memory cgroup although the machine has a memory controller")
	}
	if got := memoryLimitOf(t, cg); got != strconv.Itoa(testMemoryLimit) {
		t.Errorf("memory limit of %s is %s, want %d", cg.memory, got, testMemoryLimit)
	}
	if n := strings.Count(strings.Join(tr.srv.prefix, " "), "cgroup="); n != len(cg.dirs()) || n == 0 {
		t.Errorf("the child prefix joins %d cgroups, want %v: %q", n, cg.dirs(), tr.srv.prefix)
	}
	notice := "[kubecoderun] killed: the sandbox memory limit (256 MiB) was exceeded\n"

	tr.waitWarm("py")
	res := tr.run("py", allocate(50)+"print(open('/proc/self/cgroup').read())\n")
	if res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "50 MiB\n") || res.Stderr != "" {
		t.Fatalf("50 MiB under a 256 MiB limit must succeed: %s", res)
	}
	if !strings.Contains(res.Stdout, "/"+filepath.Base(cg.memory)+"\n") {
		t.Errorf("the run is not in the memory cgroup %s: %s", cg.memory, res.Stdout)
	}

	tr.waitWarm("py")
	res = tr.run("py", "import sys\nprint('before', flush=True)\nprint('to stderr', file=sys.stderr, end='')\n"+allocate(1024))
	if res.ExitCode != 137 || res.Signal == nil || *res.Signal != "SIGKILL" || res.TimedOut {
		t.Errorf("1 GiB under a 256 MiB limit: want exit 137 and SIGKILL, got %s", res)
	}
	if res.Stdout != "before\n" || res.Stderr != "to stderr\n"+notice {
		t.Errorf("want the output so far and the notice on a line of its own at the end of stderr, got %s", res)
	}
	if tr.srv.warmRuns.Load() != 2 {
		t.Errorf("both runs should have used the warm Python, %d did", tr.srv.warmRuns.Load())
	}

	// The runner goes on: a new warm Python, and the memory of the killed one is free again.
	tr.waitWarm("py")
	res = tr.run("py", allocate(100))
	if res.ExitCode != 0 || res.Stdout != "100 MiB\n" || res.Stderr != "" {
		t.Errorf("after the killed run: %s", res)
	}
	// A compiled program and its compiler are bounded too.
	res = tr.run("c", "#include <stdlib.h>\n#include <stdio.h>\n"+
		"int main(void) { size_t n = (size_t)1 << 30; volatile char *p = malloc(n);\n"+
		"for (size_t i = 0; i < n; i += 4096) p[i] = 1;\nprintf(\"%d\\n\", p[n - 4096]); return 0; }\n")
	if res.ExitCode != 137 || !strings.HasSuffix(res.Stderr, notice) || res.Stdout != "" {
		t.Errorf("a C program allocating 1 GiB: %s", res)
	}
	if res := tr.run("bash", "echo alive"); res.ExitCode != 0 || res.Stdout != "alive\n" || res.Stderr != "" {
		t.Errorf("runner unusable after the killed runs: %s", res)
	}
}

// Without --max-memory nothing changes: no memory cgroup, children stay in the runner's memory cgroup.
func TestNoMemoryCgroupWithoutTheFlag(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	cg := tr.srv.cg
	if cg.memory != "" || cg.memLimit != 0 {
		t.Fatalf("a memory cgroup without --max-memory: %+v", cg)
	}
	if n := strings.Count(strings.Join(tr.srv.prefix, " "), "cgroup="); n > 1 {
		t.Errorf("the child prefix joins %d cgroups: %q", n, tr.srv.prefix)
	}
	res := tr.run("py", allocate(300))
	if res.ExitCode != 0 || res.Stdout != "300 MiB\n" || res.Stderr != "" {
		t.Errorf("300 MiB without a limit: %s", res)
	}
	if os.Geteuid() != 0 || cg.pids == "" {
		return
	}
	memParent, v2 := findCgroupHierarchies().parent("memory")
	if v2 {
		// The pids cgroup is a cgroup v2 dir: the memory controller must not be limited there.
		if b, err := os.ReadFile(filepath.Join(cg.pids, "memory.max")); err == nil && strings.TrimSpace(string(b)) != "max" {
			t.Errorf("memory.max of %s is %s without --max-memory", cg.pids, b)
		}
		return
	}
	if memParent == "" {
		return
	}
	if _, err := os.Stat(filepath.Join(memParent, filepath.Base(cg.pids))); err == nil {
		t.Errorf("a memory cgroup %s was made without --max-memory", filepath.Join(memParent, filepath.Base(cg.pids)))
	}
	own := memoryLine(t, readFile(t, "/proc/self/cgroup"))
	res = tr.run("bash", "cat /proc/self/cgroup")
	if got := memoryLine(t, res.Stdout); got != own {
		t.Errorf("children left the runner's memory cgroup: %q, runner %q", got, own)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// memoryLine is the cgroup v1 memory line of a /proc/PID/cgroup.
func memoryLine(t *testing.T, procCgroup string) string {
	t.Helper()
	for _, line := range strings.Split(procCgroup, "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && strings.Contains(","+f[1]+",", ",memory,") {
			return line
		}
	}
	t.Fatalf("no memory line in %q", procCgroup)
	return ""
}

// The runner removes its cgroups on Close, and stale ones of dead runners at start.
func TestMemoryCgroupIsRemoved(t *testing.T) {
	t.Parallel()
	needMemoryCgroup(t)
	stale := filepath.Join(memoryHierarchy(), cgroupPrefix+"999999999-1")
	if err := os.Mkdir(stale, 0o755); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(stale) })
	dir := filepath.Join(testBase, "memgone"+strconv.FormatInt(nextDir.Add(1), 10))
	cfg, err := parseConfig([]string{"--workdir", filepath.Join(dir, "work"), "--scratch", filepath.Join(dir, "scratch"),
		"--warm", "", "--max-memory", "100000000"}, envOf(testEnv()))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cg := srv.cg
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("the stale cgroup %s of a dead runner was not removed", stale)
	}
	if cg.memory == "" || memoryLimitOf(t, cg) != strconv.Itoa(100000000/4096*4096) {
		t.Errorf("want a memory cgroup with the limit (rounded to pages): %+v", cg)
	}
	srv.Close()
	for _, d := range cg.dirs() {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s is still there after Close", d)
		}
	}
}

// The OOM kill counters of both cgroup versions, and the notice's wording.
func TestOOMKillCounters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		v2      bool
		files   map[string]string
		n       uint64
		exact   bool
		wantErr bool
	}{
		{true, map[string]string{"memory.events": "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n"}, 2, true, false},
		{true, map[string]string{"memory.events": "low 0\n"}, 0, false, true},
		{false, map[string]string{"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n", "memory.failcnt": "40\n"}, 5, true, false},
		{false, map[string]string{"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n", "memory.failcnt": "40\n"}, 40, false, false},
	}
	for i, c := range cases {
		for _, f := range []string{"memory.events", "memory.oom_control", "memory.failcnt"} {
			os.Remove(filepath.Join(dir, f))
		}
		for name, content := range c.files {
			write(name, content)
		}
		cg := sandboxCgroups{memory: dir, memV2: c.v2}
		n, exact, err := cg.oomKills()
		if (err != nil) != c.wantErr || n != c.n || exact != c.exact {
			t.Errorf("case %d: got %d %v %v, want %d %v error %v", i, n, exact, err, c.n, c.exact, c.wantErr)
		}
	}
	if _, _, err := (&sandboxCgroups{}).oomKills(); err == nil {
		t.Errorf("no memory cgroup must be an error")
	}
	for limit, want := range map[uint64]string{512 << 20: "(512 MiB)", 1 << 30: "(1024 MiB)", 1000000: "(1000000 bytes)"} {
		if got := memoryNotice(limit); got != "[kubecoderun] killed: the sandbox memory limit "+want+" was exceeded" {
			t.Errorf("notice for %d: %q", limit, got)
		}
	}
}
