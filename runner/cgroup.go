package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// The sandbox cgroups bound all children of one server together, whatever their uid:
//
//   - pids: pids.max = --max-procs. RLIMIT_NPROC counts the processes of a uid, which runners started
//     with the same --child-uid share; this bounds one runner's children alone, whatever their uid.
//   - memory (only with --max-memory): the memory of every child together, warm interpreters
//     included. A child that goes over it is killed by the kernel's OOM killer, and the run's stderr
//     says so.
//
// Each is used when the runner can create it: root, and a cgroup v1 hierarchy with the controller, or
// the cgroup v2 root delegating it (memory and pids then share one directory). Every __child joins
// them before exec ("cgroup=DIR" once per directory).

const cgroupPrefix = "kcr-runner-"

var cgroupSeq atomic.Int64

// sandboxCgroups are the cgroups of one sandbox's children: a classic runner's (setupCgroups) or a
// jail sandbox's (newSandboxCgroups).
type sandboxCgroups struct {
	pids     string // dir with pids.max, or ""
	pidsV2   bool   // pids is a cgroup v2 dir (cgroup.kill may exist there)
	memory   string // dir with the memory limit, or ""; the same as pids when they share a hierarchy
	memV2    bool   // memory is a cgroup v2 dir (memory.max, memory.events)
	memLimit uint64
	cpu      string // dir in the cpu controller (jail mode with --max-cpu or --cpu-weight), or ""
	// Jail mode: cgroup.procs of each of dirs(), opened for the children to join (they write "0").
	procs []*os.File
}

// dirs are the distinct directories a child joins.
func (c *sandboxCgroups) dirs() []string {
	var out []string
	for _, d := range []string{c.pids, c.memory, c.cpu} {
		if d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// remove closes the cgroup.procs files and removes the directories; no child may be left but ones
// being killed.
func (c *sandboxCgroups) remove() {
	for _, f := range c.procs {
		f.Close()
	}
	c.procs = nil
	for _, d := range c.dirs() {
		removeCgroupDir(d)
	}
}

// setupCgroups creates the cgroups of one server: pids always when it can, memory when maxMemory > 0.
// An error says why one of them could not be made; the server goes on without it. A runner that is not
// root makes none, and only a memory limit it was asked for is worth an error then.
func setupCgroups(maxProcs, maxMemory uint64) (cg *sandboxCgroups, pidsErr, memErr error) {
	cg = &sandboxCgroups{}
	if os.Geteuid() != 0 {
		if maxMemory > 0 {
			memErr = errors.New("the runner is not root")
		}
		return cg, nil, memErr
	}
	h := findCgroupHierarchies()
	name := cgroupPrefix + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(cgroupSeq.Add(1), 10)
	pidsParent, _ := h.parent("pids")
	if pidsParent == "" {
		pidsErr = errors.New("no writable pids cgroup hierarchy")
	} else {
		cg.pids, pidsErr = makeCgroup(pidsParent, name, func(dir string) error {
			return writeCgroupFile(dir, "pids.max", strconv.FormatUint(maxProcs, 10))
		})
	}
	if maxMemory == 0 {
		return cg, pidsErr, nil
	}
	memParent, v2 := h.parent("memory")
	switch {
	case memParent == "":
		memErr = errors.New("no cgroup hierarchy with the memory controller")
	case memParent == pidsParent && cg.pids != "":
		// cgroup v2 (or a v1 hierarchy with both controllers): one directory with both limits.
		if memErr = setMemoryLimit(cg.pids, maxMemory, v2); memErr == nil {
			cg.memory = cg.pids
		}
	default:
		cg.memory, memErr = makeCgroup(memParent, name, func(dir string) error {
			return setMemoryLimit(dir, maxMemory, v2)
		})
	}
	if cg.memory != "" {
		cg.memV2, cg.memLimit = v2, maxMemory
	}
	return cg, pidsErr, memErr
}

// makeCgroup removes stale cgroups of dead runners under parent, then creates parent/name and
// configures it; on error nothing is left.
func makeCgroup(parent, name string, configure func(dir string) error) (string, error) {
	removeStaleCgroups(parent)
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return "", err
	}
	if err := configure(dir); err != nil {
		os.Remove(dir)
		return "", err
	}
	return dir, nil
}

// sandboxSocketMemory bounds a sandbox's socket buffers on cgroup v1, below its memory limit: every
// sandbox's buffers, and the API's, come from one pool of the host (tcp_mem: under pressure past ~1.1
// GiB on a 24 GiB host), which a few runs holding their memory limit in unread data each would fill.
// 64 MiB still lets a run stream through loopback connections at full speed (a few MiB each), and 8
// runs at once hold at most 512 MiB of the pool. cgroup v2 has no limit of the kind (docs/operations.md).
const sandboxSocketMemory = 64 << 20

// setMemoryLimit bounds a memory cgroup to limit bytes, swap included where the kernel accounts it,
// and its socket buffers (on cgroup v1 to at most sandboxSocketMemory).
func setMemoryLimit(dir string, limit uint64, v2 bool) error {
	val := strconv.FormatUint(limit, 10)
	if v2 {
		if err := writeCgroupFile(dir, "memory.max", val); err != nil {
			return err
		}
		writeCgroupFile(dir, "memory.swap.max", "0") // absent without swap accounting
		return nil
	}
	if err := writeCgroupFile(dir, "memory.limit_in_bytes", val); err != nil {
		return err
	}
	// Memory plus swap: absent or refused when swap accounting is off. Then no swap use is the best
	// that can be asked for.
	writeCgroupFile(dir, "memory.memsw.limit_in_bytes", val)
	writeCgroupFile(dir, "memory.swappiness", "0")
	// Socket buffers: cgroup v1 charges them to no memory cgroup until a TCP limit is set, which turns
	// that accounting on for the sockets made in the cgroup afterwards (TCP and UDP both; cgroup v2
	// charges them to memory.max anyway). Without it, data queued on loopback connections the code
	// never reads is the host's kernel memory, outside every limit: one run held 1.1 GiB in 300 of
	// them, and the host's TCP (tcp_mem, shared by every sandbox and the API) went under pressure. The
	// file is absent only where the kernel has no such accounting.
	tcp := strconv.FormatUint(min(limit, sandboxSocketMemory), 10)
	if err := writeCgroupFile(dir, "memory.kmem.tcp.limit_in_bytes", tcp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("bounding its socket buffers: %v", err)
	}
	return nil
}

func writeCgroupFile(dir, name, val string) error {
	return os.WriteFile(filepath.Join(dir, name), []byte(val), 0)
}

// cgroupHierarchies are the cgroup mounts of this machine (their roots).
type cgroupHierarchies struct {
	v1      map[string]string // controller -> mount point of the v1 hierarchy that has it
	v2      string            // mount point of cgroup v2, or ""
	v2Opts  []string          // its superblock options (mount flags of the whole host: nsdelegate, ...)
	v2Ctrls map[string]bool   // controllers the v2 root delegates to its children (cgroup.subtree_control)
}

// parent is where to create a cgroup with the controller: the root of the cgroup v1 hierarchy that has
// it, or else the cgroup v2 root when it delegates it to its children; "" if neither.
func (h cgroupHierarchies) parent(ctrl string) (dir string, v2 bool) {
	if d := h.v1[ctrl]; d != "" {
		return d, false
	}
	if h.v2 != "" && h.v2Ctrls[ctrl] {
		return h.v2, true
	}
	return "", false
}

func findCgroupHierarchies() cgroupHierarchies {
	h := cgroupHierarchies{v1: map[string]string{}, v2Ctrls: map[string]bool{}}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return h
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - FSTYPE SOURCE SUPEROPTS
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		left, right := strings.Fields(pre), strings.Fields(post)
		if len(left) < 5 || len(right) < 3 || left[3] != "/" {
			continue
		}
		mnt := left[4]
		switch right[0] {
		case "cgroup":
			for _, o := range strings.Split(right[2], ",") {
				if h.v1[o] == "" {
					h.v1[o] = mnt
				}
			}
		case "cgroup2":
			if b, err := os.ReadFile(filepath.Join(mnt, "cgroup.subtree_control")); err == nil && h.v2 == "" {
				h.v2, h.v2Opts = mnt, strings.Split(right[2], ",")
				for _, c := range strings.Fields(string(b)) {
					h.v2Ctrls[c] = true
				}
			}
		}
	}
	return h
}

// pidsHierarchy is where the pids cgroup goes, "" if nowhere.
func pidsHierarchy() string {
	d, _ := findCgroupHierarchies().parent("pids")
	return d
}

// memoryHierarchy is where the memory cgroup goes, "" if nowhere.
func memoryHierarchy() string {
	d, _ := findCgroupHierarchies().parent("memory")
	return d
}

// removeStaleCgroups removes cgroups of runners that are gone (rmdir fails while a task is inside).
func removeStaleCgroups(parent string) {
	ents, _ := os.ReadDir(parent)
	for _, e := range ents {
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(e.Name(), cgroupPrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if !e.IsDir() || !strings.HasPrefix(e.Name(), cgroupPrefix) || err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			os.Remove(filepath.Join(parent, e.Name()))
		}
	}
}

// joinCgroup moves the calling process into the cgroup (in __child, before exec).
func joinCgroup(dir string) error {
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0)
}

// oomKills reads how many times the kernel killed a process of the memory cgroup for going over its
// limit: memory.events "oom_kill" (v2) or memory.oom_control "oom_kill" (v1, Linux 4.13+). Before
// 4.13 it reads memory.failcnt instead, which also grows when the limit is reached and reclaim
// succeeds: exact is false then, and only a run ended by SIGKILL is blamed on the limit.
func (c *sandboxCgroups) oomKills() (n uint64, exact bool, err error) {
	if c.memory == "" {
		return 0, false, errors.New("no memory cgroup")
	}
	file := "memory.oom_control"
	if c.memV2 {
		file = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(c.memory, file))
	if err != nil {
		return 0, false, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, err = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, true, err
		}
	}
	if c.memV2 {
		return 0, false, fmt.Errorf("no oom_kill in %s", file)
	}
	b, err = os.ReadFile(filepath.Join(c.memory, "memory.failcnt"))
	if err != nil {
		return 0, false, err
	}
	n, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n, false, err
}

// memoryNotice is the stderr line of a run the memory limit killed.
func memoryNotice(limit uint64) string {
	size := strconv.FormatUint(limit, 10) + " bytes"
	if limit%(1<<20) == 0 {
		size = strconv.FormatUint(limit>>20, 10) + " MiB"
	}
	return "[kubecoderun] killed: the sandbox memory limit (" + size + ") was exceeded"
}
