"""CPU of one fork + exit of a bare and of a preloaded Python (the jail's two Python templates): the
template's share (its page tables copied) and the child's (its copy torn down), per run. The preloaded
one is measured twice: with its memory in 4 KiB pages, and in 2 MiB pages where it can be, as the
jail's template puts it (runner/shims/pyrun.py, huge_pages)."""
import gc
import os
import sys


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
            sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runner", "shims"))
            import pyrun

            kind = "preloaded Python, %d MB of it in 2 MiB pages" % (pyrun.huge_pages() >> 10)
        else:
            kind += " Python"
        print("%s (%d MB resident): fork %.2f ms of CPU in the template, %.2f ms in the child" % ((kind,) + measure()))
    else:
        import subprocess

        for kind in ("bare", "preloaded", "preloaded-huge"):
            subprocess.run([sys.executable, __file__, kind], check=False)
