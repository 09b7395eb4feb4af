#!/usr/bin/env python3
"""Peak memory of `attnmc run` against the number of networks.

Runs one attnmc binary (or several, side by side: e.g. an old and a new
build) for each ensemble size and prints the peak resident set size of each
run (getrusage of the child), the wall time and the growth over the smallest
size. The model is the exact (Gram-chain) sampler, m = 4 tokens, depth 32,
every layer recorded (33 records), as issue 8's benchmark asks.

  python3 bench/peak_memory.py [--members 1e4,1e5,1e6,1e7] [--threads 2]
                               [--binary build/attnmc ...] [-- extra attnmc args]
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def peak_rss_of(cmd):
    """(peak RSS in MiB, seconds) of one child process."""
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execv(cmd[0], cmd)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"peak_memory: {' '.join(cmd)} failed")
    return usage.ru_maxrss / 1024.0, time.monotonic() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--members", default="1e4,1e5,1e6,1e7")
    p.add_argument("--threads", default="2")
    p.add_argument("--binary", nargs="+", default=["build/attnmc"])
    p.add_argument("extra", nargs="*", help="more attnmc run arguments (after --)")
    a = p.parse_args()
    sizes = [int(float(s)) for s in a.members.split(",")]
    model = ["--set", "model.width=64", "--set", "model.tokens=4", "--set", "model.depth=32",
             "--set", "ensemble.record_every=1", "--set", "ensemble.sampler=exact",
             "--set", "ensemble.chunk=5000", "--threads", a.threads, "-q", "--force"]
    print(f"{'binary':>28} {'members':>10} {'peak RSS MiB':>13} {'growth MiB':>11} {'seconds':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for binary in a.binary:
            first = None
            for n in sizes:
                out = os.path.join(tmp, "out")
                cmd = [os.path.abspath(binary), "run", "-B", str(n), "-o", out] + model + a.extra
                rss, sec = peak_rss_of(cmd)
                first = rss if first is None else first
                print(f"{binary[-28:]:>28} {n:>10} {rss:>13.1f} {rss - first:>11.1f} {sec:>9.1f}",
                      flush=True)


if __name__ == "__main__":
    main()
