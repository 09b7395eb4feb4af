#!/usr/bin/env python3
"""The NumPy script a user would write for the attention-paths prior Monte
Carlo (bench/bench_paths.cpp runs the same networks in attnmc): the path
decomposition f_p(x_mu) = w_p . xi^p(x_mu) / sqrt(N_a) with effective weights
w_p = V0^T V1_{h1}^T V2_{h2}^T a / (sqrt(N_in) sqrt(H1 N1) sqrt(H2 N2)),
batched over networks with matmul (float32, numpy's default Generator), and
the prior kernel K_MC = mean f f^T accumulated per batch. The path features
xi (sequences x paths x N_in) are random stand-ins of the task's shape: the
cost does not depend on their values.

    python3 bench/bench_paths_numpy.py [--quick] [--sequences M]
Prints networks per second against N (engine = weights and f; run = plus K_MC).
"""
import argparse
import time

import numpy as np


def networks(rng, xi, n, batch, heads=(2, 2)):
    m, paths, n_in = xi.shape
    h1, h2 = heads
    a = rng.standard_normal((batch, n), dtype=np.float32)
    w2 = rng.standard_normal((batch, h2, n, n), dtype=np.float32)
    w1 = rng.standard_normal((batch, h1, n, n), dtype=np.float32)
    v0 = rng.standard_normal((batch, n, n_in), dtype=np.float32)
    u2 = np.einsum("bhij,bi->bhj", w2, a) / np.sqrt(h2 * n)            # (b, h2, n)
    u1 = np.einsum("bgij,bhi->bghj", w1, u2) / np.sqrt(h1 * n)         # (b, h1, h2, n)
    w = np.einsum("bij,bpi->bpj", v0, u1.reshape(batch, h1 * h2, n)) / np.sqrt(n_in)
    return np.einsum("bpj,mpj->bmp", w, xi) / np.sqrt(n)               # (b, M, paths)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sequences", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    xi = rng.standard_normal((args.sequences, 4, 231), dtype=np.float32)
    widths = [10, 100] if args.quick else [10, 30, 100, 300, 1000]
    print(f"# numpy {np.__version__}: {args.sequences} sequences, N_in 231, 4 paths")
    print(f"{'N':>6} {'networks':>9} {'engine net/s':>14} {'run net/s':>14}")
    for n in widths:
        batch = max(1, min(256, int(2e8 / (4 * n * (n * 4 + 231)))))
        target = 0.2 if args.quick else 1.0
        done, t0, engine = 0, time.perf_counter(), 0.0
        k = np.zeros((args.sequences, args.sequences))
        while time.perf_counter() - t0 < target:
            e0 = time.perf_counter()
            f = networks(rng, xi, n, batch).sum(axis=2)
            engine += time.perf_counter() - e0
            k += f.T.astype(np.float64) @ f.astype(np.float64)
            done += batch
        run = time.perf_counter() - t0
        print(f"{n:6d} {done:9d} {done / engine:14.0f} {done / run:14.0f}", flush=True)


if __name__ == "__main__":
    main()
