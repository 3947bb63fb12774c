package main

import (
	"bytes"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// language says how to run one language: the code file name and the steps. Compilers write only into
// the build dir (explicit output flags, because the cwd is always the workdir).
type language struct {
	file  string   // code file name; Java's is the name of the class holding main
	tools []string // Config.Tools entries it needs
	run   func(r *run) stepResult
	build bool     // writes into the build dir
	warm  warmKind // what --warm prepares for it; which languages are warmed is the API's choice
}

// warmKind is how a language is prepared ahead of its run in a pool sandbox.
type warmKind int

const (
	warmNone        warmKind = iota
	warmInterpreter          // a shim started ahead, waiting for the job (warm.go)
	warmBuildCache           // the seeded build cache copied in at start (gocache.go)
)

// warmable lists the languages --warm accepts, for messages.
func warmable() []string {
	var out []string
	for name, l := range languages {
		if l.warm != warmNone {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

var languages = map[string]language{
	"py":   {file: "code.py", tools: []string{"PYTHON"}, run: runPython, warm: warmInterpreter},
	"js":   {file: "code.js", tools: []string{"NODE"}, warm: warmInterpreter, run: runJavaScript},
	"ts":   {file: "code.ts", tools: []string{"NODE", "TSC"}, run: runTypeScript},
	"go":   {file: "main.go", tools: []string{"GO"}, run: runGo, build: true, warm: warmBuildCache},
	"java": {tools: []string{"JAVA"}, run: runJava},
	"c": {file: "code.c", tools: []string{"GCC"}, build: true, run: func(r *run) stepResult {
		return r.compiled(r.tool("GCC"), "-O2", "-pipe", "-o", r.bin(), r.src, "-lm")
	}},
	"cpp": {file: "code.cpp", tools: []string{"GXX"}, build: true, run: func(r *run) stepResult {
		return r.compiled(r.tool("GXX"), "-O2", "-pipe", "-std=gnu++20", "-o", r.bin(), r.src)
	}},
	"rs": {file: "main.rs", tools: []string{"RUSTC"}, build: true, run: func(r *run) stepResult {
		rustc, edition := r.s.rust()
		return r.compiled(rustc, "--edition", edition, "-C", "opt-level=1", "-o", r.bin(), r.src)
	}},
	"f90": {file: "code.f90", tools: []string{"GFORTRAN"}, build: true, run: func(r *run) stepResult {
		return r.compiled(r.tool("GFORTRAN"), "-O2", "-pipe", "-J", r.s.child(dirBuild), "-o", r.bin(), r.src)
	}},
	"d": {file: "code.d", tools: []string{"LDC2"}, build: true, run: func(r *run) stepResult {
		return r.compiled(r.tool("LDC2"), "-O", "-of="+r.bin(), "-od="+r.s.child(dirBuild), r.src)
	}},
	"php": {file: "code.php", tools: []string{"PHP"}, run: func(r *run) stepResult {
		// Errors go to stderr, as in other languages, instead of PHP's default stdout.
		return r.exec(append([]string{r.tool("PHP"), "-d", "display_errors=stderr", "-d", "log_errors=0", r.src}, r.args()...)...)
	}},
	"r": {file: "code.r", tools: []string{"RSCRIPT"}, run: func(r *run) stepResult {
		return r.exec(append([]string{r.tool("RSCRIPT"), r.src}, r.args()...)...)
	}},
	"bash": {file: "code.sh", tools: []string{"BASH"}, run: func(r *run) stepResult {
		return r.exec(append([]string{r.tool("BASH"), r.src}, r.args()...)...)
	}},
}

func runPython(r *run) stepResult {
	job := shimJob{File: r.src, Argv: r.args()}
	if r.state != nil {
		if err := r.s.writeScratch(path.Join(dirState, "in.bin"), r.state); err != nil {
			return r.fail("runner: writing state: %v", err)
		}
		job.StateIn = r.s.child(dirState, "in.bin")
	}
	if r.req.CaptureState {
		job.StateOut = r.s.child(dirState, "out.bin")
		job.StateErrors = r.s.child(dirState, "errors.json")
	}
	return r.shim("py", job)
}

// runTypeScript type-checks and compiles with tsc (diagnostics are a compile error) into code/code.js,
// then runs that with the Node shim; the source map makes stack traces name code.ts.
func runTypeScript(r *run) stepResult {
	tsc, src := []string{r.tool("TSC")}, r.src
	if strings.HasSuffix(tsc[0], ".js") {
		tsc, src = []string{r.tool("NODE"), r.s.child(dirShims, "tscrun.js"), r.s.child(dirCode), tsc[0]}, "code.ts"
		if err := r.s.writeShims(); err != nil {
			return r.fail("runner: writing the tsc shim: %v", err)
		}
	}
	tsc = append(tsc, "--outDir", r.s.child(dirCode), "--module", "commonjs", "--target", "es2022",
		"--lib", "es2022", "--sourceMap", "--esModuleInterop", "--skipLibCheck", "--pretty", "false")
	if nm := r.s.nodeModules; nm != "" {
		if _, err := os.Stat(filepath.Join(nm, "@types", "node")); err == nil {
			tsc = append(tsc, "--types", "node", "--typeRoots", filepath.Join(nm, "@types"))
		}
	}
	// tsc finds the types of an imported package (its own or @types/NAME) the same way: the link lets
	// `import _ from "lodash"` type-check against the installed libraries.
	if err := r.linkNodeModules(); err != nil {
		return r.fail("runner: linking node_modules: %v", err)
	}
	if res, ok := r.compile(append(tsc, src)...); !ok {
		return res
	}
	return r.node()
}

// runJavaScript runs code.js as `node code.js` would: Node (20.19 and later) reads it as CommonJS,
// or as an ES module when its syntax says so (import/export, top-level await).
func runJavaScript(r *run) stepResult {
	if err := r.linkNodeModules(); err != nil {
		return r.fail("runner: linking node_modules: %v", err)
	}
	return r.node()
}

// linkNodeModules links the installed npm packages (the node_modules holding tsc) as code/node_modules.
// NODE_PATH serves require() only: an ES module's `import _ from "lodash"` (and tsc) look for a
// package in the node_modules folders above the importing file and nowhere else. One symlink per run
// (code/ is emptied before each), made before the interpreter reads the code: nothing is started, and
// no loader hook runs in every process. The target stays read-only to children (a read-only bind in a
// jail, the image's read-only root in a pod); a run that replaces the link changes its own run only.
func (r *run) linkNodeModules() error {
	if r.s.nodeModules == "" {
		return nil
	}
	return r.s.scratchRoot.Symlink(r.s.nodeModules, path.Join(dirCode, "node_modules"))
}

// node runs code/code.js: forked from the Node template in jail mode (when there is one), else through
// the Node shim (warm or cold).
func (r *run) node() stepResult {
	if r.s.jail != nil {
		p, err := r.s.jail.forkNode(r.s.child(dirCode, "code.js"), r.args())
		if err != nil {
			return r.fail("runner: starting node: %v", err)
		}
		if p != nil {
			r.s.warmRuns.Add(1)
			return r.collect(p)
		}
	}
	return r.shim("js", shimJob{Argv: r.args()})
}

// runGo builds with the seeded cache (so the standard library is never rebuilt), then runs the binary:
// "go run" would report the program's exit code as 1.
func runGo(r *run) stepResult {
	r.s.goCache.Do(r.s.seedGoCache)
	if res, ok := r.compile(r.tool("GO"), "-C", r.s.child(dirCode), "build", "-o", r.bin(), "main.go"); !ok {
		return res
	}
	return r.exec(append([]string{r.bin()}, r.args()...)...)
}

// runJava uses the JDK 22+ source launcher: one JVM compiles in memory and runs the class holding main
// (the file is named after it). The flags favour start-up time, as does the AOT cache of JDK and javac
// classes when there is one (a cache the JVM cannot use is ignored, silently).
func runJava(r *run) stepResult {
	argv := []string{r.tool("JAVA"), "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData"}
	if aot := r.s.cfg.JavaAOTCache; aot != "" {
		argv = append(argv, "-XX:AOTCache="+aot, "-Xlog:aot=off,cds=off")
	}
	argv = append(argv, "-Djava.io.tmpdir="+r.s.child(dirTmp), r.src)
	return r.exec(append(argv, r.args()...)...)
}

// detectRust returns the rustc to use and the newest edition it supports. A rustup proxy on PATH needs the
// runner's HOME, which children do not have, so the toolchain's own rustc is used instead.
func (s *Server) detectRust() (string, string) {
	rustc := s.cfg.Tools["RUSTC"]
	if sysroot, err := toolOutput(rustc, "--print", "sysroot"); err == nil {
		if real := filepath.Join(strings.TrimSpace(sysroot), "bin", "rustc"); real != rustc {
			if _, err := os.Stat(real); err == nil {
				rustc = real
			}
		}
	}
	edition := "2021"
	if v, err := toolOutput(rustc, "--version"); err == nil {
		if m := regexp.MustCompile(`rustc 1\.(\d+)`).FindStringSubmatch(v); m != nil {
			if minor, _ := strconv.Atoi(m[1]); minor >= 85 {
				edition = "2024"
			}
		}
	}
	return rustc, edition
}

// toolOutput runs a trusted toolchain command (not user code) and returns its stdout.
func toolOutput(path string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout = &out
	if err := startTracked(cmd); err != nil {
		return "", err
	}
	err := waitTracked(cmd)
	return out.String(), err
}
