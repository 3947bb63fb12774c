package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGTERM (a deleted pod, a stopping host) in the middle of a run: the run is killed, its result
// still reaches the caller and says why, and the runner exits cleanly.
func TestSigtermDuringARunAnswersItThenExits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the runner binary")
	}
	// Under testBase: children run as another uid and must reach their dirs.
	dir := filepath.Join(testBase, fmt.Sprintf("sigterm%d", nextDir.Add(1)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "runner")
	if out, err := combinedOutput(exec.Command("go", "build", "-o", bin, ".")); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--listen", addr, "--workdir", filepath.Join(dir, "w"), "--scratch", filepath.Join(dir, "s"), "--warm", "")
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "RUNNER_TOKEN=" + testToken}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := startTracked(cmd); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	up := eventually(30*time.Second, func() bool {
		r, err := http.Get("http://" + addr + "/health")
		if err == nil {
			r.Body.Close()
		}
		return err == nil
	})
	if !up {
		t.Fatalf("runner not up: %s", logs.String())
	}

	type answer struct {
		res result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		body, _ := json.Marshal(map[string]any{"language": "bash", "code": "echo started; touch started; sleep 60", "timeout_ms": 30000})
		req, _ := http.NewRequest("POST", "http://"+addr+"/execute", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer r.Body.Close()
		var res result
		if r.StatusCode != 200 {
			done <- answer{err: fmt.Errorf("status %d", r.StatusCode)}
			return
		}
		done <- answer{res: res, err: json.NewDecoder(r.Body).Decode(&res)}
	}()
	if !eventually(30*time.Second, func() bool { return exists(filepath.Join(dir, "w", "started")) }) {
		t.Fatalf("the run never started: %s", logs.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)

	select {
	case a := <-done:
		if a.err != nil {
			t.Fatalf("the run got no answer: %v\n%s", a.err, logs.String())
		}
		if a.res.Stdout != "started\n" || a.res.ExitCode == 0 || !strings.HasSuffix(a.res.Stderr, stoppedNotice+"\n") {
			t.Fatalf("answer: %s", a.res)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no answer 20 s after SIGTERM")
	}
	exited := make(chan error, 1)
	go func() { exited <- waitTracked(cmd) }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("runner exit: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runner still running 10 s after SIGTERM")
	}
}

// runnerMainHelper makes the test binary run the runner's main with the arguments it holds (JSON).
const runnerMainHelper = "KCR_TEST_RUNNER_MAIN"

// runnerProcess is the runner's main in a process of its own (the test binary, told by
// runnerMainHelper), as a Kubernetes pod runs it.
type runnerProcess struct {
	addr   string
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan error // its exit
}

// startRunnerMain starts the runner's main with args after its own listen, workdir and scratch
// flags; with wrapper, as the child of that command (whose argv ends with the runner's: "$0" "$@" in
// a shell). It fails t unless the runner answers /health within 30 s, and kills it when t ends.
func startRunnerMain(t *testing.T, wrapper []string, args ...string) *runnerProcess {
	t.Helper()
	dir := filepath.Join(testBase, fmt.Sprintf("main%d", nextDir.Add(1)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	flags, _ := json.Marshal(append([]string{"--listen", addr, "--workdir", filepath.Join(dir, "w"), "--scratch", filepath.Join(dir, "s"), "--warm", ""}, args...))
	self, _ := os.Executable()
	argv := append(slices.Clone(wrapper), self)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", runnerMainHelper + "=" + string(flags)}
	for k, v := range testEnv() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &runnerProcess{addr: addr, cmd: cmd, logs: &syncBuffer{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := startTracked(cmd); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- waitTracked(cmd) }()
	t.Cleanup(func() { cmd.Process.Kill() })
	if !eventually(30*time.Second, p.healthy) {
		t.Fatalf("runner not up: %s", p.logs.String())
	}
	return p
}

func (p *runnerProcess) healthy() bool {
	r, err := http.Get("http://" + p.addr + "/health")
	if err == nil {
		r.Body.Close()
	}
	return err == nil && r.StatusCode == 200
}

// On Kubernetes the code shares the runner's uid, and the runner is PID 1 of the pod: code may send
// it any signal. Those the Go runtime would die of (SIGQUIT's stack dump, SIGHUP, a SIGSEGV sent by
// kill...) leave it serving; SIGTERM still stops it gracefully.
func TestFatalSignalsSentToTheRunnerLeaveItServing(t *testing.T) {
	p := startRunnerMain(t, nil)
	for _, sig := range fatalSignals {
		p.cmd.Process.Signal(sig)
		if !p.healthy() {
			t.Fatalf("the runner stopped answering after %v: %s", sig, p.logs.String())
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil || strings.Contains(p.logs.String(), "goroutine ") {
			t.Fatalf("the runner did not stop gracefully on SIGTERM after the others: %v\n%s", err, p.logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("runner still running 20 s after SIGTERM")
	}
}
