"""KubeCodeRun jail template ("zygote"): forks each jailed run.

The jail server (runner jail, docs/runner-protocol.md "Jail mode") starts one template per kind, each in
a mount namespace that looks like a sandbox (same paths, nothing of the host beyond the read-only
toolchains), as root, with an environment holding nothing secret:

    python3 zygote.py py PRELOAD
                             Python runs: pre-imports the comma-separated PRELOAD (RUNNER_PY_PRELOAD,
                             or for the bare template only what state capture needs), draws a first
                             plot when matplotlib is in it, then forks one child per run, which runs
                             pyrun.run() like a cold shim would
    python3 -I -S zygote.py exec
                             every other command: forks one child per command, which execs it

The template never runs user code and never reads user data: a job message carries file descriptors
and their names only. The child reads its job (code file, arguments, ...) from a pipe after it entered
the jail. Each child:

  1. moves the fds it was given to 0 (stdin), 1 (stdout), 2 (stderr), 3 (status), 4 (job);
  2. drops its supplementary groups, joins the sandbox's cgroups (writes "0" to the cgroup.procs files
     the jail server opened) and enters the sandbox's user, mount, network, ipc and uts namespaces
     through the pidfd of the sandbox's holder process (its pid namespace was entered by the template
     just before the fork), then a new cgroup namespace;
  3. drops every capability (bounding set, then uid/gid 65532 inside = the sandbox's own host uid,
     then capset and the ambient set), sets no_new_privs and the parent-death signal, becomes a
     session leader, closes every other fd (the rlimits were set in step 2, while still root);
  4. checks all of that in /proc/self/status and stops (exit 127) if anything is off;
  5. loads the seccomp filter the jail server generated (seccomp.bpf);
  6. py: reseeds what a fork would share (random is reseeded by CPython itself; numpy's global
     generator, tempfile names), copies the pages a plot would write while no job is there yet
     (prefault), writes the ready marker and runs the job read from stdin;
     exec: reads {"argv", "env"} from the job pipe and execs.
The loop (a fork per job) and steps 1-5 are zygote_jail.so's kcr_serve (zygote_jail.c says why C): it
forks with the GIL held, as os.fork does, runs CPython's own after-fork steps in the child right away,
as os.fork does (PyOS_AfterFork_Child: the modules' after-fork hooks, random reseeding itself among
them; threading, the import lock and pending signals reset), and returns in each child once jailed;
then step 6.

Control protocol (SOCK_SEQPACKET on fd 3): the server sends {"id": N, "fds": [names]} with the fds as
SCM_RIGHTS; the template answers {"id": N, "pid": P} (or {"id": N, "error": "..."}), then
{"id": N, "status": W} (the wait status) once the child is gone. It first sends {"ready": true} (a
Python template adds "stdlib": the standard library's module names, so the server can tell code
that needs only them, "prefault_pages": how many pages its children forked ahead copy, and "huge_kb":
how much of its memory is in 2 MiB pages).
"""
import ctypes
import json
import os
import resource
import select
import socket
import sys
import time

MODE = sys.argv[1]
SHIMS = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(SHIMS, "zygote.json")) as f:
    SPEC = json.load(f)
with open(os.path.join(SHIMS, "seccomp.bpf"), "rb") as f:
    FILTER = f.read()

PR_SET_PDEATHSIG = 1
MADV_POPULATE_WRITE = 23
READY = b"\x00kcr-ready\n"

libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
# PyDLL: the GIL stays held in its calls, so kcr_serve forks holding it, as os.fork does.
JAIL = ctypes.PyDLL(os.path.join(SHIMS, "zygote_jail.so"))
JAIL.kcr_setup.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_longlong), ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_char_p, ctypes.c_int]
JAIL.kcr_serve.argtypes = [ctypes.c_void_p]
# The template's pages a plot makes a forked child copy, as [address, length] (see plot_pages).
PREFAULT = []
# The KiB of the template's memory in 2 MiB pages once warm (pyrun.huge_pages), for the jail's /health.
HUGE_KB = [0]


def check(ret, what):
    if ret == -1:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))
    return ret


def prctl(option, arg2=0, arg3=0):
    check(libc.prctl(option, arg2, arg3, 0, 0), "prctl %d" % option)


def child():
    """A forked child, jailed (kcr_serve): the run. Never returns."""
    try:
        if MODE == "py":
            run_python()  # pyrun.run ends the process itself
        else:
            run_exec()
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(127)  # never back into the template's loop, whatever happened


def run_python():
    import pyrun

    pyrun.SHIM_PID = os.getpid()
    pyrun.take_status()  # the program's own children do not get the status pipe
    # What a fork shares with its siblings. random reseeds itself after a fork (os.register_at_fork).
    np = sys.modules.get("numpy")
    if np is not None:
        try:
            np.random.seed()
        except Exception:
            pass
    tf = sys.modules.get("tempfile")
    if tf is not None:
        tf._name_sequence = None
    prefault()
    # The template's /mnt/data was another (empty) directory: forget what the import system cached of it.
    for p in list(sys.path_importer_cache):
        if p.startswith("/mnt/data") or p.startswith("/tmp"):
            del sys.path_importer_cache[p]
    os.write(1, READY)
    pyrun.run(pyrun.read_job())


def prefault():
    """A child forked ahead copies, while it waits for its job, the pages a plot would make it copy.

    After a fork every page the child writes is copied at a fault: about 4,000 for a pandas plot, 15-20
    ms of its run on this VM. MADV_POPULATE_WRITE takes them in batches ahead, off the run's time. It
    stops as soon as the job is there (a child forked for a run already has it: nothing is done), and
    the pages are the sandbox's own (its memory cgroup's), as they would be once the run wrote them.
    """
    if not PREFAULT:
        return
    for i in range(0, len(PREFAULT), 16):  # at most 16 x 64 pages between two looks for the job
        if select.select([0], [], [], 0)[0]:
            return
        for addr, length in PREFAULT[i : i + 16]:
            if libc.madvise(addr, length, MADV_POPULATE_WRITE) == -1 and ctypes.get_errno() == 22:
                return  # EINVAL: a kernel before 5.14


def plot_pages(plot):
    """The template's pages that plot() writes in a forked child, as [address, length] runs.

    A probe child runs it and reads /proc/self/pagemap: a page present and exclusively mapped is one the
    child copied (or took new). Only the template's private writable mappings at the fork count; runs
    one page apart are joined (a madvise call costs more than copying a page), then cut into pieces of
    at most 64 pages (prefault looks for its job between pieces). Any failure, or a probe that takes
    over 20 s, means no pages: runs are then only slower.
    """
    import pyrun

    maps = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            perms, name = fields[1], fields[5] if len(fields) > 5 else ""
            if perms[1] == "w" and perms[3] == "p" and not name.startswith("[v") and name != "[stack]":
                start, end = (int(x, 16) for x in fields[0].split("-"))
                maps.append((start, end))
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return []
    if pid == 0:
        try:
            os.close(r)
            prctl(PR_SET_PDEATHSIG, 9)
            pyrun.quietly(plot)
            runs = []
            with open("/proc/self/pagemap", "rb") as pm:
                for start, end in maps:
                    pm.seek(start // 4096 * 8)
                    entries = memoryview(pm.read((end - start) // 4096 * 8)).cast("Q")
                    for i, e in enumerate(entries):
                        if e >> 63 and e >> 56 & 1:
                            addr = start + i * 4096
                            if runs and addr - runs[-1][1] <= 4096:
                                runs[-1][1] = addr + 4096
                            else:
                                runs.append([addr, addr + 4096])
            pieces = [[a, min(64 * 4096, b - a)] for start, b in runs for a in range(start, b, 64 * 4096)]
            data = json.dumps(pieces).encode()
            while data:
                data = data[os.write(w, data) :]
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    deadline = time.monotonic() + 20
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([r], [], [], left)[0]:
            os.kill(pid, 9)  # a probe that hangs must not keep the template from serving
            chunks = []
            break
        b = os.read(r, 1 << 20)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    os.waitpid(pid, 0)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        return []


def run_exec():
    chunks = []
    while True:
        b = os.read(4, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(4)
    job = json.loads(b"".join(chunks))
    argv, env = job["argv"], dict(e.split("=", 1) for e in job["env"])
    try:
        path = argv[0]
        if "/" not in path:
            for d in env.get("PATH", "").split(":"):
                if d and os.access(os.path.join(d, path), os.X_OK):
                    path = os.path.join(d, path)
                    break
        os.execve(path, argv, env)
    except OSError as e:
        os.write(2, ("runner: cannot start %s: %s\n" % (argv[0], e.strerror)).encode())
        os._exit(127)


def warm_up():
    """Pre-import RUNNER_PY_PRELOAD and exercise what the first plot would load and cache."""
    import pyrun

    names = [n for n in (sys.argv[2] if len(sys.argv) > 2 else "").split(",") if n]
    if names:
        pyrun.preload(names)

    def first_plot():
        try:
            import io

            import matplotlib.pyplot as plt

            fig, ax = plt.subplots()
            ax.plot([0, 1], [0, 1], label="x")
            ax.set_title("warm-up")
            ax.legend()
            fig.savefig(io.BytesIO(), format="png")
            plt.close(fig)
            if "pandas" in names:
                import pandas as pd

                pd.DataFrame({"x": [1, 2], "y": [3, 4]}).plot(x="x", y="y")
                plt.savefig(io.BytesIO(), format="png")
                plt.close("all")
        except Exception:
            pass

    if "matplotlib" in names:
        pyrun.quietly(first_plot)
    compile("x = 1\n", "<warm-up>", "exec")
    import gc

    gc.collect()
    gc.freeze()  # children do not touch (and copy) the template's objects when they collect
    if "matplotlib" in names:
        PREFAULT[:] = plot_pages(first_plot)
    HUGE_KB[0] = pyrun.huge_pages() if SPEC.get("huge_pages") else 0


def main():
    limits = []
    for name, value in SPEC["rlimits"].items():
        limits += [getattr(resource, "RLIMIT_" + name.upper()), value]
    pairs = (ctypes.c_longlong * len(limits))(*limits)
    err = ctypes.create_string_buffer(256)
    if JAIL.kcr_setup(SPEC["cap_last_cap"], pairs, len(limits) // 2, FILTER, len(FILTER), err, len(err)) != 0:
        raise SystemExit("runner: zygote_jail.c refused the jail's settings: " + err.value.decode())
    if MODE == "py":
        warm_up()
    ready = {"ready": True}
    if MODE == "py":
        ready["stdlib"] = sorted(sys.stdlib_module_names)
        ready["prefault_pages"] = sum(length for _, length in PREFAULT) // 4096
        ready["huge_kb"] = HUGE_KB[0]
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        # A fork keeps only the thread that forks: what the others held (locks, half-made objects) would
        # stay held in every child.
        raise SystemExit("runner: a preloaded module started a thread; the template cannot fork safely")
    ctl = socket.socket(fileno=3)
    ctl.send(json.dumps(ready).encode())
    ctl.detach()  # fd 3 is kcr_serve's from now on (and in a child, its status pipe)
    # Returns only in a forked child, jailed, CPython's after-fork steps run.
    if JAIL.kcr_serve(ctypes.cast(ctypes.pythonapi.PyOS_AfterFork_Child, ctypes.c_void_p)) != 1:
        raise SystemExit("runner: zygote_jail.c's loop refused to start")
    child()


if __name__ == "__main__":
    main()
