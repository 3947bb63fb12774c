package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The jail entry's refusals, called as zygote.py calls it (ctypes), in a throwaway Python process: each
// must return -1 with its reason, before the child could run anything.
func TestZygoteJailRefusesWhatItCannotJail(t *testing.T) {
	t.Parallel()
	needRoot(t, "kcr_enter_jail drops groups first, which needs root")
	script := `
import ctypes, os, sys
lib = ctypes.CDLL(sys.argv[1])
err = ctypes.create_string_buffer(256)
out = []

def setup(last_cap, filter_len):
    pairs = (ctypes.c_longlong * 2)(7, 64)  # RLIMIT_NOFILE 64
    return lib.kcr_setup(last_cap, pairs, 1, b"\0" * filter_len, filter_len, err, len(err))

def enter(names, fds):
    arr = (ctypes.c_int * len(fds))(*fds)
    return lib.kcr_enter_jail(len(fds), arr, names.encode(), err, len(err))

r, w = os.pipe()
out.append("before setup: %d %s" % (enter("ns", [r]), err.value.decode()))
out.append("cap 64: %d %s" % (setup(64, 8), err.value.decode()))
out.append("filter 12 bytes: %d %s" % (setup(40, 12), err.value.decode()))
out.append("filter 4097 insns: %d %s" % (setup(40, 8 * 4097), err.value.decode()))
out.append("setup: %d" % setup(40, 8))
out.append("again: %d %s" % (setup(40, 8), err.value.decode()))
out.append("names short: %d %s" % (enter("stdin", [r, w]), err.value.decode()))
out.append("names long: %d %s" % (enter("stdin stdout job", [r, w]), err.value.decode()))
out.append("names empty: %d %s" % (enter("stdin  stdout", [r, w]), err.value.decode()))
# Last: it gets past step 1 (moves fds), so the results go to a file opened above the slots.
res = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o600)
res = os.dup2(res, 200)
out.append("no ns: %d %s" % (enter("stdin stdout", [r, w]), err.value.decode()))
os.write(res, "\n".join(out).encode())
`
	py := testEnv()["RUNNER_TOOL_PYTHON"]
	results := filepath.Join(t.TempDir(), "results")
	if out, err := combinedOutput(exec.Command(py, "-c", script, filepath.Join(testBase, "runner-zygote.so"), results)); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := strings.Split(readFile(t, results), "\n")
	want := []string{
		"before setup: -1 kcr_setup was not called: Invalid argument",
		"cap 64: -1 cap_last_cap out of range",
		"filter 12 bytes: -1 the seccomp filter's size",
		"filter 4097 insns: -1 the seccomp filter's size",
		"setup: 0",
		"again: -1 already set up",
		"names short: -1 fd names: Invalid argument",
		"names long: -1 fd names: Invalid argument",
		"names empty: -1 fd names: Invalid argument",
		"no ns: -1 no namespace fd: Invalid argument",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The templates' loop (kcr_serve, as zygote.py calls it) refuses a job it cannot serve before any fork,
// with an error for its id, keeps none of its fds, and ends once the jail server is gone.
func TestZygoteLoopRefusesBadJobsBeforeForking(t *testing.T) {
	t.Parallel()
	script := `
import ctypes, os, socket, sys
lib = ctypes.PyDLL(sys.argv[1])
server, template = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
pid = os.fork()
if pid == 0:
    server.close()
    os.dup2(template.fileno(), 3)
    template.close()
    os.write(3, b"ready")
    print("without its after-fork step:", lib.kcr_serve(None), flush=True)
    lib.kcr_serve(ctypes.cast(ctypes.pythonapi.PyOS_AfterFork_Child, ctypes.c_void_p))
    os._exit(99)  # kcr_serve returned in the template: it must not
template.close()
server.recv(512)
r, w = os.pipe()
fds_before = None
for job, fds in [(b'{"id":1,"fds":["ns","stdin"]}', [r]), (b'{"id":2,"fds":["n/s"]}', [r]),
                 (b'{"id":3,"fds":["stdinstdin"]}', [r]), (b'{"id":4,"fds":["stdin"]}', [r]),
                 (b'{"id":5}', [r, w])]:
    socket.send_fds(server, [job], fds)
    print(server.recv(512).decode())
    if fds_before is None:  # the loop has started (and opened what it keeps)
        fds_before = len(os.listdir("/proc/%d/fd" % pid))
print("fds kept:", len(os.listdir("/proc/%d/fd" % pid)) - fds_before)
server.close()
_, status = os.waitpid(pid, 0)
print("template exit", os.waitstatus_to_exitcode(status))
`
	py := testEnv()["RUNNER_TOOL_PYTHON"]
	// Tracked: a parallel test's runner sweeps every untracked child of this process.
	out, err := combinedOutput(exec.Command(py, "-c", script, filepath.Join(testBase, "runner-zygote.so")))
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := strings.Join([]string{
		"without its after-fork step: -1",
		`{"id":1,"error":"bad job: not one fd per name"}`,
		`{"id":2,"error":"bad job: unreadable header or fd names"}`,
		`{"id":3,"error":"bad job: unreadable header or fd names"}`,
		`{"id":4,"error":"Invalid argument"}`,
		`{"id":5,"error":"bad job: unreadable header or fd names"}`,
		"fds kept: 0",
		"template exit 0",
	}, "\n") + "\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}
