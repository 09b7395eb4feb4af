#!/usr/bin/env python3
"""Peer of attnmc's direct sampler in PyTorch, as a user would write it:
float32, a batch of networks at a time, fresh torch.randn weights every
layer, batched matmuls (bmm), shaped attention (A = I + softmax(Y) - 11^T/m,
tau = tau0 sqrt(n n_k)), residual X <- lambda X + gamma/sqrt(n) A X W_V, and
the final Gram V = X X^T / n. The scalings are attnmc's
(kernels/model_coefficients.hpp, heads = 1, no MLP, no pre-norm).

usage: direct_torch.py --n N1,N2.. --m M1,M2.. [--depth 8] [--nk 64] [--draws D] [--threads T]
prints, per configuration (one process: the import is paid once): n m,
network-layers per wall second, per CPU second (all threads), mean rho_01 at
the last layer
"""
import argparse
import math
import time

import torch


def run(n, m, depth, nk, networks, batch, tau0=1.0, rho0=0.5, seed=1):
    gen = torch.Generator().manual_seed(seed)
    lam = gamma = 1 / math.sqrt(2)
    logit_scale = 1.0 / (n * tau0 * math.sqrt(n * nk))
    attn_scale = gamma / math.sqrt(n)
    # Input tokens with Gram 1 on the diagonal and rho0 off it.
    gram = torch.full((m, m), rho0) + (1 - rho0) * torch.eye(m)
    x0 = torch.linalg.cholesky(gram.double()) @ torch.linalg.qr(
        torch.randn(n, m, dtype=torch.float64, generator=gen))[0].T * math.sqrt(n)
    x0 = x0.float()
    eye, centre = torch.eye(m), torch.full((m, m), 1.0 / m)
    v01 = 0.0
    for done in range(0, networks, batch):
        b = min(batch, networks - done)
        x = x0.expand(b, m, n).clone()
        for _ in range(depth):
            wq = torch.randn(b, n, nk, generator=gen)
            wk = torch.randn(b, n, nk, generator=gen)
            wv = torch.randn(b, n, n, generator=gen)
            q, k, xv = torch.bmm(x, wq), torch.bmm(x, wk), torch.bmm(x, wv)
            y = torch.bmm(q, k.transpose(1, 2)) * logit_scale
            a = eye + torch.softmax(y, dim=-1) - centre
            x = lam * x + attn_scale * torch.bmm(a, xv)
        v = torch.bmm(x, x.transpose(1, 2)) / n
        rho = v[:, 0, 1] / torch.sqrt(v[:, 0, 0] * v[:, 1, 1])
        v01 += float(rho.double().sum())
    return v01 / networks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", required=True, help="widths, comma-separated")
    ap.add_argument("--m", required=True, help="token counts, comma-separated")
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--nk", type=int, default=64)
    ap.add_argument("--draws", type=float, default=4e7, help="weight draws per configuration")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for n in map(int, a.n.split(",")):
        for m in map(int, a.m.split(",")):
            networks = max(8, int(a.draws / (a.depth * (2 * n * a.nk + n * n))))
            # Keep one batch's n x n weights near 64 MiB.
            batch = max(1, min(networks, (16 << 20) // (n * n)))
            run(n, m, a.depth, a.nk, min(networks, batch), batch)  # warm-up
            t0, c0 = time.perf_counter(), time.process_time()
            rho = run(n, m, a.depth, a.nk, networks, batch)
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            work = networks * a.depth
            print(f"{n} {m} {work / dt:.6g} {work / cpu:.6g} {rho:.6g}", flush=True)


if __name__ == "__main__":
    main()
