#!/usr/bin/env python3
"""Rank collapse picture from `attnmc collapse`: mean token correlation
against depth for softmax, pre-norm softmax and shaped attention, with the
10-90% band of rho_01 across the ensemble.

Usage: plot_collapse.py collapse.csv collapse.png
Exit code 3 when numpy/matplotlib are missing (the CLI then keeps the CSV).
"""
import csv
import sys


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError as e:
        print(f"plot_collapse.py: {e}; install matplotlib to get the picture", file=sys.stderr)
        return 3

    runs = {}
    with open(argv[1], newline="") as f:
        for row in csv.DictReader(f):
            runs.setdefault(row["model"], []).append(row)
    if not runs:
        print("plot_collapse.py: empty CSV", file=sys.stderr)
        return 1

    styles = {
        "softmax": ("tab:red", "softmax attention"),
        "softmax-prenorm": ("tab:orange", "pre-norm softmax attention"),
        "shaped": ("tab:blue", "shaped attention"),
    }
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for model, rows in runs.items():
        color, label = styles.get(model, (None, model))
        layer = [int(r["layer"]) for r in rows]
        mean = [float(r["rho_mean_pairs"]) for r in rows]
        lo = [float(r["rho01_q10"]) for r in rows]
        hi = [float(r["rho01_q90"]) for r in rows]
        ax.plot(layer, mean, color=color, label=label, lw=2)
        ax.fill_between(layer, lo, hi, color=color, alpha=0.15, lw=0)
    ax.axhline(1.0, color="gray", lw=0.8, ls=":")
    # Softmax attention collapses within a few layers: a log-like depth axis
    # shows both that and the long-depth behaviour of shaped attention.
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(0, max(int(r["layer"]) for rows in runs.values() for r in rows))
    ax.set_xlabel("layer")
    ax.set_ylabel(r"token correlation $\rho$")
    ax.set_ylim(min(-0.05, ax.get_ylim()[0]), 1.05)
    ax.set_title(r"Rank collapse at initialisation (mean over pairs; band: 10-90% of $\rho_{01}$)",
                 fontsize=10)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(argv[2], dpi=130)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
