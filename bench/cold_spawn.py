"""The baseline: spawn `python3 code.py` (print(1)) N times, as a naive code runner would."""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
python = sys.argv[2] if len(sys.argv) > 2 else "/usr/bin/python3"
with tempfile.TemporaryDirectory() as d:
    code = os.path.join(d, "code.py")
    with open(code, "w") as f:
        f.write("print(1)\n")
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([python, code], check=True, capture_output=True)
        samples.append((time.perf_counter() - t) * 1000)
samples.sort()
q = statistics.quantiles(samples, n=100)
print(json.dumps({"n": n, "med": statistics.median(samples), "p95": q[94], "p99": q[98]}))
