package main

// The sandbox images (languages/*.Dockerfile) must agree with this runner: every language of the
// languages table is served by exactly one image, which installs what the tools of that language need
// and names them with RUNNER_TOOL_<NAME>; every image is FROM the one Debian base, copies in this
// runner and starts it the same way. These checks read the Dockerfiles, so they run in `scripts/test
// unit` too; scripts/test also builds the images and runs them (test/kube/images, the Kubernetes tests).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const repoRoot = ".."

// wantBase is the default base of every image; runnerInput is where scripts/build-images puts the runner.
const (
	wantBase    = "debian:trixie-slim"
	runnerInput = "target/image-inputs/runner"
)

// wantEntrypoint is how every image starts the runner: no `env -i`, no language; RUNNER_TOKEN and the
// rest come from the pod spec, the language from each request.
var wantEntrypoint = []string{"/usr/local/bin/runner", "--listen", "0.0.0.0:8080", "--workdir", "/mnt/data", "--scratch", "/tmp/kcr"}

// provider says what in an image's final stage provides a tool: a base image (name prefix), a Debian
// package, or a custom check of the image.
type provider struct {
	bases []string
	apt   []string
	check func(d *dockerfile) error
}

// toolProviders covers every tool a language of languages.go names. A new tool needs an entry here and
// an image that provides it.
var toolProviders = map[string]provider{
	"PYTHON":   {apt: []string{"python3"}},
	"NODE":     {apt: []string{"nodejs"}},
	"TSC":      {check: needNodeLibraries("typescript", "@types/node")},
	"GO":       {apt: []string{"golang-go"}},
	"JAVA":     {check: needJDK(22)}, // the multi-file source launcher
	"JAVAC":    {check: needJDK(22)},
	"GCC":      {apt: []string{"gcc"}},
	"GXX":      {apt: []string{"g++"}},
	"PHP":      {apt: []string{"php-cli"}},
	"RUSTC":    {apt: []string{"rustc"}},
	"RSCRIPT":  {apt: []string{"r-base-core"}},
	"GFORTRAN": {apt: []string{"gfortran"}},
	"LDC2":     {apt: []string{"ldc"}},
	"BASH":     {apt: []string{"bash"}},
}

// needNodeLibraries: the image installs languages/node/package-lock.json with
// scripts/install.d/libs-node.sh, and languages/node/package.json has these packages.
func needNodeLibraries(names ...string) func(d *dockerfile) error {
	return func(d *dockerfile) error {
		if !d.runs("libs-node.sh") || !d.copies("languages/node/package-lock.json") {
			return fmt.Errorf("needs the Node libraries: COPY languages/node/package-lock.json and run scripts/install.d/libs-node.sh")
		}
		b, err := os.ReadFile(filepath.Join(repoRoot, "languages", "node", "package.json"))
		if err != nil {
			return err
		}
		var pkg struct{ Dependencies map[string]string }
		if err := json.Unmarshal(b, &pkg); err != nil {
			return fmt.Errorf("languages/node/package.json: %v", err)
		}
		for _, n := range names {
			if _, ok := pkg.Dependencies[n]; !ok {
				return fmt.Errorf("languages/node/package.json must list %s", n)
			}
		}
		return nil
	}
}

// needJDK accepts Debian's openjdk-N-jdk of at least version min.
func needJDK(min int) func(d *dockerfile) error {
	return func(d *dockerfile) error {
		for _, p := range d.aptPackages() {
			if m := regexp.MustCompile(`^openjdk-(\d+)-jdk`).FindStringSubmatch(p); m != nil {
				if v, _ := strconv.Atoi(m[1]); v >= min {
					return nil
				}
			}
		}
		return fmt.Errorf("needs a JDK %d+ (apt-get install openjdk-N-jdk-headless)", min)
	}
}

type instruction struct {
	cmd  string // upper case: FROM, RUN, ENV, ...
	args string // continuation lines joined
}

type stage struct {
	from, as string
	instrs   []instruction
}

type dockerfile struct {
	name   string // python for languages/python.Dockerfile
	text   string
	args   map[string]string // ARG defaults before the first FROM
	stages []*stage
}

func (d *dockerfile) final() *stage { return d.stages[len(d.stages)-1] }

// code is every instruction of every stage, without the comments.
func (d *dockerfile) code() string {
	var b strings.Builder
	for _, s := range d.stages {
		fmt.Fprintf(&b, "FROM %s AS %s\n", s.from, s.as)
		for _, in := range s.instrs {
			fmt.Fprintf(&b, "%s %s\n", in.cmd, in.args)
		}
	}
	return b.String()
}

// parseDockerfile understands what our Dockerfiles use: comments, line continuations, ARG defaults
// in FROM, FROM ... AS name.
func parseDockerfile(name, text string) (*dockerfile, error) {
	d := &dockerfile{name: name, text: text, args: map[string]string{}}
	args := d.args
	var logical []string
	cur := ""
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "#") || (t == "" && cur == "") {
			continue
		}
		if strings.HasSuffix(t, "\\") {
			cur += strings.TrimSuffix(t, "\\") + " "
			continue
		}
		logical = append(logical, cur+t)
		cur = ""
	}
	if cur != "" {
		logical = append(logical, cur)
	}
	for _, l := range logical {
		cmd, rest, _ := strings.Cut(l, " ")
		cmd, rest = strings.ToUpper(cmd), strings.TrimSpace(rest)
		switch {
		case cmd == "ARG" && len(d.stages) == 0:
			k, v, _ := strings.Cut(rest, "=")
			args[k] = v
		case cmd == "FROM":
			f := strings.Fields(rest)
			s := &stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.as = f[2]
			}
			d.stages = append(d.stages, s)
		case len(d.stages) == 0:
			return nil, fmt.Errorf("%s before the first FROM", cmd)
		default:
			s := d.stages[len(d.stages)-1]
			s.instrs = append(s.instrs, instruction{cmd, rest})
		}
	}
	if len(d.stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	return d, nil
}

// all returns the arguments of the final stage's instructions of one kind.
func (s *stage) all(cmd string) []string {
	var out []string
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// keyValues parses ENV and LABEL arguments: k=v pairs, values possibly double-quoted.
func keyValues(args string) map[string]string {
	out := map[string]string{}
	re := regexp.MustCompile(`([A-Za-z0-9_.\-]+)=("[^"]*"|\S*)`)
	for _, m := range re.FindAllStringSubmatch(args, -1) {
		out[m[1]] = strings.Trim(m[2], `"`)
	}
	return out
}

func (d *dockerfile) env() map[string]string {
	env := map[string]string{}
	for _, a := range d.final().all("ENV") {
		for k, v := range keyValues(a) {
			env[k] = v
		}
	}
	return env
}

func (d *dockerfile) languages() []string {
	for _, a := range d.final().all("LABEL") {
		if v, ok := keyValues(a)["dev.kubecoderun.languages"]; ok {
			return strings.Fields(v)
		}
	}
	return nil
}

// commandArgs returns the package arguments of every `<prefix> ...` command in the final stage's RUN
// instructions, up to the end of that shell command; flags are dropped.
func (d *dockerfile) commandArgs(prefix *regexp.Regexp) [][]string {
	var out [][]string
	for _, run := range d.final().all("RUN") {
		for _, loc := range prefix.FindAllStringIndex(run, -1) {
			var args []string
			for _, tok := range strings.Fields(run[loc[1]:]) {
				if tok == "&&" || tok == ";" || tok == "||" || tok == "|" {
					break
				}
				args = append(args, tok)
			}
			out = append(out, args)
		}
	}
	return out
}

func withoutFlags(args []string) []string {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			out = append(out, a)
		}
	}
	return out
}

// aptPackages: the arguments of `apt-get install`, and the packages of the languages/*/packages.txt
// lists the image pipes into it (`awk ... LIST | xargs apt-get install ...`).
func (d *dockerfile) aptPackages() []string {
	var out []string
	for _, args := range d.commandArgs(regexp.MustCompile(`apt-get install`)) {
		for _, p := range withoutFlags(args) {
			out = append(out, strings.SplitN(p, "=", 2)[0])
		}
	}
	for _, list := range d.aptLists() {
		out = append(out, debPackages(list)...)
	}
	return out
}

// copiedTo returns where some stage COPYs a file of the repository, or "" (a build stage's result
// reaches the final one through COPY --from).
func (d *dockerfile) copiedTo(src string) string {
	for _, c := range d.everyStage("COPY") {
		f := withoutFlags(strings.Fields(c))
		for i := 0; i+1 < len(f); i++ {
			if f[i] == src {
				dest := f[len(f)-1]
				if strings.HasSuffix(dest, "/") {
					dest += filepath.Base(src)
				}
				return dest
			}
		}
	}
	return ""
}

func (d *dockerfile) copies(src string) bool { return d.copiedTo(src) != "" }

// runs: some RUN of some stage contains this text.
func (d *dockerfile) runs(text string) bool {
	return slices.ContainsFunc(d.everyStage("RUN"), func(r string) bool { return strings.Contains(r, text) })
}

// everyStage returns the arguments of one kind of instruction in every stage.
func (d *dockerfile) everyStage(cmd string) []string {
	var out []string
	for _, s := range d.stages {
		out = append(out, s.all(cmd)...)
	}
	return out
}

// aptLists: the languages/*/packages.txt files the image COPYs and installs with
// `awk '!/^#/ && NF {print $1}' DEST | [DEBIAN_FRONTEND=noninteractive] xargs apt-get install ...`, the
// way scripts/install-prereqs reads them.
func (d *dockerfile) aptLists() []string {
	var out []string
	lists, _ := filepath.Glob(filepath.Join(repoRoot, "languages", "*", "packages.txt"))
	for _, l := range lists {
		src, _ := filepath.Rel(repoRoot, l)
		dest := d.copiedTo(src)
		if dest == "" {
			continue
		}
		install := regexp.MustCompile(regexp.QuoteMeta("awk '!/^#/ && NF {print $1}' "+dest+" | ") +
			`(DEBIAN_FRONTEND=noninteractive )?xargs apt-get install `)
		for _, run := range d.final().all("RUN") {
			if install.MatchString(run) {
				out = append(out, l)
			}
		}
	}
	return out
}

// debPackages: the first word of every line of a packages.txt list that is not a comment.
func debPackages(list string) []string {
	b, err := os.ReadFile(list)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			out = append(out, f[0])
		}
	}
	return out
}

// pythonLibraries: the normalised names of languages/python/requirements.txt, which the image installs
// (its lock file) with scripts/install.d/libs-python.sh.
func (d *dockerfile) pythonLibraries() ([]string, error) {
	if !d.runs("libs-python.sh") || !d.copies("languages/python/requirements.lock") {
		return nil, fmt.Errorf("must COPY languages/python/requirements.lock and install it with scripts/install.d/libs-python.sh")
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "languages", "python", "requirements.txt"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, pipName(line))
		}
	}
	return out, nil
}

func pipName(req string) string {
	name := regexp.MustCompile(`^[A-Za-z0-9_.\-]+`).FindString(strings.TrimSpace(req))
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

func (p provider) satisfiedBy(d *dockerfile) error {
	if p.check != nil {
		return p.check(d)
	}
	for _, b := range p.bases {
		if strings.HasPrefix(d.final().from, b) {
			return nil
		}
	}
	apt := d.aptPackages()
	for _, a := range p.apt {
		if slices.Contains(apt, a) {
			return nil
		}
	}
	var want []string
	for _, b := range p.bases {
		want = append(want, "a "+b+" base image")
	}
	for _, a := range p.apt {
		want = append(want, "apt-get install "+a)
	}
	return fmt.Errorf("needs %s", strings.Join(want, " or "))
}

// checkImage returns what is wrong with one image, each error naming the file.
func checkImage(d *dockerfile, defaults *Config) []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("languages/%s.Dockerfile: %s", d.name, fmt.Sprintf(format, a...)))
	}

	// One base: every stage is FROM ${BASE}, a Debian 13 by default (scripts/build-images passes it).
	if d.args["BASE"] != wantBase {
		bad("must declare ARG BASE=%s before the first FROM, got %q", wantBase, d.args["BASE"])
	}
	for _, s := range d.stages {
		if s.from != "${BASE}" {
			bad("every stage must be FROM ${BASE} (one Debian base for all images), got FROM %s", s.from)
		}
	}
	// The runner: built on the host by scripts/build-images (static, CGO off), copied in, started the
	// same way.
	if !slices.Contains(d.final().all("COPY"), runnerInput+" /usr/local/bin/runner") {
		bad("the final stage must COPY %s /usr/local/bin/runner", runnerInput)
	}
	if users := d.final().all("USER"); len(users) == 0 || users[len(users)-1] != "65532:65532" {
		bad("the final stage must end as USER 65532:65532, got %q", users)
	}
	eps := d.final().all("ENTRYPOINT")
	var ep []string
	if len(eps) != 1 || json.Unmarshal([]byte(eps[0]), &ep) != nil || !slices.Equal(ep, wantEntrypoint) {
		bad("ENTRYPOINT must be exactly %q, got %q", wantEntrypoint, eps)
	}
	if regexp.MustCompile(`\benv"?\s*,?\s*"?-i\b`).MatchString(d.code()) {
		bad("`env -i` would wipe the environment the pod spec passes (RUNNER_TOKEN)")
	}
	env := d.env()
	if _, ok := env["LANGUAGE"]; ok {
		bad("no LANGUAGE in the image: the language is per request")
	}

	// Languages and their tools.
	langs := d.languages()
	if len(langs) == 0 {
		bad(`no LABEL dev.kubecoderun.languages="..." naming the languages it serves`)
	}
	for _, l := range langs {
		lang, ok := languages[l]
		if !ok {
			bad("serves %q, which the runner does not know", l)
			continue
		}
		for _, tool := range lang.tools {
			path, ok := env["RUNNER_TOOL_"+tool]
			if !ok || !filepath.IsAbs(path) {
				bad("language %s: ENV RUNNER_TOOL_%s must name the tool by absolute path, got %q", l, tool, path)
			}
			p, ok := toolProviders[tool]
			if !ok {
				bad("language %s: no known way to provide tool %s (add it to toolProviders in runner/images_test.go)", l, tool)
				continue
			}
			if err := p.satisfiedBy(d); err != nil {
				bad("language %s, tool %s: %v", l, tool, err)
			}
		}
	}
	for _, w := range strings.Split(env["RUNNER_WARM"], ",") {
		if w = strings.TrimSpace(w); w != "" && !slices.Contains(langs, w) {
			bad("RUNNER_WARM names %q, which this image does not serve", w)
		}
	}
	if tsc, ok := env["RUNNER_TOOL_TSC"]; ok && !strings.Contains(tsc, "/node_modules/typescript/") {
		bad("RUNNER_TOOL_TSC %q is not inside the installed typescript package", tsc)
	}

	// What the runner itself needs beyond the tools.
	if slices.Contains(langs, "py") {
		pip, err := d.pythonLibraries()
		if err != nil {
			bad("%v", err)
		}
		need := append([]string{"cloudpickle", "lz4"}, defaults.PyPreload...) // state + RUNNER_PY_PRELOAD
		for _, n := range need {
			if !slices.Contains(pip, pipName(n)) {
				bad("python packages must include %s (state capture or the warm preload); have %v", n, pip)
			}
		}
	}
	// The library lists of languages/<image>/ are what that image installs: the local install reads the
	// same files, so the two cannot drift.
	for _, list := range []string{"packages.txt", "requirements.lock", "package.json", "package-lock.json"} {
		src := "languages/" + d.name + "/" + list
		if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
			continue
		}
		if !d.copies(src) {
			bad("must COPY %s and install it (the list the local install reads too)", src)
		} else if list == "packages.txt" && !slices.Contains(d.aptLists(), filepath.Join(repoRoot, src)) {
			bad("must install the packages of %s: awk '!/^#/ && NF {print $1}' DEST | xargs apt-get install ...", src)
		}
	}
	if slices.Contains(langs, "py") && (!strings.Contains(d.code(), "runner-mpl-cache.sh") || !strings.Contains(d.code(), defaults.MplCacheSeed)) {
		bad("must build the matplotlib font list with scripts/install.d/runner-mpl-cache.sh at the runner's default %s", defaults.MplCacheSeed)
	}
	if slices.Contains(langs, "go") {
		if !strings.Contains(d.code(), "runner-go-cache.sh") || !strings.Contains(d.code(), defaults.GoCacheSeed) {
			bad("must build the seed Go build cache with scripts/install.d/runner-go-cache.sh at the runner's default %s", defaults.GoCacheSeed)
		}
	}
	return errs
}

// checkImages checks every image and that the runner's languages are served exactly once.
func checkImages(images []*dockerfile, defaults *Config) []error {
	var errs []error
	servedBy := map[string][]string{}
	for _, d := range images {
		errs = append(errs, checkImage(d, defaults)...)
		for _, l := range d.languages() {
			servedBy[l] = append(servedBy[l], d.name)
		}
	}
	names := make([]string, 0, len(languages))
	for l := range languages {
		names = append(names, l)
	}
	sort.Strings(names)
	for _, l := range names {
		if len(servedBy[l]) != 1 {
			errs = append(errs, fmt.Errorf("language %s must be served by exactly one image in languages/, got %v", l, servedBy[l]))
		}
	}
	return errs
}

func loadImages(t *testing.T) []*dockerfile {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "languages", "*.Dockerfile"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no languages/*.Dockerfile (%v)", err)
	}
	var out []*dockerfile
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := parseDockerfile(strings.TrimSuffix(filepath.Base(f), ".Dockerfile"), string(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

func runnerDefaults(t *testing.T) *Config {
	t.Helper()
	c, err := parseConfig(nil, func(k string) (string, bool) {
		if k == "RUNNER_TOKEN" {
			return "t", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestImagesMatchRunnerLanguages(t *testing.T) {
	for _, err := range checkImages(loadImages(t), runnerDefaults(t)) {
		t.Error(err)
	}
}

// The check must catch a broken image: each edit below breaks one promise and must be reported.
func TestImageCheckCatchesBreakage(t *testing.T) {
	defaults := runnerDefaults(t)
	breakages := []struct {
		image, old, new, want string
	}{
		{"fortran", "gfortran libc6-dev", "libc6-dev", "tool GFORTRAN: needs apt-get install gfortran"},
		{"c-cpp", "gcc g++ libc6-dev", "gcc libc6-dev", "tool GXX"},
		{"node", "libs-node.sh' \\", "other.sh' \\", "tool TSC: needs the Node libraries"},
		{"node", "languages/node/package.json languages/node/package-lock.json", "languages/node/package.json", "must COPY languages/node/package-lock.json"},
		{"python", "libs-python.sh &&", "other.sh &&", "install it with scripts/install.d/libs-python.sh"},
		{"r", "COPY languages/r/packages.txt /tmp/packages.txt", "COPY languages/r/other.txt /tmp/packages.txt", "must COPY languages/r/packages.txt"},
		{"bash", "| DEBIAN_FRONTEND=noninteractive xargs apt-get install -y --no-install-recommends bash", "| xargs echo && apt-get install -y --no-install-recommends bash", "must install the packages of languages/bash/packages.txt"},
		{"node", "RUNNER_TOOL_TSC=", "X_TSC=", "ENV RUNNER_TOOL_TSC must name the tool"},
		{"java", "openjdk-25-jdk-headless", "openjdk-21-jdk-headless", "needs a JDK 22+"},
		{"python", "RUNNER_WARM=py", "RUNNER_WARM=py,js", `RUNNER_WARM names "js"`},
		{"python", `"--scratch", "/tmp/kcr"]`, `"--scratch", "/tmp"]`, "ENTRYPOINT must be exactly"},
		{"d", `ENTRYPOINT ["/usr/local/bin/runner"`, `ENTRYPOINT ["/usr/bin/env", "-i", "LANGUAGE=d", "/usr/local/bin/runner"`, "env -i"},
		{"r", "USER 65532:65532", "USER root", "USER 65532:65532"},
		{"php", "COPY target/image-inputs/runner /usr/local/bin/runner", "", "must COPY target/image-inputs/runner"},
		{"rust", "FROM ${BASE}", "FROM rust:1-slim", "every stage must be FROM ${BASE}"},
		{"node", "FROM ${BASE} AS node-libs", "FROM node:22 AS node-libs", "every stage must be FROM ${BASE}"},
		{"go", "ARG BASE=debian:trixie-slim", "ARG BASE=debian:bookworm-slim", "must declare ARG BASE=debian:trixie-slim"},
		{"go", "runner-go-cache.sh", "other.sh", "seed Go build cache"},
		{"python", "runner-mpl-cache.sh", "other.sh", "matplotlib font list"},
		{"bash", `languages="bash"`, `languages="sh"`, "language bash must be served by exactly one image"},
		{"c-cpp", `languages="c cpp"`, `languages="c cpp d"`, "language d must be served by exactly one image"},
	}
	for _, b := range breakages {
		images := loadImages(t)
		found := false
		for i, d := range images {
			if d.name != b.image {
				continue
			}
			if !strings.Contains(d.text, b.old) {
				t.Fatalf("%s.Dockerfile no longer contains %q: update this test", b.image, b.old)
			}
			broken, err := parseDockerfile(d.name, strings.ReplaceAll(d.text, b.old, b.new))
			if err != nil {
				t.Fatal(err)
			}
			images[i], found = broken, true
		}
		if !found {
			t.Fatalf("no image %s", b.image)
		}
		errs := checkImages(images, defaults)
		if !slices.ContainsFunc(errs, func(e error) bool { return strings.Contains(e.Error(), b.want) }) {
			t.Errorf("%s: replacing %q by %q: want an error containing %q, got %v", b.image, b.old, b.new, b.want, errs)
		}
	}

	// A python image that does not put the lock file in: the requirements are read through the COPY.
	images := loadImages(t)
	for _, d := range images {
		if d.name == "python" {
			d.final().instrs = slices.DeleteFunc(d.final().instrs, func(in instruction) bool { return in.cmd == "COPY" && strings.Contains(in.args, "requirements.lock") })
		}
	}
	if errs := checkImages(images, defaults); !slices.ContainsFunc(errs, func(e error) bool { return strings.Contains(e.Error(), "must COPY languages/python/requirements.lock") }) {
		t.Errorf("python lock not copied: want an error, got %v", errs)
	}
}

// scripts/install.d/runner-mpl-cache.sh leaves exactly one font list in the seed, the one the Python it
// builds with reads (named after matplotlib's font manager version): the runner copies every list of
// the seed into every sandbox, so one of an older matplotlib must not stay.
func TestMplCacheStepKeepsOnlyTheCurrentFontList(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	seed, calls, version := filepath.Join(dir, "mpl-cache"), filepath.Join(dir, "calls"), filepath.Join(dir, "version")
	// A stand-in for a venv's Python: what importing matplotlib.font_manager writes to MPLCONFIGDIR.
	venv := func(name string) string {
		bin := filepath.Join(dir, name, "bin")
		os.MkdirAll(bin, 0o755)
		py := filepath.Join(bin, "python3")
		os.WriteFile(py, []byte("#!/bin/sh\necho run >> "+calls+"\nv=$(cat "+version+") || exit 1\n"+
			"echo '{}' > \"$MPLCONFIGDIR/fontlist-v$v.json\"\n"), 0o755)
		return py
	}
	run := func(python string) {
		t.Helper()
		cmd := exec.Command("bash", "-c", `source "$0/scripts/lib/common.sh" && source "$0/scripts/install.d/runner-mpl-cache.sh"`, repoRoot)
		cmd.Env = append(os.Environ(), "KCR_TOOLS_DIR="+dir, "RUNNER_TOOL_PYTHON="+python)
		if out, err := combinedOutput(cmd); err != nil {
			t.Fatalf("runner-mpl-cache.sh: %v\n%s", err, out)
		}
	}
	lists := func() string {
		var names []string
		for name := range readFontLists(seed) {
			names = append(names, name)
		}
		slices.Sort(names)
		return strings.Join(names, " ")
	}
	builds := func() int {
		b, _ := os.ReadFile(calls)
		return strings.Count(string(b), "run")
	}
	stale := func() {
		os.MkdirAll(seed, 0o755)
		os.WriteFile(filepath.Join(seed, "fontlist-v330.json"), []byte("{}"), 0o644)
	}

	// The list of an older matplotlib is in the seed when the libraries change.
	a := venv("venv-a")
	os.WriteFile(version, []byte("3.11.0"), 0o644)
	stale()
	run(a)
	if got := lists(); got != "fontlist-v3.11.0.json" || builds() != 1 {
		t.Fatalf("after a build: lists %q, %d builds", got, builds())
	}
	run(a)
	if got := lists(); got != "fontlist-v3.11.0.json" || builds() != 1 {
		t.Fatalf("an up-to-date seed is left alone: lists %q, %d builds", got, builds())
	}
	// A seed an older version of this step left with two lists is built again.
	stale()
	run(a)
	if got := lists(); got != "fontlist-v3.11.0.json" || builds() != 2 {
		t.Fatalf("a seed with a stale list: lists %q, %d builds", got, builds())
	}
	os.WriteFile(version, []byte("3.12.0"), 0o644)
	run(venv("venv-b"))
	if got := lists(); got != "fontlist-v3.12.0.json" || builds() != 3 {
		t.Fatalf("new libraries: lists %q, %d builds", got, builds())
	}
	// A build that fails leaves no list (matplotlib then builds its own), not an old one.
	os.Remove(version)
	run(venv("venv-c"))
	if got := lists(); got != "" {
		t.Fatalf("a failed build: lists %q", got)
	}

	// With the Python libraries' venv (scripts/install.d/libs-python.sh): the one list is the one its
	// matplotlib reads.
	python := "/opt/kubecoderun/venv/bin/python3"
	var want bytes.Buffer
	probe := exec.Command(python, "-c", "import matplotlib.font_manager as fm; print(f'fontlist-v{fm.FontManager.__version__}.json')")
	probe.Stdout = &want
	if err := runTracked(probe); err != nil {
		t.Skipf("no matplotlib for %s: %v", python, err)
	}
	stale()
	run(python)
	if got := lists(); got != strings.TrimSpace(want.String()) {
		t.Errorf("with %s: lists %q, want %s", python, got, want.String())
	}
}

// scripts/build-images builds every image under the names the Kubernetes backend derives
// (<registry>/<name>:<tag>), and says clearly when no container engine can be used.
func TestBuildImagesScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	fake := filepath.Join(dir, "fake-engine")
	os.WriteFile(fake, []byte("#!/bin/sh\necho \"$*\" >> "+calls+"\n"), 0o755)
	script, _ := filepath.Abs(filepath.Join(repoRoot, "scripts", "build-images"))
	// run passes NAME=value as environment, anything else as arguments.
	run := func(params ...string) (string, error) {
		var env, args []string
		for _, p := range params {
			if strings.Contains(p, "=") {
				env = append(env, p)
			} else {
				args = append(args, p)
			}
		}
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := combinedOutput(cmd)
		return string(out), err
	}

	// Every sandbox image (the api image would build the jar with Maven first: not here).
	var names []string
	for _, d := range loadImages(t) {
		names = append(names, d.name)
	}
	if out, err := run(append([]string{"CONTAINER_ENGINE=" + fake, "REGISTRY=registry.example/acme/", "TAG=t1", "BUILD_CA_FILE=none"}, names...)...); err != nil {
		t.Fatalf("build-images: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(calls)
	got := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := []string{"info"}
	for _, n := range names {
		want = append(want, fmt.Sprintf("build --build-arg BASE=debian:trixie-slim -f languages/%s.Dockerfile -t registry.example/acme/%s:t1 .", n, n))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("engine calls:\n got %q\nwant %q", got, want)
	}

	failing := filepath.Join(dir, "no-daemon")
	os.WriteFile(failing, []byte("#!/bin/sh\nexit 1\n"), 0o755)
	if out, err := run("CONTAINER_ENGINE=" + failing); err == nil || !strings.Contains(out, "cannot reach its engine") {
		t.Errorf("engine without daemon: want a clear error, got %v: %s", err, out)
	}
	// No docker or podman on PATH: only the tools the script itself needs.
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	for _, tool := range []string{"bash", "sed", "dirname"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skip("no " + tool)
		}
		os.Symlink(p, filepath.Join(bin, tool))
	}
	cmd := exec.Command(filepath.Join(bin, "bash"), script)
	cmd.Env = []string{"PATH=" + bin}
	if out, err := combinedOutput(cmd); err == nil || !strings.Contains(string(out), "no usable container engine") {
		t.Errorf("no engine: want a clear error, got %v: %s", err, out)
	}
}
