#!/usr/bin/env python3
"""Test accuracy against width N on the attention-paths task: the GP limit
(horizontal line), the saddle-point theory and the exact width-free
posterior, from `attnmc paths --mode theory` and `--mode posterior` output
directories (theory.h5, posterior.h5). Also prints the table of accuracies
and the posterior mean of U_1 (diagonal) beside the saddle point's.

usage: plot_paths.py THEORY_DIR [POSTERIOR_DIR] [-o fig.png]
"""
import argparse
import os
import sys

import h5py
import numpy as np


def read(path, name):
    with h5py.File(os.path.join(path, name), "r") as f:
        return {k: np.array(f[k]) for k in f.keys()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("theory_dir")
    ap.add_argument("posterior_dir", nargs="?")
    ap.add_argument("-o", "--output", default=None, help="figure (default THEORY_DIR/../paths_accuracy.png)")
    a = ap.parse_args()
    th = read(a.theory_dir, "theory.h5")
    po = read(a.posterior_dir, "posterior.h5") if a.posterior_dir else None
    gp = float(th["gp_test_accuracy"][0])

    print(f"GP limit: test accuracy {gp:.4f}")
    print("theory (saddle point):")
    print("      N   accuracy   U_1 diagonal")
    for i, n in enumerate(th["widths"]):
        d = " ".join(f"{x:.3f}" for x in np.diag(th["u1"][i]))
        print(f"{int(n):7d}   {th['test_accuracy'][i]:.4f}     {d}")
    if po is not None:
        print("exact posterior (width-free Wishart chain):")
        print("      N   accuracy   E[U_1|y] diagonal (+- se)          saddle point")
        for i, n in enumerate(po["widths"]):
            d = " ".join(f"{m:.3f}({s:.3f})" for m, s in zip(np.diag(po["u1_mean"][i]), np.diag(po["u1_mean_se"][i])))
            s = " ".join(f"{x:.3f}" for x in np.diag(po["u1_saddle"][i]))
            print(f"{int(n):7d}   {po['test_accuracy'][i]:.4f}     {d}   {s}")
    if "head_score" in th:
        print("head scores (layer-major: L1H0 L1H1 L2H0 L2H1 ...) and accuracy drop when pruned:")
        for i, n in enumerate(th["widths"]):
            sc = " ".join(f"{x:.3f}" for x in th["head_score"][i])
            dr = " ".join(f"{x:+.3f}" for x in th["accuracy_drop"][i])
            print(f"{int(n):7d}   scores {sc}   drops {dr}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.axhline(gp, color="gray", ls="--", label="GP limit (N = infinity)")
    ax.plot(th["widths"], th["test_accuracy"], "o-", color="C0", label="saddle-point theory")
    if po is not None:
        ax.plot(po["widths"], po["test_accuracy"], "s", ms=8, mfc="none", mew=2, color="C3",
                label="exact posterior (width-free)")
    ax.set_xscale("log")
    ax.set_xlabel("width N (= N_1 = N_2 = N_a)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Hidden-Markov-chain task, 4 attention paths")
    ax.legend(frameon=False)
    fig.tight_layout()
    out = a.output or os.path.join(os.path.dirname(os.path.abspath(a.theory_dir)), "paths_accuracy.png")
    fig.savefig(out, dpi=120)
    print(f"figure: {out}")


if __name__ == "__main__":
    sys.exit(main())
