"""Results of attnmc commands as NumPy arrays: what a command writes into
its output directory, read back (``attnmc.load``), or handed over by a
command call (``attnmc.run`` and the others).

The arrays are the datasets of ``stats.h5``, with these dimensions
(``Result.dims``; ``Result.to_xarray()`` makes them an xarray Dataset):

================================  =================================
``layers``, ``t``                 (record,)
``members``, ``nonfinite``,       (record,) integer counts per record
``overflow``, ``blowup``
``gram_mean``, ``gram_var``,      (record, a, b): entries of V and rho
``rho_mean``, ``rho_var``
``gram_quantiles``,               (record, level, a, b)
``rho_quantiles``
``quantile_levels``               (level,)
``rho_histogram``                 (record, pair, bin): pairs a < b, row-major
``rho_histogram_edges``           (edge,) = bin + 1 edges on [-1, 1]
================================  =================================

``record`` runs over the recorded layers (SDE and sphere: recorded steps,
``t`` their times), ``a`` and ``b`` over the m tokens.
"""

import csv
import json
import os

import numpy as np

DIMS = {
    "layers": ("record",),
    "t": ("record",),
    "members": ("record",),
    "nonfinite": ("record",),
    "overflow": ("record",),
    "blowup": ("record",),
    "gram_mean": ("record", "a", "b"),
    "gram_var": ("record", "a", "b"),
    "rho_mean": ("record", "a", "b"),
    "rho_var": ("record", "a", "b"),
    "gram_quantiles": ("record", "level", "a", "b"),
    "rho_quantiles": ("record", "level", "a", "b"),
    "quantile_levels": ("level",),
    "rho_histogram": ("record", "pair", "bin"),
    "rho_histogram_edges": ("edge",),
}


def _attribute(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_stats(path):
    import h5py

    with h5py.File(path, "r") as f:
        arrays = {name: f[name][()] for name in DIMS if name in f}
        attrs = {k: _attribute(v) for k, v in f.attrs.items()}
        for name in ("gram_quantiles", "rho_quantiles"):
            if name in f:
                attrs[name] = {k: _attribute(v) for k, v in f[name].attrs.items()}
        samples = None
        if "state/samples" in f and f["state/samples"].shape[0] > 0:
            flat = f["state/samples"][()]
            offsets = f["state/sample_offsets"][()]
            m = int(attrs["tokens"])
            samples = [flat[offsets[r]:offsets[r + 1]].reshape(-1, m, m)
                       for r in range(len(offsets) - 1)]
    return arrays, attrs, samples


def _read_h5_tree(path):
    """Every dataset of an HDF5 file by its path ("group/name"), and the
    root's attributes."""
    import h5py

    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
        attrs = {k: _attribute(v) for k, v in f.attrs.items()}
    return arrays, attrs


def _read_csv(path):
    """A CSV file as a dict of columns (float arrays where every value parses)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {}
    for name in (rows[0].keys() if rows else []):
        values = [r[name] for r in rows]
        try:
            columns[name] = np.array([float(v) for v in values])
        except ValueError:
            columns[name] = np.array(values, dtype=object)
    return columns


class Result:
    """One command's results: the arrays of stats.h5 as attributes (see the
    module docstring for their dimensions), and

    - ``summary``: summary.json (the resolved configuration under
      ``summary["config"]``, seed, device, sampler, timings, counts...);
    - ``config``: the resolved configuration (``summary["config"]``);
    - ``table``: the printed table (table.txt);
    - ``attrs``: the attributes of stats.h5 (seed, width, tokens, model...);
    - ``samples``: with ``ensemble.exact_quantiles = true``, every member's V
      per record (a list of (members, m, m) float32 arrays), else None;
    - ``compare`` (compare.json) and ``collapse`` (collapse.csv as columns)
      for those commands;
    - ``metrics``: ``attnmc oversmooth``'s metrics.csv as columns (layer,
      metric, count, nonfinite, mean, sd, quantiles), else None;
    - ``paths``: ``attnmc paths``'s paths.h5, every dataset by its path
      (k_mc, k_gp, path_kernel_mc, ... as NumPy arrays), with its root
      attributes in ``paths_attrs``; else None;
    - ``scalars``: the headline numbers of the run (a sweep's cells.csv
      columns; None when loaded from disk); ``failure``: why the run failed
      numerically ("" when it did not);
    - ``path``: the output directory (None when the call kept no files).
    """

    def __init__(self, path, keep_path=True):
        if os.path.isfile(path):  # a stats.h5 file
            path = os.path.dirname(path) or "."
        self.path = os.path.abspath(path) if keep_path else None
        self.arrays, self.attrs, self.samples = {}, {}, None
        stats = os.path.join(path, "stats.h5")
        if os.path.exists(stats):
            self.arrays, self.attrs, self.samples = _read_stats(stats)
        self.summary = self._json(path, "summary.json")
        self.config = (self.summary or {}).get("config")
        self.compare = self._json(path, "compare.json")
        table = os.path.join(path, "table.txt")
        self.table = open(table).read() if os.path.exists(table) else ""
        collapse = os.path.join(path, "collapse.csv")
        self.collapse = _read_csv(collapse) if os.path.exists(collapse) else None
        metrics = os.path.join(path, "metrics.csv")
        self.metrics = _read_csv(metrics) if os.path.exists(metrics) else None
        self.paths, self.paths_attrs = None, None
        paths = os.path.join(path, "paths.h5")
        if os.path.exists(paths):
            self.paths, self.paths_attrs = _read_h5_tree(paths)
        self.scalars = None
        self.failure = ""
        self.command = None

    @staticmethod
    def _json(path, name):
        p = os.path.join(path, name)
        if not os.path.exists(p):
            return None
        with open(p) as f:
            return json.load(f)

    @property
    def dims(self):
        """Dimension names of each array (e.g. rho_quantiles: record, level, a, b)."""
        return {k: DIMS[k] for k in self.arrays}

    def __getattr__(self, name):
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(
            f"{type(self).__name__} has no attribute {name!r}"
            + (f" (arrays: {', '.join(arrays)})" if arrays else ""))

    def __dir__(self):
        return list(super().__dir__()) + list(self.arrays)

    def to_xarray(self):
        """The arrays as an xarray.Dataset (coordinates: layer and t per
        record, quantile level, histogram bin centres). Needs xarray."""
        import xarray as xr

        data = {k: (DIMS[k], v) for k, v in self.arrays.items()
                if k not in ("layers", "t", "quantile_levels", "rho_histogram_edges")}
        coords = {}
        if "layers" in self.arrays:
            coords["layer"] = ("record", self.arrays["layers"])
        if "t" in self.arrays:
            coords["t"] = ("record", self.arrays["t"])
        if "quantile_levels" in self.arrays:
            coords["level"] = self.arrays["quantile_levels"]
        if "rho_histogram_edges" in self.arrays:
            e = self.arrays["rho_histogram_edges"]
            coords["bin"] = 0.5 * (e[1:] + e[:-1])
        return xr.Dataset(data, coords=coords, attrs=dict(
            (k, v) for k, v in self.attrs.items() if not isinstance(v, dict)))

    def __repr__(self):
        what = self.command or (self.summary or {}).get("command") or "result"
        shape = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.arrays.items()
                          if k in ("rho_quantiles", "gram_quantiles"))
        where = f" at {self.path}" if self.path else ""
        return f"<attnmc {what}{where}: {shape or 'no stats.h5'}>"


class Store:
    """A sweep store (attnmc sweep, attnmc phase): ``sweep`` (sweep.json),
    ``cells`` (every cell.json: params, seed, status, scalars), ``table``
    (cells.csv as columns; ``to_pandas()`` for a DataFrame), ``phase``
    (phase.csv as columns, for a phase store; else None), and
    ``store[i]``: cell i's Result (read from cells/NNNN when asked)."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        with open(os.path.join(path, "sweep.json")) as f:
            self.sweep = json.load(f)
        self.cells = []
        cells = os.path.join(path, "cells")
        for name in sorted(os.listdir(cells)) if os.path.isdir(cells) else []:
            cell = os.path.join(cells, name, "cell.json")
            if os.path.exists(cell):
                with open(cell) as f:
                    self.cells.append(json.load(f))
        table = os.path.join(path, "cells.csv")
        self.table = _read_csv(table) if os.path.exists(table) else {}
        phase = os.path.join(path, "phase.csv")
        self.phase = _read_csv(phase) if os.path.exists(phase) else None
        self.outcome = None

    def __len__(self):
        return len(self.cells)

    def __getitem__(self, i):
        cell = self.cells[i]["cell"]
        return Result(os.path.join(self.path, "cells", f"{cell:04d}"))

    def to_pandas(self):
        import pandas as pd

        return pd.read_csv(os.path.join(self.path, "cells.csv"))

    def __repr__(self):
        return f"<attnmc sweep store at {self.path}: {len(self)} cells>"


def load(path):
    """An output directory of any command (or its stats.h5) as a Result; a
    sweep store as a Store."""
    from .errors import ConfigError

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "sweep.json")):
            return Store(path)
        if not any(os.path.exists(os.path.join(path, m))
                   for m in ("stats.h5", "summary.json", "compare.json")):
            raise ConfigError(f"path: '{path}' is not an attnmc output directory or sweep store",
                              "path")
    return Result(path)
