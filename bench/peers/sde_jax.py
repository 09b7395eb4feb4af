#!/usr/bin/env python3
"""Peer of attnmc's SDE integrator in JAX (jit), as a user would write it:
bench/sde_numpy_baseline.py's batched Euler-Maruyama of the shaped-attention
covariance SDE (per step a batched eigh for the factor and the PSD
projection, the drift, two matrix Brownian increments, blow-up masking),
float64 (jax_enable_x64), the steps in lax.fori_loop.

usage: sde_jax.py --m M1,M2.. [--paths B] [--steps S] [--threads T]
prints, per m (one process): m, trajectory-steps per wall second, per CPU second (all threads), mean rho_01 at T
(paths that did not blow up)
"""
import argparse
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", required=True, help="token counts, comma-separated")
    ap.add_argument("--paths", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_cpu_multi_thread_eigen={'true' if a.threads > 1 else 'false'}"
                               f" intra_op_parallelism_threads={a.threads}")
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    paths, steps = a.paths, a.steps

    def measure(m):
        tau0, lam2, heads, T = 1.0, 0.5, 1, 0.5
        g2 = 1.0 - lam2
        kappa = g2 * (2 * lam2 + g2)
        cd, c2 = g2 / tau0**2, g2 / (m * tau0 * heads**0.5)
        dt = T / steps
        P = jnp.eye(m) - jnp.ones((m, m)) / m
        V0 = jnp.broadcast_to(0.7 * jnp.eye(m) + 0.3, (paths, m, m))

        @jax.jit
        def integrate(key):
            def step(i, state):
                V, alive = state
                w, Q = jnp.linalg.eigh(V)
                L = Q * jnp.sqrt(jnp.clip(w, 0.0, None))[:, None, :]
                Lt = jnp.swapaxes(L, 1, 2)
                V = L @ Lt
                Vt = P @ V @ P
                tr2 = jnp.einsum("bij,bij->b", Vt, Vt)
                dv = jnp.diagonal(Vt, axis1=1, axis2=2)
                u = jnp.einsum("bij,bj->bi", V, dv @ P)
                dg = jnp.diagonal(V, axis1=1, axis2=2)
                drift = cd * (tr2[:, None, None] * V / m**2
                              + (dg[:, :, None] * u[:, None, :] + u[:, :, None] * dg[:, None, :]) / (2 * m))
                k1, k2 = jax.random.split(jax.random.fold_in(key, i))
                dB1 = jax.random.normal(k1, (paths, m, m)) * jnp.sqrt(dt)
                dB2 = jax.random.normal(k2, (paths, m, m)) * jnp.sqrt(dt)
                Z1 = L @ dB1 @ Lt
                Z2 = L @ dB2 @ Lt @ P @ V
                V = V + drift * dt + jnp.sqrt(kappa / 2) * (Z1 + jnp.swapaxes(Z1, 1, 2)) \
                    + c2 * (Z2 + jnp.swapaxes(Z2, 1, 2))
                blown = ~jnp.isfinite(V).all(axis=(1, 2)) | (jnp.abs(V) > 1e6).any(axis=(1, 2))
                alive = alive & ~blown
                V = jnp.where(alive[:, None, None], V, jnp.eye(m))
                return V, alive
            V, alive = jax.lax.fori_loop(0, steps, step, (V0, jnp.ones(paths, dtype=bool)))
            # Paths whose last (unprojected) step kept V_00 V_11 > 0.
            d = V[:, 0, 0] * V[:, 1, 1]
            ok = alive & (d > 0)
            rho = jnp.clip(V[:, 0, 1] / jnp.sqrt(jnp.where(ok, d, 1.0)), -1, 1)
            return jnp.where(ok, rho, 0.0).sum() / ok.sum()

        key = jax.random.PRNGKey(1)
        integrate(key).block_until_ready()  # compile + warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        v01 = float(integrate(jax.random.fold_in(key, 7)))
        dt_wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{m} {paths * steps / dt_wall:.6g} {paths * steps / cpu:.6g} {v01:.6g}", flush=True)

    for m in map(int, a.m.split(",")):
        measure(m)


if __name__ == "__main__":
    sys.exit(main())
