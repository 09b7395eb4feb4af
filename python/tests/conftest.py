import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# A small shaped-attention ensemble: a fraction of a second.
SMALL_RUN = {
    "model": {"preset": "shaped", "width": 32, "tokens": 3, "depth": 16},
    "input": {"rho0": 0.5},
    "ensemble": {"members": 400, "seed": 5, "chunk": 64},
}

SMALL_RUN_TOML = """
[model]
preset = "shaped"
width = 32
tokens = 3
depth = 16
[input]
rho0 = 0.5
[ensemble]
members = 400
seed = 5
chunk = 64
"""


def cli_path():
    for p in (os.environ.get("ATTNMC_CLI"), os.path.join(ROOT, "build", "attnmc"),
              shutil.which("attnmc")):
        if p and os.access(p, os.X_OK):
            return p
    return None


@pytest.fixture
def cli():
    """Runs the attnmc binary: cli(args...) -> CompletedProcess (text)."""
    path = cli_path()
    if path is None:
        pytest.skip("the attnmc binary is not built (set ATTNMC_CLI)")

    def run(*args, check=True):
        p = subprocess.run([path, *map(str, args)], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"attnmc {' '.join(map(str, args))}: exit {p.returncode}\n"
                                 f"{p.stderr}")
        return p

    return run
