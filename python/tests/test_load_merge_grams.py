"""Pieces and merge, sweeps into stores, samples as arrays, xarray."""
import filecmp
import textwrap

import numpy as np
import pytest

import attnmc
from conftest import SMALL_RUN


def test_pieces_merge_to_the_whole(tmp_path):
    whole = attnmc.run(SMALL_RUN, output=tmp_path / "whole")
    attnmc.run(SMALL_RUN, range=(150, 400), output=tmp_path / "b")
    attnmc.run(SMALL_RUN, range=(0, 150), output=tmp_path / "a")
    merged = attnmc.merge([tmp_path / "b", tmp_path / "a"], tmp_path / "merged")
    assert filecmp.cmp(tmp_path / "merged" / "stats.h5", tmp_path / "whole" / "stats.h5",
                       shallow=False)
    for k in whole.arrays:
        assert np.array_equal(whole.arrays[k], merged.arrays[k], equal_nan=True), k
    with pytest.raises(attnmc.ConfigError):  # overlapping pieces
        attnmc.merge([tmp_path / "a", tmp_path / "whole"], tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_sweep_store_same_as_cli(tmp_path, cli):
    plan = tmp_path / "plan.toml"
    plan.write_text(textwrap.dedent("""
        [sweep]
        command = "sde"
        [[sweep.axis]]
        key = "model.tau0"
        values = [0.5, 2.0]
        [base.ensemble]
        members = 300
    """))
    cli("sweep", plan, "-q", "-o", tmp_path / "cli")
    store = attnmc.sweep(plan, tmp_path / "py", quiet=True)
    assert store.outcome["computed"] == 2 and len(store) == 2
    assert (tmp_path / "py" / "cells.csv").read_bytes() == \
        (tmp_path / "cli" / "cells.csv").read_bytes()
    for i in range(2):
        name = f"cells/{i:04d}/stats.h5"
        assert filecmp.cmp(tmp_path / "py" / name, tmp_path / "cli" / name, shallow=False)
    assert store.table["model.tau0"].tolist() == [0.5, 2.0]
    assert store[1].rho_quantiles.shape[1] == 3  # levels 0.1, 0.5, 0.9
    loaded = attnmc.load(tmp_path / "cli")
    assert isinstance(loaded, attnmc.Store) and loaded.cells == store.cells


def test_grams_are_the_run_members():
    # Every member's V kept (exact_quantiles) against the networks one by one.
    config = dict(SMALL_RUN, ensemble=dict(SMALL_RUN["ensemble"], exact_quantiles=True,
                                           members=50))
    r = attnmc.run(config)
    layers, v = attnmc.grams(config)
    assert v.dtype == np.float32 and v.shape == (50, len(r.layers), 3, 3)
    assert np.array_equal(layers, r.layers)
    assert r.nonfinite.max() == 0
    for k in range(len(layers)):
        assert np.array_equal(r.samples[k], v[:, k]), k
    # A sub-range is the same networks.
    _, part = attnmc.grams(config, first=10, count=5)
    assert np.array_equal(part, v[10:15])
    with pytest.raises(attnmc.ConfigError) as e:
        attnmc.grams(config, first=40, count=20)
    assert e.value.key == "count"


def test_xarray_dataset():
    xr = pytest.importorskip("xarray")
    r = attnmc.run(SMALL_RUN)
    ds = r.to_xarray()
    assert isinstance(ds, xr.Dataset)
    assert ds["rho_quantiles"].dims == ("record", "level", "a", "b")
    np.testing.assert_array_equal(ds["rho_quantiles"].values, r.rho_quantiles)
    np.testing.assert_array_equal(ds["t"].values, r.t)


def test_presets_and_commands():
    assert "shaped" in attnmc.presets()
    names = [c["name"] for c in attnmc.commands()]
    for n in ("run", "sde", "sphere", "compare", "collapse"):
        assert n in names and callable(getattr(attnmc, n))
    assert "check-step" in dict(attnmc.commands()[names.index("sde")]["switches"])


def test_phase_store_same_as_cli(tmp_path, cli):
    cli("phase", "-N", "2", "--dims", "2,3", "--betas", "0:1:1", "-B", "60", "--set",
        "sphere.horizon=1", "-q", "-o", tmp_path / "cli")
    store = attnmc.phase(tmp_path / "py", dims="2,3", betas="0:1:1", members=60,
                         set={"sphere.horizon": 1.0}, quiet=True)
    assert store.outcome["computed"] == 4
    assert (tmp_path / "py" / "phase.csv").read_bytes() == \
        (tmp_path / "cli" / "phase.csv").read_bytes()
    assert store.phase["beta"].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert np.all((store.phase["p_collapse"] >= 0) & (store.phase["p_collapse"] <= 1))
    with pytest.raises(attnmc.ConfigError) as e:
        attnmc.phase(tmp_path / "bad", betas="1:0:-1")
    assert e.value.key == "betas"
