#!/usr/bin/env python3
"""Finite networks vs the covariance SDE: plot the output of `attnmc compare`.

Left: quantiles of rho_ab against depth t = l / n, one colour per width,
black for the SDE. Right: the density of rho_ab at T (histograms of the
terminal samples) for every width and the SDE, with W1 / KS in the legend.

usage: plot_compare.py OUT/compare.json [OUT/compare.png]
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    src = argv[1]
    dst = argv[2] if len(argv) > 2 else src.rsplit(".", 1)[0] + ".png"
    with open(src) as f:
        d = json.load(f)
    t = np.array(d["times"])
    levels = d["quantile_levels"]
    a, b = d["pair"]
    series = d["series"]
    widths = [s for s in series if s["width"] > 0]
    cmap = plt.get_cmap("viridis")
    colours = [cmap(i / max(1, len(widths) - 1)) for i in range(len(widths))]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = ["--", "-.", "-", "-.", "--", ":", ":"]
    for k, s in enumerate(series):
        q = np.array(s["rho_quantiles"], dtype=float)  # records x levels
        sde = s["width"] == 0
        c = "black" if sde else colours[k]
        for j, lev in enumerate(levels):
            ax1.plot(t, q[:, j], styles[j % len(styles)], color=c, lw=2.2 if sde else 1.2,
                     label=(s["label"] if j == len(levels) // 2 else None))
    ax1.set_xlabel("t = l / n")
    ax1.set_ylabel(f"quantiles of rho_{a}{b}  ({', '.join(str(x) for x in levels)})")
    ax1.set_title("rho quantiles vs depth (solid: median)")
    ax1.legend(fontsize=8)

    bins = np.linspace(-1, 1, 41)
    for k, s in enumerate(series):
        x = np.array(s["terminal_rho"], dtype=float)
        sde = s["width"] == 0
        if sde:
            label = f"SDE ({s['blowups']} blown up)"
        else:
            i = [w["width"] for w in widths].index(s["width"])
            label = f"{s['label']}  W1 {d['w1'][i]:.4f}  KS {d['ks'][i]:.4f}"
        ax2.hist(x, bins=bins, density=True, histtype="step",
                 color="black" if sde else colours[k], lw=2.2 if sde else 1.2, label=label)
    ax2.set_xlabel(f"rho_{a}{b} at T = {d['horizon']}")
    ax2.set_ylabel("density")
    ax2.set_title("terminal law: finite widths vs SDE")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(dst, dpi=120)
    print(dst)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
