package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// The jail tests start the real jail server (this test binary as "runner jail", the way the local
// backend starts target/runner) and talk to it over HTTP. They need root, like the local backend.

const (
	jailAdmin    = "jail-admin-token-0123456789"
	jailMemory   = 384 << 20
	jailDisk     = 64 << 20
	jailInodes   = 4096
	jailShm      = 16 << 20
	jailProcs    = 96
	jailUIDBase  = 1600000
	jailUIDCount = 512
)

// jailSeq numbers the test jails: each gets uids of its own, so a test that looks for the processes
// of a sandbox's uid never finds another jail's. A jail refuses a range that overlaps another running
// jail's on the host, so test processes running at once (other checkouts' tests) start from ranges of
// their own, by pid: 16 jails each, below the API tests' (src/test/.../it/SandboxUids.java) and the
// Kubernetes sandboxes' (K8S_SANDBOX_UIDS) ranges. startJail moves on from a range taken all the same.
var jailSeq = func() *atomic.Int64 {
	var n atomic.Int64
	n.Store(int64(os.Getpid()%32768) * 16)
	return &n
}()

// nextJailUIDBase is the --uid-base of the next test jail.
func nextJailUIDBase() int {
	return jailUIDBase + int(jailSeq.Add(1)-1)*jailUIDCount
}

// testJail is a running jail server.
type testJail struct {
	t       testing.TB
	url     string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the jail server has exited
	log     *syncBuffer
	private string // a host tree bound read-only into sandboxes, with a root-only file
	uidBase int    // its --uid-base: its sandboxes have uids above, up to uidBase+jailUIDCount-1
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var jailClient = &http.Client{Timeout: 3 * time.Minute}

var shared struct {
	once sync.Once
	j    *testJail
	err  error
}

// sharedJail is the jail server most jail tests share (starting its Python template costs a second of
// CPU): small limits, so the bomb tests hit them fast.
func sharedJail(t *testing.T) *testJail {
	t.Helper()
	needRoot(t, "the jail tests run as root, like the local backend")
	shared.once.Do(func() {
		shared.j, shared.err = startJail(t)
		if shared.err == nil {
			afterTests = append(afterTests, shared.j.stop)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.j
}

// ownJail starts a jail server of the test's own (for a test that kills or fills it), stopped when the
// test ends.
func ownJail(t testing.TB, extra ...string) *testJail {
	t.Helper()
	needRoot(t, "the jail tests run as root, like the local backend")
	j, err := startJail(t, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.stop)
	return j
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startJail(t testing.TB, extra ...string) (*testJail, error) {
	return startJailVia(t, nil, extra...)
}

// startJailVia starts the jail server with uids of its own; with wrapper, as the child of that command
// (whose argv ends with the jail's: "$0" "$@" in a shell).
func startJailVia(t testing.TB, wrapper []string, extra ...string) (*testJail, error) {
	for tries := 1; ; tries++ {
		j, err := startJailAt(t, wrapper, nextJailUIDBase(), extra...)
		// A range another test process's jail holds: the next one.
		if err != nil && strings.Contains(err.Error(), "of another running jail") && tries < 16 {
			continue
		}
		return j, err
	}
}

// startJailAt starts the jail server with --uid-base uidBase.
func startJailAt(t testing.TB, wrapper []string, uidBase int, extra ...string) (*testJail, error) {
	dir := filepath.Join(testBase, fmt.Sprintf("jail%d", nextDir.Add(1)))
	// Sandboxes have a /tmp of their own: a host tree to bind must live elsewhere.
	private, err := os.MkdirTemp("/var/tmp", "kcr-jail-test-")
	if err != nil {
		return nil, err
	}
	os.Chmod(private, 0o755)
	afterTests = append(afterTests, func() { os.RemoveAll(private) })
	os.WriteFile(filepath.Join(private, "public.txt"), []byte("public\n"), 0o644)
	os.WriteFile(filepath.Join(private, "secret.key"), []byte("host secret\n"), 0o600)
	self, _ := os.Executable()
	port := freePort()
	args := append([]string{"jail", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--base", filepath.Join(dir, "sandboxes"),
		"--ro-bind", private, "--ro-bind", "/opt/kubecoderun",
		"--max-memory", strconv.Itoa(jailMemory), "--disk-size", strconv.Itoa(jailDisk),
		"--disk-inodes", strconv.Itoa(jailInodes), "--shm-size", strconv.Itoa(jailShm),
		"--max-procs", strconv.Itoa(jailProcs), "--max-timeout-ms", "60000",
		"--uid-base", strconv.Itoa(uidBase), "--uid-count", strconv.Itoa(jailUIDCount)}, extra...)
	if testNodeZygote != "" {
		args = append(args, "--ro-bind", filepath.Dir(testNodeZygote))
	}
	j := &testJail{t: t, url: "http://127.0.0.1:" + strconv.Itoa(port), log: &syncBuffer{}, private: private, uidBase: uidBase}
	j.cmd = exec.Command(self, args...)
	if wrapper != nil {
		j.cmd = exec.Command(wrapper[0], append(append(wrapper[1:], self), args...)...)
	}
	j.cmd.Env = append(os.Environ(), "RUNNER_ADMIN_TOKEN="+jailAdmin)
	for k, v := range testEnv() {
		j.cmd.Env = append(j.cmd.Env, k+"="+v)
	}
	j.cmd.Stdout, j.cmd.Stderr = j.log, j.log
	// Tracked: the classic runner tests in this process sweep untracked descendants of it.
	if err := startTracked(j.cmd); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() {
		waitTracked(j.cmd)
		close(exited)
	}()
	j.exited = exited
	gone := false
	ready := eventually(120*time.Second, func() bool {
		select {
		case <-exited:
			gone = true
			return true
		default:
		}
		var h struct {
			Warm map[string]bool `json:"warm"`
		}
		status, body := j.request("GET", "/health", "", nil)
		return status == 200 && json.Unmarshal(body, &h) == nil && h.Warm["py"]
	})
	if gone {
		return nil, fmt.Errorf("the jail server exited at start: %s", j.log.String())
	}
	if !ready {
		j.stop()
		return nil, fmt.Errorf("the jail server was not ready in time: %s", j.log.String())
	}
	return j, nil
}

func (j *testJail) stop() {
	j.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-j.exited:
	case <-time.After(30 * time.Second):
		j.cmd.Process.Kill()
		<-j.exited
	}
}

func (j *testJail) request(method, path, token string, body io.Reader) (int, []byte) {
	req, err := http.NewRequest(method, j.url+path, body)
	if err != nil {
		panic(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := jailClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (j *testJail) health(t testing.TB) map[string]any {
	status, body := j.request("GET", "/health", "", nil)
	var h map[string]any
	if status != 200 || json.Unmarshal(body, &h) != nil {
		t.Fatalf("health: %d %s", status, body)
	}
	return h
}

// waitNodeTemplate waits until the jail's Node template is ready: until then js runs start a Node each.
// Without the addon there is none: the test is skipped.
func (j *testJail) waitNodeTemplate(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(cmp.Or(testEnv()["RUNNER_NODE_ZYGOTE"], defaultNodeZygote)); err != nil {
		t.Skipf("no Node template addon (%v): scripts/install-prereqs builds it", err)
	}
	if !eventually(60*time.Second, func() bool {
		js, ok := j.health(t)["templates"].(map[string]any)["js"].(map[string]any)
		return ok && js["ready"] == true
	}) {
		t.Fatalf("the Node template is not running: %v\n%s", j.health(t), j.log.String())
	}
}

// jailBox is one sandbox of a test jail.
type jailBox struct {
	j     *testJail
	t     testing.TB
	id    string
	token string
	uid   int
	pid   int // its holder
}

func (j *testJail) create(t testing.TB, lang string, warm bool) *jailBox {
	t.Helper()
	return j.createFrom(t, map[string]any{"language": lang, "warm": warm})
}

// createSingleUse makes a sandbox as the API does: for one run.
func (j *testJail) createSingleUse(t testing.TB, lang string) *jailBox {
	t.Helper()
	return j.createFrom(t, map[string]any{"language": lang, "single_use": true})
}

func (j *testJail) createFrom(t testing.TB, req map[string]any) *jailBox {
	t.Helper()
	body, _ := json.Marshal(req)
	status, out := j.request("POST", "/sandboxes", jailAdmin, bytes.NewReader(body))
	if status != http.StatusCreated {
		t.Fatalf("create sandbox: %d %s\n%s", status, out, j.log.String())
	}
	b := &jailBox{j: j, t: t}
	var r struct {
		ID    string `json:"id"`
		Token string `json:"token"`
		UID   int    `json:"uid"`
		Pid   int    `json:"pid"`
	}
	json.Unmarshal(out, &r)
	b.id, b.token, b.uid, b.pid = r.ID, r.Token, r.UID, r.Pid
	t.Cleanup(b.destroy)
	return b
}

func (b *jailBox) destroy() {
	b.j.request("DELETE", "/sandboxes/"+b.id, jailAdmin, nil)
}

func (b *jailBox) execute(req map[string]any) result {
	b.t.Helper()
	return executeVia(b.t, func(body io.Reader) (int, []byte) { return b.j.request("POST", "/execute", b.token, body) }, req)
}

func (b *jailBox) run(lang, code string) result {
	b.t.Helper()
	return b.execute(map[string]any{"language": lang, "code": code, "timeout_ms": 60000})
}

// py runs Python code that must succeed and returns its stdout.
func (b *jailBox) py(code string) string {
	b.t.Helper()
	res := b.run("py", code)
	if res.ExitCode != 0 {
		b.t.Fatalf("py failed: %s", res)
	}
	return res.Stdout
}

func TestJailRunsOnItsOwnUnprivilegedHostUID(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	a, b := j.create(t, "py", false), j.create(t, "py", false)
	if a.uid == b.uid || a.uid <= j.uidBase || a.uid >= j.uidBase+jailUIDCount || a.uid == os.Getuid() {
		t.Fatalf("sandbox uids %d and %d: want two distinct uids in (%d, %d)", a.uid, b.uid, j.uidBase, j.uidBase+jailUIDCount)
	}
	// While a run sleeps, its processes on the host are the sandbox's uid, never root.
	done := make(chan result, 1)
	go func() {
		done <- a.execute(map[string]any{"language": "py", "timeout_ms": 60000,
			"code": "import subprocess, time\nopen('/mnt/data/started', 'w').close()\nsubprocess.Popen(['sleep', '30'])\ntime.sleep(30)\n"})
	}()
	if !eventually(30*time.Second, func() bool { return len(processesOf(a.uid)) >= 2 }) {
		t.Fatalf("no processes of uid %d while the run sleeps", a.uid)
	}
	for _, pid := range processesOf(a.uid) {
		st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		for _, line := range strings.Split(string(st), "\n") {
			if f := strings.Fields(line); len(f) == 5 && (f[0] == "Uid:" || f[0] == "Gid:") {
				for _, id := range f[1:] {
					if id != strconv.Itoa(a.uid) {
						t.Errorf("process %d: %s", pid, line)
					}
				}
			}
			if strings.HasPrefix(line, "CapEff:") && !strings.HasSuffix(line, "0000000000000000") {
				t.Errorf("process %d has capabilities: %s", pid, line)
			}
		}
		// Its user namespace belongs to the sandbox's uid: the kernel charges the namespace's use of
		// per-user quotas (pending signals, message queues...) to the owner, never to root.
		if owner, err := userNamespaceOwner(pid); err != nil || owner != a.uid {
			t.Errorf("process %d: its user namespace's owner is %d (%v), want the sandbox's uid %d", pid, owner, err, a.uid)
		}
	}
	a.destroy()
	<-done
	if !eventually(10*time.Second, func() bool { return len(processesOf(a.uid)) == 0 }) {
		t.Errorf("processes of uid %d survived their sandbox: %v", a.uid, processesOf(a.uid))
	}

	out := b.py(`import os, socket
st = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
print(os.getuid(), os.getgid(), os.getgroups())
print(" ".join(st[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")))
print(socket.gethostname(), os.getcwd(), open("/proc/self/cgroup").read().strip().split(":")[-1])
print(sorted(int(p) for p in os.listdir("/proc") if p.isdigit())[:1], len([p for p in os.listdir("/proc") if p.isdigit()]) < 5)
print(sorted(os.listdir("/")))
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); c = socket.create_connection(s.getsockname()); print("loopback", c.getpeername()[0])
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2); print("ONLINE")
except OSError as e:
    print("offline", e.errno)
`)
	want := "65532 65532 []\n" +
		"0000000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000 1 2\n" +
		"sandbox /mnt/data /\n[1] True\n"
	if !strings.HasPrefix(out, want) {
		t.Fatalf("inside the jail:\n%s\nwant:\n%s", out, want)
	}
	if !strings.Contains(out, "loopback 127.0.0.1\noffline 101\n") {
		t.Errorf("the network of a sandbox (its own loopback only): %s", out)
	}
	for _, hidden := range []string{"'home'", "'root'", "'sys'", "'srv'", "'work'", "'run'", "'boot'"} {
		if strings.Contains(out, hidden) {
			t.Errorf("the sandbox's / shows %s: %s", hidden, out)
		}
	}
}

func TestJailHostPrivateFilesAreUnreadable(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	b := j.create(t, "py", false)
	out := b.py(fmt.Sprintf(`import os
def attempt(f):
    try:
        f()
        return "READ"
    except Exception as e:
        return type(e).__name__
print(open(%[1]q + "/public.txt").read().strip())
print(attempt(lambda: open(%[1]q + "/secret.key").read()))
print(attempt(lambda: open("/etc/shadow").read()), os.path.exists("/etc/ssl/private"), os.path.exists("/root/.bashrc"))
print(attempt(lambda: open(%[1]q + "/new", "w")), attempt(lambda: open("/usr/evil", "w")), attempt(lambda: open("/evil", "w")))
`, j.private))
	want := "public\nPermissionError\nFileNotFoundError False False\nOSError OSError OSError\n"
	if out != want {
		t.Fatalf("host files from a sandbox:\n%s\nwant:\n%s", out, want)
	}
}

// What of /proc tells about the host's kernel and keys is masked as container runtimes mask it: the
// files read empty, the directories are empty and read-only.
func TestJailProcHidesTheHostsKeysTimersAndKernelMemory(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	b := j.create(t, "py", false)
	files := []string{"keys", "key-users", "kcore", "timer_list", "sched_debug", "timer_stats", "latency_stats"}
	dirs := []string{"acpi", "scsi", "asound"}
	var want strings.Builder
	for _, f := range files {
		if exists("/proc/" + f) {
			fmt.Fprintf(&want, "%s b''\n", f)
		}
	}
	for _, d := range dirs {
		if exists("/proc/" + d) {
			fmt.Fprintf(&want, "%s [] OSError\n", d)
		}
	}
	if want.Len() == 0 {
		t.Skip("this kernel has none of them")
	}
	out := b.py(fmt.Sprintf(`import os
for f in %s:
    p = "/proc/" + f
    if os.path.exists(p):
        with open(p, "rb") as fh:
            print(f, fh.read(4096))
for d in %s:
    p = "/proc/" + d
    if os.path.exists(p):
        try:
            open(p + "/x", "w")
            made = "WROTE"
        except OSError as e:
            made = "OSError"
        print(d, os.listdir(p), made)
`, pyList(files), pyList(dirs)))
	if out != want.String() {
		t.Fatalf("masked /proc entries:\n%s\nwant:\n%s", out, want.String())
	}
}

// pyList writes strings as a Python list literal.
func pyList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

func TestJailNestedNamespacesFail(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	b := j.create(t, "bash", false)
	res := b.run("bash", "unshare -U true; echo user=$?; unshare -m true; echo mount=$?; unshare -n true; echo net=$?; "+
		"cat /proc/sys/user/max_user_namespaces; echo 1 > /proc/sys/user/max_user_namespaces 2>/dev/null; echo write=$?")
	if res.Stdout != "user=1\nmount=1\nnet=1\n0\nwrite=1\n" {
		t.Fatalf("nested namespaces: %s", res)
	}
	out := b.py(`import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for name, flags in (("user", 0x10000000), ("mount", 0x20000), ("pid", 0x20000000), ("cgroup", 0x02000000)):
    r = libc.unshare(flags)
    print(name, r, os.strerror(ctypes.get_errno()))
`)
	want := "user -1 Operation not permitted\nmount -1 Operation not permitted\npid -1 Operation not permitted\ncgroup -1 Operation not permitted\n"
	if out != want {
		t.Fatalf("unshare from Python:\n%s", out)
	}
}

func TestJailDeniedSyscallsAndSocketFamiliesFail(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	b := j.create(t, "py", false)
	var calls []string
	for _, name := range seccompDenied {
		if nr, ok := sysNumber(name); ok {
			calls = append(calls, fmt.Sprintf("(%q, %d, %d)", name, nr, syscall.EPERM))
		}
	}
	for _, name := range seccompNoSys {
		if nr, ok := sysNumber(name); ok {
			calls = append(calls, fmt.Sprintf("(%q, %d, %d)", name, nr, syscall.ENOSYS))
		}
	}
	code := `import ctypes, os, socket, threading, subprocess
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
bad = []
for name, nr, want in [` + strings.Join(calls, ", ") + `]:
    ctypes.set_errno(0)
    r = libc.syscall(nr, 0, 0, 0, 0, 0, 0)
    if r != -1 or ctypes.get_errno() != want:
        bad.append((name, r, os.strerror(ctypes.get_errno())))
print("syscalls", bad)
denied = []
for fam, typ, proto in ((38, 5, 0), (33, 2, 0), (40, 1, 0), (17, 3, 0), (15, 3, 2), (16, 3, 9), (16, 3, 15), (31, 1, 0)):
    try:
        socket.socket(fam, typ, proto).close()
        denied.append("OPEN %d/%d" % (fam, proto))
    except OSError as e:
        denied.append(e.errno)
print("families", sorted(set(denied)))
ok = []
for fam, typ, proto in ((1, 1, 0), (2, 1, 0), (10, 2, 0), (16, 3, 0)):
    socket.socket(fam, typ, proto).close()
    ok.append(fam)
print("allowed", ok)
# AF_INET(6) protocols: the usual ones pass the filter (ICMP may still get EACCES: ping_group_range);
# SCTP, L2TP, UDP-Lite, MPTCP, raw... do not, even those built into the kernel.
refused = []
for fam, typ, proto in ((2, 1, 132), (10, 5, 132), (2, 6, 33), (2, 2, 115), (2, 2, 136), (10, 2, 136), (2, 1, 262), (2, 3, 255)):
    try:
        socket.socket(fam, typ, proto).close()
        refused.append("OPEN %d/%d" % (fam, proto))
    except OSError as e:
        refused.append(e.errno)
print("protocols", sorted(set(refused), key=str))
passed = []
for fam, typ, proto in ((2, 1, 6), (2, 2, 17), (10, 1, 6), (10, 2, 17), (2, 2, 1), (10, 2, 58), (2, 1, 0)):
    try:
        socket.socket(fam, typ, proto).close()
        passed.append("ok")
    except OSError as e:
        passed.append(e.errno)
print("passed", sorted(set(x for x in passed if x != 13)))
libc.personality.restype = ctypes.c_int
pers = []
for arg in (0xffffffff, 0, 0x0008, 0x0020000, 0x0020008, 0xffffffff, 0x0040000, 0x0400000, 0x0100000):
    ctypes.set_errno(0)
    pers.append((libc.personality(ctypes.c_ulong(arg)), ctypes.get_errno()))
print("personality", pers)
# Huge TLB pages: refused by the filter (EPERM), not by an empty pool (ENOMEM) or the kernel (EINVAL).
huge = []
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
ctypes.set_errno(0)
libc.mmap(None, 2 << 20, 3, 0x22 | 0x40000, -1, 0)
huge.append(ctypes.get_errno())
libc.shmget.restype = ctypes.c_int
huge.append(ctypes.get_errno() if libc.shmget(0, 2 << 20, 0o1600 | 0x800) == -1 else "OPEN")
try:
    os.close(os.memfd_create("h", os.MFD_HUGETLB))
    huge.append("OPEN")
except OSError as e:
    huge.append(e.errno)
os.close(os.memfd_create("plain"))
print("hugetlb", huge)
t = threading.Thread(target=lambda: None); t.start(); t.join()
pid = os.fork()
if pid == 0:
    os._exit(3)
print(subprocess.run(["true"]).returncode, os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
`
	out := b.py(code)
	// personality: each call answers the persona before it; the values not allowed are refused.
	want := fmt.Sprintf("syscalls []\nfamilies [%d]\nallowed [1, 2, 10, 16]\nprotocols [%d]\npassed ['ok']\n"+
		"personality [(0, 0), (0, 0), (0, 0), (8, 0), (131072, 0), (131080, 0), (-1, %d), (-1, %d), (-1, %d)]\n"+
		"hugetlb [%d, %d, %d]\n0 3\n",
		syscall.EAFNOSUPPORT, syscall.EPROTONOSUPPORT, syscall.EPERM, syscall.EPERM, syscall.EPERM,
		syscall.EPERM, syscall.EPERM, syscall.EPERM)
	if out != want {
		t.Fatalf("denied syscalls:\n%s\nwant:\n%s", out, want)
	}
}

// userNamespaceOwner is the host uid that owns the user namespace of process pid (NS_GET_OWNER_UID).
func userNamespaceOwner(pid int) (int, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/user")
	if err != nil {
		return -1, err
	}
	defer f.Close()
	var uid uint32
	const nsGetOwnerUID = 0xb704 // _IO(0xb7, 0x4)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), nsGetOwnerUID, uintptr(unsafe.Pointer(&uid))); e != 0 {
		return -1, e
	}
	return int(uid), nil
}

// cgroupOf is the path of the process's cgroup with the controller ("" when it has none here).
func cgroupOf(pid int, c string, h cgroupHierarchies) string {
	_, v2 := h.parent(c)
	cgroups, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	for _, line := range strings.Split(string(cgroups), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && (v2 && f[0] == "0" || !v2 && slices.Contains(strings.Split(f[1], ","), c)) {
			return f[2]
		}
	}
	return ""
}

// Every process of a run is in its sandbox's cgroups, which no other live sandbox has; once the
// sandbox is destroyed they hold nothing (they are removed, or kept empty for a later sandbox:
// TestJailCgroupsAreReusedOnlyEmpty).
func TestJailRunsJoinEveryCgroupOfTheirSandboxAndDestroyEmptiesThem(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	b, other := j.create(t, "bash", false), j.create(t, "bash", false)
	done, otherDone := make(chan result, 1), make(chan result, 1)
	go func() { done <- b.run("bash", "sleep 30 & sleep 30") }()
	go func() { otherDone <- other.run("bash", "sleep 30") }()
	if !eventually(20*time.Second, func() bool { return len(processesOf(b.uid)) > 1 && len(processesOf(other.uid)) > 0 }) {
		t.Fatal("the runs did not start")
	}
	// The shared jail limits CPU too (--max-cpu 1): pids, memory and cpu, each where this host has it.
	h := findCgroupHierarchies()
	parent := "/" + jailCgroupPrefix + strconv.Itoa(innerJailPid(j)) + "/"
	want := cgroupOf(processesOf(b.uid)[0], "pids", h)
	if !strings.HasPrefix(want, parent) || strings.Count(want, "/") != 2 {
		t.Fatalf("the run's pids cgroup is %q, want one below %s", want, parent)
	}
	if theirs := cgroupOf(processesOf(other.uid)[0], "pids", h); theirs == want {
		t.Fatalf("two live sandboxes share the cgroup %s", want)
	}
	var dirs []string
	for _, c := range []string{"pids", "memory", "cpu"} {
		root, _ := h.parent(c)
		if root == "" {
			continue
		}
		dirs = append(dirs, filepath.Join(root, want))
		for _, pid := range processesOf(b.uid) {
			if got := cgroupOf(pid, c, h); got != want {
				t.Errorf("process %d of the run is in the %s cgroup %q, not the sandbox's %s", pid, c, got, want)
			}
		}
	}
	b.destroy()
	<-done
	// Another test's sandbox may have these cgroups by now: only b's processes must be gone from them.
	for _, d := range dirs {
		for _, pid := range cgroupPids(d) {
			if slices.Contains(processesOf(b.uid), pid) {
				t.Errorf("the cgroup %s still holds the sandbox's process %d after its end", d, pid)
			}
		}
	}
	other.destroy()
	<-otherDone
}

// A jail asked for a CPU weight and no CPU limit still puts every run in a cpu cgroup below its
// kcr-jail-<pid> parent, which carries the weight; the run's own cgroup has no quota.
func TestJailRunsAreInItsWeightedCPUParent(t *testing.T) {
	t.Parallel()
	h := findCgroupHierarchies()
	root, v2 := h.parent("cpu")
	if root == "" {
		t.Skip("no cgroup cpu controller here")
	}
	j := ownJail(t, "--max-cpu", "0", "--cpu-weight", "4.0")
	b := j.create(t, "bash", false)
	done := make(chan result, 1)
	go func() { done <- b.run("bash", "sleep 30") }()
	defer func() { b.destroy(); <-done }()
	if !eventually(20*time.Second, func() bool { return len(processesOf(b.uid)) > 0 }) {
		t.Fatal("the run did not start")
	}
	parent := "/" + jailCgroupPrefix + strconv.Itoa(innerJailPid(j))
	got := cgroupOf(processesOf(b.uid)[0], "cpu", h)
	if filepath.Dir(got) != parent {
		t.Fatalf("the run's cpu cgroup is %q, want one below %s", got, parent)
	}
	weight, quota, want := "cpu.shares", "cpu.cfs_quota_us", []string{"4096", "-1"}
	if v2 {
		weight, quota, want = "cpu.weight", "cpu.max", []string{"400", "max 100000"}
	}
	for i, f := range []string{filepath.Join(root, parent, weight), filepath.Join(root, got, quota)} {
		if b, err := os.ReadFile(f); err != nil || strings.TrimSpace(string(b)) != want[i] {
			t.Errorf("%s: %q (%v), want %s", f, b, err, want[i])
		}
	}
}

func TestJailForkBombDoesNotStopAnotherRun(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	bomber, other := j.create(t, "bash", false), j.create(t, "py", false)
	bombed := make(chan result, 1)
	go func() {
		bombed <- bomber.execute(map[string]any{"language": "bash", "timeout_ms": 8000,
			"code": "bomb() { bomb | bomb & }\nbomb\nsleep 10\n"})
	}()
	// Wait until the bomb is at its limit, then start processes and threads elsewhere.
	if !eventually(20*time.Second, func() bool { return len(processesOf(bomber.uid)) >= jailProcs-5 }) {
		t.Fatalf("the bomb never reached the process limit: %d processes", len(processesOf(bomber.uid)))
	}
	out := other.py(`import subprocess, threading
ts = [threading.Thread(target=lambda: None) for _ in range(20)]
[t.start() for t in ts]; [t.join() for t in ts]
print(sum(subprocess.run(["true"]).returncode == 0 for _ in range(20)))
`)
	if out != "20\n" {
		t.Fatalf("a run beside a fork bomb: %q", out)
	}
	res := <-bombed
	if !strings.Contains(res.Stderr, "the sandbox process limit ("+strconv.Itoa(jailProcs)+") was reached") {
		t.Errorf("the fork bomb's run does not say what stopped it: %s", res.Stderr[max(0, len(res.Stderr)-300):])
	}
	if !eventually(10*time.Second, func() bool { return len(processesOf(bomber.uid)) == 0 }) {
		t.Errorf("%d processes of the bomb survived its run", len(processesOf(bomber.uid)))
	}
}

func TestJailBombsEndWithAClearMessage(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	cases := []struct {
		name, lang, code, notice string
	}{
		{"memory", "py", "x = bytearray(1024 * 1024 * 1024)\nprint('survived')", "killed: the sandbox memory limit (384 MiB) was exceeded"},
		{"disk", "py", "f = open('/mnt/data/big', 'wb')\nwhile True:\n    f.write(b'x' * 1048576)\n", "the sandbox disk limit (64 MiB for /mnt/data and /tmp together) was reached"},
		{"tmp disk", "bash", "cat /dev/zero > /tmp/big", "the sandbox disk limit (64 MiB for /mnt/data and /tmp together) was reached"},
		{"inodes", "py", "import os\nfor i in range(100000):\n    open('/tmp/f%d' % i, 'w').close()\n", "the sandbox file count limit (4096 files) was reached"},
		{"shm", "bash", "cat /dev/zero > /dev/shm/big", "the sandbox /dev/shm limit (16 MiB) was reached"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := j.create(t, c.lang, false)
			res := b.run(c.lang, c.code)
			if res.ExitCode == 0 || strings.Contains(res.Stdout, "survived") || !strings.Contains(res.Stderr, "[kubecoderun] "+c.notice) {
				t.Fatalf("%s bomb: %s", c.name, res)
			}
			if c.name == "memory" && (res.ExitCode != 137 || res.Signal == nil || *res.Signal != "SIGKILL") {
				t.Errorf("a run killed by the memory limit: want exit 137 and SIGKILL, got %s", res)
			}
			// The sandbox's next run is not blamed for the last one.
			if res := b.run("bash", "echo fine"); res.Stdout != "fine\n" || strings.Contains(res.Stderr, "[kubecoderun]") {
				t.Errorf("after the %s bomb: %s", c.name, res)
			}
		})
	}
	t.Run("output", func(t *testing.T) {
		b := j.create(t, "py", false)
		res := b.run("py", "import sys\nfor _ in range(200):\n    sys.stdout.write('x' * 100000)\n")
		if !res.StdoutTruncated || len(res.Stdout) != 1048576 || res.ExitCode != 0 {
			t.Fatalf("output bomb: %d bytes, truncated %v, exit %d", len(res.Stdout), res.StdoutTruncated, res.ExitCode)
		}
	})
}

// Data queued on loopback connections the code never reads sits in socket buffers: kernel memory,
// which counts against the sandbox's memory limit like any other. Otherwise one run holds gigabytes
// of the host's memory, and puts the host's TCP (one tcp_mem pool for every sandbox and the API)
// under pressure.
func TestJailSocketBuffersCountAgainstTheSandboxMemory(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	b := j.create(t, "py", false)
	// Each connection queues what the kernel takes without blocking (MiB of buffers each), until twice
	// the memory limit is queued or 400 connections are open.
	res := b.run("py", fmt.Sprintf(`import socket
srv = socket.create_server(("127.0.0.1", 0), backlog=512)
conns, queued, chunk = [], 0, b"x" * 65536
while queued < %d and len(conns) < 400:
    c = socket.create_connection(srv.getsockname())
    conns.append((c, srv.accept()[0]))
    c.setblocking(False)
    try:
        while True:
            queued += c.send(chunk)
    except BlockingIOError:
        pass
    print(queued >> 20, flush=True)
`, 2*jailMemory))
	lines := strings.Fields(res.Stdout)
	if len(lines) == 0 {
		t.Fatalf("the run queued nothing: %s", res)
	}
	queued, _ := strconv.Atoi(lines[len(lines)-1])
	// The limit (cgroup v1 has one for sockets alone), and what each connection may always queue past
	// it: ~53 KiB here, 100 KiB allowed (400 of them: 40 MiB).
	limit := jailMemory >> 20
	if _, v2 := findCgroupHierarchies().parent("memory"); !v2 {
		limit = sandboxSocketMemory >> 20
	}
	t.Logf("queued %d MiB (limit %d MiB)", queued, limit)
	if queued > limit+40 {
		t.Fatalf("a run queued %d MiB in socket buffers, past its sandbox's limit (%d MiB)", queued, limit)
	}
}

// A host may let the API's processes take real-time scheduling or raise their priority (LimitRTPRIO=
// and LimitNICE= in a systemd unit, --ulimit rtprio in a container). A run must not inherit that: a
// SCHED_FIFO busy loop escapes its sandbox's CPU quota and starves the host's other work.
func TestJailRunsGetNoRealTimeSchedulingOrRaisedPriority(t *testing.T) {
	t.Parallel()
	needRoot(t, "the jail tests run as root, like the local backend")
	needRealTimeLimits(t)
	// No CPU cgroup: a run stays in the jail's, where the host allows real-time tasks.
	j, err := startJailVia(t, withRealTimeLimits(), "--max-cpu", "0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.stop)
	for _, warm := range []bool{true, false} {
		b := j.create(t, "py", warm)
		if got := b.py(realTimeProbe); got != noRealTime {
			t.Errorf("warm=%v: a run got %q, want %q", warm, got, noRealTime)
		}
	}
}

func TestJailPseudoTerminalsAreBoundedPerSandbox(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	b := j.create(t, "py", false)
	out := b.py(`import os
n = 0
try:
    while True:
        os.openpty()
        n += 1
except OSError as e:
    print(n, e.strerror)
`)
	if out != "32 No space left on device\n" {
		t.Fatalf("pseudo-terminals one run could open: %q, want 32 then ENOSPC", out)
	}
}

func TestJailSandboxNetworksHaveConnectionTablesOfTheirOwn(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/sys/net/ipv4/tcp_child_ehash_entries"); err != nil {
		t.Skipf("a kernel before 6.1: sandboxes share the host's table (%v)", err)
	}
	j := sharedJail(t)
	b := j.create(t, "py", false)
	// tcp_ehash_entries is negative (minus the host table's size) in a namespace that shares the host's
	// table; udp_hash_entries likewise where the kernel has udp_child_hash_entries (6.2+). Loopback
	// still carries a connection in a namespace made from the parent.
	out := b.py(`import os, socket
for t in ("tcp_ehash_entries", "udp_hash_entries"):
    p = "/proc/sys/net/ipv4/" + t
    print(t, open(p).read().strip() if os.path.exists(p) else "absent")
srv = socket.create_server(("127.0.0.1", 0))
c = socket.create_connection(srv.getsockname())
s, _ = srv.accept()
c.sendall(b"ping")
print(s.recv(4).decode())`)
	wantUDP := "udp_hash_entries " + netParentBuckets
	if _, err := os.Stat("/proc/sys/net/ipv4/udp_child_hash_entries"); err != nil {
		wantUDP = "" // before 6.2 every namespace shares the host's UDP table
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || lines[0] != "tcp_ehash_entries "+netParentBuckets || wantUDP != "" && lines[1] != wantUDP || lines[2] != "ping" {
		t.Fatalf("the sandbox's tables (tcp, udp) and a loopback connection:\n%s\n%s", out, j.log.String())
	}
}

// A sandbox's network namespace goes to a later sandbox only as it was made: one a run left a socket
// or traffic or a lingering IPv6 flow label in is dropped, and the next sandbox gets a fresh one.
func TestJailNetworkNamespaceGoesToALaterSandboxOnlyAsItWasMade(t *testing.T) {
	t.Parallel()
	j := ownJail(t)
	// Its namespace, the IPv4 packets it ever sent, its TCP sockets and flow labels.
	const look = `import os
print(os.readlink("/proc/self/ns/net"))
snmp = [l.split() for l in open("/proc/net/snmp") if l.startswith("Ip:")]
print("OutRequests", snmp[1][snmp[0].index("OutRequests")])
print("tcp", len(open("/proc/net/tcp").readlines()) - 1)
print("flowlabels", len(open("/proc/net/ip6_flowlabel").readlines()) - 1)
`
	lines := func(b *jailBox, more string) []string {
		return strings.Split(strings.TrimSpace(b.py(look+more)), "\n")
	}
	netns := func() map[string]any { return j.health(t)["netns"].(map[string]any) }
	// The jail looks at a namespace given back after the sandbox's end, on a thread of its own.
	looked := func(kept, dropped float64) {
		t.Helper()
		if !eventually(10*time.Second, func() bool { n := netns(); return n["kept"] == kept && n["dropped"] == dropped }) {
			t.Fatalf("want %v kept and %v dropped: %v", kept, dropped, netns())
		}
	}
	// The jail's own probe at start gave one back already: wait until it is looked at, or it could
	// be counted below in place of a's and a's namespace still be waiting to be looked at.
	looked(1, 0)
	fresh := func(what string, l []string) {
		t.Helper()
		if l[1] != "OutRequests 0" || l[2] != "tcp 0" || l[3] != "flowlabels 0" {
			t.Fatalf("%s: the namespace is not as new: %v", what, l)
		}
	}

	a := j.create(t, "py", false)
	first := lines(a, "print(1)\n")
	fresh("a run that did not touch the network", first)
	a.destroy()
	looked(2, 0)
	b := j.create(t, "py", false)
	again := lines(b, "")
	if again[0] != first[0] {
		t.Fatalf("a namespace left as made was not given to the next sandbox: %s then %s (%v)", first[0], again[0], netns())
	}
	fresh("the namespace given again", again)

	// Loopback traffic, and a listener whose socket dies with the run.
	lines(b, `import socket
srv = socket.create_server(("127.0.0.1", 0))
c = socket.create_connection(srv.getsockname())
s, _ = srv.accept()
c.sendall(b"ping")
assert s.recv(4) == b"ping"
`)
	b.destroy()
	looked(2, 1) // a namespace a run sent packets in is not kept
	c := j.create(t, "py", false)
	next := lines(c, "")
	if next[0] == again[0] {
		t.Fatalf("the namespace a run sent packets in went to the next sandbox: %s", next[0])
	}
	fresh("the namespace after one that was dropped", next)

	// An IPv6 flow label lingers after its socket, with no packet sent: no one else may see it.
	if _, err := os.Stat("/proc/net/ip6_flowlabel"); err != nil {
		t.Skipf("no IPv6 flow labels in this kernel (%v)", err)
	}
	label := lines(c, `import socket, struct
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, 32, struct.pack("16sIBBHHHI", socket.inet_pton(socket.AF_INET6, "::1"), socket.htonl(0x12345), 0, 255, 1, 0, 60, 0))
s.close()
print("lingering", len(open("/proc/net/ip6_flowlabel").readlines()) - 1)
`)
	if label[len(label)-1] != "lingering 1" {
		t.Fatalf("the run could not leave a flow label behind, so this checks nothing: %v", label)
	}
	c.destroy()
	looked(2, 2) // nor one with a lingering flow label
	d := j.create(t, "py", false)
	last := lines(d, "")
	if last[0] == next[0] {
		t.Fatalf("the namespace with a flow label went to the next sandbox: %s", last[0])
	}
	fresh("the namespace after the flow label's", last)
}

func TestJailRunsCannotSeeEachOther(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	a, b := j.create(t, "py", false), j.create(t, "py", false)
	done := make(chan result, 1)
	go func() {
		done <- a.execute(map[string]any{"language": "py", "timeout_ms": 60000, "code": "import time\n" +
			"open('/mnt/data/a-secret-file', 'w').write('a')\nopen('/tmp/a-secret-tmp', 'w').write('a')\n" +
			"open('/dev/shm/a-secret-shm', 'w').write('a')\ntime.sleep(20)\n"})
	}()
	// A's last file, seen (as root) through its holder's root: A's files are all there.
	if !eventually(20*time.Second, func() bool { return exists("/proc/" + strconv.Itoa(a.pid) + "/root/dev/shm/a-secret-shm") }) {
		t.Fatal("run A did not start")
	}
	out := b.py(`import os
found = []
for top in ("/mnt", "/tmp", "/dev", "/opt", "/etc"):
    for d, dirs, files in os.walk(top):
        found += [f for f in files if "secret" in f]
print(found)
mine = os.getpid()
print(sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, mine)))
try:
    os.kill(-1, 9)  # every process this run may signal: none but its own
    print("signalled")
except OSError as e:
    print(type(e).__name__)
`)
	if out != "[]\n[]\nProcessLookupError\n" {
		t.Fatalf("sandbox B sees sandbox A:\n%s", out)
	}
	if len(processesOf(a.uid)) == 0 {
		t.Fatal("sandbox B killed sandbox A's run")
	}
	a.destroy()
	<-done
}

func TestJailLeavesNoSurvivorAfterARun(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	b := j.create(t, "bash", false)
	res := b.run("bash", "(sleep 1017 &) ; setsid sleep 1018 & nohup sleep 1019 >/dev/null 2>&1 & disown; echo started")
	if res.Stdout != "started\n" {
		t.Fatalf("run: %s", res)
	}
	if !eventually(5*time.Second, func() bool {
		return len(processesOf(b.uid)) == 0 && len(processesWithArgs("sleep", "1017"))+len(processesWithArgs("sleep", "1018"))+len(processesWithArgs("sleep", "1019")) == 0
	}) {
		t.Fatalf("processes survived the run: %v", processesOf(b.uid))
	}
	res = b.execute(map[string]any{"language": "bash", "timeout_ms": 1000, "code": "sleep 1020 &\nsetsid sleep 1021 &\nwhile :; do :; done\n"})
	if !res.TimedOut || res.ExitCode != 124 {
		t.Fatalf("timeout: %s", res)
	}
	if !eventually(5*time.Second, func() bool { return len(processesOf(b.uid)) == 0 }) {
		t.Fatalf("processes survived the timeout: %v", processesOf(b.uid))
	}
}

func TestJailSingleUseSandboxEndsItselfAfterARunThatLeftNoFile(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	b := j.createSingleUse(t, "bash")
	if res := b.run("bash", "sleep 1022 & echo hi"); res.Stdout != "hi\n" || !res.SandboxEnded {
		t.Fatalf("a single-use sandbox whose run left no file did not say it ended: %s", res)
	}
	if !eventually(10*time.Second, func() bool {
		return syscall.Kill(b.pid, 0) == syscall.ESRCH && len(processesOf(b.uid)) == 0
	}) {
		t.Fatalf("the sandbox outlived its answer: holder %d, processes %v", b.pid, processesOf(b.uid))
	}
	if status, out := j.request("POST", "/execute", b.token, strings.NewReader(`{"language":"bash","code":"echo"}`)); status != http.StatusUnauthorized {
		t.Errorf("the ended sandbox's token still answers: %d %s", status, out)
	}
	// A destroy that comes anyway (the API lost the answer) finds nothing.
	if status, out := j.request("DELETE", "/sandboxes/"+b.id, jailAdmin, nil); status != http.StatusNotFound {
		t.Errorf("destroying the ended sandbox: %d %s", status, out)
	}

	// A run that left a file: the API reads it next, so its sandbox waits for the API's destroy.
	f := j.createSingleUse(t, "bash")
	if res := f.run("bash", "echo x > out.txt"); res.SandboxEnded || len(res.Files) != 1 {
		t.Fatalf("a run that left a file: %s", res)
	}
	if status, out := j.request("GET", "/files/out.txt", f.token, nil); status != http.StatusOK || string(out) != "x\n" {
		t.Fatalf("reading the file after the run: %d %q", status, out)
	}
	if status, out := j.request("DELETE", "/sandboxes/"+f.id, jailAdmin, nil); status != http.StatusNoContent {
		t.Fatalf("destroying the sandbox that kept its file: %d %s", status, out)
	}

	// A sandbox that is not single-use (a session's) never ends itself.
	k := j.create(t, "bash", false)
	for i := 0; i < 2; i++ {
		if res := k.run("bash", "echo again"); res.Stdout != "again\n" || res.SandboxEnded {
			t.Fatalf("run %d in a reusable sandbox: %s", i, res)
		}
	}
}

func TestJailRunsGetFreshRandomness(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	a, b := j.create(t, "py", false), j.create(t, "py", false)
	code := `import random, uuid, secrets, tempfile, os, numpy
print(random.random(), numpy.random.rand(), uuid.uuid4(), secrets.token_hex(8), os.urandom(8).hex(),
      os.path.basename(tempfile.NamedTemporaryFile().name), hash(os.urandom(4)))
`
	seen := map[string]string{}
	for i, box := range []*jailBox{a, a, b} {
		fields := strings.Fields(box.py(code))
		if len(fields) != 7 {
			t.Fatalf("run %d: %v", i, fields)
		}
		for k, v := range fields[:6] {
			if prev, ok := seen[strconv.Itoa(k)+v]; ok {
				t.Errorf("value %d repeated in run %d (first in %s): %s", k, i, prev, v)
			}
			seen[strconv.Itoa(k)+v] = strconv.Itoa(i)
		}
	}
}

// A fork shares a MAP_SHARED mapping with the template and every other child: a writable one would be
// a channel between sandboxes, and into the template's memory.
func TestJailTemplatesHoldNoWritableSharedMemory(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	j.waitNodeTemplate(t)
	ready := func() bool {
		for _, tpl := range j.health(t)["templates"].(map[string]any) {
			if tpl.(map[string]any)["ready"] != true {
				return false
			}
		}
		return true
	}
	if !eventually(60*time.Second, ready) {
		t.Fatalf("the templates are not all running: %v", j.health(t))
	}
	for name, tpl := range j.health(t)["templates"].(map[string]any) {
		pid := int(tpl.(map[string]any)["pid"].(float64))
		maps, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
		if err != nil {
			t.Fatalf("the %s template (pid %d): %v", name, pid, err)
		}
		for _, line := range strings.Split(string(maps), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[1][1] == 'w' && f[1][3] == 's' {
				t.Errorf("the %s template has a writable shared mapping: %s", name, line)
			}
		}
	}
}

func TestJailTemplatesAndHoldersHoldNoSecret(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	b := j.create(t, "js", true)
	h := j.health(t)
	templates := h["templates"].(map[string]any)
	pids := []int{b.pid}
	for _, tpl := range templates { // py, exec and, with its addon, js
		pids = append(pids, int(tpl.(map[string]any)["pid"].(float64)))
	}
	allowed := map[string]bool{}
	for _, kv := range j.childEnv() {
		allowed[kv] = true
	}
	for _, pid := range pids {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			t.Fatalf("pid %d: %v", pid, err)
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if kv != "" && !allowed[kv] {
				t.Errorf("pid %d has %q in its environment", pid, kv)
			}
		}
		if bytes.Contains(env, []byte(jailAdmin)) || bytes.Contains(env, []byte(b.token)) || bytes.Contains(env, []byte("RUNNER_")) {
			t.Errorf("pid %d holds a token in its environment", pid)
		}
	}
	// What a run sees of its own environment: the same, nothing of the jail server's.
	out := b.run("js", "console.log(Object.keys(process.env).sort().join(' '))").Stdout
	if strings.Contains(out, "RUNNER") || strings.Contains(out, "TOKEN") || !strings.Contains(out, "PATH") {
		t.Errorf("a run's environment: %s", out)
	}
}

// childEnv is the environment every template and child gets.
func (j *testJail) childEnv() []string {
	cfg, err := parseJailConfig([]string{"--base", "/x"}, envOf(map[string]string{"RUNNER_ADMIN_TOKEN": "x", "RUNNER_TOOL_PYTHON": "/usr/bin/python3"}))
	if err != nil {
		panic(err)
	}
	for k, v := range testEnv() {
		if name, ok := strings.CutPrefix(k, "RUNNER_TOOL_"); ok {
			cfg.Child.Tools[name] = v
		}
	}
	return buildEnv(&Config{ChildScratch: "/tmp", ChildWorkdir: "/mnt/data", Tools: cfg.Child.Tools})
}

func TestJailStateAndFilesBehaveAsWithoutIt(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	b := j.create(t, "py", false)
	status, out := j.request("PUT", "/files/in/data.csv", b.token, strings.NewReader("a,b\n1,2\n"))
	if status != http.StatusCreated {
		t.Fatalf("put: %d %s", status, out)
	}
	j.request("PUT", "/files/gone.txt", b.token, strings.NewReader("x"))
	res := b.execute(map[string]any{"language": "py", "capture_state": true, "timeout_ms": 60000, "code": `import pandas as pd, os
df = pd.read_csv("in/data.csv")
df["c"] = df.a + df.b
df.to_csv("in/data.csv", index=False)
import matplotlib.pyplot as plt
df.plot(); plt.savefig("plot.png")
os.remove("gone.txt")
total = int(df.c.sum())
def twice(x): return 2 * x
print(total)
`})
	if res.ExitCode != 0 || res.Stdout != "3\n" || res.State == "" || len(res.StateErrors) != 0 {
		t.Fatalf("first run: %s", res)
	}
	if got := strings.Join(changedPaths(res.Files), ","); got != "created plot.png,modified in/data.csv" || strings.Join(res.Deleted, ",") != "gone.txt" {
		t.Fatalf("files: %s deleted %v", got, res.Deleted)
	}
	status, png := j.request("GET", "/files/plot.png", b.token, nil)
	if status != 200 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("plot: %d %d bytes", status, len(png))
	}
	c := j.create(t, "py", false)
	res = c.execute(map[string]any{"language": "py", "state": res.State, "capture_state": true, "timeout_ms": 60000,
		"code": "print(twice(total))"})
	if res.ExitCode != 0 || res.Stdout != "6\n" {
		t.Fatalf("state restored in another sandbox: %s", res)
	}
	res = c.run("py", "import sys\nprint('err', file=sys.stderr)\nraise SystemExit(3)")
	if res.ExitCode != 3 || res.Stderr != "err\n" {
		t.Fatalf("exit code: %s", res)
	}
	res = c.run("py", "def f():\n    1/0\nf()")
	if res.ExitCode != 1 || !strings.Contains(res.Stderr, `File "/tmp/code/code.py", line 3, in <module>`) || !strings.Contains(res.Stderr, "ZeroDivisionError") {
		t.Fatalf("traceback: %s", res)
	}
}

// The template's savefig skips matplotlib's second draw when it would draw the same picture: what a
// program sees on the canvas after savefig must be what python3 code.py shows (a fresh draw), whatever
// the options, and the draw must really be skipped where it changes nothing.
func TestJailSavefigLeavesTheCanvasAsWithoutTheTemplate(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	b := j.create(t, "py", true)
	out := b.py(`import io, sys
import numpy as np
import matplotlib.pyplot as plt

draws = 0
def profile(frame, event, arg):
    global draws
    if event == "call" and frame.f_code.co_name == "draw" and frame.f_code.co_filename.endswith("/matplotlib/figure.py"):
        draws += 1

fig_dpi = plt.rcParams["figure.dpi"]

def case(name, target, **kwargs):
    global draws
    plt.close("all")
    fig, ax = plt.subplots()
    ax.plot([0, 1, 4], label="y")
    ax.legend()
    events = []
    if name == "listener":
        fig.canvas.mpl_connect("draw_event", lambda e: events.append(e))
    if name == "animated":
        ax.plot([1, 0], animated=True)
    if name.startswith("tight"):
        plt.tight_layout()
    if name == "subfigure":
        fig.subfigures(1, 1).subplots().plot([2, 1])
    draws = 0
    sys.setprofile(profile)
    with plt.rc_context({"savefig.facecolor": "red"} if name == "rc facecolor" else {}):
        plt.savefig(target, **kwargs)
    sys.setprofile(None)
    seen, stale = np.asarray(fig.canvas.buffer_rgba()).copy(), fig.stale
    fig.canvas.draw()
    fresh = np.asarray(fig.canvas.buffer_rgba())
    same = seen.shape == fresh.shape and bool((seen == fresh).all())
    print(name, draws, same, stale, len(events))

case("png", "a.png")
case("stream", io.BytesIO(), format="png")
case("transparent", "b.png", transparent=True)
case("dpi", "c.png", dpi=50)
case("dpi of the figure", "c.png", dpi=fig_dpi)
case("tight layout", "g.png")
case("tight bbox", "h.png", bbox_inches="tight")
case("tight layout, dpi", "i.png", dpi=200)
case("rc facecolor", "j.png")
case("subfigure", "k.png")
case("svg", "d.svg")
case("listener", "e.png")
case("animated", "f.png")
`)
	want := "png 1 True False 0\nstream 1 True False 0\ntransparent 2 True False 0\ndpi 2 True False 0\n" +
		"dpi of the figure 1 True False 0\ntight layout 2 True False 0\ntight bbox 3 True False 0\n" +
		"tight layout, dpi 3 True False 0\nrc facecolor 2 True False 0\nsubfigure 4 True False 0\n" +
		"svg 2 True False 0\nlistener 2 True False 3\nanimated 2 True False 0\n"
	if out != want {
		t.Fatalf("draws, canvas as a fresh draw, stale, draw events:\n%s\nwant\n%s", out, want)
	}
}

// A forked Node run shares no descriptor with its template. The template's other event loops (its
// threads') read their signal pipes as messages holding a handle's address and call through it: a run
// that wrote 16 bytes to one crashed the template, which runs outside any jail, and with it every js
// run in flight.
func TestJailNodeRunsShareNoDescriptorWithTheTemplate(t *testing.T) {
	j := ownJail(t) // a failure crashes its Node template
	j.waitNodeTemplate(t)
	jsTemplate := func() map[string]any {
		return j.health(t)["templates"].(map[string]any)["js"].(map[string]any)
	}
	before := jsTemplate()
	// Every descriptor above the run's own (0-4) gets a forged message; the pipes are listed.
	hostile := `const fs = require('fs');
const pipes = [];
for (const fd of fs.readdirSync('/proc/self/fd').map(Number).filter((fd) => fd > 4)) {
  let kind; try { kind = fs.readlinkSync('/proc/self/fd/' + fd); } catch { continue; }
  if (kind.startsWith('pipe:')) pipes.push(kind);
  try { fs.writeSync(fd, Buffer.alloc(16, 0x41)); } catch {}
}
console.log(pipes.sort().join(' '));
`
	first := j.create(t, "js", true).run("js", hostile)
	second := j.create(t, "js", true).run("js", hostile)
	if first.ExitCode != 0 || second.ExitCode != 0 || first.Stdout == "" {
		t.Fatalf("the runs writing to every descriptor they hold:\n%s\n%s", first, second)
	}
	for _, pipe := range strings.Fields(first.Stdout) {
		if strings.Contains(second.Stdout, pipe) {
			t.Errorf("two sandboxes' runs hold the same %s: %q and %q", pipe, first.Stdout, second.Stdout)
		}
	}
	// The template's threads had the time of a sandbox's creation and a run to read what was written.
	res := j.create(t, "js", true).run("js", "console.log(1)")
	after := jsTemplate()
	if res.ExitCode != 0 || res.Stdout != "1\n" || after["starts"] != before["starts"] || after["pid"] != before["pid"] {
		t.Fatalf("the Node template after runs wrote to what they hold: %v, then %v; a run: %s\n%s",
			before, after, res, j.log.String())
	}
}

func TestJailNodeRunsAreForkedIntoTheSameJail(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	j.waitNodeTemplate(t)
	b := j.create(t, "js", true)
	res := b.run("js", `const fs = require('fs');
const st = fs.readFileSync('/proc/self/status', 'utf8');
console.log(process.getuid(), st.match(/^(CapEff|CapBnd|NoNewPrivs|Seccomp):.*$/gm).join(' '));
const kinds = fs.readdirSync('/proc/self/fd').map((fd) => { try { return fs.readlinkSync('/proc/self/fd/' + fd); } catch { return 'gone'; } });
console.log(kinds.filter((k) => /socket|pidfd|ns\/|:\[pid|^\/(?!dev\/null|proc\/)/.test(k)).join(' ') || 'none');
const cp = require('child_process');
console.log(cp.spawnSync('unshare', ['-U', 'true']).status, process.argv.slice(1).join(' '));
// The runner's status pipe (fd 3): a program the code starts must not get it (it could end the run).
console.log(cp.spawnSync('sh', ['-c', 'echo 0 >&3']).status === 0 ? 'fd 3 inherited' : 'fd 3 closed');
`)
	if res.ExitCode != 0 || res.Stdout != "65532 CapEff:\t0000000000000000 CapBnd:\t0000000000000000 NoNewPrivs:\t1 Seccomp:\t2\nnone\n1 /tmp/code/code.js\nfd 3 closed\n" {
		t.Fatalf("a forked Node run: %s", res)
	}
	res = b.run("js", "function f() {\n  throw new TypeError('bad type');\n}\nf();\n")
	if res.ExitCode != 1 || !strings.Contains(res.Stderr, "/tmp/code/code.js:2\n  throw new TypeError('bad type');\n  ^\n\nTypeError: bad type\n    at f (") {
		t.Fatalf("an uncaught exception in a forked Node run: %s", res)
	}
	// Full garbage collections and wasm: V8 jobs that would wait for worker threads a fork lacks. The
	// compiled module and the timer must both come; in which order is not Node's to promise: the
	// compile resolves from a task the event loop runs after its timers, so a run off the CPU for 5 ms
	// before its loop starts sees the timer first.
	res = b.run("js", `let a = []; for (let i = 0; i < 2e6; i++) a.push({ i, s: 'x' + i }); a = null;
const bufs = []; for (let i = 0; i < 100; i++) bufs.push(new ArrayBuffer(1 << 20)); bufs.length = 0;
const wasm = WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
const timer = new Promise((resolve) => setTimeout(resolve, 5, 'timer'));
Promise.all([wasm, timer]).then(([m, t]) => console.log(m instanceof WebAssembly.Module ? 'wasm' : m, t));
`)
	if res.ExitCode != 0 || res.Stdout != "wasm timer\n" {
		t.Fatalf("garbage collection and wasm in a forked Node run: %s", res)
	}
	// The template's warm-up leaves nothing a run can see: no gc() (the template ran one; only a new
	// vm context has it, as docs/runner-protocol.md says), no module.
	res = b.run("js", "console.log(typeof gc, require('vm').runInNewContext('typeof gc'), Object.keys(require.cache).filter((k) => k.includes('warm-up')).length)")
	if res.ExitCode != 0 || res.Stdout != "undefined function 0\n" {
		t.Fatalf("the Node template's warm-up is visible to a run: %s", res)
	}
	// A run killed by a signal never writes its status pipe: its end is the wait status.
	res = b.run("js", "console.log('before');\nprocess.kill(process.pid, 'SIGTERM');\nsetTimeout(() => {}, 10000);\n")
	if res.ExitCode != 143 || res.Signal == nil || *res.Signal != "SIGTERM" || res.Stdout != "before\n" {
		t.Fatalf("a forked Node run killed by a signal: %s", res)
	}
	res = b.run("js", "process.on('exit', (c) => console.log('exiting', c));\nsetTimeout(() => process.exit(4), 5);\n")
	if res.ExitCode != 4 || res.Stdout != "exiting 4\n" {
		t.Fatalf("process.exit in a forked Node run: %s", res)
	}
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		out := b.run("js", "console.log(Math.random(), require('crypto').randomUUID())").Stdout
		for _, v := range strings.Fields(out) {
			if seen[v] {
				t.Errorf("value repeated in another run: %s", v)
			}
			seen[v] = true
		}
	}
}

// A js run forked from the Node template imports the installed npm packages as an ES module and requires
// them as CommonJS. It cannot change them, and what it puts in their place is gone for the next run.
func TestJailNodeRunsImportInstalledPackages(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	j.waitNodeTemplate(t)
	if _, err := os.Stat(filepath.Join(nodeModulesOf(testEnv()["RUNNER_TOOL_TSC"]), "lodash")); err != nil {
		t.Skip("no npm libraries next to the TypeScript compiler (scripts/install-prereqs installs them)")
	}
	b := j.create(t, "js", true)
	for _, c := range jsModuleCases {
		if res := b.run("js", c.code); res.ExitCode != 0 || res.Stdout != c.want {
			t.Errorf("%s: want %q, got %s", c.name, c.want, res)
		}
	}
	res := b.run("js", `import fs from "node:fs";
const nm = import.meta.dirname + "/node_modules";
try {
  fs.writeFileSync(nm + "/lodash/package.json", "{}");
  console.log("changed the installed lodash");
} catch (e) {
  console.log(e.code);
}
fs.unlinkSync(nm);
fs.mkdirSync(nm + "/lodash", { recursive: true });
fs.writeFileSync(nm + "/lodash/index.js", "module.exports = { sum: () => 'planted' };");
`)
	if res.ExitCode != 0 || res.Stdout != "EROFS\n" {
		t.Fatalf("a run writing into the installed packages, then planting its own: %s", res)
	}
	if res := b.run("js", jsModuleCases[0].code); res.ExitCode != 0 || res.Stdout != "3\n" {
		t.Errorf("the run after one that planted a package: %s", res)
	}
}

// A js run forked from the Node template ends with the exit code `node code.js` would: process.exitCode
// as the 'exit' listeners left it.
func TestJailNodeRunsEndWithNodesExitCode(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	j.waitNodeTemplate(t)
	b := j.create(t, "js", true)
	for _, c := range []struct {
		name, code string
		want       int
	}{
		{"an 'exit' listener setting process.exitCode", "process.on('exit', () => { process.exitCode = 9; });\n", 9},
		{"one changing the code of process.exit", "process.on('exit', () => { process.exitCode = 5; });\nprocess.exit(4);\n", 5},
		{"process.exitCode set by the code", "process.exitCode = 6;\n", 6},
		{"an ES module whose top-level await never settles", "await new Promise(() => {});\n", 13},
		{"an ES module that ends", "await Promise.resolve();\n", 0},
	} {
		if res := b.run("js", c.code); res.ExitCode != c.want {
			t.Errorf("%s: want exit %d, got %s", c.name, c.want, res)
		}
	}
}

// A pooled sandbox's child is forked ahead from the preloaded template while one of the last Python
// runs needed it, and a child of the preloaded template serves code that needs only the stdlib as well.
func TestJailForksAheadFromTheTemplateRecentPythonRunsNeeded(t *testing.T) {
	j := ownJail(t) // the choice is the jail server's: no other test's runs in between
	forks := func() (py, py0 float64) {
		ts := j.health(t)["templates"].(map[string]any)
		return ts["py"].(map[string]any)["forks"].(float64), ts["py0"].(map[string]any)["forks"].(float64)
	}
	const needsPreload = "try:\n    import numpy\nexcept ImportError:\n    pass\nprint('ok')\n"
	const stdlibOnly = "import json\nprint('ok')\n"
	forksOfRun := func(b *jailBox, code string) [2]float64 {
		t.Helper()
		py, py0 := forks()
		if out := b.py(code); out != "ok\n" {
			t.Fatalf("stdout %q", out)
		}
		py2, py02 := forks()
		return [2]float64{py2 - py, py02 - py0}
	}
	forksOfCreate := func() (*jailBox, [2]float64) {
		py, py0 := forks()
		b := j.create(t, "py", true)
		py2, py02 := forks()
		return b, [2]float64{py2 - py, py02 - py0}
	}
	if !eventually(60*time.Second, func() bool {
		return j.health(t)["templates"].(map[string]any)["py0"].(map[string]any)["ready"] == true
	}) {
		t.Fatal("the bare template is not ready")
	}

	a, got := forksOfCreate()
	if got != [2]float64{0, 1} {
		t.Fatalf("a new jail forks ahead from the bare template: forks (py, py0) %v", got)
	}
	if got := forksOfRun(a, needsPreload); got != [2]float64{1, 0} {
		t.Fatalf("code importing numpy forks the preloaded template at its run: forks %v", got)
	}
	b, got := forksOfCreate()
	if got != [2]float64{1, 0} {
		t.Fatalf("after it, a sandbox forks ahead from the preloaded template: forks %v", got)
	}
	c, _ := forksOfCreate()
	if got := forksOfRun(b, needsPreload); got != [2]float64{0, 0} {
		t.Fatalf("the preloaded child forked ahead serves code importing numpy: forks %v", got)
	}
	if got := forksOfRun(c, stdlibOnly); got != [2]float64{0, 0} {
		t.Fatalf("and code needing only the stdlib: forks %v", got)
	}
	d, got := forksOfCreate()
	if got != [2]float64{1, 0} {
		t.Fatalf("one stdlib-only run after plots: sandboxes still fork ahead from the preloaded template: forks %v", got)
	}
	forksOfRun(d, stdlibOnly)
	for range preloadWindow - 2 { // stdlib-only runs, forked at their run
		forksOfRun(j.create(t, "py", false), stdlibOnly)
	}
	e, got := forksOfCreate()
	if got != [2]float64{0, 1} {
		t.Fatalf("after %d stdlib-only runs, sandboxes fork ahead from the bare template again: forks %v", preloadWindow, got)
	}
	if got := forksOfRun(e, stdlibOnly); got != [2]float64{0, 0} {
		t.Fatalf("whose child serves code needing only the stdlib: forks %v", got)
	}
}

// The preloaded template's memory is in 2 MiB pages (pyrun.py huge_pages): a fork copies a page table
// entry per 2 MiB of it, not per 4 KiB.
func TestJailPreloadedTemplateMemoryIsInHugePages(t *testing.T) {
	if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || strings.Contains(string(b), "[never]") {
		t.Skip("transparent huge pages are off on this host")
	}
	var major, minor int
	fmt.Sscanf(readFile(t, "/proc/sys/kernel/osrelease"), "%d.%d", &major, &minor)
	if major < 6 || major == 6 && minor < 1 {
		t.Skipf("MADV_COLLAPSE came with Linux 6.1, this is %d.%d", major, minor)
	}
	if _, err := os.Stat("/opt/kubecoderun/venv/bin/python3"); err != nil {
		t.Skip("no preloaded packages here (scripts/install-prereqs installs them)")
	}
	j := ownJail(t)
	tpl := j.health(t)["templates"].(map[string]any)["py"].(map[string]any)
	reported := tpl["huge_kb"].(float64)
	if reported < 8<<10 {
		t.Fatalf("the template says %.0f KiB of its memory is in 2 MiB pages, want at least 8 MiB: %v", reported, tpl)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", int(tpl["pid"].(float64))))
	if err != nil {
		t.Fatal(err)
	}
	var huge int
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "AnonHugePages:"); ok {
			huge, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	if huge < 8<<10 {
		t.Fatalf("the kernel sees %d KiB of the template in 2 MiB pages, want at least 8 MiB", huge)
	}
}

// The template's own after-fork steps run in the child before its jail, while the template's fds are
// still open: matplotlib's hook closes its cached fonts' files, which after the jail entry would be
// closed already (an error on the run's stderr) or be the job's own fds.
func TestJailRunOfThePreloadedTemplateGetsNothingOfItsAfterForkSteps(t *testing.T) {
	if _, err := os.Stat("/opt/kubecoderun/venv/bin/python3"); err != nil {
		t.Skip("no matplotlib here (scripts/install-prereqs installs it)")
	}
	j := ownJail(t)
	for _, warm := range []bool{false, true} { // forked at its run, and forked ahead
		res := j.create(t, "py", warm).run("py", "import matplotlib.pyplot as plt\nprint(len(plt.get_fignums()))\n")
		if res.ExitCode != 0 || res.Stdout != "0\n" || res.Stderr != "" {
			t.Errorf("a run from the preloaded template (forked ahead: %v): %s", warm, res)
		}
	}
}

// A child forked ahead from the preloaded template copies, while it waits, the pages a plot would make
// it copy; a child forked for a run that is already there does not.
func TestJailChildForkedAheadCopiesThePlotPagesBeforeItsRun(t *testing.T) {
	j := ownJail(t)
	tpl := func() map[string]any { return j.health(t)["templates"].(map[string]any)["py"].(map[string]any) }
	pages := tpl()["prefault_pages"].(float64)
	if pages == 0 {
		if _, err := os.Stat("/opt/kubecoderun/venv/bin/python3"); err == nil {
			t.Fatalf("a template with matplotlib found no page to copy ahead: %v", tpl())
		}
		t.Skip("no matplotlib here (scripts/install-prereqs installs it)")
	}
	const plot = `import resource
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
before = faults()
import matplotlib.pyplot as plt
plt.plot([1, 2, 3], [4, 1, 9])
plt.title("t")
plt.savefig("p.png")
print(before, faults() - before)
`
	faults := func(b *jailBox) (before, during int) {
		t.Helper()
		if _, err := fmt.Sscan(b.py(plot), &before, &during); err != nil {
			t.Fatal(err)
		}
		return
	}
	// Forked at its run, with its job already there: it copies nothing ahead.
	cold := j.create(t, "py", false)
	coldBefore, coldDuring := faults(cold)
	if coldBefore > int(pages)/4 {
		t.Errorf("a child forked for its run took %d faults before its code (%v pages to copy ahead)", coldBefore, pages)
	}
	// The run above needed the preloaded template: a pooled sandbox now forks its child from it ahead.
	warm := j.create(t, "py", true)
	child := func() int {
		for _, pid := range processesOf(warm.uid) {
			if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); bytes.Contains(cmd, []byte("zygote.py")) {
				return pid
			}
		}
		return 0
	}
	copied := func() float64 { // its private dirty pages
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", child()))
		var kb float64
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Private_Dirty:"); ok {
				fmt.Sscan(v, &kb)
			}
		}
		return kb / 4
	}
	if !eventually(30*time.Second, func() bool { return copied() >= pages*0.9 }) {
		t.Fatalf("the child forked ahead copied %.0f pages, not the %.0f a plot copies", copied(), pages)
	}
	_, warmDuring := faults(warm)
	t.Logf("page faults of a plot: %d forked ahead, %d forked for its run (%d before its code)", warmDuring, coldDuring, coldBefore)
	if warmDuring*3 > coldDuring {
		t.Errorf("a plot took %d faults in a child forked ahead, %d in one forked for its run", warmDuring, coldDuring)
	}
}

func TestJailLanguagesAndWarmNode(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	js := j.create(t, "js", true)
	if !eventually(30*time.Second, func() bool {
		status, body := j.request("GET", "/health", "", nil)
		return status == 200 && bytes.Contains(body, []byte(`"js":true`))
	}) {
		t.Fatal("no warm js")
	}
	res := js.run("js", "console.log(require.main === module, process.argv.length, typeof require('fs').readFileSync)")
	if res.ExitCode != 0 || res.Stdout != "true 2 function\n" {
		t.Fatalf("js: %s", res)
	}
	for _, c := range []struct{ lang, code, want string }{
		{"bash", "echo $((6*7)) $(id -u)", "42 65532\n"},
		{"c", "#include <stdio.h>\nint main(void){printf(\"%d\\n\", 6*7);return 0;}", "42\n"},
		{"go", "package main\nimport \"fmt\"\nfunc main(){fmt.Println(6*7)}", "42\n"},
		{"js", "console.log(6*7)", "42\n"},
	} {
		b := j.create(t, c.lang, false)
		if res := b.run(c.lang, c.code); res.ExitCode != 0 || res.Stdout != c.want {
			t.Errorf("%s: %s", c.lang, res)
		}
	}
}

func TestJailStopEndsRunsAndCleansUp(t *testing.T) {
	t.Parallel()
	j := ownJail(t)
	b := j.create(t, "bash", false)
	done := make(chan result, 1)
	go func() { done <- b.run("bash", "echo started; sleep 60") }()
	if !eventually(20*time.Second, func() bool { return len(processesWithArgs("sleep", "60")) > 0 && len(processesOf(b.uid)) > 0 }) {
		t.Fatal("the run did not start")
	}
	inner := innerJailPid(j)
	j.stop()
	res := <-done
	if res.Stdout != "started\n" || !strings.Contains(res.Stderr, stoppedNotice) {
		t.Errorf("a run when the jail stops: %s", res)
	}
	if !eventually(5*time.Second, func() bool { return len(processesOf(b.uid)) == 0 }) {
		t.Errorf("processes left: %v", processesOf(b.uid))
	}
	// Its cgroups are gone.
	for _, c := range []string{"pids", "memory", "cpu"} {
		if d, _ := findCgroupHierarchies().parent(c); d != "" {
			if _, err := os.Stat(filepath.Join(d, jailCgroupPrefix+strconv.Itoa(inner))); err == nil {
				t.Errorf("the %s cgroup of the jail is left", c)
			}
		}
	}
}

// innerJailPid is the pid of the jail server proper (runner __jail, the child of runner jail).
func innerJailPid(j *testJail) int {
	kids := childrenOf(j.cmd.Process.Pid)
	sort.Ints(kids)
	if len(kids) == 0 {
		return -1
	}
	return kids[0]
}

func TestJailStopsWhenWhatStartedItDies(t *testing.T) {
	t.Parallel()
	needRoot(t, "the jail tests run as root, like the local backend")
	// A shell starts the jail and is then killed outright, as an API killed by the OOM killer would be.
	j, err := startJailVia(t, []string{"/bin/sh", "-c", `"$0" "$@" & wait`})
	if err != nil {
		t.Fatal(err)
	}
	b := j.create(t, "bash", false)
	outer := childrenOf(j.cmd.Process.Pid)
	if len(outer) != 1 {
		t.Fatalf("the shell's children: %v", outer)
	}
	syscall.Kill(j.cmd.Process.Pid, syscall.SIGKILL)
	if !eventually(15*time.Second, func() bool {
		_, e1 := os.Stat("/proc/" + strconv.Itoa(outer[0]))
		_, e2 := os.Stat("/proc/" + strconv.Itoa(b.pid))
		return e1 != nil && e2 != nil
	}) {
		t.Fatalf("the jail (pid %d) or its sandbox's holder (pid %d) outlived what started it", outer[0], b.pid)
	}
}

func TestJailSandboxesDieWithAKilledJailServer(t *testing.T) {
	t.Parallel()
	// The jail server itself is killed outright: nothing stops its sandboxes but their parent-death
	// signals (the holder's, and that of the process that made its namespaces).
	j := ownJail(t)
	b := j.create(t, "bash", false)
	servers := childrenOf(j.cmd.Process.Pid)
	if len(servers) != 1 {
		t.Fatalf("the jail's children: %v", servers)
	}
	syscall.Kill(servers[0], syscall.SIGKILL)
	if !eventually(15*time.Second, func() bool {
		_, err := os.Stat("/proc/" + strconv.Itoa(b.pid))
		return err != nil
	}) {
		t.Fatalf("the sandbox's holder (pid %d) outlived the jail server", b.pid)
	}
}

func TestJailRefusesWhatItCannotJailWithOneLine(t *testing.T) {
	t.Parallel()
	needRoot(t, "needs root to run the jail as another user")
	// The test binary lives in a directory only root may enter: TestMain made a copy anyone may run.
	self, _ := executable()
	var out bytes.Buffer
	cmd := exec.Command(self, "jail", "--listen", "127.0.0.1:"+strconv.Itoa(freePort()), "--base", filepath.Join(testBase, "refused"))
	cmd.Env = append(os.Environ(), "RUNNER_ADMIN_TOKEN="+jailAdmin)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	err := runTracked(cmd)
	want := "runner jail: cannot jail sandboxes here: the runner is not root (it creates cgroups, mounts and namespaces for every sandbox)\n"
	if err == nil || cmd.ProcessState.ExitCode() != 2 || out.String() != want {
		t.Fatalf("a jail started as nobody: %v, %q", err, out.String())
	}
}

// runner-holder takes the owner of the user namespace from the jail server; anything but a host uid
// above 0 is refused, on its ready pipe, before it changes uid or makes a namespace. So is a network
// namespace argument other than "=5" (fd 5 is the sandbox's), "5" (fd 5 is the parent) or "-".
func TestHolderRefusesAnOwnerThatIsNotAnUnprivilegedUID(t *testing.T) {
	t.Parallel()
	type refusal struct{ net, owner, want string }
	var cases []refusal
	for _, owner := range []string{"", "0", "-1", "12x", "4294967295", "99999999999"} {
		cases = append(cases, refusal{"-", owner, "error: OWNER is a host uid above 0, not \"" + owner + "\"\n"})
	}
	for _, net := range []string{"", "=6", "6", "=", "=5x"} {
		cases = append(cases, refusal{net, "1500001", "error: NET is \"=5\", \"5\" or \"-\", not \"" + net + "\"\n"})
	}
	for _, c := range cases {
		owner := c.owner
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		sp, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		ours, theirs := os.NewFile(uintptr(sp[0]), "sync"), os.NewFile(uintptr(sp[1]), "sync")
		cmd := exec.Command(filepath.Join(testBase, "runner-holder"), "/none", "/none", "/none", "/none", "1", "1", c.net, owner)
		cmd.ExtraFiles = []*os.File{w, theirs}
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		err = runTracked(cmd)
		out := stdout.Bytes()
		w.Close()
		theirs.Close()
		ready, _ := io.ReadAll(r)
		r.Close()
		ours.Close()
		if err == nil || string(ready) != c.want {
			t.Errorf("net %q, owner %q: exit %v, ready pipe %q (stdout %q), want %q", c.net, owner, err, ready, out, c.want)
		}
	}
}

func TestJailRefusesAMissingOrNonExecutableHolder(t *testing.T) {
	t.Parallel()
	needRoot(t, "the jail tests run as root, like the local backend")
	notExecutable := filepath.Join(t.TempDir(), "runner-holder")
	if err := os.WriteFile(notExecutable, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, holder := range []string{filepath.Join(t.TempDir(), "missing"), notExecutable, t.TempDir()} {
		out, code := runJailToRefusal(t, "--holder", holder)
		want := "runner jail: cannot jail sandboxes here: the sandbox holder " + holder +
			" is missing or not executable (runner-holder, built next to the runner by scripts/build; RUNNER_HOLDER names another)\n"
		if code != 2 || out != want {
			t.Errorf("a jail with --holder %s: exit %d, %q", holder, code, out)
		}
	}
}

func TestJailRefusesAMissingOrBrokenZygoteLib(t *testing.T) {
	t.Parallel()
	needRoot(t, "the jail tests run as root, like the local backend")
	for lib, what := range map[string]string{
		filepath.Join(t.TempDir(), "missing"):    "is missing",
		t.TempDir():                              "is missing",
		"/etc/hostname":                          "is not a shared library",
		filepath.Join(testBase, "runner-holder"): "is not a shared library for this machine",
		"/lib/x86_64-linux-gnu/libc.so.6":        "has no kcr_setup and kcr_serve (built from another version?)",
		olderZygoteLib(t):                        "has no kcr_setup and kcr_serve (built from another version?)",
	} {
		if _, err := os.Stat(lib); err != nil {
			continue // libc elsewhere (another architecture)
		}
		out, code := runJailToRefusal(t, "--zygote-lib", lib)
		want := "runner jail: cannot jail sandboxes here: the templates' jail entry " + lib + " " + what +
			" (runner-zygote.so, built next to the runner by scripts/build; RUNNER_ZYGOTE_LIB names another)\n"
		if code != 2 || out != want {
			t.Errorf("a jail with --zygote-lib %s: exit %d, %q", lib, code, out)
		}
	}
}

// olderZygoteLib builds a library with the jail entry of an older runner-zygote.so (no kcr_serve).
func olderZygoteLib(t *testing.T) string {
	dir := t.TempDir()
	src, lib := filepath.Join(dir, "old.c"), filepath.Join(dir, "old.so")
	if err := os.WriteFile(src, []byte("int kcr_setup(void) { return 0; }\nint kcr_enter_jail(void) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := combinedOutput(exec.Command("gcc", "-shared", "-fPIC", "-o", lib, src)); err != nil {
		t.Fatalf("gcc: %v: %s", err, out)
	}
	return lib
}

func TestJailTemplateThatDiesEndsItsRunsAndIsStartedAgain(t *testing.T) {
	t.Parallel()
	// A jail of its own: the test kills its exec template.
	j := ownJail(t)
	exec := func() map[string]any { return j.health(t)["templates"].(map[string]any)["exec"].(map[string]any) }
	first := exec()
	b := j.create(t, "bash", false)
	done := make(chan result, 1)
	go func() { done <- b.run("bash", "echo started; sleep 60") }()
	if !eventually(20*time.Second, func() bool { return len(processesOf(b.uid)) >= 2 }) {
		t.Fatal("the run did not start")
	}
	syscall.Kill(int(first["pid"].(float64)), syscall.SIGKILL)
	select {
	case res := <-done:
		// Its child had the template's death as its parent-death signal; the answer says it was not the code.
		if res.Stdout != "started\n" || res.ExitCode != 137 || res.Signal == nil || *res.Signal != "SIGKILL" ||
			res.Stderr != templateDiedNotice+"\n" {
			t.Errorf("a run whose template died: %s", res)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a run whose template died did not end")
	}
	if !eventually(20*time.Second, func() bool { return len(processesOf(b.uid)) == 0 }) {
		t.Errorf("processes left: %v", processesOf(b.uid))
	}
	if !eventually(30*time.Second, func() bool { e := exec(); return e["starts"] == 2.0 && e["ready"] == true }) {
		t.Fatalf("the exec template was not started again: %v", exec())
	}
	if res := b.run("bash", "echo again"); res.Stdout != "again\n" || res.ExitCode != 0 {
		t.Errorf("a run after the template was started again: %s", res)
	}
}

func TestJailRefusesASandboxWhenItsUIDsAreAllInUse(t *testing.T) {
	t.Parallel()
	// Two uids for sandboxes (the first of the range is the jail's unprivileged root).
	j := ownJail(t, "--uid-count", "3")
	a, b := j.create(t, "bash", false), j.create(t, "bash", false)
	body := strings.NewReader(`{"language":"bash"}`)
	status, out := j.request("POST", "/sandboxes", jailAdmin, body)
	if status != http.StatusServiceUnavailable || !strings.Contains(string(out), "all 2 sandbox uids are in use") {
		t.Fatalf("a third sandbox: %d %s", status, out)
	}
	// A destroyed sandbox gives its uid back.
	a.destroy()
	c := j.create(t, "bash", false)
	if c.uid != a.uid || c.uid == b.uid {
		t.Errorf("uids: destroyed %d, live %d, new %d", a.uid, b.uid, c.uid)
	}
	if res := c.run("bash", "id -u"); res.Stdout != "65532\n" {
		t.Errorf("a run in the new sandbox: %s", res)
	}
}

func TestJailUIDRangeIsExclusivePerHost(t *testing.T) {
	t.Parallel()
	// The first jail takes half of its test range; the other half stays free for this test's jails.
	first := ownJail(t, "--uid-count", "256")
	base, inner := first.uidBase, innerJailPid(first)
	// Only the jail server holds its claim open: a process of a sandbox that had it could unlock it.
	first.create(t, "py", false)
	claim := filepath.Join(uidClaimDir, fmt.Sprintf("%d-%d", base, base+255))
	if holders := processesWithOpen(claim); !slices.Equal(holders, []int{inner}) {
		t.Errorf("processes with %s open: %v, want the jail server's %d alone", claim, holders, inner)
	}
	// A second jail (another API) whose range overlaps the first's is refused, with one line.
	overlapping := []string{"--uid-base", strconv.Itoa(base + 200), "--uid-count", "56"}
	out, code := runJailToRefusal(t, overlapping...)
	want := fmt.Sprintf("runner jail: cannot jail sandboxes here: the uid range %d-%d overlaps the range %d-%d of another running jail (pid %d); give each API on a host its own SANDBOX_UID_BASE\n",
		base+200, base+255, base, base+255, inner)
	if code != 2 || out != want {
		t.Fatalf("a jail overlapping a running one: exit %d, %q\nwant %q", code, out, want)
	}
	// The range right after it is free.
	next, err := startJailAt(t, nil, base+256, "--uid-count", "256")
	if err != nil {
		t.Fatalf("a jail with the range next to a running one's: %v", err)
	}
	t.Cleanup(next.stop)
	// Once the first jail is killed outright, its range is free again.
	syscall.Kill(inner, syscall.SIGKILL)
	select {
	case <-first.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the jail did not exit when its server was killed")
	}
	again, err := startJailAt(t, nil, base+200, "--uid-count", "56")
	if err != nil {
		t.Fatalf("a jail with the range of a killed one: %v", err)
	}
	again.stop()
}

func TestJailUIDClaims(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jail-uids")
	a, err := claimUIDRange(dir, 1000, 1999, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Locks belong to the open file: a second claim in this process sees the first as another jail's.
	want := fmt.Sprintf("the uid range 1999-2999 overlaps the range 1000-1999 of another running jail (pid %d); give each API on a host its own SANDBOX_UID_BASE", os.Getpid())
	if _, err := claimUIDRange(dir, 1999, 2999, time.Second); err == nil || err.Error() != want {
		t.Fatalf("an overlapping claim: %v", err)
	}
	b, err := claimUIDRange(dir, 2000, 2999, time.Second)
	if err != nil {
		t.Fatalf("the next range: %v", err)
	}
	defer b.Close()
	// A claim whose jail is gone (its file no longer locked) is removed by the next claim.
	a.Close()
	os.WriteFile(filepath.Join(dir, "10-20000"), []byte("10 20000 1\n"), 0o600)
	c, err := claimUIDRange(dir, 1500, 1999, time.Second)
	if err != nil {
		t.Fatalf("a range of gone jails: %v", err)
	}
	defer c.Close()
	names, _ := os.ReadDir(dir)
	var left []string
	for _, n := range names {
		left = append(left, n.Name())
	}
	if strings.Join(left, " ") != "1500-1999 2000-2999 lock" {
		t.Errorf("claims left: %v", left)
	}
	// A live claim that names no range is refused, not taken for free.
	odd, err := os.OpenFile(filepath.Join(dir, "odd"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	odd.WriteString("not a range\n")
	if err := syscall.Flock(int(odd.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if _, err := claimUIDRange(dir, 5000, 5999, time.Second); err == nil || err.Error() != filepath.Join(dir, "odd")+" is not a jail's uid range" {
		t.Errorf("a live claim that names no range: %v", err)
	}
	odd.Close()
	// Another jail looking at the claims for longer than the wait: refused, not waited for forever.
	dirLock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dirLock.Close()
	if err := syscall.Flock(int(dirLock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if _, err := claimUIDRange(dir, 5000, 5999, 50*time.Millisecond); err == nil || !strings.HasPrefix(err.Error(), "locking "+filepath.Join(dir, "lock")+": ") {
		t.Errorf("a claim while another jail looks at the claims: %v", err)
	}
	dirLock.Close()
	// A directory others can write to is refused: anyone could hold a claim there.
	os.Chmod(dir, 0o777)
	if _, err := claimUIDRange(dir, 5000, 5999, time.Second); err == nil || !strings.Contains(err.Error(), "must be a directory only root can write to") {
		t.Errorf("a directory others can write to: %v", err)
	}
}

// processesWithOpen lists the processes with path open.
func processesWithOpen(path string) []int {
	var pids []int
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && l == path {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			if !slices.Contains(pids, pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// runJailToRefusal runs a jail that is expected to refuse to start: its output and exit code (-1 and
// what it printed if it started after all).
func runJailToRefusal(t *testing.T, args ...string) (string, int) {
	t.Helper()
	self, _ := os.Executable()
	cmd := exec.Command(self, append([]string{"jail", "--listen", "127.0.0.1:" + strconv.Itoa(freePort()),
		"--base", filepath.Join(testBase, fmt.Sprintf("jail%d", nextDir.Add(1)), "sandboxes"),
		"--ro-bind", "/opt/kubecoderun"}, args...)...)
	cmd.Env = append(os.Environ(), "RUNNER_ADMIN_TOKEN="+jailAdmin)
	for k, v := range testEnv() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := startTracked(cmd); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		waitTracked(cmd)
		close(exited)
	}()
	started := false
	eventually(120*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
			started = strings.Contains(out.String(), "runner jail: listening on")
			return started
		}
	})
	if started {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		return out.String(), -1
	}
	select {
	case <-exited:
		return out.String(), cmd.ProcessState.ExitCode()
	default:
		cmd.Process.Kill()
		<-exited
		return out.String(), -1
	}
}

func TestJailResetOfOneSandboxLeavesTheOthersAlone(t *testing.T) {
	t.Parallel()
	// A jail of its own: a wrong reset kills sandboxes' holders and templates of the jail.
	j := ownJail(t)
	a, b := j.create(t, "py", false), j.create(t, "py", false)
	a.py("open('/mnt/data/a.txt', 'w').write('a')")
	b.py("open('/mnt/data/b.txt', 'w').write('b')")
	inner := innerJailPid(j)
	before := childrenOf(inner) // its templates and the sandboxes' holders
	if status, out := j.request("POST", "/reset", a.token, nil); status != http.StatusNoContent {
		t.Fatalf("reset: %d %s", status, out)
	}
	if got := a.py("import os; print(os.listdir('/mnt/data'))"); got != "[]\n" {
		t.Errorf("the reset sandbox's /mnt/data: %q", got)
	}
	if got := b.py("print(open('/mnt/data/b.txt').read())"); got != "b\n" {
		t.Errorf("the other sandbox after a reset: %q", got)
	}
	after := childrenOf(inner)
	for _, pid := range before {
		if !slices.Contains(after, pid) {
			t.Errorf("a process of the jail (pid %d) died in a sandbox's reset: %v, then %v", pid, before, after)
		}
	}
}

func TestJailSandboxesGetTheMatplotlibFontList(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	seed := readFontLists(runnerDefaults(t).MplCacheSeed)
	if len(seed) == 0 {
		t.Skip("no matplotlib font list seed on this host")
	}
	var want []string
	for name, b := range seed {
		want = append(want, fmt.Sprintf("%s %d", name, len(b)))
	}
	sort.Strings(want)
	b := j.create(t, "py", false)
	// A cold Python (or one a program starts) finds the list in its own, writable MPLCONFIGDIR.
	got := b.py("import os\nd = os.environ['MPLCONFIGDIR']\n" +
		"print(os.access(d, os.W_OK))\nfor n in sorted(os.listdir(d)): print(n, os.path.getsize(os.path.join(d, n)))")
	if got != "True\n"+strings.Join(want, "\n")+"\n" {
		t.Errorf("the sandbox's MPLCONFIGDIR: %q, want the seed's %v", got, want)
	}
}

// A jail needs the cpu controller only for a CPU limit or a weight other than 1, and without it
// refuses to start naming the controller and what asks for it.
func TestJailNeedsTheCPUControllerOnlyForALimitOrAWeight(t *testing.T) {
	noCPU := cgroupHierarchies{v1: map[string]string{"pids": "/p", "memory": "/m"}}
	withCPU := cgroupHierarchies{v1: map[string]string{"pids": "/p", "memory": "/m", "cpu": "/c"}}
	for _, l := range []cgroupLimits{{cpuWeight: 1}, {cpuWeight: 0}} {
		if err := missingCgroupController(noCPU, l); err != nil {
			t.Errorf("%+v: %v", l, err)
		}
	}
	for _, l := range []cgroupLimits{{cpuWeight: 4}, {cpuWeight: 0.5}, {cpuWeight: 1, cpuMillis: 1000}} {
		err := missingCgroupController(noCPU, l)
		if err == nil || !strings.Contains(err.Error(), "no usable cgroup cpu controller") || !strings.Contains(err.Error(), "--cpu-weight") {
			t.Errorf("%+v without the cpu controller: %v", l, err)
		}
		if err := missingCgroupController(withCPU, l); err != nil {
			t.Errorf("%+v with the cpu controller: %v", l, err)
		}
	}
}

func TestJailConfigRefusesBadSettingsWithTheirName(t *testing.T) {
	env := map[string]string{"RUNNER_ADMIN_TOKEN": "x", "RUNNER_TOOL_PYTHON": "/usr/bin/python3"}
	for _, c := range []struct {
		args    []string
		noAdmin bool
		want    string
	}{
		{args: []string{"--base", "/x"}, noAdmin: true, want: "RUNNER_ADMIN_TOKEN is required"},
		{args: nil, want: "--base must be an absolute directory"},
		{args: []string{"--base", "rel"}, want: "--base must be an absolute directory"},
		{args: []string{"--base", "/x", "--uid-count", "1"}, want: "--uid-base and --uid-count must give a range of at least 2 uids above 0"},
		{args: []string{"--base", "/x", "--uid-base", "0"}, want: "--uid-base and --uid-count must give a range of at least 2 uids above 0"},
		{args: []string{"--base", "/x", "--uid-base", "2147483000", "--uid-count", "4096"}, want: "--uid-base and --uid-count must give a range of at least 2 uids above 0"},
		{args: []string{"--base", "/x", "--disk-size", "1000"}, want: "--disk-size and --shm-size must be at least 1 MiB, --disk-inodes at least 64"},
		{args: []string{"--base", "/x", "--disk-inodes", "63"}, want: "--disk-size and --shm-size must be at least 1 MiB, --disk-inodes at least 64"},
		{args: []string{"--base", "/x", "--shm-size", "1000"}, want: "--disk-size and --shm-size must be at least 1 MiB, --disk-inodes at least 64"},
		{args: []string{"--base", "/x", "--max-cpu", "-1"}, want: "--max-cpu must be a number of CPUs, 0 for no limit"},
		{args: []string{"--base", "/x", "--cpu-weight", "0"}, want: "--cpu-weight must be from 0.01 to 100 (1: the kernel's default)"},
		{args: []string{"--base", "/x", "--cpu-weight", "101"}, want: "--cpu-weight must be from 0.01 to 100 (1: the kernel's default)"},
		{args: []string{"--base", "/x", "--cpu-weight", "NaN"}, want: "--cpu-weight must be from 0.01 to 100 (1: the kernel's default)"},
		{args: []string{"--base", "/x", "extra"}, want: `unexpected argument "extra"`},
	} {
		e := map[string]string{}
		for k, v := range env {
			if k != "RUNNER_ADMIN_TOKEN" || !c.noAdmin {
				e[k] = v
			}
		}
		if _, err := parseJailConfig(c.args, envOf(e)); err == nil || err.Error() != c.want {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	cfg, err := parseJailConfig([]string{"--base", "/x", "--max-cpu", "1.5", "--cpu-weight", "4", "--uid-base", "2000", "--uid-count", "2"}, envOf(env))
	if err != nil || cfg.CPUMillis != 1500 || cfg.CPUWeight != 4 || cfg.UIDBase != 2000 || cfg.UIDCount != 2 || cfg.AdminToken != "x" {
		t.Errorf("a good configuration: %+v, %v", cfg, err)
	}
}

// Every template sends a pidfd with each child it forks: the jail server kills a run's process only
// through it (the template reaps the child, after which its pid may be a host process's). A run that
// times out in a child of each template (exec, Python, Node) is killed through it, and the next run of
// the sandbox works; no template is reported as sending no pidfd.
func TestJailChildrenOfEveryTemplateAreKilledThroughTheirPidfd(t *testing.T) {
	j := ownJail(t)
	j.waitNodeTemplate(t)
	for _, c := range []struct{ lang, code, next string }{
		{"bash", "while :; do :; done", "echo next"},
		{"py", "while True: pass", "print('next')"},
		{"js", "for (;;) {}", "console.log('next')"},
	} {
		b := j.create(t, c.lang, false)
		res := b.execute(map[string]any{"language": c.lang, "code": c.code, "timeout_ms": 500})
		if !res.TimedOut || res.ExitCode != 124 {
			t.Fatalf("%s: a run past its timeout: %s", c.lang, res)
		}
		if res := b.run(c.lang, c.next); res.ExitCode != 0 || res.Stdout != "next\n" {
			t.Fatalf("%s: the run after a timeout: %s", c.lang, res)
		}
	}
	if strings.Contains(j.log.String(), "sends no pidfd") {
		t.Fatalf("a template sent a child's pid without its pidfd:\n%s", j.log.String())
	}
}

func TestACorePatternThatIsAPipeIsWarnedAbout(t *testing.T) {
	for pattern, warned := range map[string]bool{
		"core\n":             false,
		"/var/crash/core.%p": false,
		"|/usr/lib/systemd/systemd-coredump %P %u %g %s %t %c %h\n": true,
		"  |/usr/share/apport/apport %p":                            true,
	} {
		w := corePatternWarning(pattern)
		if (w != "") != warned {
			t.Errorf("%q: warning %q, want one: %v", pattern, w, warned)
		}
		if warned && !strings.Contains(w, "kernel.core_pattern=core") {
			t.Errorf("%q: the warning does not say what to set: %q", pattern, w)
		}
	}
}
