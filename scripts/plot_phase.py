#!/usr/bin/env python3
"""Phase diagram of the stochastic Transformer on the sphere from `attnmc phase`.

Reads the CSV table and draws, for each token count N:
  * heat maps of P(antipodal) and P(collapse) over (beta, d), each cell
    annotated with p and its binomial standard error, cells where the
    deterministic flow did NOT collapse marked with a cross;
  * P(antipodal) against beta for every d with 95% Wilson error bars.
For N = 2 it overlays the theory of the two-token reduction
  d rho = sigma^2 (1 - rho^2)[(1 - q)(d - 2) - q rho] dt + sigma (1 - rho^2) sqrt(2 q) dB
(q = p^2 + (1 - p)^2, p = 1 / (1 + exp(beta (rho - 1)))): the antipodal state
attracts iff cosh(2 beta) > d - 2 (white curve), and, with scipy and a
rho0 start, the infinite-horizon P(antipodal) from the scale function
(dashed lines).

The table is STORE/phase.csv of the store that `attnmc phase -o STORE`
writes (give the store directory), or a phase.csv path; its trailing
status column only adds a note for cells that failed (their nan
probabilities are blank cells).

usage: plot_phase.py STORE|phase.csv [-o STORE/phase.png] [--rho0 0]
"""
import argparse
import csv
import math
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def load(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit(f"{path}: empty table")
    # Tables from a store end with a status column (and an empty seconds
    # column). A failed cell's probabilities are nan (a blank heat-map cell);
    # a row without numbers (a cell with no summary.json) is left out.
    kept = []
    for i, r in enumerate(rows):
        status = r.get("status") or "ok"
        if not r.get("tokens"):
            print(f"plot_phase.py: note: cell {i} ({status}) has no numbers; left out",
                  file=sys.stderr)
            continue
        if status != "ok":
            print(f"plot_phase.py: note: cell {i} (d={r['dim']}, beta={r['beta']}) {status}",
                  file=sys.stderr)
        kept.append(r)
    if not kept:
        raise SystemExit(f"{path}: no cell with numbers")
    return kept


def p_antipodal_theory(beta, d, rho0):
    """Infinite-horizon P(rho -> -1) for N = 2 from the scale function (0 when -1 repels)."""
    if math.cosh(2 * beta) <= d - 2:
        return 0.0
    from scipy.integrate import quad

    def g(u):
        p = 1 / (1 + math.exp(beta * (u - 1)))
        q = p * p + (1 - p) ** 2
        return ((1 - q) * (d - 2) / q - u) / (1 - u * u)

    def sprime(r):
        return math.exp(-quad(g, 0, r, limit=200)[0])

    num = quad(sprime, rho0, 1, limit=200)[0]
    den = quad(sprime, -1, 1, limit=200)[0]
    return num / den


def heat(ax, grid, se, betas, dims, title, flow_ok):
    im = ax.imshow(grid, origin="lower", aspect="auto", vmin=0, vmax=1, cmap="viridis",
                   extent=(-0.5, len(betas) - 0.5, -0.5, len(dims) - 0.5))
    for i in range(len(dims)):
        for j in range(len(betas)):
            if np.isnan(grid[i, j]):
                continue
            colour = "white" if grid[i, j] < 0.5 else "black"
            ax.text(j, i, f"{grid[i, j]:.2f}\n±{se[i, j]:.2f}", ha="center", va="center",
                    fontsize=5.5, color=colour)
            if not flow_ok[i, j]:
                ax.plot(j, i, marker="x", color="red", ms=9)
    ax.set_xticks(range(len(betas)))
    ax.set_xticklabels([f"{b:g}" for b in betas], rotation=90, fontsize=7)
    ax.set_yticks(range(len(dims)))
    ax.set_yticklabels([str(d) for d in dims])
    ax.set_xlabel("beta")
    ax.set_ylabel("d")
    ax.set_title(title, fontsize=9)
    return im


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table", help="store directory of `attnmc phase -o STORE`, or a phase.csv")
    ap.add_argument("-o", "--out", default=None,
                    help="PNG file (default STORE/phase.png for a store, phase.png for a csv)")
    ap.add_argument("--rho0", type=float, default=None,
                    help="start <x1,x2> of the run, for the N = 2 theory curves")
    args = ap.parse_args()
    table, out = args.table, args.out or "phase.png"
    if os.path.isdir(args.table):
        table = os.path.join(args.table, "phase.csv")
        out = args.out or os.path.join(args.table, "phase.png")
        if not os.path.exists(table):
            raise SystemExit(f"plot_phase.py: {table} not found (a store of `attnmc phase`?)")
    rows = load(table)
    by_n = defaultdict(list)
    for r in rows:
        by_n[int(r["tokens"])].append(r)
    fig, axes = plt.subplots(len(by_n), 3, figsize=(18, 5.5 * len(by_n)), squeeze=False)
    for row_axes, (n, rs) in zip(axes, sorted(by_n.items())):
        betas = sorted({float(r["beta"]) for r in rs})
        dims = sorted({int(r["dim"]) for r in rs})
        shape = (len(dims), len(betas))
        pa, sa, pc, sc = (np.full(shape, np.nan) for _ in range(4))
        lo, hi = np.full(shape, np.nan), np.full(shape, np.nan)
        flow_ok = np.ones(shape, dtype=bool)
        for r in rs:
            i, j = dims.index(int(r["dim"])), betas.index(float(r["beta"]))
            pa[i, j], sa[i, j] = float(r["p_antipodal"]), float(r["se_antipodal"])
            pc[i, j], sc[i, j] = float(r["p_collapse"]), float(r["se_collapse"])
            lo[i, j], hi[i, j] = float(r["lo_antipodal"]), float(r["hi_antipodal"])
            ft = int(r["flow_trajectories"] or 0)
            if ft > 0:
                flow_ok[i, j] = int(r["flow_collapse"]) == ft
        r0 = rs[0]
        sub = (f"N={n}, sigma={r0['sigma']}, T={r0['horizon']}, steps={r0['steps']}, "
               f"{r0['scheme']}, {r0['trajectories']} traj/cell")
        im = heat(row_axes[0], pa, sa, betas, dims, f"P(antipodal)  [{sub}]", flow_ok)
        heat(row_axes[1], pc, sc, betas, dims, "P(collapse)  (x: flow does not collapse)",
             flow_ok)
        fig.colorbar(im, ax=row_axes[:2].tolist(), shrink=0.8)
        if n == 2:
            # boundary cosh(2 beta) = d - 2, drawn in cell coordinates
            bb = np.linspace(betas[0], betas[-1], 400)
            dd = np.cosh(2 * bb) + 2
            xs = np.interp(bb, betas, range(len(betas)))
            ys = np.interp(dd, dims, range(len(dims)), left=np.nan, right=np.nan)
            for ax in row_axes[:2]:
                ax.plot(xs, ys, color="white", lw=1.5, ls="--")
        ax = row_axes[2]
        colours = plt.cm.plasma(np.linspace(0, 0.9, len(dims)))
        for i, d in enumerate(dims):
            ax.errorbar(betas, pa[i], yerr=[np.maximum(pa[i] - lo[i], 0), np.maximum(hi[i] - pa[i], 0)], color=colours[i],
                        marker="o", ms=3, capsize=2, lw=1, label=f"d={d}")
            if n == 2 and args.rho0 is not None:
                try:
                    th = [p_antipodal_theory(b, d, args.rho0) for b in betas]
                    ax.plot(betas, th, color=colours[i], ls="--", lw=0.8)
                except ImportError:
                    pass
        ax.set_xlabel("beta")
        ax.set_ylabel("P(antipodal)  (95% Wilson)")
        ax.set_title("P(antipodal) vs beta" + ("; dashed: T = inf theory" if n == 2 and
                                                args.rho0 is not None else ""), fontsize=9)
        ax.legend(fontsize=7, ncol=2)
        ax.set_ylim(-0.02, 0.62)
    fig.savefig(out, dpi=130, bbox_inches="tight")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
