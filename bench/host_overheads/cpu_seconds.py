# CPU seconds (user + sys, getrusage of the child) of whole attnmc processes,
# two binaries back to back, median of REPS, at the sizes of
# `bench/peers/run_peers.py --quick` (sde m = 2, 4, 8; sphere N = 2, 8, d = 3, 16,
# matrix and reduced noise), 1 and 2 threads.
# usage: python3 bench/host_overheads/cpu_seconds.py BEFORE AFTER [REPS]
import os, resource, statistics, subprocess, sys, tempfile
base, new = sys.argv[1], sys.argv[2]
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
def cpu(cmd):
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN); c0 = c0.ru_utime + c0.ru_stime
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN); return c1.ru_utime + c1.ru_stime - c0
SDE = lambda m, n: ["sde", "--set", f"model.tokens={m}", "--set", "sde.dynamics=attention", "--set", "sde.scheme=euler",
      "--set", "sde.horizon=0.5", "--set", "sde.steps=50", "--set", "sde.record_every=50", "--set", "input.rho0=0.3",
      "--set", f"ensemble.members={n}"]
SPH = lambda N, d, noise: ["sphere", "--set", f"model.tokens={N}", "--set", f"model.dim={d}", "--set", "model.beta=1",
      "--set", "sphere.scheme=sde-geometric", "--set", f"sphere.noise={noise}", "--set", "sphere.horizon=1",
      "--set", "sphere.steps=200", "--set", "input.init=uniform", "--set", "ensemble.members=5000"]
configs = [(f"sde m={m} ({n} paths)", SDE(m, n)) for m, n in [(2, 100000), (4, 40000), (8, 10000)]]
configs += [(f"sphere N={N} d={d} {noise}", SPH(N, d, noise)) for N in [2, 8] for d in [3, 16] for noise in ["matrix", "reduced"]]
print(f"{'config':<28} {'thr':>3} {'before s':>9} {'after s':>9} {'after/before':>12}")
for t in [1, 2]:
    for name, args in configs:
        b, a = [], []
        for r in range(reps):
            for bin_, acc in [(base, b), (new, a)]:
                acc.append(cpu([bin_] + args[:1] + ["-q", "-o", os.path.join(tempfile.gettempdir(), "attnmc_cpu_seconds"), "--force", "--threads", str(t)] + args[1:]))
        mb, ma = statistics.median(b), statistics.median(a)
        print(f"{name:<28} {t:>3} {mb:>9.3f} {ma:>9.3f} {ma/mb:>12.2f}", flush=True)
