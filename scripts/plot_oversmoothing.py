#!/usr/bin/env python3
"""Plot an oversmoothing sweep store (examples/sweep_oversmoothing.toml) or
one `attnmc oversmooth` output directory.

For a store (STORE/cells.csv and STORE/cells/NNNN/metrics.csv): one column
of panels per (attention, normalisation) setting, the mean pairwise cosine
similarity (top) and the median non-constant fraction ||X - 1 mean X||_F /
||X||_F (bottom, log axis) against depth; colour = sign of H's spectrum
("-" model blue, "+" model red), line style = LayerNorm gain sign (solid +1,
dashed -1), thin lines = H fresh per layer. Cells whose networks all became
non-finite (softmax attention without normalisation overflows float32) are
left out with a note. Prints the table of the cells' terminal numbers and,
for fixed A and H, the predicted against the observed regime counts.

For an output directory: the same two panels for that one run.

usage: plot_oversmoothing.py STORE_OR_RUN [-o fig.png]
"""
import argparse
import csv
import math
import os
import sys


def number(text):
    t = (text or "").strip()
    if t.lower() in ("", "nan", "null", "none"):
        return math.nan
    return float(t)


def read_metrics(path):
    """metrics.csv -> {metric: (layers, means, medians)}."""
    out = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            layers, means, meds = out.setdefault(row["metric"], ([], [], []))
            layers.append(int(row["layer"]))
            means.append(number(row["mean"]))
            meds.append(number(row.get("q50", "nan")))
    return out


def panels(ax_cos, ax_ncf, metrics, color, style, width, label):
    layers, cos_mean, _ = metrics["cosine"]
    ax_cos.plot(layers, cos_mean, color=color, linestyle=style, linewidth=width, label=label)
    layers, _, ncf_med = metrics["nonconstant_fraction"]
    ax_ncf.plot(layers, [max(v, 1e-12) for v in ncf_med], color=color, linestyle=style,
                linewidth=width, label=label)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("path")
    p.add_argument("-o", "--output", default=None)
    a = p.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells_csv = os.path.join(a.path, "cells.csv")
    if not os.path.exists(cells_csv):  # one run
        m = read_metrics(os.path.join(a.path, "metrics.csv"))
        fig, (c, n) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
        panels(c, n, m, "k", "-", 1.5, None)
        c.set_ylabel("mean cosine similarity")
        n.set_ylabel("median non-constant fraction")
        n.set_yscale("log")
        n.set_xlabel("layer")
        out = a.output or os.path.join(a.path, "oversmoothing.png")
        fig.tight_layout()
        fig.savefig(out, dpi=120)
        print("wrote", out)
        return

    with open(cells_csv) as f:
        cells = list(csv.DictReader(f))
    columns = []
    for c in cells:
        key = (c["model.attention"], c["model.norm"])
        if key not in columns:
            columns.append(key)
    fig, axes = plt.subplots(2, len(columns), figsize=(3.2 * len(columns), 6.4), sharex=True,
                             squeeze=False)
    skipped = []
    for c in cells:
        if c["status"] != "ok":
            skipped.append(c["cell"])
            continue
        col = columns.index((c["model.attention"], c["model.norm"]))
        m = read_metrics(os.path.join(a.path, "cells", "%04d" % int(c["cell"]), "metrics.csv"))
        plus = c["model.spectrum"] == "plus"
        gain = number(c["model.gain"])
        fresh = c["model.fresh_h"].lower() == "true"
        label = "%s, g=%+g%s" % ("+psi^2" if plus else "-psi^2", gain, ", fresh H" if fresh else "")
        panels(axes[0][col], axes[1][col], m, "tab:red" if plus else "tab:blue",
               "-" if gain > 0 else "--", 0.8 if fresh else 2.0, label)
    for col, (att, norm) in enumerate(columns):
        axes[0][col].set_title("A: %s, norm: %s" % ("fixed random" if att == "random" else att, norm),
                               fontsize=9)
        axes[1][col].set_yscale("log")
        axes[1][col].set_xlabel("layer")
    axes[0][0].set_ylabel("mean cosine similarity")
    axes[1][0].set_ylabel("median non-constant fraction")
    axes[0][-1].legend(fontsize=7, loc="best")
    if skipped:
        print("left out (all networks non-finite or failed): cells", ", ".join(skipped),
              file=sys.stderr)
    fig.tight_layout()
    out = a.output or os.path.join(a.path, "oversmoothing.png")
    fig.savefig(out, dpi=120)
    print("wrote", out)

    # The table: terminal numbers, and predicted vs observed regimes.
    head = ("spectrum", "norm", "gain", "fresh_h", "attention", "cos_L", "ncf_L", "erank_L",
            "pred smooth/sharp", "obs smooth/sharp", "agree")
    print("%-8s %-5s %5s %-7s %-8s %9s %9s %8s %17s %16s %6s" % head)
    for c in cells:
        pred = "%s/%s" % (c.get("predicted_smoothing", ""), c.get("predicted_sharpening", ""))
        obs = "%s/%s" % (c.get("observed_smoothing", ""), c.get("observed_sharpening", ""))
        print("%-8s %-5s %5s %-7s %-8s %9.4f %9.2e %8.3f %17s %16s %6s" % (
            c["model.spectrum"], c["model.norm"], c["model.gain"], c["model.fresh_h"],
            c["model.attention"], number(c.get("cosine_L")), number(c.get("nonconstant_L")),
            number(c.get("effective_rank_L")), pred if pred != "/" else "-",
            obs if obs != "/" else "-", c.get("agreement_rate", "") or "-"))


if __name__ == "__main__":
    main()
