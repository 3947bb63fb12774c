package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Jail mode gives every sandbox its own cgroups: pids (pids.max), memory (the limit, no swap) and, with
// --max-cpu or --cpu-weight, cpu (a CFS quota). They live under one parent per jail server,
// kcr-jail-<pid>, at the root of each cgroup v1 hierarchy that has the controller, or of cgroup v2 (one
// directory for all three). The processes of a run join them before they enter the jail; the template
// and the holder do not.
//
// The cpu parent weighs all sandboxes together against the host's other top-level cgroups and
// sessions (the API's own among them) by --cpu-weight: with the kernel's default, eight busy runs get
// no more CPU than the API's session alone. A heavier parent lets runs in progress finish before the
// API takes new requests and makes new sandboxes: weight 4 cut the p99 of py print(1) at 8 clients on
// 2 cores from ~55 to ~47 ms and raised throughput 3-5 % (weight 1/4 made the p99 70 ms).

const jailCgroupPrefix = "kcr-jail-"

// jailCgroupRoot is where one jail server makes the cgroups of its sandboxes.
//
// A sandbox's cgroups are used again by a later sandbox once they are empty: making and removing three
// cgroup v1 directories, with their limit files, cost ~0.5 ms of the jail server's CPU per sandbox, and
// more in the kernel's workers that free them (perf at c=8, bench/RESULTS.md). Only cgroups that hold no
// process and (almost) no memory are kept (reusable), and the limits are the jail server's, the same
// for all its sandboxes, so a reused cgroup is indistinguishable from a new one but for its cumulative
// counters, which every reader takes as a difference (pids.events, the OOM kills).
type jailCgroupRoot struct {
	parents map[string]string // controller (pids, memory, cpu) -> the kcr-jail-<pid> directory
	v2      map[string]bool   // controller -> its parent is a cgroup v2 directory
	limits  cgroupLimits      // of every sandbox

	mu      sync.Mutex
	free    []*sandboxCgroups // empty cgroups set to limits, for the next sandboxes
	seq     int               // names the cgroups made: s<seq>
	removed bool              // the jail is closing: what comes back is removed, not kept
}

// maxFreeCgroups bounds the cgroups kept for reuse: more than the sandboxes that end at once.
const maxFreeCgroups = 64

// maxReusedMemory is the most a memory cgroup may still be charged with to be reused: a run's page
// cache (files it read) may stay charged after it ended, but not memory the next run could not
// reclaim, such as a SysV shared memory segment whose IPC namespace the kernel frees later.
const maxReusedMemory = 4 << 20

// cgroupLimits are what a jail server's sandboxes may use: processes (pids.max), memory in bytes
// (0: no limit), thousandths of a CPU each (0: none) and the weight of all of them together, a
// multiple of the kernel's default (0 or 1: the default).
type cgroupLimits struct {
	procs, memory uint64
	cpuMillis     int
	cpuWeight     float64
}

// weighted reports whether the sandboxes' cpu parent gets a weight other than the kernel's default.
func (l cgroupLimits) weighted() bool { return l.cpuWeight != 0 && l.cpuWeight != 1 }

// controllers are the cgroup controllers the sandboxes need: cpu only for a quota or a weight.
func (l cgroupLimits) controllers() []string {
	if l.cpuMillis > 0 || l.weighted() {
		return []string{"pids", "memory", "cpu"}
	}
	return []string{"pids", "memory"}
}

// newJailCgroupRoot creates the kcr-jail-<pid> parents for sandboxes with these limits; cpu only with
// a CPU limit or weight. It fails naming the controller it cannot use.
func newJailCgroupRoot(limits cgroupLimits) (*jailCgroupRoot, error) {
	h := findCgroupHierarchies()
	r := &jailCgroupRoot{parents: map[string]string{}, v2: map[string]bool{}, limits: limits}
	ctrls := limits.controllers()
	name := jailCgroupPrefix + strconv.Itoa(os.Getpid())
	var v2ctrls []string
	for _, c := range ctrls {
		dir, v2 := h.parent(c)
		if dir == "" {
			return nil, fmt.Errorf("no cgroup %s controller (neither a cgroup v1 hierarchy with it nor the cgroup v2 root delegating it)", c)
		}
		removeStaleJailCgroups(dir)
		r.parents[c], r.v2[c] = filepath.Join(dir, name), v2
		if v2 {
			v2ctrls = append(v2ctrls, "+"+c)
		}
	}
	for _, c := range ctrls {
		if err := os.Mkdir(r.parents[c], 0o755); err != nil && !os.IsExist(err) {
			r.remove()
			return nil, fmt.Errorf("cannot create the %s cgroup %s: %v", c, r.parents[c], err)
		}
	}
	if limits.weighted() {
		if err := setCPUWeight(r.parents["cpu"], limits.cpuWeight, r.v2["cpu"]); err != nil {
			r.remove()
			return nil, fmt.Errorf("cannot set the weight of the cpu cgroup %s: %v", r.parents["cpu"], err)
		}
	}
	if limits.memory > 0 {
		swaps, _ := os.ReadFile("/proc/swaps")
		if err := swapBounded(swaps, r.parents["memory"], r.v2["memory"]); err != nil {
			r.remove()
			return nil, err
		}
	}
	if len(v2ctrls) > 0 {
		dir := r.parents["pids"]
		if !r.v2["pids"] {
			dir = r.parents["memory"]
		}
		if err := writeCgroupFile(dir, "cgroup.subtree_control", strings.Join(v2ctrls, " ")); err != nil {
			r.remove()
			return nil, fmt.Errorf("cannot delegate %s below %s: %v", strings.Join(v2ctrls, " "), dir, err)
		}
	}
	return r, nil
}

// swapBounded fails when swap is on (procSwaps, the text of /proc/swaps, lists a device) and the
// memory cgroup memDir cannot bound a sandbox's use of it (swap accounting off): a sandbox's memory
// limit would then not hold, and the jail does not run weaker than it says.
func swapBounded(procSwaps []byte, memDir string, v2 bool) error {
	lines := strings.Split(strings.TrimSpace(string(procSwaps)), "\n")
	if len(lines) < 2 { // the header only
		return nil
	}
	name := "memory.memsw.limit_in_bytes"
	if v2 {
		name = "memory.swap.max"
	}
	if _, err := os.Stat(filepath.Join(memDir, name)); err != nil {
		return fmt.Errorf("swap is on and the memory cgroup cannot bound it (no %s: swap accounting is off): "+
			"sandboxes could use swap past their memory limit; turn swap accounting on (kernel parameter "+
			"swapaccount=1 on older kernels) or swap off", name)
	}
	return nil
}

// remove removes the cgroups kept for reuse and the parents (their sandboxes' cgroups must be gone).
func (r *jailCgroupRoot) remove() {
	r.mu.Lock()
	free := r.free
	r.free, r.removed = nil, true
	r.mu.Unlock()
	for _, cg := range free {
		cg.remove()
	}
	for _, d := range r.parents {
		os.Remove(d)
	}
}

// removeStaleJailCgroups removes what jail servers that are gone left under parent.
func removeStaleJailCgroups(parent string) {
	ents, _ := os.ReadDir(parent)
	for _, e := range ents {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), jailCgroupPrefix))
		if !e.IsDir() || !strings.HasPrefix(e.Name(), jailCgroupPrefix) || err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		subs, _ := os.ReadDir(dir)
		for _, s := range subs {
			if s.IsDir() {
				cg := &sandboxCgroups{pids: filepath.Join(dir, s.Name())}
				cg.killAll()
				cg.remove()
			}
		}
		os.Remove(dir)
	}
}

// newSandboxCgroups gives the cgroups of one sandbox, set to the limits: empty ones a sandbox that
// ended left (release), else new ones.
func (r *jailCgroupRoot) newSandboxCgroups() (*sandboxCgroups, error) {
	r.mu.Lock()
	if n := len(r.free); n > 0 {
		cg := r.free[n-1]
		r.free = r.free[:n-1]
		r.mu.Unlock()
		return cg, nil
	}
	r.seq++
	id := "s" + strconv.Itoa(r.seq)
	r.mu.Unlock()
	maxProcs, maxMemory, cpuMillis := r.limits.procs, r.limits.memory, r.limits.cpuMillis
	cg := &sandboxCgroups{memLimit: maxMemory}
	for _, c := range []string{"pids", "memory", "cpu"} {
		parent, ok := r.parents[c]
		if !ok {
			continue
		}
		dir := filepath.Join(parent, id)
		if !slices.Contains(cg.dirs(), dir) {
			if err := os.Mkdir(dir, 0o755); err != nil {
				cg.remove()
				return nil, err
			}
		}
		var err error
		switch c {
		case "pids":
			cg.pids, cg.pidsV2 = dir, r.v2[c]
			err = writeCgroupFile(dir, "pids.max", strconv.FormatUint(maxProcs, 10))
		case "memory":
			cg.memory, cg.memV2 = dir, r.v2[c]
			if maxMemory > 0 {
				err = setMemoryLimit(dir, maxMemory, r.v2[c])
			}
		case "cpu":
			cg.cpu = dir
			if cpuMillis > 0 {
				err = setCPULimit(dir, cpuMillis, r.v2[c])
			}
		}
		if err != nil {
			cg.remove()
			return nil, fmt.Errorf("%s cgroup %s: %v", c, dir, err)
		}
	}
	for _, d := range cg.dirs() {
		f, err := os.OpenFile(filepath.Join(d, "cgroup.procs"), os.O_WRONLY, 0)
		if err != nil {
			cg.remove()
			return nil, err
		}
		cg.procs = append(cg.procs, f)
	}
	return cg, nil
}

// release takes back the cgroups of a sandbox whose processes were all killed: kept for the next
// sandbox when reusable, else removed.
func (r *jailCgroupRoot) release(cg *sandboxCgroups) {
	if cg.reusable() {
		r.mu.Lock()
		if len(r.free) < maxFreeCgroups && !r.removed {
			r.free = append(r.free, cg)
			cg = nil
		}
		r.mu.Unlock()
	}
	if cg != nil {
		cg.remove()
	}
}

// reusable reports whether the cgroups hold nothing of the sandbox that used them: no process (nor a
// zombie: pids.current counts a process until it is reaped) and at most maxReusedMemory charged.
func (cg *sandboxCgroups) reusable() bool {
	if cg.pids == "" || len(cg.procs) == 0 {
		return false
	}
	for _, d := range cg.dirs() {
		if len(cgroupPids(d)) > 0 {
			return false
		}
	}
	if n, err := readCgroupUint(cg.pids, "pids.current"); err != nil || n != 0 {
		return false
	}
	if cg.memory != "" {
		name := "memory.usage_in_bytes"
		if cg.memV2 {
			name = "memory.current"
		}
		if n, err := readCgroupUint(cg.memory, name); err != nil || n > maxReusedMemory {
			return false
		}
	}
	return true
}

// readCgroupUint reads a cgroup file holding one number.
func readCgroupUint(dir, name string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// setCPULimit caps the cgroup at cpuMillis thousandths of a CPU (a CFS quota per 100 ms period).
func setCPULimit(dir string, cpuMillis int, v2 bool) error {
	quota := strconv.Itoa(cpuMillis * 100)
	if v2 {
		return writeCgroupFile(dir, "cpu.max", quota+" 100000")
	}
	if err := writeCgroupFile(dir, "cpu.cfs_period_us", "100000"); err != nil {
		return err
	}
	return writeCgroupFile(dir, "cpu.cfs_quota_us", quota)
}

// setCPUWeight gives the cgroup weight times the kernel's default weight against its siblings: v1
// cpu.shares (default 1024, at least 2), v2 cpu.weight (default 100, 1 to 10000).
func setCPUWeight(dir string, weight float64, v2 bool) error {
	if v2 {
		return writeCgroupFile(dir, "cpu.weight", strconv.Itoa(min(max(int(math.Round(100*weight)), 1), 10000)))
	}
	return writeCgroupFile(dir, "cpu.shares", strconv.Itoa(max(int(math.Round(1024*weight)), 2)))
}

// cgroupPids lists the processes in a cgroup directory.
func cgroupPids(dir string) []int {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// killAll kills every process of the sandbox and waits until they are gone: a killed process cannot
// fork, and pids.max bounds what a fork bomb can start in between, so a few rounds do it.
func (cg *sandboxCgroups) killAll() error {
	if cg.pids == "" {
		return nil
	}
	if cg.pidsV2 {
		writeCgroupFile(cg.pids, "cgroup.kill", "1") // Linux 5.14+; the loop below covers older ones
	}
	deadline := time.Now().Add(10 * time.Second)
	for pause := 50 * time.Microsecond; ; pause = min(2*pause, 10*time.Millisecond) {
		killCgroupProcs(cg.pids, func(int) bool { return false })
		left := cgroupPids(cg.pids)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes of cgroup %s survived SIGKILL", len(left), cg.pids)
		}
		time.Sleep(pause)
	}
}

// signalAll sends SIGKILL to every process of the sandbox but those in keep, without waiting for them
// to finish exiting (an interpreter with numpy mapped takes milliseconds to): rounds until one finds
// no process it has not signalled yet. A process with a pending SIGKILL forks no more, so whatever it
// started before shows up in the next round.
func (cg *sandboxCgroups) signalAll(keep []int) {
	if cg.pids == "" {
		return
	}
	signalled := map[int]bool{}
	for round := 0; round < 1000; round++ {
		fresh := killCgroupProcs(cg.pids, func(pid int) bool { return signalled[pid] || slices.Contains(keep, pid) })
		for _, pid := range fresh {
			signalled[pid] = true
		}
		if len(fresh) == 0 {
			return
		}
	}
}

// killCgroupProcs sends SIGKILL to the processes of cgroup dir that skip does not spare, and returns
// the pids it signalled. Never by number: a pid read from cgroup.procs may have been reaped since
// (by its parent in the sandbox), and the host may have given it to a process of its own. So each is
// opened as a pidfd first, and signalled through it only if cgroup.procs, read again after that, still
// lists its pid: the pidfd's process then held that pid in the cgroup at the second read, or had died
// before it (and the signal reaches no one).
func killCgroupProcs(dir string, skip func(pid int) bool) []int {
	fds := map[int]int{}
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	for _, pid := range cgroupPids(dir) {
		if _, dup := fds[pid]; dup || skip(pid) {
			continue
		}
		if fd, _, e := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0); e == 0 {
			fds[pid] = int(fd)
		}
	}
	if len(fds) == 0 {
		return nil
	}
	var out []int
	for _, pid := range cgroupPids(dir) {
		if fd, ok := fds[pid]; ok {
			syscall.Syscall6(sysPidfdSendSignal, uintptr(fd), uintptr(syscall.SIGKILL), 0, 0, 0, 0)
			out = append(out, pid)
			delete(fds, pid)
			syscall.Close(fd)
		}
	}
	return out
}

// removeCgroupDir removes a cgroup; rmdir fails while a killed process is still exiting, which
// usually takes well under a millisecond: the pause starts short (a fixed 10 ms made a sandbox's
// teardown take 10 ms in one case of ten), for up to 2 s in all.
func removeCgroupDir(dir string) {
	deadline := time.Now().Add(2 * time.Second)
	for pause := 100 * time.Microsecond; ; pause = min(2*pause, 10*time.Millisecond) {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return
		}
		time.Sleep(pause)
	}
}

// pidsLimitHits is how often the sandbox hit pids.max (pids.events "max"), for the notice.
func (cg *sandboxCgroups) pidsLimitHits() uint64 {
	b, err := os.ReadFile(filepath.Join(cg.pids, "pids.events"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "max "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
