"""KubeCodeRun Python shim: runs one job exactly like `python3 code.py` would, warm or cold.

Started as `python3 pyrun.py PRELOAD`: pre-imports the comma-separated PRELOAD modules (warm shims
only), writes the ready marker to stdout, reads its job (all of stdin: "file NUL state_in NUL
state_out NUL state_errors [NUL arg]...", empty = none), runs the code in a fresh
__main__, does what the interpreter does at exit (threads, atexit, flush), captures the state when
asked, and leaves with os._exit (skipping the slow interpreter teardown).
"""
import builtins
import os
import stat
import sys
import types
from importlib.machinery import SourceFileLoader

READY = b"\x00kcr-ready\n"
STATUS_FD = 3  # the runner reads the exit code here; not inherited by the program's children
STATUS_PIPE = None  # (st_dev, st_ino) of the pipe on STATUS_FD when the shim took it, see take_status()
SHIM_PID = os.getpid()
# Bound now: user code may replace them in the os module.
_close, _write, _exit, _kill, _getpid, _yield = os.close, os.write, os._exit, os.kill, os.getpid, os.sched_yield
_fstat, _set_blocking = os.fstat, os.set_blocking


def quietly(fn):
    """Calls fn with stdout and stderr sent to /dev/null: warm-up must not print into a later run's output."""
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    try:
        fn()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (null,) + saved:
            os.close(fd)


def preload(names):
    def imports():
        for name in names + ["cloudpickle", "lz4.frame"]:
            try:
                if name == "matplotlib":
                    import matplotlib

                    matplotlib.use("Agg")
                    import matplotlib.pyplot  # noqa: F401  (the slow part users import)

                    skip_redundant_redraw()
                else:
                    __import__(name)
            except Exception:
                pass

    quietly(imports)


def huge_pages():
    """Puts a template's anonymous memory in 2 MiB pages, where it can (zygote.py's warm-up, and
    bench/fork_cost.py to measure it): a fork then copies one page table entry for each, not 512, and
    a child's exit tears down as few; a child that writes into one splits only its own mapping of it
    and copies the 4 KiB it writes (the kernel's THP copy-on-write). Only mappings at least half
    present: a collapse fills a 2 MiB page's absent parts with zeros (a thread's stack, mostly
    untouched, would grow to its full size). Best effort: none on a kernel without MADV_COLLAPSE
    (before 6.1). MADV_COLLAPSE ignores a host's "never" for transparent huge pages: the caller asks
    (the jail server reads it, zygote.json's huge_pages). Returns the KiB now in 2 MiB pages.
    """
    import ctypes

    madvise = ctypes.CDLL(None, use_errno=True).madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    collapse, huge = 25, 2 << 20  # MADV_COLLAPSE
    try:
        spans, span = [], None
        with open("/proc/self/smaps") as f:
            for line in f:
                fields = line.split()
                if not fields[0].endswith(":"):  # a mapping's first line: its range, permissions, name
                    private_anon = fields[1] == "rw-p" and (len(fields) == 5 or fields[5] == "[heap]")
                    span = [int(x, 16) for x in fields[0].split("-")] if private_anon else None
                elif fields[0] == "Rss:" and span and int(fields[1]) * 1024 * 2 >= span[1] - span[0]:
                    spans.append(span)
        for start, end in spans:
            start, end = -(-start // huge) * huge, end // huge * huge
            if end > start:
                madvise(start, end - start, collapse)
        with open("/proc/self/smaps_rollup") as f:
            return sum(int(line.split()[1]) for line in f if line.startswith("AnonHugePages:"))
    except (OSError, ValueError, IndexError):
        return 0


def skip_redundant_redraw():
    """Makes pyplot.savefig skip its second drawing of the figure when that drawing changes nothing.

    pyplot.savefig draws the figure again after saving it ("Need this if 'transparent=True', to reset
    colors"), and the Agg canvas draws at once: 35-45 ms of a typical plot-to-PNG run. When the save
    drew on the canvas exactly what that draw would (the Agg canvas itself, PNG at the figure's dpi, no
    other option or rc setting that changes the drawing, no layout engine but the placeholder
    plt.tight_layout() leaves, no animated artist, no sub-figure) and nobody listens
    for draw events, the canvas already holds that drawing: only the figure's stale flag, which the
    draw would clear, is cleared. Any other call runs matplotlib's own savefig.
    """
    import functools

    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    def drawing_methods():
        return FigureCanvasAgg.draw, FigureCanvasAgg.draw_idle, Figure.draw, Figure.savefig

    original, methods = plt.savefig, drawing_methods()

    def redraw_is_redundant(fig, args, kwargs):
        rc = matplotlib.rcParams
        if (
            len(args) != 1
            or set(kwargs) - {"format", "metadata", "pil_kwargs", "dpi"}
            or type(fig) is not Figure
            or type(fig.canvas) is not FigureCanvasAgg
            or drawing_methods() != methods
            or "draw" in vars(fig.canvas)
            or "draw_idle" in vars(fig.canvas)
            or fig.canvas.callbacks.callbacks.get("draw_event")
            # plt.tight_layout() leaves a placeholder, which lays nothing out
            or type(fig.get_layout_engine()) not in (type(None), PlaceHolderLayoutEngine)
            or fig.subfigs
            or getattr(fig, "_original_dpi", fig.dpi) != fig.dpi
            or fig.canvas.device_pixel_ratio != 1
            or rc["savefig.facecolor"] != "auto"
            or rc["savefig.edgecolor"] != "auto"
            or rc["savefig.transparent"]
            or rc["savefig.bbox"] is not None
        ):
            return False
        dpi = kwargs.get("dpi", rc["savefig.dpi"])
        if not (type(dpi) is str and dpi == "figure") and (type(dpi) not in (int, float) or dpi != fig.dpi):
            return False
        fmt = kwargs.get("format")
        if fmt is None and isinstance(args[0], (str, os.PathLike)):
            fmt = os.path.splitext(os.fsdecode(args[0]))[1][1:] or None
        if str(fmt or rc["savefig.format"]).lower() != "png":
            return False
        # Axes leave animated artists out of a draw, but not out of a save.
        return not any(a.get_animated() for ax in fig.axes for a in ax.get_children())

    def redundant(fig, args, kwargs):
        try:
            return redraw_is_redundant(fig, args, kwargs)
        except Exception:  # odd arguments: matplotlib's own savefig says what is wrong with them
            return False

    @functools.wraps(original)
    def savefig(*args, **kwargs):
        fig = plt.gcf()
        if not redundant(fig, args, kwargs):
            return original(*args, **kwargs)
        result = fig.savefig(*args, **kwargs)
        fig.stale = False
        return result

    plt.savefig = savefig


def read_job():
    chunks = []
    while True:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    if not chunks:  # the runner went away before sending a job
        os._exit(0)
    # The program's stdin is empty, as under the runner's cold start of any other language.
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    fields = b"".join(chunks).decode("utf-8", "surrogateescape").split("\0")
    return {"file": fields[0], "state_in": fields[1], "state_out": fields[2], "state_errors": fields[3], "argv": fields[4:]}


def restore_state(path, namespace, errors):
    try:
        with open(path, "rb") as f:
            data = f.read()
        import cloudpickle

        if data[:1] == b"\x02":
            import lz4.frame

            data = lz4.frame.decompress(data[1:])
        elif data[:1] == b"\x01":
            data = data[1:]
        namespace.update(cloudpickle.loads(data))
    except Exception as e:
        errors.append("Cannot restore state: %s: %s" % (type(e).__name__, str(e)[:100]))


def capture_state(namespace, path, errors):
    try:
        import cloudpickle
        import lz4.frame
    except Exception as e:
        errors.append("Cannot capture state: %s" % e)
        return
    keep = {}
    for name, value in list(namespace.items()):
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        try:
            cloudpickle.dumps(value)
        except Exception as e:
            errors.append("Cannot serialize '%s' (%s): %s" % (name, type(value).__name__, str(e)[:100]))
            continue
        keep[name] = value
    if not keep:
        return
    try:
        blob = b"\x02" + lz4.frame.compress(cloudpickle.dumps(keep), compression_level=0)
    except Exception as e:
        errors.append("Cannot serialize state: %s" % str(e)[:100])
        return
    with open(path, "wb") as f:
        f.write(blob)


def exit_code(e):
    # What the interpreter does with an uncaught SystemExit.
    code = e.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    try:
        if sys.stderr is not None:
            sys.stderr.write(str(code) + "\n")
    except Exception:
        pass
    return 1


def print_exception(e):
    # Report like an uncaught exception, without the shim's own frame (the exec call).
    tb = e.__traceback__.tb_next if e.__traceback__ is not None else None
    e = e.with_traceback(tb)
    sys.last_type, sys.last_value, sys.last_traceback = type(e), e, tb
    try:
        sys.excepthook(type(e), e, tb)
    except Exception:
        sys.__excepthook__(type(e), e, tb)


def flush():
    for f in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if f is not None:
                f.flush()
        except Exception:
            pass


def run(job):
    path = job["file"]
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__cached__ = None
    main.__builtins__ = builtins
    main.__loader__ = SourceFileLoader("__main__", path)
    sys.modules["__main__"] = main
    sys.argv = [path] + job["argv"]
    sys.path[0] = os.path.dirname(path)
    errors = []
    if job.get("state_in"):
        restore_state(job["state_in"], main.__dict__, errors)

    code, interrupted = 0, False
    try:
        with open(path, "rb") as f:
            source = f.read()
        exec(compile(source, path, "exec", dont_inherit=True), main.__dict__)
    except SystemExit as e:
        code = exit_code(e)
    except BaseException as e:
        print_exception(e)
        code, interrupted = 1, isinstance(e, KeyboardInterrupt)

    # Interpreter exit: wait for non-daemon threads, then atexit handlers.
    threading = sys.modules.get("threading")
    if threading is not None and hasattr(threading, "_shutdown"):
        try:
            threading._shutdown()
        except BaseException:
            pass
    try:
        import atexit

        atexit._run_exitfuncs()
    except BaseException:
        pass
    if job.get("state_out"):
        capture_state(main.__dict__, job["state_out"], errors)
    if job.get("state_out") and errors:  # no file: no errors
        import json

        with open(job["state_errors"], "w") as f:
            json.dump(errors, f)
    # Dropping the namespace closes (and so flushes) files the code left open, as teardown would.
    flush()
    try:
        main.__dict__.clear()
    except BaseException:
        pass
    flush()
    if interrupted:  # like the interpreter: die of SIGINT
        import signal

        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _kill(_getpid(), signal.SIGINT)
    code = code & 0xFF if isinstance(code, int) else 1
    if _getpid() != SHIM_PID:  # a process the code forked ends here; only the shim reports
        _exit(code)
    # Report the exit code with stdout and stderr closed: the runner can answer without waiting for the
    # exit itself, which takes milliseconds with numpy and pandas mapped.
    for fd in (1, 2):
        try:
            _close(fd)
        except OSError:
            pass
    if report_status(code):
        # The runner was just woken, likely onto this CPU: let it answer before this process's exit
        # (unmapping an interpreter with numpy mapped takes milliseconds) instead of after.
        _yield()
    _exit(code)


def take_status():
    """Before any user code: keeps the status pipe from the program's children and records which pipe it is."""
    global STATUS_PIPE
    try:
        os.set_inheritable(STATUS_FD, False)
        st = os.fstat(STATUS_FD)
        # Only a pipe, as the Node child checks: the runner gives one (or none).
        STATUS_PIPE = (st.st_dev, st.st_ino) if stat.S_ISFIFO(st.st_mode) else None
    except OSError:
        STATUS_PIPE = None


def report_status(code):
    """Writes the exit code to the status pipe if fd 3 is still that pipe: the code may have closed it and
    opened a file of its own there, which must not get the line. Never blocks: the code may have filled
    the pipe (the runner then goes by the exit status). Returns whether it was written."""
    try:
        st = _fstat(STATUS_FD)
        if STATUS_PIPE is None or (st.st_dev, st.st_ino) != STATUS_PIPE:
            return False
        _set_blocking(STATUS_FD, False)
        line = b"%d\n" % code
        return _write(STATUS_FD, line) == len(line)
    except OSError:
        return False


def main():
    shim = sys.modules["__main__"]  # keep the shim's globals alive once __main__ is replaced
    take_status()
    names = [n for n in (sys.argv[1] if len(sys.argv) > 1 else "").split(",") if n]
    if names:
        preload(names)
    # The first compile() initialises the compiler (over a millisecond); do it before the job comes.
    compile("x = 1\n", "<warm-up>", "exec")
    os.write(1, READY)
    run(read_job())
    del shim


if __name__ == "__main__":
    main()
