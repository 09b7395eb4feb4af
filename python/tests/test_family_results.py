"""The oversmoothing and attention-path families' own outputs reach Python
as arrays: ``Result.metrics`` (metrics.csv) and ``Result.paths``
(paths.h5), equal to what the CLI writes for the same configuration."""
import csv

import h5py
import numpy as np

import attnmc

SMALL_OVERSMOOTH = {"ensemble.members": 12, "ensemble.seed": 3}
SMALL_PATHS = {"ensemble.members": 300, "ensemble.seed": 4}


def cli_sets(sets):
    return [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]


def test_oversmooth_metrics_are_the_cli_csv(tmp_path, cli):
    cli("oversmooth", "-q", "-o", tmp_path / "cli", *cli_sets(SMALL_OVERSMOOTH))
    r = attnmc.oversmooth(set=SMALL_OVERSMOOTH)
    with open(tmp_path / "cli" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert r.metrics is not None and set(r.metrics) == set(rows[0])
    assert len(r.metrics["layer"]) == len(rows) > 0
    assert list(r.metrics["metric"]) == [row["metric"] for row in rows]
    for name in ("layer", "count", "nonfinite", "mean", "sd"):
        assert np.array_equal(r.metrics[name], [float(row[name]) for row in rows]), name
    assert np.all(r.metrics["count"] == 12)
    assert r.paths is None


def test_paths_arrays_are_the_cli_file(tmp_path, cli):
    cli("paths", "-q", "-o", tmp_path / "cli", *cli_sets(SMALL_PATHS))
    r = attnmc.paths(set=SMALL_PATHS)
    with h5py.File(tmp_path / "cli" / "paths.h5", "r") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        assert set(r.paths) == set(names) and "k_mc" in names
        for n in names:
            assert np.array_equal(r.paths[n], f[n][()], equal_nan=True), n
        assert r.paths_attrs["networks"] == f.attrs["networks"] == 300
    P = r.paths["k_mc"].shape[0]
    assert r.paths["k_mc"].shape == (P, P)
    assert np.array_equal(r.paths["k_mc"], r.paths["k_mc"].T)
    assert r.metrics is None


def test_every_registered_command_is_exported():
    for c in attnmc.commands():
        if c["name"].isidentifier():
            assert c["name"] in attnmc.__all__ and callable(getattr(attnmc, c["name"]))
