"""Runs a command (the k6 run of one scenario) and reports the CPU the machine spent meanwhile, by process.

    python3 bench/cpu_split.py --server PID --out FILE.json -- k6 run ...

On the 2-core bench machine the closed-loop print scenarios and every c=8 one keep both cores busy, so
their latency follows the CPU each request costs, and this says who spends it. Read from /proc, no profiler needed:
- api: the API's JVM (all its threads, JIT and GC included);
- jail: the jail server (the runner processes the API started, the Go part of the local backend);
- holders: each sandbox's holder process (counted by the jail server when it reaps it, at destroy);
- templates: the fork-server templates (Python, Node, exec) serving forks;
- runs: their children, the runs themselves (counted when reaped, as the run ends);
- k6: the load generator (this command's children);
- kernel: the rest of the machine's busy time, above all kernel threads tearing down sandboxes
  (network namespaces, cgroups, RCU) and anything else running on the machine.
A holder or a run is counted when it is reaped, so the sandboxes alive at either end of the measurement
(up to the pools' size) fall on the wrong side of it: the split is approximate by that many runs (the
total is exact), which matters only for short scenarios. Paced ones also spread the idle machine's
own activity over a few requests.
"""
import argparse
import json
import os
import resource
import subprocess
import sys

TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")


def machine_busy_ms():
    with open("/proc/stat") as f:
        cpu = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in cpu[:7])
    return (user + nice + system + irq + softirq) * TICK_MS


def stat(pid):
    """(ppid, own ms, reaped children's ms, comm, cmdline) of a process, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            head, _, tail = f.read().rpartition(")")
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    comm, rest = head.split("(", 1)[1], tail.split()
    # after the comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    # cutime cstime (rest[0] is the state; a zombie's cmdline is empty, its comm is not)
    own = (int(rest[11]) + int(rest[12])) * TICK_MS
    children = (int(rest[13]) + int(rest[14])) * TICK_MS
    return int(rest[1]), own, children, comm, cmd


def snapshot(server):
    """CPU ms so far of each group of the server's process tree."""
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            s = stat(int(name))
            if s:
                procs[int(name)] = s
    # runner jail (the API's child) -> the jail server proper (its child, in the jail's namespaces) ->
    # the holders and the templates -> the runs
    outer = {p for p, (ppid, _, _, _, cmd) in procs.items() if ppid == server and " jail " in cmd + " "}
    jail = outer | {p for p, (ppid, _, _, _, _) in procs.items() if ppid in outer}
    templates = {
        p for p, (ppid, _, _, comm, _) in procs.items() if ppid in jail - outer and comm != "runner-holder"
    }
    groups = {"api": procs.get(server, (0, 0.0))[1], "jail": 0.0, "holders": 0.0, "templates": 0.0, "runs": 0.0}
    for p in jail:
        groups["jail"] += procs[p][1]
        groups["holders"] += procs[p][2]  # the holders it reaped (and a template that ended, rarely)
    for p in templates:
        groups["templates"] += procs[p][1]
        groups["runs"] += procs[p][2]
    return groups


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    before, busy0 = snapshot(args.server), machine_busy_ms()
    k6_0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = subprocess.call(command)
    k6_1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    after, busy1 = snapshot(args.server), machine_busy_ms()
    ms = {k: after[k] - before[k] for k in after}
    ms["k6"] = ((k6_1.ru_utime + k6_1.ru_stime) - (k6_0.ru_utime + k6_0.ru_stime)) * 1000
    ms["total"] = busy1 - busy0
    ms["kernel"] = max(0.0, ms["total"] - sum(v for k, v in ms.items() if k != "total"))
    with open(args.out, "w") as f:
        json.dump({k: round(v, 1) for k, v in ms.items()}, f)
    sys.exit(code)


if __name__ == "__main__":
    main()
