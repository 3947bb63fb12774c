package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
)

// jailServerPid is the jail server proper ("__jail"), the child of the "jail" command the test started.
func jailServerPid(t *testing.T, j *testJail) int {
	t.Helper()
	pid := j.cmd.Process.Pid
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range strings.Fields(string(b)) {
		if cmd, _ := os.ReadFile("/proc/" + c + "/cmdline"); strings.Contains(string(cmd), jailServeCommand) {
			n, _ := strconv.Atoi(c)
			return n
		}
	}
	t.Fatalf("no %s child of the jail command %d: %q", jailServeCommand, pid, b)
	return 0
}

// kilobytes reads a "Name:   N kB" line of /proc/PID/status.
func kilobytes(t *testing.T, pid int, name string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", name, pid)
	return 0
}

// In jail mode one root process answers for every sandbox, outside their memory limits, so what one
// run leaves behind must cost it a bounded amount: here every attack on the answer at once (a state
// and state errors as large as read back, a tree of the longest and costliest names, stdout and
// stderr flooded with the costliest bytes), in a real jail's sandbox. The jail server's peak RSS
// (VmHWM, reset to its RSS before the run) grows by a few tens of MiB, not the gigabytes it took
// when it decoded and encoded all of that in memory.
func TestJailAHostileRunCostsTheJailServerLittleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 128 MiB and 16,300 files in a sandbox")
	}
	j := ownJail(t, "--max-memory", strconv.Itoa(1<<30), "--disk-size", strconv.Itoa(512<<20), "--disk-inodes", "20000")
	pid := jailServerPid(t, j)
	b := j.createSingleUse(t, "py")
	code := `import os, sys, hashlib
with open('/tmp/state/errors.json', 'w') as f:
    f.write('[')
    for i in range(21):
        f.write('"",' * 1_000_000)
    f.write('""]')
state = os.urandom(64 << 20)
open('/tmp/state/out.bin', 'wb').write(state)
for i in range(15):
    name = b'\x01' * 253 + b'%02d' % i
    os.mkdir(name)
    os.chdir(name)
for i in range(16300):
    os.close(os.open(b'\xff' * 250 + b'%05d' % i, os.O_CREAT | os.O_WRONLY))
sys.stdout.write(hashlib.sha256(state).hexdigest() + '\n')
sys.stdout.flush()
sys.stdout.buffer.write(b'\x01' * (2 << 20)); sys.stdout.flush()
sys.stderr.buffer.write(b'\xff' * (2 << 20)); sys.stderr.flush()
os._exit(0)
`
	if err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("resetting the peak RSS of the jail server: %v", err)
	}
	before := kilobytes(t, pid, "VmHWM")
	res := b.execute(map[string]any{"language": "py", "code": code, "capture_state": true, "timeout_ms": 60000})
	grew := kilobytes(t, pid, "VmHWM") - before
	if res.ExitCode != 0 || !res.StdoutTruncated || !res.StderrTruncated {
		t.Fatalf("exit %d, stdout truncated %v, stderr truncated %v: %.2000q", res.ExitCode, res.StdoutTruncated, res.StderrTruncated, res.Stderr)
	}
	state, err := base64.StdEncoding.DecodeString(res.State)
	if sum := sha256.Sum256(state); err != nil || !strings.HasPrefix(res.Stdout, hex.EncodeToString(sum[:])+"\n") {
		t.Errorf("the state is not what the code wrote: %d bytes, %v", len(state), err)
	}
	if n := len(res.StateErrors); n != 101 || !strings.Contains(res.StateErrors[n-1], "not shown") {
		t.Errorf("want 100 state errors and a note, got %d", n)
	}
	if len(res.Files) == 0 || len(res.Files)+res.FilesOmitted != 16300 {
		t.Errorf("%d files listed, %d omitted, want 16300 in all", len(res.Files), res.FilesOmitted)
	}
	t.Logf("the jail server's peak RSS grew by %d MiB (from %d MiB)", grew>>10, before>>10)
	if grew > 96<<10 {
		t.Errorf("the jail server's peak RSS grew by %d MiB for one hostile run, want at most 96 MiB", grew>>10)
	}
}

// The tool calls of a programmatic run are read by the jail server too: 32 connections, each
// sending most of a line of 1 MiB and holding it, cost it 57 MiB before the run's lines together
// were bounded. Past the bound a connection gets an error and is closed.
func TestJailToolCallConnectionsCostTheJailServerLittleMemory(t *testing.T) {
	j := ownJail(t)
	pid := jailServerPid(t, j)
	b := j.createSingleUse(t, "py")
	code := `import socket
socks, refused = [], 0
for i in range(32):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect('/tmp/shims/ptc.sock')
    try:
        s.sendall(b'{"calls":[{"name":"t","input":"' + b'a' * ((1 << 20) - 100))
    except BrokenPipeError:
        pass
    socks.append(s)
for s in socks:
    s.settimeout(1)
    try:
        if s.recv(200).startswith(b'{"error":"the run\'s connections hold more than 4 MiB'):
            refused += 1
    except socket.timeout:
        pass
print("refused", refused)
`
	if err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("resetting the peak RSS of the jail server: %v", err)
	}
	before := kilobytes(t, pid, "VmHWM")
	p := jailTarget(b)
	if r := p.start(t, "py", code, []string{"t"}, nil); r.Status != "ended" {
		t.Fatalf("the run asked for tools: %+v", r)
	}
	res := p.final(t)
	grew := kilobytes(t, pid, "VmHWM") - before
	refused, _ := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(res.Stdout), "refused "))
	if res.ExitCode != 0 || refused < 28 {
		t.Errorf("want at least 28 of 32 connections refused, got exit %d: %q %.1000q", res.ExitCode, res.Stdout, res.Stderr)
	}
	t.Logf("the jail server's peak RSS grew by %d MiB (from %d MiB)", grew>>10, before>>10)
	if grew > 24<<10 {
		t.Errorf("the jail server's peak RSS grew by %d MiB for one run's tool call connections, want at most 24 MiB", grew>>10)
	}
}
