#!/usr/bin/env python3
"""attnmc against the scripts users would write, side by side in one run.

For each configuration the same work (networks x layers, or trajectories x
steps) is run by the attnmc command line (wall time of the whole process:
start-up, statistics and output included) and by each peer script in this
folder (its own timer, compilation and warm-up excluded), all on the same
number of threads; the table gives rates (per wall second) and the ratios
attnmc / peer per wall second and per CPU second of all threads (the second
is the steadier one on a loaded machine). Each
row also prints one law statistic per program (direct: mean rho_01 at the
last layer; SDE: mean rho_01 at T; sphere: median terminal <x_1, x_2>), from
independent random streams, as a check that the programs simulate the same
thing (they agree within Monte Carlo error, not to the bit).

  python3 bench/peers/run_peers.py --attnmc build/attnmc [--threads 2]
      [--only gaussian,direct,sde,sphere] [--quick] [--repeat 3]

(gaussian runs build/bench/bench_gaussian beside the binary against
torch.randn on one thread.)

Peers need: numpy (always), torch and jax[cpu] for the direct sampler and the
SDE (see docs/performance.md for the install line); a missing one is skipped.
"""
import argparse
import resource
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)


def peer_lines(script, *args, keys=1):
    """{config key: (wall rate, CPU rate, law statistic)} from a peer script
    that prints one line per configuration (the first `keys` fields name it)."""
    cmd = [sys.executable, script if os.path.isabs(script) else os.path.join(HERE, script)]
    cmd += [str(a) for a in args]
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        table = {}
        for line in out.splitlines():
            f = line.split()
            table[tuple(int(x) for x in f[:keys])] = tuple(float(x) for x in f[keys:keys + 3])
        return table
    except (subprocess.CalledProcessError, FileNotFoundError, ValueError, IndexError) as e:
        msg = (getattr(e, "stderr", "") or str(e)).strip().splitlines()[-1:]
        print(f"  [{os.path.basename(script)} failed: {msg}]", file=sys.stderr)
        return {}


def peer(script, *args):
    """(wall rate, CPU rate, law statistic) printed by a one-configuration peer."""
    return peer_lines(script, *args, keys=0).get((), None)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def attnmc(binary, command, sets, flags, work, statistic):
    """(wall rate, CPU rate, law statistic) of one attnmc command: work over the
    whole process's wall and CPU seconds (start-up and output included)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        cmd = [binary, command, "-q", "-o", out, "--force"] + flags
        for s in sets:
            cmd += ["--set", s]
        t0, c0 = time.perf_counter(), children_cpu()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall, cpu = time.perf_counter() - t0, children_cpu() - c0
        try:
            stat = statistic(out)
        except (OSError, KeyError, IndexError, TypeError, ValueError):
            stat = float("nan")
    return work / wall, work / cpu, stat


def table_number(pick):
    """A law statistic read from attnmc's table.txt by pick(lines)."""
    def read(out):
        with open(os.path.join(out, "table.txt")) as f:
            return float(pick([l.split() for l in f if l.strip()]))
    return read


# direct: mean rho_01 at the last layer (row "layer t | rho01 ...");
# SDE: rho01_mean at T (last column of the last row);
# sphere: the median of the terminal <x_1, x_2> ("terminal ... q50 X").
DIRECT_RHO = table_number(lambda ls: [l for l in ls if l[0].isdigit()][-1][3])
SDE_RHO = table_number(lambda ls: ls[-1][-1])
SPHERE_Q50 = table_number(
    lambda ls: [l for l in ls if l[0] == "terminal"][-1][[l for l in ls if l[0] == "terminal"][-1].index("q50") + 1])


def row(label, mine, peers):
    cells = [f"{label:<24}", f"{mine[0]:>10.4g}"]
    for p in peers:
        if p is None:
            cells += [f"{'-':>10}", f"{'-':>13}"]
        else:
            cells += [f"{p[0]:>10.4g}", f"{mine[0] / p[0]:>5.1f}x/{mine[1] / p[1]:>5.1f}x"]
    stats = [mine[2]] + [p[2] if p else float("nan") for p in peers]
    cells.append("  law: " + " ".join(f"{s:.3g}" for s in stats))
    print(" ".join(cells), flush=True)


def header(names):
    line = f"{'config':<24} {'attnmc':>10}"
    for n in names:
        line += f" {n:>10} {'wall/cpu':>13}"
    print(line)


def direct(args):
    print(f"\n# direct sampler: network-layers/s, shaped attention, H=1, n_k=64, depth 8, "
          f"rho0 0.5, {args.threads} threads")
    header(["torch", "jax"])
    depth, widths, tokens = 8, [128, 256, 512, 1024], [2, 4]
    draws = 4e7 if args.quick else 2e8
    mine = {}
    for n in widths:
        for m in tokens:
            # attnmc is timed as a whole process (start-up and output files
            # included; the peers' timers exclude import and warm-up): 5x the
            # draws make its run about a second, as for the SDE below.
            nets = max(8, int(5 * draws / (depth * (2 * n * 64 + n * n))))
            mine[(n, m)] = attnmc(
                args.attnmc, "run",
                [f"model.width={n}", f"model.tokens={m}", f"model.depth={depth}",
                 "model.head_dim=64", "ensemble.sampler=direct", "input.rho0=0.5",
                 f"ensemble.members={nets}", f"ensemble.record_every={depth}",
                 f"ensemble.chunk={min(nets, 64)}"],
                ["--threads", str(args.threads)], nets * depth, DIRECT_RHO)
    lists = ["--n", ",".join(map(str, widths)), "--m", ",".join(map(str, tokens)), "--depth",
             depth, "--threads", args.threads]
    torch_rates = peer_lines("direct_torch.py", *lists, "--draws", draws, keys=2)
    # JAX (threefry) is the slowest: a quarter of the draws, same rates.
    jax_rates = peer_lines("direct_jax.py", *lists, "--draws", draws / 4, keys=2)
    for (n, m), r in mine.items():
        row(f"n={n} m={m}", r, [torch_rates.get((n, m)), jax_rates.get((n, m))])


def sde(args):
    print(f"\n# covariance SDE, Gaussian Euler-Maruyama (attention, T=0.5, rho0 0.3): "
          f"trajectory-steps/s, {args.threads} threads")
    header(["numpy", "jax"])
    paths, steps = (10000, 50) if args.quick else (20000, 50)
    mine, numpy_rates = {}, {}
    # attnmc is timed as a whole process (start-up, statistics and files
    # included; NumPy's and JAX's timers exclude import and compilation), so
    # it runs more paths, about a second's worth (the rate is per
    # trajectory-step either way).
    for m in [2, 4, 8]:
        big = paths * {2: 100, 4: 20, 8: 4}[m]
        mine[m] = attnmc(args.attnmc, "sde",
                         [f"model.tokens={m}", "sde.dynamics=attention", "sde.scheme=euler",
                          "sde.horizon=0.5", f"sde.steps={steps}", f"sde.record_every={steps}",
                          "input.rho0=0.3", f"ensemble.members={big}"],
                         ["--threads", str(args.threads)], big * steps, SDE_RHO)
        numpy_rates[m] = peer(os.path.join(BENCH, "sde_numpy_baseline.py"), "--m", m, "--paths",
                              paths, "--steps", steps)
    jax_rates = peer_lines("sde_jax.py", "--m", "2,4,8", "--paths", paths, "--steps", steps,
                           "--threads", args.threads)
    for m, r in mine.items():
        row(f"m={m} ({steps} steps)", r, [numpy_rates[m], jax_rates.get((m,))])


def sphere(args):
    print(f"\n# sphere model, geometric scheme, uniform starts, beta 1, T 1, 200 steps: "
          f"trajectory-steps/s, {args.threads} threads")
    header(["numpy"])
    steps = 200
    for n in [2, 8]:
        for d in [3, 16]:
            for noise in ["matrix", "reduced"]:
                paths = 500 if args.quick else 2000
                # About a second of attnmc (see the SDE above).
                big = paths * {(2, 3): 100, (2, 16): 30, (8, 3): 20, (8, 16): 10}[(n, d)]
                mine = attnmc(args.attnmc, "sphere",
                              [f"model.tokens={n}", f"model.dim={d}", "model.beta=1",
                               "sphere.scheme=sde-geometric", f"sphere.noise={noise}",
                               "sphere.horizon=1", f"sphere.steps={steps}", "input.init=uniform",
                               f"ensemble.members={big}"],
                              ["--threads", str(args.threads)], big * steps, SPHERE_Q50)
                row(f"N={n} d={d} {noise}", mine,
                    [peer("sphere_numpy.py", "--n", n, "--d", d, "--noise", noise, "--paths",
                          paths, "--steps", steps)])


def gaussian(args):
    print("\n# keyed Gaussian generator, one thread: normals per CPU second")
    binary = os.path.join(os.path.dirname(args.attnmc), "bench", "bench_gaussian")
    out = subprocess.run([binary, "--quick"], check=True, capture_output=True, text=True).stdout
    rates = {}
    for line in out.splitlines():
        if "ns per output" in line:
            line = line.strip()
            rates[line.split("  ")[0]] = float(line.split("ns per output")[1].split()[0]) * 1e6
    lanes = rates.get("the same, 16 lanes (gaussian_run_f)", float("nan"))
    libm = rates.get("philox + libm Box-Muller (before), normal", float("nan"))
    torch_rate = peer("randn_torch.py", "--threads", 1)
    print(f"attnmc lanes {lanes / 1e6:.0f} M/s, attnmc before (libm) {libm / 1e6:.0f} M/s, "
          f"torch.randn {torch_rate[1] / 1e6 if torch_rate else float('nan'):.0f} M/s: "
          f"attnmc / torch {lanes / torch_rate[1] if torch_rate else float('nan'):.2f}, "
          f"attnmc / before {lanes / libm:.2f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--attnmc", required=True, help="the attnmc binary")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="gaussian,direct,sde,sphere")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    args.attnmc = os.path.abspath(args.attnmc)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    # Idle OpenMP threads sleep instead of spinning (attnmc, torch, OpenBLAS):
    # on a shared machine a spinning thread burns the time slices its partner
    # needs. Applies to every program alike.
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    for r in range(args.repeat):
        print(f"\n## repetition {r + 1} of {args.repeat}")
        for part in args.only.split(","):
            {"gaussian": gaussian, "direct": direct, "sde": sde, "sphere": sphere}[part](args)


if __name__ == "__main__":
    main()
