#!/usr/bin/env python3
"""Peer of attnmc's sphere model in batched NumPy (float64), as a user would
write it: B trajectories of N tokens on S^{d-1}, self-attention
a_i = sum_j softmax_j(beta <x_i, x_j>) x_j, and the geometric scheme
x_i <- exp_{x_i}(sigma sqrt(dt) P_x V a_i) (models.md section 2) with
  matrix noise:  a fresh d x d Gaussian V per trajectory and step;
  reduced noise: V a_i = sum_k R_ki z_k from a QR of [a_1 .. a_N]
                 (z_k i.i.d. N(0, I_d), exact in law).
Uniform starts, beta = 1, sigma = 1, T = 1.

usage: sphere_numpy.py --n N --d D --noise matrix|reduced [--paths B] [--steps S]
prints: trajectory-steps per wall second, per CPU second (all threads), median <x_1, x_2> at T
"""
import argparse
import time

import numpy as np


def run(n, d, noise, paths, steps, beta=1.0, sigma=1.0, T=1.0, seed=1):
    rng = np.random.default_rng(seed)
    dt = T / steps
    s = sigma * np.sqrt(dt)
    x = rng.standard_normal((paths, n, d))
    x /= np.linalg.norm(x, axis=2, keepdims=True)
    for _ in range(steps):
        logits = beta * x @ x.transpose(0, 2, 1)
        w = np.exp(logits - logits.max(axis=2, keepdims=True))
        w /= w.sum(axis=2, keepdims=True)
        a = w @ x  # (B, N, d)
        if noise == "matrix":
            V = rng.standard_normal((paths, d, d))
            v = a @ V.transpose(0, 2, 1)  # v_i = V a_i
        else:
            q, r = np.linalg.qr(a.transpose(0, 2, 1))  # a^T = q r, q (B, d, k)
            z = rng.standard_normal((paths, q.shape[2], d))
            v = r.transpose(0, 2, 1) @ z  # v_i = sum_k r_ki z_k
        t = s * (v - np.sum(v * x, axis=2, keepdims=True) * x)  # tangent noise
        th = np.linalg.norm(t, axis=2, keepdims=True)
        safe = np.where(th > 0, th, 1.0)
        x = np.cos(th) * x + np.sin(th) * t / safe
        x /= np.linalg.norm(x, axis=2, keepdims=True)
    return float(np.median(np.sum(x[:, 0] * x[:, 1], axis=1)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--d", type=int, required=True)
    ap.add_argument("--noise", choices=["matrix", "reduced"], required=True)
    ap.add_argument("--paths", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=200)
    a = ap.parse_args()
    t0, c0 = time.perf_counter(), time.process_time()
    c = run(a.n, a.d, a.noise, a.paths, a.steps)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{a.paths * a.steps / dt:.6g} {a.paths * a.steps / cpu:.6g} {c:.6g}")


if __name__ == "__main__":
    main()
