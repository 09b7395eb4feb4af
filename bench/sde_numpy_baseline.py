#!/usr/bin/env python3
"""NumPy baseline for bench_sde: the batched Euler-Maruyama of the shaped
attention covariance SDE (models.md section 1) as a researcher would write
it: one (B, m, m) array, per step a batched eigh (factor + PSD projection),
the drift, two matrix Brownian increments, blow-up masking.

usage: sde_numpy_baseline.py --m M [--paths B] [--steps S] [--tau0 1] [--seed 1]
prints: trajectory-steps per wall second, per CPU second (all threads), mean rho_01 at T
(paths that did not blow up)
"""
import argparse
import time

import numpy as np


def run(m, paths, steps, tau0=1.0, lam2=0.5, heads=1, T=0.5, seed=1):
    rng = np.random.default_rng(seed)
    g2 = 1.0 - lam2
    kappa = g2 * (2 * lam2 + g2)
    cd, c2 = g2 / tau0**2, g2 / (m * tau0 * np.sqrt(heads))
    dt = T / steps
    P = np.eye(m) - np.ones((m, m)) / m
    V = np.broadcast_to(0.7 * np.eye(m) + 0.3, (paths, m, m)).copy()
    alive = np.ones(paths, dtype=bool)
    for _ in range(steps):
        w, Q = np.linalg.eigh(V)
        w = np.clip(w, 0.0, None)
        L = Q * np.sqrt(w)[:, None, :]
        V = L @ L.transpose(0, 2, 1)  # projected back to the PSD cone
        Vt = P @ V @ P
        tr2 = np.einsum("bij,bij->b", Vt, Vt)
        dv = np.diagonal(Vt, axis1=1, axis2=2)
        u = np.einsum("bij,bj->bi", V, dv @ P)
        dg = np.diagonal(V, axis1=1, axis2=2)
        drift = cd * (tr2[:, None, None] * V / m**2
                      + (dg[:, :, None] * u[:, None, :] + u[:, :, None] * dg[:, None, :]) / (2 * m))
        dB1 = rng.standard_normal((paths, m, m)) * np.sqrt(dt)
        dB2 = rng.standard_normal((paths, m, m)) * np.sqrt(dt)
        Lt = L.transpose(0, 2, 1)
        Z1 = L @ dB1 @ Lt
        Z2 = L @ dB2 @ Lt @ P @ V
        V = V + drift * dt + np.sqrt(kappa / 2) * (Z1 + Z1.transpose(0, 2, 1)) \
            + c2 * (Z2 + Z2.transpose(0, 2, 1))
        blown = ~np.isfinite(V).all(axis=(1, 2)) | (np.abs(V) > 1e6).any(axis=(1, 2))
        alive &= ~blown
        V[~alive] = np.eye(m)  # frozen placeholder, excluded from statistics
    return V, alive


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", type=int, required=True)
    ap.add_argument("--paths", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--tau0", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    t0, c0 = time.perf_counter(), time.process_time()
    V, alive = run(a.m, a.paths, a.steps, a.tau0, seed=a.seed)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{a.paths * a.steps / dt:.6g} {a.paths * a.steps / cpu:.6g} "
          f"{mean_rho(V[alive]):.6g}")


def mean_rho(V):
    """Mean rho_01 of paths whose last (unprojected) step kept V_00 V_11 > 0."""
    d = V[:, 0, 0] * V[:, 1, 1]
    ok = d > 0
    return float(np.mean(np.clip(V[ok, 0, 1] / np.sqrt(d[ok]), -1, 1)))


if __name__ == "__main__":
    main()
