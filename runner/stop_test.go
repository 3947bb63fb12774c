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

// On Kubernetes the code shares the runner's uid, and the runner is PID 1 of the pod: code may send
// it any signal. Those the Go runtime would die of (SIGQUIT's stack dump, SIGHUP, a SIGSEGV sent by
// kill...) leave it serving; SIGTERM still stops it gracefully.
func TestFatalSignalsSentToTheRunnerLeaveItServing(t *testing.T) {
	dir := filepath.Join(testBase, fmt.Sprintf("signals%d", nextDir.Add(1)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	args, _ := json.Marshal([]string{"--listen", addr, "--workdir", filepath.Join(dir, "w"), "--scratch", filepath.Join(dir, "s"), "--warm", ""})
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "RUNNER_TOKEN=" + testToken, runnerMainHelper + "=" + string(args)}
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := startTracked(cmd); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	exited := make(chan error, 1)
	go func() { exited <- waitTracked(cmd) }()
	healthy := func() bool {
		r, err := http.Get("http://" + addr + "/health")
		if err == nil {
			r.Body.Close()
		}
		return err == nil && r.StatusCode == 200
	}
	if !eventually(30*time.Second, healthy) {
		t.Fatalf("runner not up: %s", logs.String())
	}
	for _, sig := range fatalSignals {
		cmd.Process.Signal(sig)
		if !healthy() {
			t.Fatalf("the runner stopped answering after %v: %s", sig, logs.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil || strings.Contains(logs.String(), "goroutine ") {
			t.Fatalf("the runner did not stop gracefully on SIGTERM after the others: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("runner still running 20 s after SIGTERM")
	}
}
