#!/usr/bin/env python3
"""Strong scaling of one ensemble over MPI ranks (host/mpi/).

Runs the same `attnmc run` without mpirun and under `mpirun -np K` for each
K, repeated, interleaved (so machine noise hits every setting alike), and
prints per setting the median wall time, the speedup against the run
without mpirun, and the per-rank throughput lines attnmc prints (members,
seconds and members/s of every rank: what tells a cluster run whose ranks
are slow). Checks that every run wrote the same stats.h5 bytes.

  python3 bench/mpi_scaling.py                       # exact sampler, -np 1 and 2
  python3 bench/mpi_scaling.py --ranks 1 2 4 --repeat 5 -- --set model.width=64

Arguments after `--` go to `attnmc run` (they replace the default workload).
On a cluster, run the same command with your launcher (docs/performance.md).
"""
import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Exact sampler, width 256, depth 256, m = 4: the default experiment's
# model with a fifth of its networks (about 20 s on two cores).
DEFAULT = ["--set", "model.width=256", "--set", "model.depth=256", "--set", "model.tokens=4",
           "-B", "20000", "--seed", "1", "--set", "ensemble.chunk=2000"]


def run(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}{p.stderr}")
    return dt, p.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attnmc", default=os.path.join(ROOT, "build", "attnmc"))
    ap.add_argument("--mpirun", default=shutil.which("mpirun") or "mpirun")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("args", nargs="*", help="attnmc run arguments (after --)")
    a = ap.parse_args()
    args = a.args or DEFAULT
    tmp = tempfile.mkdtemp(prefix="attnmc_mpi_bench_")
    settings = [("no mpirun", None)] + [(f"-np {k}", k) for k in a.ranks]
    times = {name: [] for name, _ in settings}
    lines = {}
    digests = set()
    try:
        for rep in range(a.repeat):
            for name, k in settings:
                out = os.path.join(tmp, f"out{rep}_{k}")
                cmd = [a.attnmc, "run", *args, "-o", out, "--force"]
                if k is not None:
                    cmd = [a.mpirun, "--oversubscribe", "--allow-run-as-root", "-np", str(k)] + cmd
                dt, err = run(cmd)
                times[name].append(dt)
                lines[name] = [l for l in err.splitlines() if l.startswith("attnmc: ") and "rank" in l]
                with open(os.path.join(out, "stats.h5"), "rb") as f:
                    digests.add(hashlib.sha256(f.read()).hexdigest())
                shutil.rmtree(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = statistics.median(times["no mpirun"])
    print(f"attnmc run {' '.join(args)}")
    print(f"{os.cpu_count()} cores; {a.repeat} repeats, interleaved; median wall time (all runs)")
    for name, _ in settings:
        m = statistics.median(times[name])
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"  {name:10s} {m:7.2f} s  speedup {base / m:5.2f}  ({runs})")
        for l in lines.get(name, []):
            print("      " + l)
    print("stats.h5 identical in every run:", "yes" if len(digests) == 1 else f"NO ({len(digests)} versions)")
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
