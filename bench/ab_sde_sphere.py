#!/usr/bin/env python3
"""Two attnmc binaries back to back on the SDE and sphere configurations of
bench/peers/run_peers.py (larger ensembles: runs of 0.2-2 s, so that start-up
weighs less): CPU seconds (user + sys) of each
whole process, interleaved A B A B, and a byte comparison of their stats.h5
(a speed change must not change the bits).

  python3 bench/ab_sde_sphere.py BEFORE/attnmc AFTER/attnmc [--threads 1] [--repeat 3]
"""
import argparse
import filecmp
import os
import resource
import subprocess
import tempfile

STEPS_SDE, STEPS_SPHERE = 50, 200


def configs(only):
    out = []
    if "sde" in only:
        for m, paths in [(2, 400000), (4, 100000), (8, 20000)]:
            out.append((f"sde m={m}", "sde",
                        [f"model.tokens={m}", "sde.dynamics=attention", "sde.scheme=euler",
                         "sde.horizon=0.5", f"sde.steps={STEPS_SDE}",
                         f"sde.record_every={STEPS_SDE}", "input.rho0=0.3",
                         f"ensemble.members={paths}"]))
    if "sphere" in only:
        for n in [2, 8]:
            for d in [3, 16]:
                for noise in ["matrix", "reduced"]:
                    out.append((f"sphere N={n} d={d} {noise}", "sphere",
                                [f"model.tokens={n}", f"model.dim={d}", "model.beta=1",
                                 "sphere.scheme=sde-geometric", f"sphere.noise={noise}",
                                 "sphere.horizon=1", f"sphere.steps={STEPS_SPHERE}",
                                 "input.init=uniform",
                                 f"ensemble.members={50000 if (n, d) == (2, 3) else 5000}"]))
    return out


def run(binary, command, sets, threads, out):
    cmd = [binary, command, "-q", "-o", out, "--force", "--threads", str(threads)]
    for s in sets:
        cmd += ["--set", s]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="sde,sphere")
    args = ap.parse_args()
    env = dict(os.environ, OMP_WAIT_POLICY="passive")
    os.environ.update(env)
    print(f"{'config':<26} {'before s':>9} {'after s':>9} {'ratio':>6}  stats.h5")
    for label, command, sets in configs(args.only.split(",")):
        tb, ta = [], []
        with tempfile.TemporaryDirectory() as tmp:
            ob, oa = os.path.join(tmp, "b"), os.path.join(tmp, "a")
            for _ in range(args.repeat):
                tb.append(run(args.before, command, sets, args.threads, ob))
                ta.append(run(args.after, command, sets, args.threads, oa))
            same = filecmp.cmp(os.path.join(ob, "stats.h5"), os.path.join(oa, "stats.h5"),
                               shallow=False)
        b, a = min(tb), min(ta)
        print(f"{label:<26} {b:>9.3f} {a:>9.3f} {b / a:>5.2f}x  "
              f"{'identical' if same else 'DIFFERENT'}", flush=True)


if __name__ == "__main__":
    main()
