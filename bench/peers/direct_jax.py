#!/usr/bin/env python3
"""Peer of attnmc's direct sampler in JAX, as a user would write it: the
network step of direct_torch.py (same model and scalings) jitted over a batch
of networks, the layers in lax.fori_loop, weights from jax.random.normal
(default PRNG) keyed by fold_in(layer), float32.

usage: direct_jax.py --n N1,N2.. --m M1,M2.. [--depth 8] [--nk 64] [--draws D] [--threads T]
prints, per configuration (one process): n m, network-layers per wall
second, per CPU second (all threads), mean rho_01 at the last layer
"""
import argparse
import math
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", required=True, help="widths, comma-separated")
    ap.add_argument("--m", required=True, help="token counts, comma-separated")
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--nk", type=int, default=64)
    ap.add_argument("--draws", type=float, default=1e7, help="weight draws per configuration")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_cpu_multi_thread_eigen={'true' if a.threads > 1 else 'false'}"
                               f" intra_op_parallelism_threads={a.threads}")
    import jax
    import jax.numpy as jnp

    def measure(n, m, nk, depth):
        tau0, rho0 = 1.0, 0.5
        lam = gamma = 1 / math.sqrt(2)
        logit_scale = 1.0 / (n * tau0 * math.sqrt(n * nk))
        attn_scale = gamma / math.sqrt(n)
        networks = max(4, int(a.draws / (depth * (2 * n * nk + n * n))))
        batch = max(1, min(networks, (16 << 20) // (n * n)))
        key = jax.random.PRNGKey(1)
        gram = jnp.full((m, m), rho0) + (1 - rho0) * jnp.eye(m)
        basis = jnp.linalg.qr(jax.random.normal(key, (n, m)))[0].T
        x0 = (jnp.linalg.cholesky(gram) @ basis * math.sqrt(n)).astype(jnp.float32)
        eye, centre = jnp.eye(m), jnp.full((m, m), 1.0 / m)

        @jax.jit
        def networks_fn(key):
            def layer(i, x):
                kq, kk, kv = jax.random.split(jax.random.fold_in(key, i), 3)
                wq = jax.random.normal(kq, (batch, n, nk))
                wk = jax.random.normal(kk, (batch, n, nk))
                wv = jax.random.normal(kv, (batch, n, n))
                q, k, xv = x @ wq, x @ wk, x @ wv
                y = q @ jnp.swapaxes(k, 1, 2) * logit_scale
                att = eye + jax.nn.softmax(y, axis=-1) - centre
                return lam * x + attn_scale * (att @ xv)
            x = jax.lax.fori_loop(0, depth, layer, jnp.broadcast_to(x0, (batch, m, n)))
            v = x @ jnp.swapaxes(x, 1, 2) / n
            return (v[:, 0, 1] / jnp.sqrt(v[:, 0, 0] * v[:, 1, 1])).sum()

        networks_fn(key).block_until_ready()  # compile + warm-up
        rounds = max(1, networks // batch)
        t0, c0 = time.perf_counter(), time.process_time()
        total = 0.0
        for r in range(rounds):
            total += float(networks_fn(jax.random.fold_in(key, 1000 + r)))
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        work = rounds * batch * depth
        print(f"{n} {m} {work / dt:.6g} {work / cpu:.6g} {total / (rounds * batch):.6g}", flush=True)

    for n in map(int, a.n.split(",")):
        for m in map(int, a.m.split(",")):
            measure(n, m, a.nk, a.depth)


if __name__ == "__main__":
    sys.exit(main())
