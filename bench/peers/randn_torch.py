#!/usr/bin/env python3
"""The machine's fastest measured Gaussian rate: torch.randn float32 into a
preallocated buffer (torch's vectorised Box-Muller), on T threads.

usage: randn_torch.py [--threads 1] [--size 16777216] [--rounds 20]
prints: normals per wall second, per CPU second (all threads), sample variance
"""
import argparse
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=1 << 24)
    ap.add_argument("--rounds", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    buf = torch.empty(a.size)
    torch.randn(a.size, out=buf)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(a.rounds):
        torch.randn(a.size, out=buf)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = a.size * a.rounds
    print(f"{n / dt:.6g} {n / cpu:.6g} {float(buf.var()):.6g}")


if __name__ == "__main__":
    main()
