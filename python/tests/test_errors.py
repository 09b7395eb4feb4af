"""Bad input: a ConfigError naming the key, with the CLI's message, before
anything runs or is written."""
import os

import pytest

import attnmc
from conftest import SMALL_RUN


def cli_message(cli, *args):
    p = cli(*args, check=False)
    assert p.returncode == 2, p.stderr
    prefix = "attnmc: error: "
    assert p.stderr.startswith(prefix), p.stderr
    return p.stderr[len(prefix):].strip()


@pytest.mark.parametrize("command, key, value, named", [
    ("run", "model.zzz", 1, "model.zzz"),  # unknown key: lists the valid ones
    ("run", "zzz.width", 1, "zzz"),        # unknown section
    ("run", "model.width", 0, "model.width"),  # out of range
    ("run", "model.tau0", -1.0, "model.tau0"),
    ("run", "input.rho0", 2.0, "input.rho0"),
    ("run", "ensemble.sampler", "best", "ensemble.sampler"),
    ("sde", "sde.zzz", 1, "sde.zzz"),
    ("sde", "sde.dt", -0.5, "sde.dt"),
    ("sphere", "model.beta", "high", "model.beta"),  # wrong type
])
def test_bad_key_or_value_raises_config_error_like_the_cli(tmp_path, cli, command, key, value,
                                                           named):
    out = tmp_path / "out"
    with pytest.raises(attnmc.ConfigError) as e:
        attnmc.command(command, set={key: value}, members=10, output=out)
    assert e.value.key == named
    assert str(e.value).startswith(named + ": ")
    assert isinstance(e.value, ValueError) and isinstance(e.value, attnmc.Error)
    assert not out.exists() and os.listdir(tmp_path) == []  # nothing written, no staging
    literal = f'"{value}"' if isinstance(value, str) else str(value)
    assert str(e.value) == cli_message(cli, command, "--set", f"{key}={literal}", "-B", "10",
                                       "-o", tmp_path / "cli")


def test_unknown_key_lists_valid_keys():
    with pytest.raises(attnmc.ConfigError, match=r"valid in \[sde\]: .*dt.*horizon") as e:
        attnmc.sde(set={"sde.zzz": 1})
    assert e.value.key == "sde.zzz"


def test_bad_values_from_python_types():
    with pytest.raises(attnmc.ConfigError) as e:
        attnmc.run({"model": {"width": "wide"}})
    assert e.value.key == "model.width"
    with pytest.raises(attnmc.ConfigError) as e:
        attnmc.run(set={"model.width": object()})
    assert e.value.key == "model.width"
    with pytest.raises(attnmc.ConfigError) as e:
        attnmc.run(SMALL_RUN, seed=-1)
    assert e.value.key == "ensemble.seed"
    with pytest.raises(attnmc.ConfigError) as e:
        attnmc.compare(range=(0, 10))
    assert e.value.key == "range"


def test_missing_config_file_and_unknown_command(tmp_path):
    with pytest.raises(attnmc.ConfigError) as e:
        attnmc.run(tmp_path / "missing.toml")
    assert "missing.toml" in str(e.value)
    with pytest.raises(attnmc.ConfigError) as e:
        attnmc.command("nonsense")
    assert e.value.key == "command"
    with pytest.raises(TypeError, match="switches: check-step"):
        attnmc.sde(no_such_switch=True)


def test_occupied_output_is_refused_and_kept(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(attnmc.ConfigError) as e:
        attnmc.run(SMALL_RUN, output=out)
    assert e.value.key == "output"
    with pytest.raises(attnmc.ConfigError):
        attnmc.run(SMALL_RUN, output=out, force=True)  # not an attnmc directory
    assert os.listdir(out) == ["notes.txt"]
    done = attnmc.run(SMALL_RUN, output=tmp_path / "r")
    again = attnmc.run(SMALL_RUN, output=tmp_path / "r", force=True)
    assert (again.rho_quantiles == done.rho_quantiles).all()


def test_numerical_failure_warns():
    # Every SDE path blows up: the counts are returned and a RunWarning says
    # so (the CLI's "attnmc: warning: ..."), nothing is averaged away.
    with pytest.warns(attnmc.RunWarning, match="every one of the 200 paths blew up"):
        r = attnmc.sde(set={"model.tokens": 3, "model.tau0": 0.05,
                            "sde.blowup_threshold": 1.01}, members=200, threads=1)
    assert r.blowup[-1] == 200
    assert r.failure.startswith("every one of the 200 paths")
