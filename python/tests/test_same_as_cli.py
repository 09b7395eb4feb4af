"""A command called from Python gives what the CLI gives for the same
configuration and seed: the arrays of stats.h5, to the bit, and the file
itself, byte for byte."""
import filecmp
import json

import h5py
import numpy as np
import pytest

import attnmc
from attnmc.results import DIMS
from conftest import SMALL_RUN, SMALL_RUN_TOML


def cli_arrays(directory):
    with h5py.File(directory / "stats.h5", "r") as f:
        return {k: f[k][()] for k in DIMS if k in f}


def assert_same_arrays(result, directory):
    expected = cli_arrays(directory)
    assert set(result.arrays) == set(expected)
    for k, v in expected.items():
        got = result.arrays[k]
        assert got.shape == v.shape and got.dtype == v.dtype, k
        assert np.array_equal(got, v, equal_nan=True), k


def summary_config(directory):
    return json.loads((directory / "summary.json").read_text())["config"]


def test_run_dict_config_equals_cli_file(tmp_path, cli):
    (tmp_path / "small.toml").write_text(SMALL_RUN_TOML)
    cli("run", tmp_path / "small.toml", "-q", "-o", tmp_path / "cli")
    r = attnmc.run(SMALL_RUN)
    assert r.path is None  # nothing kept
    assert_same_arrays(r, tmp_path / "cli")
    assert r.config == summary_config(tmp_path / "cli")
    # Named dimensions: (record, level, a, b).
    R, Q, m = len(r.layers), len(r.quantile_levels), 3
    assert r.rho_quantiles.shape == (R, Q, m, m)
    assert r.dims["rho_quantiles"] == ("record", "level", "a", "b")
    assert np.array_equal(r.t, r.layers / 32)
    assert r.summary["seed"] == 5 and r.attrs["sampler"] == "exact"

    # Kept output: the same stats.h5 bytes as the CLI's.
    kept = attnmc.run(tmp_path / "small.toml", output=tmp_path / "py")
    assert kept.path == str(tmp_path / "py")
    assert filecmp.cmp(tmp_path / "py" / "stats.h5", tmp_path / "cli" / "stats.h5", shallow=False)


def test_overrides_and_named_options_in_cli_order(tmp_path, cli):
    (tmp_path / "small.toml").write_text(SMALL_RUN_TOML)
    cli("run", tmp_path / "small.toml", "-q", "--set", "model.width=16", "--set",
        "ensemble.quantiles=[0.25, 0.5]", "--seed", "18446744073709551615", "-B", "300",
        "--threads", "1", "-o", tmp_path / "cli")
    r = attnmc.run(SMALL_RUN, set={"model.width": 16, "ensemble.quantiles": [0.25, 0.5],
                                   "ensemble.members": 999},  # members=300 wins, as -B does
                   seed=2**64 - 1, members=300, threads=1)
    assert_same_arrays(r, tmp_path / "cli")
    assert r.config == summary_config(tmp_path / "cli")
    assert r.quantile_levels.tolist() == [0.25, 0.5]
    # The same overrides as strings.
    s = attnmc.run(tmp_path / "small.toml", set=["model.width=16",
                                                 "ensemble.quantiles=[0.25, 0.5]"],
                   seed=2**64 - 1, members=300)
    assert_same_arrays(s, tmp_path / "cli")


def test_sde_and_sphere_equal_cli(tmp_path, cli):
    cli("sde", "-q", "-B", "500", "--seed", "3", "-o", tmp_path / "sde")
    r = attnmc.sde(members=500, seed=3)
    assert_same_arrays(r, tmp_path / "sde")
    assert r.summary["sde"] == json.loads((tmp_path / "sde" / "summary.json").read_text())["sde"]

    cli("sphere", "-q", "-B", "300", "--set", "sphere.horizon=0.5", "-o", tmp_path / "sphere")
    s = attnmc.sphere(members=300, set={"sphere.horizon": 0.5})
    assert_same_arrays(s, tmp_path / "sphere")
    expected = json.loads((tmp_path / "sphere" / "summary.json").read_text())
    for k in ("collapse", "antipodal", "other", "records", "spec"):
        assert s.summary[k] == expected[k], k


def test_builtin_defaults_are_the_cli_defaults(tmp_path, cli):
    # No configuration: the command's built-in experiment (here cut to 200 members).
    cli("run", "-q", "-B", "200", "--set", "model.depth=8", "-o", tmp_path / "cli")
    r = attnmc.run(members=200, set={"model.depth": 8})
    assert r.config == summary_config(tmp_path / "cli")
    assert r.config["model"]["width"] == 256  # examples/default.toml's width
    assert_same_arrays(r, tmp_path / "cli")


def test_compare_results(tmp_path, cli):
    args = {"compare.widths": [8, 16], "compare.trajectories": 400, "ensemble.members": 300}
    cli("compare", "-q", "--no-plot", *[a for k, v in args.items()
                                        for a in ("--set", f"{k}={json.dumps(v)}")],
        "-o", tmp_path / "cli")
    r = attnmc.compare(set=args)
    expected = json.loads((tmp_path / "cli" / "compare.json").read_text())
    expected.pop("seconds", None)
    got = dict(r.compare)
    got.pop("seconds", None)
    for series in expected["series"] + got["series"]:
        series.pop("seconds", None)
    assert got == expected
    assert set(r.scalars) >= {"w1_n8", "w1_n16", "w1_slope"}


def test_load_reads_cli_output(tmp_path, cli):
    (tmp_path / "small.toml").write_text(SMALL_RUN_TOML)
    cli("run", tmp_path / "small.toml", "-q", "-o", tmp_path / "cli")
    loaded = attnmc.load(tmp_path / "cli")
    assert_same_arrays(loaded, tmp_path / "cli")
    assert loaded.table == (tmp_path / "cli" / "table.txt").read_text()
    assert attnmc.load(tmp_path / "cli" / "stats.h5").arrays.keys() == loaded.arrays.keys()
    with pytest.raises(attnmc.ConfigError) as e:
        attnmc.load(tmp_path)  # a directory attnmc did not write
    assert e.value.key == "path"
