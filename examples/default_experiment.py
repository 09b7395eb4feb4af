#!/usr/bin/env python3
"""The default experiment from Python: `attnmc run` with its built-in
configuration (examples/default.toml: 100,000 shaped-attention networks,
width 256, depth 256, m = 4 tokens, input correlation 0.5), and the figure
of scripts/plot_layers.py drawn from the arrays the call returns.

    PYTHONPATH=build/python python3 examples/default_experiment.py   # after scripts/dev.sh build
    python3 examples/default_experiment.py -B 10000 -o layers.png     # after pip install .

About a minute on 2 CPU cores (-B 10000: a few seconds). Writes layers.png.
"""
import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import attnmc


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-B", "--members", type=int, help="networks (default: the built-in 100000)")
    p.add_argument("--threads", type=int, help="CPU threads (default: all)")
    p.add_argument("-o", "--output", default="layers.png", help="figure file")
    args = p.parse_args()

    try:
        from tqdm.auto import tqdm  # optional: a progress bar
        bar = tqdm(unit="networks")

        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)
    except ImportError:
        bar, progress = None, True  # lines on stderr

    r = attnmc.run(members=args.members, threads=args.threads, progress=progress)
    if bar is not None:
        bar.close()
    print(r.table, end="")

    a, b, token = 0, 1, 0
    levels = r.quantile_levels
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    # rho_quantiles: (record, level, a, b); rho_mean: (record, a, b).
    ax[0].plot(r.t, r.rho_mean[:, a, b], color="k", lw=2, label="mean")
    for q, level in enumerate(levels):
        ax[0].plot(r.t, r.rho_quantiles[:, q, a, b], lw=1, label=f"q{level:g}")
    ax[0].set_xlabel("t = layer / width")
    ax[0].set_ylabel(rf"$\rho_{{{a}{b}}}$")
    ax[0].legend(fontsize=8)

    for q, level in enumerate(levels):
        ax[1].plot(r.t, r.gram_quantiles[:, q, token, token], lw=1, label=f"q{level:g}")
    ax[1].set_yscale("log")
    ax[1].set_xlabel("t = layer / width")
    ax[1].set_ylabel(rf"$V_{{{token}{token}}}$ quantiles")
    ax[1].legend(fontsize=8)

    # rho_histogram: (record, pair, bin), pairs a < b in row-major order.
    m = r.rho_mean.shape[1]
    pair = a * m - a * (a + 1) // 2 + (b - a - 1)
    h = r.rho_histogram[-1, pair]
    edges = r.rho_histogram_edges
    width = np.diff(edges)
    ax[2].bar(edges[:-1], h / max(h.sum(), 1) / width, width=width, align="edge",
              color="tab:blue")
    ax[2].set_xlabel(rf"$\rho_{{{a}{b}}}$ at layer {int(r.layers[-1])}")
    ax[2].set_ylabel("density")

    c = r.config["model"]
    fig.suptitle(f"attnmc {attnmc.__version__}: {r.attrs['model']}, n={c['width']}, "
                 f"m={m}, d={c['depth']}, {int(r.members[-1])} members")
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    print(args.output)


if __name__ == "__main__":
    main()
