package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Jail mode (docs/runner-protocol.md, "Jail mode"): one long-lived jail server (root) serves every
// sandbox of the local backend, each behind its own bearer token, with the same endpoints as a runner.
// A sandbox is cheap (a tmpfs, cgroups, a uid and a holder process owning its namespaces); runs are
// forked from long-lived templates into the sandbox's jail: Python from a template with the preloaded
// modules, everything else from a small template that execs the command.
//
//	runner jail --listen 127.0.0.1:PORT --base DIR [--ro-bind PATH]... [limits]
//
// The admin token (RUNNER_ADMIN_TOKEN) guards POST /sandboxes and DELETE /sandboxes/{id}.

const jailServeCommand = "__jail"

// jailMemoryLimit is the jail server's soft memory limit (runtime/debug.SetMemoryLimit) unless
// GOMEMLIMIT sets one: above what it holds with the API's default 8 runs answering at once, hostile
// ones included (at most about 40 MiB each, docs/runner-protocol.md "Limits of an answer").
const jailMemoryLimit = 512 << 20

// jailConfig is what the jail server reads from its command line and environment.
type jailConfig struct {
	Base         string
	ROBinds      []string
	UIDBase      int // uid 0 of every sandbox's user namespace; runs get UIDBase+1 ... UIDBase+UIDCount-1
	UIDCount     int
	DiskSize     uint64 // bytes of a sandbox's tmpfs (its /mnt/data and /tmp together)
	DiskInodes   uint64
	ShmSize      uint64  // bytes of a sandbox's /dev/shm
	CPUMillis    int     // CPU limit per sandbox in thousandths of a CPU; 0 = none
	CPUWeight    float64 // weight of all sandboxes together, a multiple of the kernel's default (jail_cgroup.go)
	StartTimeout time.Duration
	Holder       string // the runner-holder binary (holder/holder.c)
	ZygoteLib    string // the Python templates' jail entry (shims/zygote_jail.c), a shared library
	FavorDynmods bool   // turn on the host's cgroup favordynmods flag (jail_dynmods.go)
	AdminToken   string
	Child        *Config // the runner settings each sandbox's server starts from (limits, tools, preload)
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func parseJailConfig(args []string, lookup func(string) (string, bool)) (*jailConfig, error) {
	fs := flag.NewFlagSet("runner jail", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	// Each sandbox has its own token; the runner settings need one to validate.
	build := configFlags(fs, func(name string) (string, bool) {
		if name == "RUNNER_TOKEN" {
			return "per-sandbox", true
		}
		return lookup(name)
	})
	c := &jailConfig{}
	fs.StringVar(&c.Base, "base", "", "")
	fs.Var((*listFlag)(&c.ROBinds), "ro-bind", "")
	uidBase := fs.Int("uid-base", 1500000, "")
	uidCount := fs.Int("uid-count", 4096, "")
	diskSize := fs.Uint64("disk-size", 1<<30, "")
	diskInodes := fs.Uint64("disk-inodes", 16384, "")
	shmSize := fs.Uint64("shm-size", 64<<20, "")
	maxCPU := fs.Float64("max-cpu", 1, "")
	fs.Float64Var(&c.CPUWeight, "cpu-weight", 1, "")
	startTimeout := fs.Duration("start-timeout", 30*time.Second, "")
	fs.StringVar(&c.Holder, "holder", "", "")
	fs.StringVar(&c.ZygoteLib, "zygote-lib", "", "")
	fs.BoolVar(&c.FavorDynmods, "cgroup-favordynmods", false, "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	child, err := build()
	if err != nil {
		return nil, err
	}
	c.Child, c.UIDBase, c.UIDCount, c.StartTimeout = child, *uidBase, *uidCount, *startTimeout
	c.DiskSize, c.DiskInodes, c.ShmSize, c.CPUMillis = *diskSize, *diskInodes, *shmSize, int(*maxCPU*1000)
	c.AdminToken, _ = lookup("RUNNER_ADMIN_TOKEN")
	if c.Holder == "" {
		c.Holder, _ = lookup("RUNNER_HOLDER")
	}
	if c.ZygoteLib == "" {
		c.ZygoteLib, _ = lookup("RUNNER_ZYGOTE_LIB")
	}
	// Both built next to the runner (scripts/build).
	if self, err := os.Executable(); err == nil {
		if c.Holder == "" {
			c.Holder = filepath.Join(filepath.Dir(self), "runner-holder")
		}
		if c.ZygoteLib == "" {
			c.ZygoteLib = filepath.Join(filepath.Dir(self), "runner-zygote.so")
		}
	}
	switch {
	case c.AdminToken == "":
		return nil, errors.New("RUNNER_ADMIN_TOKEN is required")
	case c.Base == "" || !filepath.IsAbs(c.Base):
		return nil, errors.New("--base must be an absolute directory")
	case c.UIDBase <= 0 || c.UIDCount < 2 || c.UIDBase+c.UIDCount > 1<<31-2:
		return nil, errors.New("--uid-base and --uid-count must give a range of at least 2 uids above 0")
	case os.Geteuid() >= c.UIDBase && os.Geteuid() < c.UIDBase+c.UIDCount:
		return nil, fmt.Errorf("the uid range %d-%d holds the runner's own uid", c.UIDBase, c.UIDBase+c.UIDCount-1)
	case c.DiskSize < 1<<20 || c.DiskInodes < 64 || c.ShmSize < 1<<20:
		return nil, errors.New("--disk-size and --shm-size must be at least 1 MiB, --disk-inodes at least 64")
	case *maxCPU < 0:
		return nil, errors.New("--max-cpu must be a number of CPUs, 0 for no limit")
	case !(c.CPUWeight >= 0.01 && c.CPUWeight <= 100):
		return nil, errors.New("--cpu-weight must be from 0.01 to 100 (1: the kernel's default)")
	}
	return c, nil
}

// jailMain checks what a jail needs, then re-executes the runner in a mount namespace of its own
// (Go cannot move a running, multi-threaded process into one) and waits for it.
func jailMain(args []string) {
	cfg, err := parseJailConfig(args, os.LookupEnv)
	if err != nil {
		log.Fatalf("runner jail: %v", err)
	}
	if err := jailPrerequisites(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "runner jail: cannot jail sandboxes here: %v\n", err)
		os.Exit(2)
	}
	// Nothing the jail starts needs real-time scheduling or a raised priority, and no run may inherit
	// them from wherever the API runs (LimitRTPRIO= or LimitNICE= in a systemd unit, --ulimit rtprio in
	// a container): a SCHED_FIFO busy loop escapes its sandbox's CPU quota and starves the host. Root
	// keeps CAP_SYS_NICE; these limits bind the sandboxes' uids.
	if err := dropSchedulingLimits(); err != nil {
		log.Fatalf("runner jail: %v", err)
	}
	cmd := &exec.Cmd{Path: selfExe, Args: append([]string{selfExe, jailServeCommand}, args...), Env: os.Environ(),
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}}
	if err := cmd.Start(); err != nil {
		log.Fatalf("runner jail: %v", err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sig {
			cmd.Process.Signal(s)
		}
	}()
	// The jail lives as long as whoever started it (the API): a parent killed without stopping it
	// (SIGKILL, the OOM killer) must not leave it running with its sandboxes.
	go func(parent int) {
		for range time.Tick(time.Second) {
			if os.Getppid() != parent {
				log.Printf("runner jail: the process that started the jail is gone; stopping")
				cmd.Process.Signal(syscall.SIGTERM)
				return
			}
		}
	}(os.Getppid())
	cmd.Wait()
	os.Exit(cmd.ProcessState.ExitCode())
}

// cgroupLimits are the limits of every sandbox's cgroups.
func (c *jailConfig) cgroupLimits() cgroupLimits {
	return cgroupLimits{procs: c.Child.MaxProcs, memory: c.Child.MaxMemory, cpuMillis: c.CPUMillis, cpuWeight: c.CPUWeight}
}

// missingCgroupController names the first cgroup controller the limits need that h does not give.
func missingCgroupController(h cgroupHierarchies, limits cgroupLimits) error {
	for _, c := range limits.controllers() {
		if d, _ := h.parent(c); d == "" {
			why := ""
			if c == "cpu" {
				why = "; it is needed for a CPU limit (--max-cpu, 0 = none) or a weight other than 1 (--cpu-weight)"
			}
			return fmt.Errorf("no usable cgroup %s controller (a cgroup v1 hierarchy with it, or the cgroup v2 root delegating it)%s", c, why)
		}
	}
	return nil
}

// jailPrerequisites names the first thing a jail needs that this host does not give.
func jailPrerequisites(cfg *jailConfig) error {
	if os.Geteuid() != 0 {
		return errors.New("the runner is not root (it creates cgroups, mounts and namespaces for every sandbox)")
	}
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err != nil || strings.TrimSpace(string(b)) == "0" {
		return errors.New("user namespaces are disabled (sysctl user.max_user_namespaces is 0 or unreadable)")
	}
	if b, err := os.ReadFile("/proc/self/status"); err != nil || !strings.Contains(string(b), "Seccomp:") {
		return errors.New("the kernel has no seccomp support (CONFIG_SECCOMP)")
	}
	if err := missingCgroupController(findCgroupHierarchies(), cfg.cgroupLimits()); err != nil {
		return err
	}
	if cfg.Child.Tools["PYTHON"] == "" {
		return errors.New("python3 was not found (RUNNER_TOOL_PYTHON): the jail's templates are Python")
	}
	if st, err := os.Stat(cfg.Holder); err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("the sandbox holder %s is missing or not executable (runner-holder, built next to the runner by scripts/build; RUNNER_HOLDER names another)", cfg.Holder)
	}
	if err := checkZygoteLib(cfg.ZygoteLib); err != nil {
		return fmt.Errorf("the templates' jail entry %s %v (runner-zygote.so, built next to the runner by scripts/build; RUNNER_ZYGOTE_LIB names another)", cfg.ZygoteLib, err)
	}
	return nil
}

// checkZygoteLib says what is wrong with the templates' jail entry, here rather than as every
// template's failure to load it.
func checkZygoteLib(path string) error {
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		return errors.New("is missing")
	}
	f, err := elf.Open(path)
	if err != nil {
		return errors.New("is not a shared library")
	}
	defer f.Close()
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]
	if f.Type != elf.ET_DYN || f.Class != elf.ELFCLASS64 || f.Machine != machine {
		return errors.New("is not a shared library for this machine")
	}
	syms, _ := f.DynamicSymbols()
	defined := map[string]bool{}
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			defined[s.Name] = true
		}
	}
	if !defined["kcr_setup"] || !defined["kcr_serve"] { // what the templates call
		return errors.New("has no kcr_setup and kcr_serve (built from another version?)")
	}
	return nil
}

// jail is the running jail server.
type jail struct {
	cfg       *jailConfig
	cg        *jailCgroupRoot
	rust      func() (rustc, edition string)
	filter    []byte
	zygoteLib []byte // shims/zygote_jail.so, copied to the py, py0 and exec templates
	py, exec  *template
	py0       *template         // a bare Python (no RUNNER_PY_PRELOAD) for code that imports only the stdlib
	js        *template         // nil without the Node template's addon: js runs start a Node each
	env       []string          // the environment of templates and children
	fontLists map[string][]byte // RUNNER_MPL_CACHE_SEED's font lists, seeded into every sandbox
	netParent *os.File          // the network namespace each sandbox's own is made from (jail_netparent.go); nil: the host's
	nets      *netnsPool        // sandboxes' network namespaces, reused when left as made (jail_netns.go); nil: each holder makes its own
	hugePages bool              // the host leaves transparent huge pages on (the templates' zygote.json)

	mu       sync.Mutex
	byToken  map[[32]byte]*jailSandbox
	byID     map[string]*jailSandbox
	live     map[*jailSandbox]bool // made and not yet torn down (a sandbox being destroyed is in live only)
	creating map[string]bool       // ids of sandboxes being made: true once a DELETE asked for them
	uidsUsed map[int]bool
	uidNext  int
	stopping atomic.Bool
	// Which of the last Python runs needed the preloaded template, a bit each (the newest lowest).
	pyNeededPreload atomic.Uint32
}

// jailServe is the jail server proper, in its own mount namespace.
func jailServe(args []string) {
	cfg, err := parseJailConfig(args, os.LookupEnv)
	if err != nil {
		log.Fatalf("runner jail: %v", err)
	}
	os.Unsetenv("RUNNER_ADMIN_TOKEN")
	prctl(prSetDumpable, 0)
	// What the jail server holds for an answer is bounded (writeAnswer, listBudget), but garbage
	// could still double its heap while many sandboxes answer at once: past this soft limit the
	// garbage collector runs more often instead (it refuses nothing). GOMEMLIMIT overrides it.
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(jailMemoryLimit)
	}
	// The uid range is claimed here, while the host's /run is in view (newJail pivots into the jail's
	// own root), by the process that owns the sandboxes (they die with it), for as long as it lives.
	claim, err := claimUIDRange(uidClaimDir, cfg.UIDBase, cfg.UIDBase+cfg.UIDCount-1, cfg.StartTimeout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runner jail: cannot jail sandboxes here: %v\n", err)
		os.Exit(2)
	}
	defer claim.Close() // keeps it open (and locked) until the jail server returns
	j, err := newJail(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runner jail: cannot jail sandboxes here: %v\n", err)
		os.Exit(2)
	}
	hs := &http.Server{Addr: cfg.Child.Listen, Handler: j.handler(), ReadHeaderTimeout: 30 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	stopped := make(chan struct{})
	go func() {
		<-stop
		j.stopping.Store(true)
		// The sandboxes are destroyed while Shutdown waits for the runs in progress, so that a run
		// killed by the stop still sends its (killed) result: Shutdown is not cut short when the
		// sandboxes are gone, only after 3 s.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		destroyed := make(chan struct{})
		go func() {
			j.closeAll()
			close(destroyed)
		}()
		hs.Shutdown(ctx)
		<-destroyed
		j.close()
		close(stopped)
	}()
	log.Printf("runner jail: listening on %s, base %s, uids %d-%d", cfg.Child.Listen, cfg.Base, cfg.UIDBase, cfg.UIDBase+cfg.UIDCount-1)
	if err := hs.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	<-stopped
}

// The jail server's own root, once started: its base tmpfs, with the host paths it and its children
// use (toolchains, seeds) bound read-only at their own paths, /proc, the cgroup filesystems and
// /dev/null, and its private directories under /.kcr. Holders and templates are cloned from this view,
// so every path they need is one an unprivileged uid can reach.
const (
	jailPrivate  = "/.kcr"
	jailSkeleton = jailPrivate + "/skeleton" // the read-only root of sandboxes
	jailNewRoot  = jailPrivate + "/newroot"  // where a holder or template assembles its root
	jailDisks    = jailPrivate + "/sb"       // the sandboxes' tmpfs
	selfExe      = "/proc/self/exe"          // the runner binary, wherever it is on the host
)

// newJail builds its root and the skeleton, makes the cgroup parents, starts the templates and checks,
// with a probe sandbox, that a run really gets its jail.
func newJail(cfg *jailConfig) (*jail, error) {
	j := &jail{cfg: cfg, byToken: map[[32]byte]*jailSandbox{}, byID: map[string]*jailSandbox{},
		live: map[*jailSandbox]bool{}, creating: map[string]bool{}, uidsUsed: map[int]bool{}, uidNext: 1, env: buildEnv(&Config{ChildScratch: "/tmp", ChildWorkdir: "/mnt/data", Tools: cfg.Child.Tools})}
	if err := os.MkdirAll(cfg.Base, 0o755); err != nil {
		return nil, err
	}
	// Everything of the jail lives in a tmpfs of this mount namespace: invisible from the host, gone
	// with the jail server.
	if err := syscall.Mount("kcr-jail", cfg.Base, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755"); err != nil {
		return nil, fmt.Errorf("mounting a tmpfs at %s: %v", cfg.Base, err)
	}
	in := func(p string) string { return filepath.Join(cfg.Base, p) }
	for _, d := range []string{jailSkeleton, jailNewRoot, jailDisks} {
		if err := os.MkdirAll(in(d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := buildSkeleton(in(jailSkeleton), cfg.ROBinds); err != nil {
		return nil, err
	}
	// A copy in the jail's own root: the host path may not be in it, and the binary is small.
	if b, err := os.ReadFile(cfg.Holder); err != nil {
		return nil, err
	} else if err := os.WriteFile(in(jailHolderExe), b, 0o755); err != nil {
		return nil, err
	}
	var err error
	if j.zygoteLib, err = os.ReadFile(cfg.ZygoteLib); err != nil {
		return nil, fmt.Errorf("reading the templates' jail entry: %v", err)
	}
	// Rust is detected once, with the host's view, for every sandbox.
	rustc, edition := (&Server{cfg: cfg.Child}).detectRust()
	j.rust = func() (string, string) { return rustc, edition }
	j.fontLists = readFontLists(cfg.Child.MplCacheSeed)
	if err := buildJailRoot(cfg.Base, append(cfg.ROBinds, cfg.Child.GoCacheSeed, cfg.Child.MplCacheSeed)); err != nil {
		return nil, err
	}
	// In the host's view of /sys, before the jail's own root hides it.
	j.hugePages = hugePagesAllowed()
	if pattern, err := os.ReadFile("/proc/sys/kernel/core_pattern"); err == nil {
		if w := corePatternWarning(string(pattern)); w != "" {
			log.Printf("runner jail: %s", w)
		}
	}
	if cfg.FavorDynmods {
		if did, err := favorDynmods(); err != nil {
			log.Printf("runner jail: cgroup favordynmods not turned on, moving runs into their cgroups may stall the host's forks: %v", err)
		} else {
			log.Printf("runner jail: %s", did)
		}
	}
	if err := enterRoot(cfg.Base); err != nil {
		return nil, err
	}
	if j.filter, err = seccompFilter(); err != nil {
		return nil, err
	}
	if j.cg, err = newJailCgroupRoot(cfg.cgroupLimits()); err != nil {
		return nil, err
	}
	if j.netParent, err = newNetParent(); err != nil {
		log.Printf("runner jail: sandboxes share the host's TCP connection table (each run's end then walks it): %v", err)
	}
	if j.nets, err = newNetnsPool(j.netParent); err != nil {
		log.Printf("runner jail: each sandbox makes a network namespace of its own (none is reused): %v", err)
	}
	j.exec = newTemplate(j, "exec")
	j.py = newTemplate(j, "py")
	j.py0 = newTemplate(j, "py0")
	go j.exec.run()
	if cfg.Child.Warm["py"] {
		go j.py.run()
		go j.py0.run()
	}
	if cfg.Child.Warm["js"] && cfg.Child.Tools["NODE"] != "" {
		if _, err := os.Stat(cfg.Child.NodeZygote); err == nil {
			j.js = newTemplate(j, "js")
			go j.js.run()
		} else {
			log.Printf("runner jail: no Node template (%v): every js run starts a Node", err)
		}
	}
	if err := j.probe(); err != nil {
		j.close()
		return nil, err
	}
	return j, nil
}

// templateSpec is how a template of this mode is started.
func (j *jail) templateSpec(mode string) (templateSpec, error) {
	pyrun, err := shimFiles.ReadFile("shims/pyrun.py")
	if err != nil {
		return templateSpec{}, err
	}
	zygote, err := shimFiles.ReadFile("shims/zygote.py")
	if err != nil {
		return templateSpec{}, err
	}
	capLast, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return templateSpec{}, err
	}
	last, _ := strconv.Atoi(strings.TrimSpace(string(capLast)))
	c := j.cfg.Child
	zspec, _ := json.Marshal(map[string]any{
		"cap_last_cap": last,
		// pids.max of the sandbox's cgroup is the process limit (and says when it refused a fork);
		// RLIMIT_NPROC, per sandbox uid as well, is a backstop above it.
		"rlimits": map[string]uint64{"nproc": 2 * c.MaxProcs, "nofile": c.MaxOpenFiles, "fsize": c.MaxFileSize, "core": 0},
		// The host's choice, read at the start: the templates see no /sys.
		"huge_pages": j.hugePages,
	})
	files := map[string][]byte{"shims/pyrun.py": pyrun, "shims/zygote.py": zygote,
		"shims/zygote.json": zspec, "shims/seccomp.bpf": j.filter}
	if mode != "js" {
		files["shims/zygote_jail.so"] = j.zygoteLib
	}
	var argv []string
	switch mode {
	case "py":
		argv = []string{c.Tools["PYTHON"], "/tmp/shims/zygote.py", "py", strings.Join(c.PyPreload, ",")}
	case "py0":
		argv = []string{c.Tools["PYTHON"], "/tmp/shims/zygote.py", "py", "cloudpickle,lz4.frame"}
	case "exec":
		argv = []string{c.Tools["PYTHON"], "-I", "-S", "/tmp/shims/zygote.py", mode}
	case "js":
		if files["shims/nodezygote.js"], err = shimFiles.ReadFile("shims/nodezygote.js"); err != nil {
			return templateSpec{}, err
		}
		if files["shims/kcr_zygote.node"], err = os.ReadFile(c.NodeZygote); err != nil {
			return templateSpec{}, err
		}
		// No V8 background threads (a fork has none); wasm compiles on the calling thread.
		argv = []string{c.Tools["NODE"], "--single-threaded", "--no-wasm-async-compilation", "--enable-source-maps", "/tmp/shims/nodezygote.js"}
	}
	return templateSpec{Mode: mode, Skeleton: jailSkeleton, NewRoot: jailNewRoot, Argv: argv, Env: j.env,
		MplSeed: c.MplCacheSeed, Files: files}, nil
}

// probe runs one command in a fresh sandbox and checks it ran jailed: the first thing that fails is
// what this host cannot give (e.g. a kernel older than 5.8 cannot setns through a pidfd).
func (j *jail) probe() error {
	deadline := time.Now().Add(j.cfg.StartTimeout)
	for !j.exec.ready.Load() {
		if time.Now().After(deadline) {
			return errors.New("the exec template did not start (see the log above)")
		}
		time.Sleep(5 * time.Millisecond)
	}
	sb, err := j.create("", "bash", false, true)
	if err != nil {
		return err
	}
	defer j.destroy(sb)
	p, err := sb.start([]string{"/bin/sh", "-c", "id -u; cat /proc/self/status"}, procOpts{mergeStderr: true})
	if err != nil {
		return fmt.Errorf("starting a jailed process: %v", err)
	}
	out, _ := io.ReadAll(io.LimitReader(p.stdout, 1<<20))
	<-p.done
	p.closePipes()
	text := string(out)
	if !strings.HasPrefix(text, "65532\n") || !strings.Contains(text, "Seccomp:\t2") || !strings.Contains(text, "NoNewPrivs:\t1") {
		first, _, _ := strings.Cut(text, "\n")
		return fmt.Errorf("a probe run did not get its jail: %s", strings.TrimSpace(first))
	}
	return nil
}

// closeAll destroys every sandbox (at shutdown), in parallel, and waits for the ones already ending.
func (j *jail) closeAll() {
	j.mu.Lock()
	var all []*jailSandbox
	for sb := range j.live {
		all = append(all, sb)
	}
	j.mu.Unlock()
	var wg sync.WaitGroup
	for _, sb := range all {
		sb.srv.stopping.Store(true)
		wg.Add(1)
		go func() {
			defer wg.Done()
			j.destroy(sb)
		}()
	}
	wg.Wait()
}

// close stops the templates and removes the cgroup parents (sandboxes must be gone).
func (j *jail) close() {
	j.py.stop()
	j.py0.stop()
	j.exec.stop()
	if j.js != nil {
		j.js.stop()
	}
	if j.cg != nil {
		j.cg.remove()
	}
	if j.nets != nil {
		j.nets.close()
	}
	if j.netParent != nil {
		j.netParent.Close() // the namespace lives as long as a holder or this fd holds it
	}
}

// allocUID takes a free uid of the range, round robin so that a uid is reused as late as possible.
func (j *jail) allocUID() (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := j.cfg.UIDCount - 1
	for i := 0; i < n; i++ {
		uid := j.cfg.UIDBase + 1 + (j.uidNext-1+i)%n
		if !j.uidsUsed[uid] {
			j.uidsUsed[uid] = true
			j.uidNext = (j.uidNext+i)%n + 1
			return uid, nil
		}
	}
	return 0, fmt.Errorf("all %d sandbox uids are in use", n)
}

func (j *jail) freeUID(uid int) {
	j.mu.Lock()
	delete(j.uidsUsed, uid)
	j.mu.Unlock()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func tokenKey(authorization string) [32]byte {
	return sha256.Sum256([]byte(authorization))
}

func (j *jail) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", j.handleHealth)
	mux.HandleFunc("POST /sandboxes", j.admin(j.handleCreate))
	mux.HandleFunc("DELETE /sandboxes/{id}", j.admin(j.handleDestroy))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" || r.URL.Path == "/sandboxes" || strings.HasPrefix(r.URL.Path, "/sandboxes/") {
			mux.ServeHTTP(w, r)
			return
		}
		// Every other endpoint is a sandbox's: its token says which.
		j.mu.Lock()
		sb := j.byToken[tokenKey(r.Header.Get("Authorization"))]
		j.mu.Unlock()
		if sb == nil {
			writeError(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		sb.handler.ServeHTTP(w, r)
	})
}

func (j *jail) admin(next http.HandlerFunc) http.HandlerFunc {
	want := []byte("Bearer " + j.cfg.AdminToken)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeError(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		next(w, r)
	}
}

func (j *jail) handleHealth(w http.ResponseWriter, r *http.Request) {
	j.mu.Lock()
	n := len(j.byID)
	j.mu.Unlock()
	templates := map[string]any{"py": j.py.stats(), "py0": j.py0.stats(), "exec": j.exec.stats()}
	var netns map[string]int64
	if j.nets != nil {
		netns = j.nets.stats()
	}
	jsReady := j.exec.ready.Load()
	if j.js != nil {
		templates["js"] = j.js.stats()
		jsReady = j.js.ready.Load()
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok",
		"warm":      map[string]bool{"py": j.py.ready.Load(), "js": jsReady},
		"sandboxes": n,
		"templates": templates,
		"netns":     netns})
}

func (j *jail) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID        string `json:"id"`
		Language  string `json:"language"`
		Warm      bool   `json:"warm"`
		SingleUse bool   `json:"single_use"`
	}
	body := http.MaxBytesReader(w, r.Body, 1<<16)
	if err := json.NewDecoder(body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "malformed request: %v", err)
		return
	}
	// Read to its end: only then does the server watch the connection, and end r.Context() when the
	// API goes away (below).
	if _, err := io.Copy(io.Discard, body); err != nil {
		writeError(w, http.StatusBadRequest, "malformed request: %v", err)
		return
	}
	if _, ok := languages[req.Language]; !ok {
		writeError(w, http.StatusBadRequest, "unknown language %q", req.Language)
		return
	}
	if req.ID != "" && !sandboxID.MatchString(req.ID) {
		writeError(w, http.StatusBadRequest, "id must be 16 to 64 lower-case hex digits")
		return
	}
	if j.stopping.Load() {
		writeError(w, http.StatusServiceUnavailable, "the jail is stopping")
		return
	}
	sb, err := j.create(req.ID, req.Language, req.Warm, req.SingleUse)
	if errors.Is(err, errSandboxIDTaken) {
		writeError(w, http.StatusConflict, "%v", err)
		return
	} else if err != nil {
		writeError(w, http.StatusServiceUnavailable, "%v", err) // the API says "the jail refused a sandbox: ..."
		return
	}
	// A sandbox whose answer does not reach the API would live for good (nothing else knows its token
	// and the API never DELETEs it), holding a uid of the range: destroyed when the API went away
	// before its answer (it gave up: interrupted, timed out) or the answer could not be sent.
	if r.Context().Err() != nil {
		log.Printf("runner jail: sandbox %s destroyed: the API went away before it was made", sb.id)
		j.destroy(sb)
		writeError(w, http.StatusServiceUnavailable, "the API went away before the sandbox was made: it is destroyed")
		return
	}
	answer, _ := json.Marshal(map[string]any{"id": sb.id, "token": sb.token, "pid": sb.holder.pid, "uid": sb.uid})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, err = w.Write(append(answer, '\n'))
	if err == nil {
		err = http.NewResponseController(w).Flush()
	}
	if err != nil {
		log.Printf("runner jail: sandbox %s destroyed: its answer could not be sent: %v", sb.id, err)
		j.destroy(sb)
	}
}

func (j *jail) handleDestroy(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	j.mu.Lock()
	sb := j.byID[id]
	_, making := j.creating[id]
	if sb == nil && making {
		j.creating[id] = true // create destroys it once made
	}
	j.mu.Unlock()
	if sb == nil && !making {
		writeError(w, http.StatusNotFound, "no such sandbox")
		return
	}
	if sb != nil {
		j.destroy(sb)
	}
	w.WriteHeader(http.StatusNoContent)
}

// hugePagesAllowed reports whether the host leaves transparent huge pages on ("always" or "madvise"):
// a Python template then puts its memory in 2 MiB pages (pyrun.py huge_pages).
func hugePagesAllowed() bool {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err == nil && !strings.Contains(string(b), "[never]")
}

// corePatternWarning says what is wrong with the host's kernel.core_pattern for sandboxes, or "". A
// crash of any sandboxed process (a program it exec'd is dumpable again) runs the host's core
// handler; a pipe there (systemd-coredump, apport) is a root process per crash, outside every limit
// of the sandbox, whatever its RLIMIT_CORE of 0 (the kernel ignores it for pipes). No namespace
// changes core_pattern, so the operator must: docs/operations.md.
func corePatternWarning(pattern string) string {
	p := strings.TrimSpace(pattern)
	if !strings.HasPrefix(p, "|") {
		return ""
	}
	return fmt.Sprintf("kernel.core_pattern is a pipe (%q): every crash in a sandbox starts that handler as root "+
		"on the host, outside the sandbox's limits; set it to a file name (sysctl kernel.core_pattern=core) "+
		"on hosts that run the local backend", p)
}
