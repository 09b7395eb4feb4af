#!/usr/bin/env python3
"""attnmc against the scripts users would write, side by side in one run.

For each configuration the same work (networks x layers, or trajectories x
steps) is run by the attnmc command line (wall time of the whole process:
start-up, statistics and output included) and by each peer script in this
folder (its own timer, compilation and warm-up excluded), all on the same
number of threads; the table gives rates and the ratio attnmc / peer. Each
row also prints one law statistic per program (direct: mean V_01; SDE: median
V_01; sphere: mean <x_1, x_2>), from independent random streams, as a check
that the programs simulate the same thing.

  python3 bench/peers/run_peers.py --attnmc build/attnmc [--threads 2]
      [--only direct,sde,sphere] [--quick] [--repeat 3]

Peers need: numpy (always), torch and jax[cpu] for the direct sampler and the
SDE (see docs/performance.md for the install line); a missing one is skipped.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)


def peer(script, *args):
    """(rate, law statistic) printed by a peer script, or None if it failed."""
    cmd = [sys.executable, os.path.join(HERE, script) if "/" not in script else script]
    cmd += [str(a) for a in args]
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
        return float(out[0]), float(out[1]) if len(out) > 1 else float("nan")
    except (subprocess.CalledProcessError, FileNotFoundError, ValueError, IndexError) as e:
        msg = getattr(e, "stderr", "") or str(e)
        print(f"  [{os.path.basename(script)} failed: {msg.strip().splitlines()[-1:]}]",
              file=sys.stderr)
        return None


def attnmc(binary, command, sets, flags, work, statistic):
    """(rate, law statistic) of one attnmc command: work / wall seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        cmd = [binary, command, "-q", "-o", out, "--force"] + flags
        for s in sets:
            cmd += ["--set", s]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        try:
            with open(os.path.join(out, "summary.json")) as f:
                stat = statistic(json.load(f))
        except (OSError, KeyError, IndexError, TypeError, ValueError):
            stat = float("nan")
    return work / wall, stat


def last_record_entry(summary, name, a=0, b=1):
    """Statistic `name` (mean, median, ...) of V_ab at the last record."""
    records = summary["records"]
    rec = records[-1]
    entries = rec["entries"]
    for e in entries:
        if e.get("a") == a and e.get("b") == b:
            return float(e[name])
    raise KeyError(name)


def row(label, mine, peers):
    cells = [f"{label:<26}", f"{mine[0]:>11.4g}"]
    for p in peers:
        if p is None:
            cells += [f"{'-':>11}", f"{'-':>7}"]
        else:
            cells += [f"{p[0]:>11.4g}", f"{mine[0] / p[0]:>6.1f}x"]
    stats = [mine[1]] + [p[1] if p else float("nan") for p in peers]
    cells.append("  law: " + " ".join(f"{s:.3g}" for s in stats))
    print(" ".join(cells), flush=True)


def direct(args):
    print(f"\n# direct sampler: network-layers/s, shaped attention, H=1, n_k=64, depth 8, "
          f"rho0 0.5, {args.threads} threads")
    print(f"{'config':<26} {'attnmc':>11} {'torch':>11} {'ratio':>7} {'jax':>11} {'ratio':>7}")
    depth = 8
    for n in ([128, 512] if args.quick else [128, 256, 512, 1024]):
        for m in [2, 4]:
            per_net = depth * (2 * n * 64 + n * n)
            nets = max(8, int((4e7 if args.quick else 4e8) / per_net))
            mine = attnmc(args.attnmc, "run",
                          [f"model.width={n}", f"model.tokens={m}", f"model.depth={depth}",
                           "model.head_dim=64", "ensemble.sampler=direct", "input.rho0=0.5",
                           f"ensemble.members={nets}", f"ensemble.record_every={depth}"],
                          ["--threads", str(args.threads)], nets * depth,
                          lambda s: float("nan"))
            common = ["--n", n, "--m", m, "--depth", depth, "--networks", nets,
                      "--threads", args.threads]
            row(f"n={n} m={m} ({nets} nets)", mine,
                [peer("direct_torch.py", *common), peer("direct_jax.py", *common)])


def sde(args):
    print(f"\n# covariance SDE, Gaussian Euler-Maruyama (attention, T=0.5, rho0 0.3): "
          f"trajectory-steps/s, {args.threads} threads")
    print(f"{'config':<26} {'attnmc':>11} {'numpy':>11} {'ratio':>7} {'jax':>11} {'ratio':>7}")
    for m in [2, 4, 8]:
        paths, steps = (20000, 20) if args.quick else (20000, 50)
        big = paths * (10 if m == 2 else 4 if m == 4 else 1)  # attnmc: a run of seconds
        mine = attnmc(args.attnmc, "sde",
                      [f"model.tokens={m}", "sde.dynamics=attention", "sde.scheme=euler",
                       "sde.horizon=0.5", f"sde.steps={steps}", f"sde.record_every={steps}",
                       "input.rho0=0.3", f"ensemble.members={big}"],
                      ["--threads", str(args.threads)], big * steps,
                      lambda s: float("nan"))
        np_peer = peer(os.path.join(BENCH, "sde_numpy_baseline.py"), "--m", m, "--paths", paths,
                       "--steps", steps)
        row(f"m={m} ({steps} steps)", mine,
            [np_peer, peer("sde_jax.py", "--m", m, "--paths", paths, "--steps", steps,
                           "--threads", args.threads)])


def sphere(args):
    print(f"\n# sphere model, geometric scheme, uniform starts, beta 1, T 1, 200 steps: "
          f"trajectory-steps/s, {args.threads} threads")
    print(f"{'config':<26} {'attnmc':>11} {'numpy':>11} {'ratio':>7}")
    steps = 200
    for n in [2, 8]:
        for d in [3, 16]:
            for noise in ["matrix", "reduced"]:
                paths = 500 if args.quick else 2000
                big = paths * 10
                mine = attnmc(args.attnmc, "sphere",
                              [f"model.tokens={n}", f"model.dim={d}", "model.beta=1",
                               "sphere.scheme=sde-geometric", f"sphere.noise={noise}",
                               "sphere.horizon=1", f"sphere.steps={steps}", "input.init=uniform",
                               f"ensemble.members={big}"],
                              ["--threads", str(args.threads)], big * steps,
                              lambda s: float("nan"))
                row(f"N={n} d={d} {noise}", mine,
                    [peer("sphere_numpy.py", "--n", n, "--d", d, "--noise", noise, "--paths",
                          paths, "--steps", steps)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--attnmc", required=True, help="the attnmc binary")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="direct,sde,sphere")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    args.attnmc = os.path.abspath(args.attnmc)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    for r in range(args.repeat):
        print(f"\n## repetition {r + 1} of {args.repeat}")
        for part in args.only.split(","):
            {"direct": direct, "sde": sde, "sphere": sphere}[part](args)


if __name__ == "__main__":
    main()
