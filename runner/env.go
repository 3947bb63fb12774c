package main

import (
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// buildEnv is the whole environment of every child: nothing of the runner's own environment (its
// token above all) is passed on. Paths are the ones children see.
func buildEnv(c *Config) []string {
	home := path.Join(c.ChildScratch, dirHome)
	tmp := path.Join(c.ChildScratch, dirTmp)
	env := []string{
		"PATH=" + childPath(c),
		"HOME=" + home,
		"TMPDIR=" + tmp,
		"LANG=C.UTF-8",
		// Python: unbuffered, no .pyc files, uploaded modules importable, headless matplotlib.
		"PYTHONUNBUFFERED=1",
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONPATH=" + c.ChildWorkdir,
		"MPLBACKEND=Agg",
		"MPLCONFIGDIR=" + path.Join(home, ".config", "matplotlib"),
		// C++: Eigen's headers live in /usr/include/eigen3; user code includes <Eigen/Dense>.
		"CPLUS_INCLUDE_PATH=/usr/include/eigen3",
		// Go: the installed toolchain only, no network, the (seeded) build cache in scratch.
		"GOTOOLCHAIN=local",
		"GOPROXY=off",
		"GOSUMDB=off",
		"GOFLAGS=-mod=mod",
		"GOTELEMETRY=off",
		"GOCACHE=" + path.Join(c.ChildScratch, dirGoCache),
		"GOPATH=" + path.Join(home, "go"),
		"GOTMPDIR=" + tmp,
		// Node: libuv without io_uring. The jail's seccomp filter denies it, and a ring's memory is
		// shared by a fork: a child of the Node template must not hold one (shims/nodezygote.cc).
		"UV_USE_IO_URING=0",
	}
	if np := nodePath(c); np != "" {
		env = append(env, "NODE_PATH="+np)
	}
	if tz := localTimeZone(); tz != "" {
		env = append(env, "TZ="+tz)
	}
	return env
}

// localTimeZone names the machine's time zone, the target of the /etc/localtime link below
// zoneinfo/, or "". Programs that want its name (R's Sys.timezone(), which lubridate and readr call)
// then need not ask timedatectl, which fails in a sandbox and fills stderr with warnings.
func localTimeZone() string {
	target, err := os.Readlink("/etc/localtime")
	if err != nil {
		return ""
	}
	_, name, ok := strings.Cut(target, "zoneinfo/")
	if !ok {
		return ""
	}
	return name
}

// childPath puts the directories of the configured tools first, then the usual system directories.
func childPath(c *Config) string {
	names := make([]string, 0, len(c.Tools))
	for name := range c.Tools {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic PATH
	var dirs []string
	seen := map[string]bool{}
	add := func(d string) {
		if d != "" && !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	for _, name := range names {
		if t := c.Tools[name]; t != "" && !strings.HasSuffix(t, ".js") {
			add(filepath.Dir(t))
		}
	}
	for _, d := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		add(d)
	}
	return strings.Join(dirs, ":")
}

// nodePath lists the global module folders that exist: the node_modules holding the configured tsc
// (where @types/node lives too), then the system-wide ones.
func nodePath(c *Config) string {
	var dirs []string
	if nm := nodeModulesOf(c.Tools["TSC"]); nm != "" {
		dirs = append(dirs, nm)
	}
	for _, d := range []string{"/usr/local/lib/node_modules", "/usr/lib/node_modules"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			dirs = append(dirs, d)
		}
	}
	return strings.Join(dirs, ":")
}

// nodeModulesOf returns the innermost node_modules folder containing file, or "".
func nodeModulesOf(file string) string {
	if file == "" {
		return ""
	}
	if real, err := filepath.EvalSymlinks(file); err == nil {
		file = real
	}
	for d := filepath.Dir(file); d != "/" && d != "."; d = filepath.Dir(d) {
		if filepath.Base(d) == "node_modules" {
			return d
		}
	}
	return ""
}
