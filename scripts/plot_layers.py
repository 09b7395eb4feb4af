#!/usr/bin/env python3
"""Plot an `attnmc run` result against depth: the correlation rho_ab (mean and
quantile band), the diagonal V_aa, and the rho histogram at the last layer.

Usage: plot_layers.py OUT_DIR [--pair A B] [--token A] [-o layers.png]
"""
import argparse
import os
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("out_dir", help="output directory of `attnmc run` (holds stats.h5)")
    p.add_argument("--pair", nargs=2, type=int, default=[0, 1], metavar=("A", "B"))
    p.add_argument("--token", type=int, default=0, help="token of the diagonal V_aa panel")
    p.add_argument("-o", "--output", help="image file (default OUT_DIR/layers.png)")
    args = p.parse_args()
    try:
        import h5py
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError as e:
        print(f"plot_layers.py: {e}; needs numpy, h5py and matplotlib", file=sys.stderr)
        return 3

    f = h5py.File(os.path.join(args.out_dir, "stats.h5"))
    t = f["t"][:]
    levels = list(f["quantile_levels"][:])
    a, b = args.pair
    m = f["rho_mean"].shape[1]
    if not (0 <= a < b < m) or not (0 <= args.token < m):
        print(f"plot_layers.py: need 0 <= A < B < m = {m}", file=sys.stderr)
        return 2

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    rq = f["rho_quantiles"][:, :, a, b]
    ax[0].plot(t, f["rho_mean"][:, a, b], color="k", lw=2, label="mean")
    for q in range(len(levels)):
        ax[0].plot(t, rq[:, q], lw=1, label=f"q{levels[q]:g}")
    ax[0].set_xlabel("t = layer / width")
    ax[0].set_ylabel(rf"$\rho_{{{a}{b}}}$")
    ax[0].legend(fontsize=8)

    aa = args.token
    gq = f["gram_quantiles"][:, :, aa, aa]
    for q in range(len(levels)):
        ax[1].plot(t, gq[:, q], lw=1, label=f"q{levels[q]:g}")
    ax[1].set_yscale("log")
    ax[1].set_xlabel("t = layer / width")
    ax[1].set_ylabel(rf"$V_{{{aa}{aa}}}$ quantiles")
    ax[1].legend(fontsize=8)

    pair = a * m - a * (a + 1) // 2 + (b - a - 1)
    h = f["rho_histogram"][-1, pair, :]
    edges = f["rho_histogram_edges"][:]
    width = np.diff(edges)
    total = max(h.sum(), 1)
    ax[2].bar(edges[:-1], h / total / width, width=width, align="edge", color="tab:blue")
    ax[2].set_xlabel(rf"$\rho_{{{a}{b}}}$ at layer {int(f['layers'][-1])}")
    ax[2].set_ylabel("density")

    fig.suptitle(
        f"attnmc {f.attrs['version']}: {f.attrs['model']}, n={int(f.attrs['width'])}, "
        f"m={m}, d={int(f.attrs['depth'])}, {int(f['members'][-1])} members"
    )
    fig.tight_layout()
    out = args.output or os.path.join(args.out_dir, "layers.png")
    fig.savefig(out, dpi=120)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
