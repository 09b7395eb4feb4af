#!/usr/bin/env python3
"""Peer of attnmc's direct sampler in JAX, as a user would write it: the
network step of direct_torch.py (same model and scalings) jitted over a batch
of networks, the layers in lax.fori_loop, weights from jax.random.normal
(default PRNG) keyed by fold_in(layer), float32.

usage: direct_jax.py --n N --m M [--depth 8] [--nk 64] [--networks B] [--threads T]
prints: network-layers per wall second, per CPU second (all threads), mean rho_01 at the last layer
"""
import argparse
import math
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--m", type=int, required=True)
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--nk", type=int, default=64)
    ap.add_argument("--networks", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count=1"
                               f" --xla_cpu_multi_thread_eigen={'true' if a.threads > 1 else 'false'}"
                               f" intra_op_parallelism_threads={a.threads}")
    import jax
    import jax.numpy as jnp

    n, m, nk, depth = a.n, a.m, a.nk, a.depth
    tau0, rho0 = 1.0, 0.5
    lam = gamma = 1 / math.sqrt(2)
    logit_scale = 1.0 / (n * tau0 * math.sqrt(n * nk))
    attn_scale = gamma / math.sqrt(n)
    batch = max(1, min(a.networks, (16 << 20) // (n * n)))

    key = jax.random.PRNGKey(1)
    gram = jnp.full((m, m), rho0) + (1 - rho0) * jnp.eye(m)
    basis = jnp.linalg.qr(jax.random.normal(key, (n, m)))[0].T
    x0 = (jnp.linalg.cholesky(gram) @ basis * math.sqrt(n)).astype(jnp.float32)
    eye, centre = jnp.eye(m), jnp.full((m, m), 1.0 / m)

    @jax.jit
    def networks(key):
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

    networks(key).block_until_ready()  # compile + warm-up
    rounds = max(1, a.networks // batch)
    t0, c0 = time.perf_counter(), time.process_time()
    total = 0.0
    for r in range(rounds):
        total += float(networks(jax.random.fold_in(key, 1000 + r)))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    work = rounds * batch * depth
    print(f"{work / dt:.6g} {work / cpu:.6g} {total / (rounds * batch):.6g}")


if __name__ == "__main__":
    sys.exit(main())
