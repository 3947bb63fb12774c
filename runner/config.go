package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sandboxUID is the uid/gid children run as when the runner itself is root (root ignores RLIMIT_NPROC).
const sandboxUID = 65532

// Config is everything the runner reads from its command line and environment.
type Config struct {
	Listen       string
	Workdir      string // host path of the user's files
	Scratch      string // host path of code files, build output, caches, HOME and TMPDIR
	ChildWorkdir string // the workdir as children see it (a jail sandbox's /mnt/data), else Workdir
	ChildScratch string // the scratch dir as children see it (a jail sandbox's /tmp), else Scratch
	Warm         map[string]bool
	SingleUse    bool // one execution per runner (pool sandboxes): no interpreter is re-warmed after it
	MaxOutput    int
	MaxTimeout   time.Duration
	MaxProcs     uint64
	MaxOpenFiles uint64
	MaxFileSize  uint64
	MaxMemory    uint64 // bytes, all children together (a memory cgroup); 0 = no limit
	ChildUID     int    // -1: children keep the runner's uid
	ChildGID     int
	TokenSHA256  [32]byte // the token's hash: of RUNNER_TOKEN, or RUNNER_TOKEN_SHA256 as given (see auth)
	PyPreload    []string
	GoCacheSeed  string
	MplCacheSeed string            // prebuilt matplotlib font list copied into MPLCONFIGDIR
	JavaAOTCache string            // JDK AOT cache for the source launcher, "" if none
	NodeZygote   string            // the Node template's addon (jail mode), built by scripts/install.d
	Tools        map[string]string // tool name (PYTHON, NODE, ...) -> absolute path, "" if not found
	// The pod's termination message file (a Kubernetes sandbox's /dev/termination-log), emptied after
	// every step: children can write it, and no ephemeral-storage limit counts it. "" = none.
	TerminationLog string
}

// defaultNodeZygote is where scripts/install.d/runner-node-zygote.sh builds the Node template's addon.
const defaultNodeZygote = "/opt/kubecoderun/node-zygote/kcr_zygote.node"

// toolDefaults are the RUNNER_TOOL_<NAME> commands and their defaults.
var toolDefaults = map[string]string{
	"PYTHON": "python3", "NODE": "node", "TSC": "tsc", "GO": "go", "JAVA": "java", "JAVAC": "javac",
	"GCC": "gcc", "GXX": "g++", "PHP": "php", "RUSTC": "rustc", "RSCRIPT": "Rscript",
	"GFORTRAN": "gfortran", "LDC2": "ldc2", "BASH": "bash",
}

// parseConfig reads flags, falling back to RUNNER_* variables (from lookup, e.g. os.LookupEnv), then
// to the defaults. An empty variable counts as unset, except for the lists RUNNER_WARM and
// RUNNER_PY_PRELOAD, where empty means none.
func parseConfig(args []string, lookup func(string) (string, bool)) (*Config, error) {
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	build := configFlags(fs, lookup)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return build()
}

// configFlags registers the runner's flags on fs. After fs.Parse, the function it returns validates
// them and builds the Config. (The jail server registers its own flags beside these.)
func configFlags(fs *flag.FlagSet, lookup func(string) (string, bool)) func() (*Config, error) {
	getenv := func(name string) string {
		v, _ := lookup(name)
		return v
	}
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	list := func(name, def string) string {
		if v, ok := lookup(name); ok {
			return v
		}
		return def
	}
	listen := fs.String("listen", env("RUNNER_LISTEN", "0.0.0.0:8080"), "")
	workdir := fs.String("workdir", env("RUNNER_WORKDIR", "/mnt/data"), "")
	scratch := fs.String("scratch", env("RUNNER_SCRATCH", "/tmp/kcr"), "")
	warm := fs.String("warm", list("RUNNER_WARM", "py,js"), "")
	maxOutput := fs.String("max-output", env("RUNNER_MAX_OUTPUT", "1048576"), "")
	maxTimeout := fs.String("max-timeout-ms", env("RUNNER_MAX_TIMEOUT_MS", "300000"), "")
	maxProcs := fs.String("max-procs", env("RUNNER_MAX_PROCS", "256"), "")
	maxFiles := fs.String("max-open-files", env("RUNNER_MAX_OPEN_FILES", "1024"), "")
	maxFileSize := fs.String("max-file-size", env("RUNNER_MAX_FILE_SIZE", "104857600"), "")
	maxMemory := fs.String("max-memory", env("RUNNER_MAX_MEMORY", "0"), "")
	childUID := fs.String("child-uid", env("RUNNER_CHILD_UID", ""), "")
	childGID := fs.String("child-gid", env("RUNNER_CHILD_GID", ""), "")
	singleUse := fs.Bool("single-use", env("RUNNER_SINGLE_USE", "") == "true", "")
	return func() (*Config, error) {
		c := &Config{Listen: *listen, Warm: map[string]bool{}, Tools: map[string]string{}, SingleUse: *singleUse}
		token := getenv("RUNNER_TOKEN")
		if h := getenv("RUNNER_TOKEN_SHA256"); h != "" {
			sum, err := hex.DecodeString(h)
			if err != nil || len(sum) != sha256.Size || token != "" {
				return nil, errors.New("RUNNER_TOKEN_SHA256 must be 64 hex digits, and RUNNER_TOKEN unset")
			}
			c.TokenSHA256 = [32]byte(sum)
		} else if token == "" {
			return nil, errors.New("RUNNER_TOKEN (or RUNNER_TOKEN_SHA256) is required")
		} else {
			c.TokenSHA256 = sha256.Sum256([]byte(token))
		}
		var err error
		if c.Workdir, err = filepath.Abs(*workdir); err != nil {
			return nil, err
		}
		if c.Scratch, err = filepath.Abs(*scratch); err != nil {
			return nil, err
		}
		if within(c.Scratch, c.Workdir) || within(c.Workdir, c.Scratch) {
			return nil, errors.New("--scratch and --workdir must not contain each other")
		}
		c.ChildWorkdir, c.ChildScratch = c.Workdir, c.Scratch
		for _, l := range strings.Split(*warm, ",") {
			if l = strings.TrimSpace(l); l != "" {
				if languages[l].warm == warmNone {
					return nil, fmt.Errorf("--warm: %q cannot be prepared ahead (only %s)", l, strings.Join(warmable(), ", "))
				}
				c.Warm[l] = true
			}
		}
		ints := []struct {
			name string
			val  string
			dst  *uint64
		}{{"max-procs", *maxProcs, &c.MaxProcs}, {"max-open-files", *maxFiles, &c.MaxOpenFiles}, {"max-file-size", *maxFileSize, &c.MaxFileSize}}
		for _, n := range ints {
			if *n.dst, err = strconv.ParseUint(n.val, 10, 64); err != nil || *n.dst == 0 {
				return nil, fmt.Errorf("--%s: want a positive integer, got %q", n.name, n.val)
			}
		}
		if c.MaxMemory, err = strconv.ParseUint(*maxMemory, 10, 64); err != nil {
			return nil, fmt.Errorf("--max-memory: want a number of bytes (0 = no limit), got %q", *maxMemory)
		}
		if c.MaxOutput, err = strconv.Atoi(*maxOutput); err != nil || c.MaxOutput <= 0 {
			return nil, fmt.Errorf("--max-output: want a positive integer, got %q", *maxOutput)
		}
		ms, err := strconv.Atoi(*maxTimeout)
		if err != nil || ms <= 0 {
			return nil, fmt.Errorf("--max-timeout-ms: want a positive integer, got %q", *maxTimeout)
		}
		c.MaxTimeout = time.Duration(ms) * time.Millisecond
		if *childUID == "" {
			// Root ignores RLIMIT_NPROC and may do anything: its children run as the sandbox user.
			*childUID = "-1"
			if os.Geteuid() == 0 {
				*childUID = strconv.Itoa(sandboxUID)
			}
		}
		if c.ChildUID, err = strconv.Atoi(*childUID); err != nil || c.ChildUID < -1 {
			return nil, fmt.Errorf("--child-uid: want a uid or -1, got %q", *childUID)
		}
		c.ChildGID = c.ChildUID
		if *childGID != "" {
			if c.ChildGID, err = strconv.Atoi(*childGID); err != nil || c.ChildGID < -1 {
				return nil, fmt.Errorf("--child-gid: want a gid or -1, got %q", *childGID)
			}
		}
		if c.ChildUID < 0 || c.ChildGID < 0 {
			c.ChildUID, c.ChildGID = -1, -1
		}

		c.PyPreload = splitList(list("RUNNER_PY_PRELOAD", "numpy,pandas,matplotlib"))
		c.GoCacheSeed = env("RUNNER_GO_CACHE_SEED", "/opt/kubecoderun/go-cache-seed")
		c.MplCacheSeed = env("RUNNER_MPL_CACHE_SEED", "/opt/kubecoderun/mpl-cache")
		c.TerminationLog = env("RUNNER_TERMINATION_LOG", "")
		if c.TerminationLog != "" && !filepath.IsAbs(c.TerminationLog) {
			return nil, fmt.Errorf("RUNNER_TERMINATION_LOG: want an absolute path, got %q", c.TerminationLog)
		}
		for name, def := range toolDefaults {
			c.Tools[name] = resolveTool(env("RUNNER_TOOL_"+name, def))
		}
		c.JavaAOTCache = env("RUNNER_JAVA_AOT_CACHE", defaultJavaAOTCache(c.Tools["JAVA"]))
		c.NodeZygote = env("RUNNER_NODE_ZYGOTE", defaultNodeZygote)
		return c, nil
	}
}

// resolveTool makes a tool command absolute, looking it up on the runner's PATH; "" if not found.
func resolveTool(cmd string) string {
	if filepath.IsAbs(cmd) {
		return cmd
	}
	if p, err := exec.LookPath(cmd); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return ""
}

// defaultJavaAOTCache is the cache scripts/install.d/runner-java-aot.sh built for this JDK, if any:
// /opt/kubecoderun/java-aot/<JDK directory name>.aot.
func defaultJavaAOTCache(java string) string {
	if java == "" {
		return ""
	}
	if real, err := filepath.EvalSymlinks(java); err == nil {
		java = real
	}
	p := filepath.Join("/opt/kubecoderun/java-aot", filepath.Base(filepath.Dir(filepath.Dir(java)))+".aot")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
