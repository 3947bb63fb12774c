"""CPU of one fork + exit of a bare and of a preloaded Python (the jail's two Python templates): the
template's share (its page tables copied) and the child's (its copy torn down), per run. The preloaded
one is measured twice: with its memory in 4 KiB pages, and in 2 MiB pages where it can be, as the
jail's template puts it (runner/shims/zygote.py, huge_pages)."""
import ctypes
import gc
import os
import sys


def huge_pages():
    """zygote.py's huge_pages: MADV_COLLAPSE over the private anonymous mappings. Returns MiB in them."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    huge = 2 << 20
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if fields[1] != "rw-p" or (len(fields) > 5 and fields[5] != "[heap]"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            start, end = -(-start // huge) * huge, end // huge * huge
            if end > start:
                libc.madvise(start, end - start, 25)  # MADV_COLLAPSE
    with open("/proc/self/smaps_rollup") as f:
        return sum(int(line.split()[1]) for line in f if line.startswith("AnonHugePages")) >> 10


def measure(n=300):
    t0 = os.times()
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            compile("print(1)", "code.py", "exec")
            os._exit(0)
        os.waitpid(pid, 0)
    t1 = os.times()
    parent = ((t1.user - t0.user) + (t1.system - t0.system)) * 1000 / n
    child = ((t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)) * 1000 / n
    rss = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
    return rss, parent, child


if __name__ == "__main__":
    if len(sys.argv) > 1:
        if sys.argv[1].startswith("preloaded"):
            import io

            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            import numpy  # noqa: F401
            import pandas  # noqa: F401

            fig, ax = plt.subplots()
            ax.plot([0, 1])
            fig.savefig(io.BytesIO(), format="png")
        import cloudpickle  # noqa: F401
        import lz4.frame  # noqa: F401

        gc.collect()
        gc.freeze()
        kind = sys.argv[1]
        if kind == "preloaded-huge":
            kind = "preloaded Python, %d MB of it in 2 MiB pages" % huge_pages()
        else:
            kind += " Python"
        print("%s (%d MB resident): fork %.2f ms of CPU in the template, %.2f ms in the child" % ((kind,) + measure()))
    else:
        import subprocess

        for kind in ("bare", "preloaded", "preloaded-huge"):
            subprocess.run([sys.executable, __file__, kind], check=False)
