#!/usr/bin/env python3
"""Plot the headline numbers of an `attnmc sweep` store against one axis.

Reads STORE/cells.csv (one row per cell: cell, status, reason, the axis
values, seed, then the cell's numbers) and draws the --y columns against the
--x axis, one colour per value of the --group axis. With three --y columns
(by default rho01_q10, rho01_q50, rho01_q90: terminal quantiles of rho_01)
the middle one is a solid line with markers and the outer two a shaded band;
with any other number each column is its own line style. The x axis is
logarithmic when its name ends in "width" (--logx / --linx override). Cells
whose status is not "ok" are left out, with a note on stderr. When axes
other than --x and --group vary, pick one slice with --where KEY=VALUE.

usage: plot_sweep.py STORE [-o fig.png] [--x model.width] [--group model.tau0]
                     [--y rho01_q10,rho01_q50,rho01_q90] [--where KEY=VALUE ...]
"""
import argparse
import csv
import math
import os
import sys


def number(text):
    """A cells.csv field as a float: nan for empty, nan or null (a NaN number)."""
    t = text.strip()
    if t.lower() in ("", "nan", "null", "none"):
        return math.nan
    try:
        return float(t)
    except ValueError:
        return None


def label(value):
    """An axis value for the figure: floats at their shortest (cells.csv writes
    0.1 as 0.10000000000000001), everything else as written."""
    v = number(value)
    if v is None or math.isnan(v) or not any(c in value for c in ".eE"):
        return value
    return repr(v)


def sort_key(value):
    v = number(value)
    return (0, v, "") if v is not None and not math.isnan(v) else (1, 0.0, value)


def read_cells(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        columns = reader.fieldnames or []
    if "seed" not in columns or "status" not in columns:
        raise SystemExit(f"plot_sweep.py: {path} is not a sweep table (no status/seed columns)")
    # The axis columns sit between "reason" and "seed".
    params = columns[columns.index("reason") + 1:columns.index("seed")]
    return rows, columns, params


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", help="sweep store directory (holds cells.csv), or a cells.csv path")
    ap.add_argument("-o", "--output", help="PNG file (default STORE/sweep.png)")
    ap.add_argument("--x", help="axis on the x axis (default: the first axis of the sweep)")
    ap.add_argument("--group", help="one line per value of this axis (default: the second axis; "
                    "'none' for a single line)")
    ap.add_argument("--y", default="rho01_q10,rho01_q50,rho01_q90",
                    help="comma-separated columns of cells.csv (default %(default)s)")
    ap.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                    help="keep only the cells with this axis value (repeatable)")
    scale = ap.add_mutually_exclusive_group()
    scale.add_argument("--logx", action="store_true", help="logarithmic x axis")
    scale.add_argument("--linx", action="store_true", help="linear x axis")
    args = ap.parse_args()

    if os.path.isdir(args.store):
        table = os.path.join(args.store, "cells.csv")
        store = args.store
    else:
        table = args.store
        store = os.path.dirname(os.path.abspath(table))
    if not os.path.exists(table):
        raise SystemExit(f"plot_sweep.py: {table} not found (is {args.store} a sweep store?)")
    rows, columns, params = read_cells(table)
    out = args.output or os.path.join(store, "sweep.png")

    x = args.x or (params[0] if params else None)
    if x is None:
        raise SystemExit("plot_sweep.py: the sweep has no axes; give --x")
    group = args.group
    if group is None:
        rest = [p for p in params if p != x]
        group = rest[0] if rest else "none"
    if group == "none":
        group = None
    ys = [c.strip() for c in args.y.split(",") if c.strip()]
    for c in [x] + ([group] if group else []) + ys:
        if c not in columns:
            raise SystemExit(f"plot_sweep.py: no column '{c}' in {table} "
                             f"(columns: {', '.join(columns)})")

    for w in args.where:
        key, sep, value = w.partition("=")
        if not sep or key not in columns:
            raise SystemExit(f"plot_sweep.py: --where {w}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(params)}")
        want = number(value)
        rows = [r for r in rows if r[key] == value or
                (want is not None and number(r[key]) == want)]

    ok = []
    for r in rows:
        if r["status"] != "ok":
            reason = f": {r['reason']}" if r.get("reason") else ""
            print(f"plot_sweep.py: note: cell {r['cell']} ({r['status']}{reason}) left out",
                  file=sys.stderr)
        else:
            ok.append(r)
    if not ok:
        raise SystemExit(f"plot_sweep.py: no finished cell with status ok in {table}")

    # Every (group, x) must be one cell: other varying axes need --where.
    fixed = [x] + ([group] if group else [])
    seen = {}
    for r in ok:
        k = tuple(r[c] for c in fixed)
        if k in seen:
            other = [p for p in params if p not in fixed and r[p] != seen[k][p]]
            raise SystemExit(f"plot_sweep.py: cells {seen[k]['cell']} and {r['cell']} share "
                             f"{', '.join(fixed)}; axes {', '.join(other)} vary too: "
                             f"pick a slice with --where KEY=VALUE or change --group")
        seen[k] = r

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise SystemExit(f"plot_sweep.py: {e}; needs matplotlib")

    xs_text = sorted({r[x] for r in ok}, key=sort_key)
    numeric_x = all(number(v) is not None and not math.isnan(number(v)) for v in xs_text)
    logx = args.logx or (not args.linx and numeric_x and x.split(".")[-1].endswith("width"))
    if logx and not all(number(v) > 0 for v in xs_text):
        raise SystemExit(f"plot_sweep.py: --logx needs positive {x}")
    position = {v: (number(v) if numeric_x else i) for i, v in enumerate(xs_text)}

    groups = sorted({r[group] for r in ok}, key=sort_key) if group else [None]
    colours = plt.cm.viridis([0.1 + 0.8 * i / max(1, len(groups) - 1) for i in range(len(groups))])
    styles = ["-", "--", ":", "-."]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for g, colour in zip(groups, colours):
        rs = sorted((r for r in ok if group is None or r[group] == g), key=lambda r: sort_key(r[x]))
        px = [position[r[x]] for r in rs]
        val = {c: [number(r[c]) if number(r[c]) is not None else math.nan for r in rs] for c in ys}
        name = f"{group.split('.')[-1]} = {label(g)}" if group else None
        if len(ys) == 3:
            lo, mid, hi = ys
            ax.fill_between(px, val[lo], val[hi], color=colour, alpha=0.12, lw=0)
            for c in (lo, hi):
                ax.plot(px, val[c], "--", color=colour, lw=0.8)
            ax.plot(px, val[mid], "-o", color=colour, ms=4, label=name)
        else:
            for i, c in enumerate(ys):
                ax.plot(px, val[c], styles[i % len(styles)], marker="o", ms=3, color=colour,
                        label=(f"{name}, {c}" if name else c) if len(ys) > 1 else name)
    if logx:
        ax.set_xscale("log", base=2)
    if numeric_x:
        ax.set_xticks([position[v] for v in xs_text])
        ax.set_xticklabels([label(v) for v in xs_text])
        ax.minorticks_off()
    else:
        ax.set_xticks(range(len(xs_text)))
        ax.set_xticklabels(xs_text)
    ax.set_xlabel(x)
    if len(ys) == 3:
        ax.set_ylabel(f"{ys[1]} (line), {ys[0]} to {ys[2]} (band, dashed)")
    else:
        ax.set_ylabel(", ".join(ys))
    where = f"; {', '.join(args.where)}" if args.where else ""
    ax.set_title(f"{os.path.basename(os.path.abspath(store))}: {len(ok)} cells{where}",
                 fontsize=9)
    if group or len(ys) not in (1, 3):
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.savefig(out, dpi=130, bbox_inches="tight")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
