package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The tests run real runners in-process (httptest) with real toolchains. Children re-execute the test
// binary as "__child", so TestMain must dispatch that first.
func TestMain(m *testing.M) {
	if dispatchSubcommand(os.Args) {
		return
	}
	if args := os.Getenv(runnerMainHelper); args != "" {
		// The runner itself, with the arguments given as a JSON array (TestFatalSignals...).
		var a []string
		if err := json.Unmarshal([]byte(args), &a); err != nil {
			panic(err)
		}
		os.Unsetenv(runnerMainHelper)
		os.Args = append([]string{os.Args[0]}, a...)
		main()
		return
	}
	if dir := os.Getenv(freshScratchHelper); dir != "" {
		freshScratchMain(dir)
		return
	}
	if os.Getenv("RUNNER_TEST_LOG") == "" {
		log.SetOutput(io.Discard)
	}
	base, err := os.MkdirTemp("", "kcr-runner-test-")
	if err != nil {
		panic(err)
	}
	os.Chmod(base, 0o755) // children run as other uids and must reach their dirs
	testBase = base
	// Children (other uids) run the runner binary (bash PTC stubs): the test binary's go-build
	// directory is the runner's own, so they get a copy in the test base.
	if self, err := os.Executable(); err == nil {
		if b, err := os.ReadFile(self); err == nil && os.WriteFile(filepath.Join(base, "runner"), b, 0o755) == nil {
			executable = func() (string, error) { return filepath.Join(base, "runner"), nil }
		}
	}
	// The jail's sandbox holder and the Python templates' jail entry are C, built next to the runner as
	// scripts/build does.
	cc := "musl-gcc"
	if _, err := exec.LookPath(cc); err != nil {
		cc = "gcc"
	}
	if out, err := exec.Command(cc, "-O2", "-Wall", "-Wextra", "-Werror", "-static", "-o", filepath.Join(base, "runner-holder"), "holder/holder.c").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building runner-holder: %v\n%s", err, out)
	}
	if out, err := exec.Command("gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-s", "-o", filepath.Join(base, "runner-zygote.so"), "shims/zygote_jail.c").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building runner-zygote.so: %v\n%s", err, out)
		os.Exit(1) // every jail test would fail, less clearly
	}
	// The Node template's addon includes the jail entry: built from this source too, not the one
	// scripts/install-prereqs left in /opt (an older one's children would not match this runner).
	// Outside /tmp, which the jail server does not bind: startJailAt binds its directory.
	if _, err := exec.LookPath("g++"); err == nil && fileExists("/usr/include/node/node_api.h") {
		dir, err := os.MkdirTemp("/var/tmp", "kcr-node-zygote-test-")
		if err != nil {
			panic(err)
		}
		os.Chmod(dir, 0o755)
		afterTests = append(afterTests, func() { os.RemoveAll(dir) })
		addon := filepath.Join(dir, "kcr_zygote.node")
		if out, err := exec.Command("g++", "-std=c++17", "-O2", "-Wall", "-shared", "-fPIC", "-I/usr/include/node", "-o", addon, "shims/nodezygote.cc").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building the Node template's addon: %v\n%s", err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		testNodeZygote = addon
	}
	code := m.Run()
	for _, f := range afterTests {
		f()
	}
	os.RemoveAll(base)
	os.Exit(code)
}

var (
	afterTests []func() // clean-ups of what tests share (the shared jail server)
	testBase   string
	// The Node template's addon built for the tests, or "" (then the default one in /opt, if any).
	testNodeZygote string
	nextUID        atomic.Int64
	nextDir        atomic.Int64
)

const testToken = "test-token-0123456789"

// testTools points the runner at the toolchains of this machine as scripts/install-prereqs leaves
// them: the Python of the libraries' venv (numpy, pandas, cloudpickle...; else Debian's python3), the
// TypeScript compiler of the tools dir's Node libraries, a JDK 22+ for the source launcher.
func testEnv() map[string]string {
	env := map[string]string{"RUNNER_TOKEN": testToken, "RUNNER_TOOL_PYTHON": "/usr/bin/python3",
		"RUNNER_HOLDER": filepath.Join(testBase, "runner-holder"), "RUNNER_ZYGOTE_LIB": filepath.Join(testBase, "runner-zygote.so")}
	if testNodeZygote != "" {
		env["RUNNER_NODE_ZYGOTE"] = testNodeZygote
	}
	if py := "/opt/kubecoderun/venv/bin/python3"; fileExists(py) {
		env["RUNNER_TOOL_PYTHON"] = py
	}
	if tsc := "/opt/kubecoderun/node/node_modules/typescript/lib/tsc.js"; fileExists(tsc) {
		env["RUNNER_TOOL_TSC"] = tsc
	}
	if java := newestJava(22); java != "" {
		env["RUNNER_TOOL_JAVA"] = java
	}
	return env
}

// newestJava finds the newest JDK under /usr/lib/jvm with at least the given major version.
func newestJava(min int) string {
	best, bestV := "", 0
	dirs, _ := filepath.Glob("/usr/lib/jvm/*/release")
	for _, rel := range dirs {
		b, _ := os.ReadFile(rel)
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, `JAVA_VERSION="`); ok {
				major, _ := strconv.Atoi(strings.Split(v, ".")[0])
				java := filepath.Join(filepath.Dir(rel), "bin", "java")
				if major >= min && major > bestV && fileExists(java) {
					best, bestV = java, major
				}
			}
		}
	}
	return best
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// testRunner is one runner served by httptest.
type testRunner struct {
	t       testing.TB
	srv     *Server
	http    *httptest.Server
	work    string
	scratch string
	uid     int
}

// runnerOpts adjusts a test runner: extra flags and environment.
type runnerOpts struct {
	args []string
	env  map[string]string
}

// newRunner starts a runner with its own workdir, scratch dir and child uid (so that parallel tests
// never share an RLIMIT_NPROC budget). No warm interpreter unless opts ask for one with --warm.
func newRunner(t testing.TB, opts runnerOpts) *testRunner {
	t.Helper()
	dir := filepath.Join(testBase, fmt.Sprintf("r%d", nextDir.Add(1)))
	os.MkdirAll(dir, 0o755)
	args := []string{"--workdir", filepath.Join(dir, "work"), "--scratch", filepath.Join(dir, "scratch")}
	if os.Geteuid() == 0 {
		args = append(args, "--child-uid", strconv.Itoa(70000+int(nextUID.Add(1))))
	}
	return newRunnerAt(t, append(args, opts.args...), opts.env)
}

// newRunnerAt starts a runner with the given flags (later flags win) and extra environment.
func newRunnerAt(t testing.TB, args []string, extraEnv map[string]string) *testRunner {
	t.Helper()
	env := testEnv()
	for k, v := range extraEnv {
		env[k] = v
	}
	args = append([]string{"--warm", "", "--max-timeout-ms", "60000"}, args...)
	cfg, err := parseConfig(args, envOf(env))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	srv, err := newServer(cfg)
	if err != nil {
		t.Fatalf("newServer: %v", err)
	}
	srv.startBackground()
	tr := &testRunner{t: t, srv: srv, work: cfg.Workdir, scratch: cfg.Scratch, uid: cfg.ChildUID}
	tr.http = httptest.NewServer(srv.handler())
	t.Cleanup(func() {
		tr.http.Close()
		srv.Close()
	})
	return tr
}

// request sends an authenticated request and returns the status and body.
func (tr *testRunner) request(method, path string, body io.Reader) (int, []byte) {
	tr.t.Helper()
	return tr.requestWithToken(method, path, body, testToken)
}

func (tr *testRunner) requestWithToken(method, path string, body io.Reader, token string) (int, []byte) {
	tr.t.Helper()
	req, err := http.NewRequest(method, tr.http.URL+path, body)
	if err != nil {
		tr.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tr.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// result is /execute's answer as the API sees it.
type result execResponse

func (r result) String() string {
	b, _ := json.MarshalIndent(r, "", "  ")
	return string(b)
}

// execute runs code and fails the test unless the runner answers 200.
func (tr *testRunner) execute(req map[string]any) result {
	tr.t.Helper()
	return executeVia(tr.t, func(body io.Reader) (int, []byte) { return tr.request("POST", "/execute", body) }, req)
}

// executeVia sends req to /execute with post and fails the test unless the answer is a 200 result.
// executeVia posts an execution. A failed request is an error of the test, not a fatal one: tests
// call this from goroutines too, where t.Fatalf would end the goroutine without its result and leave
// the test waiting for it until the whole suite times out. The result then says what failed.
func executeVia(t testing.TB, post func(body io.Reader) (int, []byte), req map[string]any) result {
	t.Helper()
	body, _ := json.Marshal(req)
	status, out := post(bytes.NewReader(body))
	var res result
	if status != http.StatusOK {
		t.Errorf("execute: status %d: %s", status, out)
		return result{ExitCode: -1, Stderr: fmt.Sprintf("execute: status %d: %s", status, out)}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Errorf("execute: bad JSON %q: %v", out, err)
		return result{ExitCode: -1, Stderr: fmt.Sprintf("execute: bad JSON %q", out)}
	}
	return res
}

func (tr *testRunner) run(lang, code string) result {
	tr.t.Helper()
	return tr.execute(map[string]any{"language": lang, "code": code, "timeout_ms": 60000})
}

func (tr *testRunner) put(path, content string) {
	tr.t.Helper()
	if status, body := tr.request("PUT", "/files/"+path, strings.NewReader(content)); status != http.StatusCreated {
		tr.t.Fatalf("PUT %s: %d %s", path, status, body)
	}
}

func (tr *testRunner) get(path string) string {
	tr.t.Helper()
	status, body := tr.request("GET", "/files/"+path, nil)
	if status != http.StatusOK {
		tr.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	return string(body)
}

// waitWarm waits until the warm interpreter of lang is ready.
func (tr *testRunner) waitWarm(lang string) {
	tr.t.Helper()
	if !eventually(60*time.Second, tr.srv.warm[lang].isReady) {
		tr.t.Fatalf("warm %s not ready after 60 s", lang)
	}
}

func changedPaths(files []fileChange) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Change+" "+f.Path)
	}
	sort.Strings(out)
	return out
}

// needRoot skips the test unless it runs as root (as CI does), saying why it needs it.
func needRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip(why)
	}
}

// processesOf lists the pids of live (not zombie) processes owned by uid.
func processesOf(uid int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		var state string
		var ruid int = -1
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "State:"); ok {
				state = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "Uid:"); ok {
				ruid, _ = strconv.Atoi(strings.Fields(v)[0])
			}
		}
		if ruid == uid && !strings.HasPrefix(state, "Z") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// processesWithArgs lists live processes whose command line contains all args, in order.
func processesWithArgs(args ...string) []int {
	var pids []int
	want := strings.Join(args, "\x00")
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), want) {
			if st, _ := os.ReadFile("/proc/" + e.Name() + "/stat"); !bytes.Contains(st, []byte(") Z ")) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// eventually is how every test waits: it retries cond until it holds, for up to d, never sleeping a fixed
// time in the test itself. It reports whether cond came true.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exists reports whether a path exists (a marker file a test waits for).
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// combinedOutput is cmd.CombinedOutput for a child a test starts. Tests that start a Server in this
// binary make it a subreaper (startReaper), which reaps every child it does not track as soon as it
// exits: Cmd.Wait then fails with "no child processes". Tracked children are left to their Wait.
func combinedOutput(cmd *exec.Cmd) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := runTracked(cmd)
	return out.Bytes(), err
}

// runTracked is cmd.Run for a child a test starts (see combinedOutput).
func runTracked(cmd *exec.Cmd) error {
	if err := startTracked(cmd); err != nil {
		return err
	}
	return waitTracked(cmd)
}

// runDirect runs a command outside the runner (for reference output), reaper-safe.
func runDirect(t testing.TB, dir string, env []string, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, &out, &errb
	if err := runTracked(cmd); cmd.ProcessState == nil { // it did not start; an exit code is no failure here
		t.Fatal(err)
	}
	code = cmd.ProcessState.ExitCode()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() {
		code = 128 + int(ws.Signal()) // as the runner reports it
	}
	return out.String(), errb.String(), code
}
