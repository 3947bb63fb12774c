package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// joinCgroups starts `sh -c script` inside the cgroups (it writes its own pid into each cgroup.procs
// first) and returns it running.
func joinCgroups(t *testing.T, cg *sandboxCgroups, script string) *exec.Cmd {
	t.Helper()
	join := ""
	for _, d := range cg.dirs() {
		join += "echo $$ > " + filepath.Join(d, "cgroup.procs") + " && "
	}
	cmd := exec.Command("sh", "-c", join+script)
	cmd.Stderr = os.Stderr
	// Tracked: a parallel test's runner sweeps every untracked child of this process.
	if err := startTracked(cmd); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// A sandbox's cgroups go to a later sandbox only once nothing of the first is left in them: no
// process, no zombie, no memory the next run could not reclaim. Otherwise they are removed.
func TestJailCgroupsAreReusedOnlyEmpty(t *testing.T) {
	needMemoryCgroup(t)
	if dir, _ := findCgroupHierarchies().parent("cpu"); dir == "" {
		t.Skip("no cgroup cpu controller here")
	}
	const mem = 128 << 20
	r, err := newJailCgroupRoot(cgroupLimits{procs: 64, memory: mem, cpuMillis: 500})
	if err != nil {
		t.Fatal(err)
	}
	defer r.remove()

	a, err := r.newSandboxCgroups()
	if err != nil {
		t.Fatal(err)
	}
	if got := memoryLimitOf(t, a); got != strconv.Itoa(mem) {
		t.Fatalf("memory limit %s, want %d", got, mem)
	}
	b, err := r.newSandboxCgroups()
	if err != nil {
		t.Fatal(err)
	}
	if b.pids == a.pids || b.memory == a.memory || b.cpu == a.cpu {
		t.Fatalf("two live sandboxes share cgroups: %v and %v", a.dirs(), b.dirs())
	}

	// A process, then its zombie, keep the cgroups from being reused.
	sleeper := joinCgroups(t, a, "exec sleep 30")
	if !eventually(5e9, func() bool { return len(cgroupPids(a.pids)) == 1 }) {
		t.Fatal("the process did not join the cgroup")
	}
	if a.reusable() {
		t.Fatal("cgroups holding a process are reusable")
	}
	sleeper.Process.Signal(syscall.SIGKILL)
	if !eventually(5e9, func() bool { return len(cgroupPids(a.pids)) == 0 }) {
		t.Fatal("the killed process stayed in the cgroup")
	}
	if a.reusable() {
		t.Fatal("cgroups holding a zombie (not reaped: pids.current counts it) are reusable")
	}
	waitTracked(sleeper)
	if !a.reusable() {
		t.Fatal("empty cgroups are not reusable")
	}
	r.release(a)
	c, err := r.newSandboxCgroups()
	if err != nil {
		t.Fatal(err)
	}
	if c != a {
		t.Fatalf("the empty cgroups %v were not reused: got %v", a.dirs(), c.dirs())
	}
	if got := memoryLimitOf(t, c); got != strconv.Itoa(mem) {
		t.Fatalf("reused memory limit %s, want %d", got, mem)
	}
	if j := joinCgroups(t, c, "true"); waitTracked(j) != nil {
		t.Fatal("a process cannot join reused cgroups")
	}
	r.release(c)

	// Memory still charged when its processes are gone (a file on a tmpfs outlives them, as a SysV
	// shared memory segment does its IPC namespace for a while) is not handed to the next sandbox.
	disk := t.TempDir()
	if err := syscall.Mount("tmpfs", disk, "tmpfs", 0, "size=64m"); err != nil {
		t.Fatal(err)
	}
	defer syscall.Unmount(disk, syscall.MNT_DETACH)
	if err := waitTracked(joinCgroups(t, b, "head -c 16777216 /dev/zero > "+disk+"/f")); err != nil {
		t.Fatal(err)
	}
	if b.reusable() {
		t.Fatal("cgroups still charged with 16 MiB are reusable")
	}
	r.release(b)
	for _, dir := range []string{b.pids, b.memory, b.cpu} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("the charged cgroup %s was kept (%v)", dir, err)
		}
	}
}

// The jail's cpu parent weighs all its sandboxes together as asked (--cpu-weight), a weight alone
// being enough to make it; with weight 1 it keeps the kernel's default. A sandbox's cpu cgroup is
// under it, without a quota when no CPU limit was asked.
func TestJailCPUParentCarriesTheWeightAsked(t *testing.T) {
	needRoot(t, "cgroups need root")
	dir, v2 := findCgroupHierarchies().parent("cpu")
	if dir == "" {
		t.Skip("no cgroup cpu controller here")
	}
	file, noQuota := "cpu.shares", "-1"
	if v2 {
		file, noQuota = "cpu.weight", "max 100000"
	}
	read := func(dir, name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	for _, c := range []struct {
		limits cgroupLimits
		v1, v2 string // the parent's weight
	}{
		{cgroupLimits{procs: 64, cpuWeight: 4}, "4096", "400"},
		{cgroupLimits{procs: 64, cpuWeight: 0.01}, "10", "1"},
		{cgroupLimits{procs: 64, cpuWeight: 100}, "102400", "10000"},
		{cgroupLimits{procs: 64, cpuWeight: 2.5, cpuMillis: 500}, "2560", "250"},
		{cgroupLimits{procs: 64, cpuWeight: 1, cpuMillis: 500}, "1024", "100"},
	} {
		r, err := newJailCgroupRoot(c.limits)
		if err != nil {
			t.Fatal(err)
		}
		parent := r.parents["cpu"]
		want := map[bool]string{false: c.v1, true: c.v2}[v2]
		if parent == "" {
			t.Errorf("weight %v: no cpu parent", c.limits.cpuWeight)
		} else if got := read(parent, file); got != want {
			t.Errorf("weight %v: %s %s, want %s", c.limits.cpuWeight, file, got, want)
		}
		cg, err := r.newSandboxCgroups()
		if err != nil {
			r.remove()
			t.Fatal(err)
		}
		if filepath.Dir(cg.cpu) != parent {
			t.Errorf("weight %v: the sandbox's cpu cgroup %q is not under the parent %s", c.limits.cpuWeight, cg.cpu, parent)
		} else if c.limits.cpuMillis == 0 {
			quota := map[bool]string{false: "cpu.cfs_quota_us", true: "cpu.max"}[v2]
			if got := read(cg.cpu, quota); got != noQuota {
				t.Errorf("weight %v, no CPU limit: %s %s, want %s", c.limits.cpuWeight, quota, got, noQuota)
			}
		}
		cg.remove()
		r.remove()
	}
	// Neither a CPU limit nor a weight: no cpu cgroup at all.
	r, err := newJailCgroupRoot(cgroupLimits{procs: 64, cpuWeight: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.remove()
	if d, ok := r.parents["cpu"]; ok {
		t.Errorf("weight 1 and no CPU limit made the cpu parent %s", d)
	}
}

// A request routed to a sandbox just before it was destroyed gets its turn only after destroy gave
// the sandbox's cgroups back, to be handed to another sandbox: it must not run, nor sweep "its"
// cgroups' processes, which may be another sandbox's by then.
func TestAnEndedSandboxRefusesExecuteAndReset(t *testing.T) {
	s := &Server{cfg: &Config{}, jail: &jailSandbox{closed: true}, warm: map[string]*warmSlot{}}
	for _, path := range []string{"/execute", "/reset"} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"language": "py", "code": "print(1)"}`))
		if path == "/execute" {
			s.handleExecute(w, r)
		} else {
			s.handleReset(w, r)
		}
		if w.Code != http.StatusGone || !strings.Contains(w.Body.String(), "the sandbox has ended") {
			t.Errorf("%s on an ended sandbox: %d %s", path, w.Code, w.Body)
		}
	}
}

// At most maxFreeCgroups are kept for reuse, and none once the jail is closing: the others are removed.
func TestJailCgroupsKeptForReuseAreBoundedAndRemovedAtTheEnd(t *testing.T) {
	needMemoryCgroup(t)
	r, err := newJailCgroupRoot(cgroupLimits{procs: 64, memory: 128 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer r.remove()
	var all []*sandboxCgroups
	for range maxFreeCgroups + 1 {
		cg, err := r.newSandboxCgroups()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, cg)
	}
	for _, cg := range all {
		r.release(cg)
	}
	last := all[len(all)-1]
	if len(r.free) != maxFreeCgroups {
		t.Errorf("%d cgroups kept, want %d", len(r.free), maxFreeCgroups)
	}
	if _, err := os.Stat(last.pids); !os.IsNotExist(err) {
		t.Errorf("the cgroup %s beyond the bound was kept (%v)", last.pids, err)
	}
	kept := all[0]
	inUse, err := r.newSandboxCgroups() // a sandbox that ends after the jail began closing
	if err != nil {
		t.Fatal(err)
	}
	r.remove()
	if _, err := os.Stat(kept.pids); !os.IsNotExist(err) {
		t.Errorf("a cgroup kept for reuse, %s, outlived the jail (%v)", kept.pids, err)
	}
	r.release(inUse)
	if _, err := os.Stat(inUse.pids); !os.IsNotExist(err) || len(r.free) != 0 {
		t.Errorf("a cgroup that came back after the close was kept (%v, %d kept)", err, len(r.free))
	}
}

// With swap on, a memory limit holds only if the memory cgroup bounds swap too: the jail refuses to
// start otherwise, naming what is missing.
func TestJailRefusesSwapItCannotBound(t *testing.T) {
	header := "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
	swapOn := []byte(header + "/swapfile                               file\t\t1048572\t\t0\t\t-2\n")
	for _, v2 := range []bool{false, true} {
		dir := t.TempDir()
		if err := swapBounded([]byte(header), dir, v2); err != nil {
			t.Errorf("v2 %v, no swap: %v", v2, err)
		}
		err := swapBounded(swapOn, dir, v2)
		want := map[bool]string{false: "memory.memsw.limit_in_bytes", true: "memory.swap.max"}[v2]
		if err == nil || !strings.Contains(err.Error(), "swap is on") || !strings.Contains(err.Error(), want) {
			t.Errorf("v2 %v, swap on, no %s: %v", v2, want, err)
		}
		os.WriteFile(filepath.Join(dir, want), []byte("max\n"), 0o644)
		if err := swapBounded(swapOn, dir, v2); err != nil {
			t.Errorf("v2 %v, swap on and bounded: %v", v2, err)
		}
	}
}
