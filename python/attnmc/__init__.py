"""attnmc from Python: every attnmc command as a function, results as NumPy arrays.

    import attnmc
    r = attnmc.run({"model": {"preset": "shaped", "width": 256},
                    "ensemble": {"members": 10000}})
    r.rho_quantiles          # (record, level, a, b): see attnmc.results
    r.t, r.summary["config"]

The functions are the command line's commands, over the same C++ code
(the bindings in python/src/attnmc_module.cpp call what ``attnmc COMMAND``
calls): the same configuration keys, defaults, checks, errors and results.

``run``, ``collapse``, ``sde``, ``sphere``, ``compare`` (and any command the
CLI registers: ``command(name, ...)``) take

``config``
    None: the command's built-in experiment (what ``attnmc COMMAND`` runs
    without a file); a path: a TOML file; a dict: the contents of such a
    file, e.g. ``{"model": {"width": 64}, "ensemble": {"members": 1000}}``
    (keys may be dotted: ``{"model.width": 64}``).
``set``
    overrides after the configuration, like ``--set``: a dict
    ``{"model.width": 64}`` or a list of ``"model.width=64"`` strings.
``seed``, ``threads``, ``device``, ``members``, ``range=(begin, end)``
    the CLI's named options (ensemble.seed, run.threads, run.device,
    ensemble.members, ensemble.member_begin/member_end), applied last.
``output``
    a directory to keep the files the CLI writes (stats.h5, summary.json,
    table.txt...), written atomically; ``force=True`` replaces an earlier
    attnmc output there. Without it the files go to a temporary directory
    that is removed once they are read.
``progress``
    None, True (a tqdm bar when tqdm is installed, else lines on stderr),
    or a callable ``progress(done, total)`` called on the calling thread
    with members done.
``quiet``
    True: no notes or warnings on stderr from the engine.
the command's switches as keywords
    ``check_step=True`` (sde, sphere, compare: ``--check-step``),
    ``no_plot=True`` (compare, collapse; set when no ``output`` is kept).

They return a ``Result`` (attnmc.results). ``sweep`` and ``phase`` run
into resumable stores and return a ``Store``; ``merge`` joins pieces run
with ``range=``; ``load`` reads any output directory or store; ``grams``
gives single networks' Gram matrices. Bad input raises
``attnmc.ConfigError`` naming the key (``e.key``) before anything runs or is
written; other failures raise ``attnmc.Error``. The engine runs with the GIL
released; Ctrl-C stops it after the chunk in flight and raises
KeyboardInterrupt, leaving no output. ``threads`` is the run's own: the
process's OpenMP and OpenBLAS settings are the same after the call.
"""

import json
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np

from . import _attnmc
from .errors import ConfigError, Error, RunWarning
from .results import DIMS, Result, Store, load

__version__ = _attnmc.version
__all__ = [
    "run", "collapse", "sde", "sphere", "compare", "command", "sweep", "phase", "merge", "load",
    "grams", "presets", "commands", "cuda_available", "Result", "Store", "Error",
    "ConfigError", "RunWarning", "DIMS",
]

_COMMANDS = {c["name"]: c for c in _attnmc.commands()}


def commands():
    """The registered commands: name, help, built-in configuration (TOML), switches."""
    return [dict(c) for c in _COMMANDS.values()]


def presets():
    """The model presets (shaped, shaped-mlp, softmax, softmax-prenorm)."""
    return list(_attnmc.presets())


def cuda_available():
    """True when the CUDA backend is built and a device is present."""
    return _attnmc.cuda_available()


class _TextProgress:
    def __init__(self, label):
        self.label, self.last = label, -1

    def __call__(self, done, total):
        percent = int(100 * done / total) if total else 100
        if percent // 10 != self.last // 10 or done >= total:
            self.last = percent
            print(f"{self.label}: {done} / {total} ({percent}%)", file=sys.stderr)


class _TqdmProgress:
    def __init__(self, label):
        from tqdm.auto import tqdm

        self.bar = tqdm(desc=label, unit="members")

    def __call__(self, done, total):
        if self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self):
        self.bar.close()


def _progress(progress, label):
    if progress is None or progress is False:
        return None
    if progress is True:
        try:
            return _TqdmProgress(label)
        except ImportError:
            return _TextProgress(label)
    if not callable(progress):
        raise TypeError("progress: None, True or a callable(done, total)")
    return progress


def _switches(name, kwargs):
    known = {s for s, _ in _COMMANDS[name]["switches"]}
    out = []
    for key, value in kwargs.items():
        switch = key.replace("_", "-")
        if switch not in known:
            raise TypeError(f"{name}() got an unexpected keyword argument {key!r}"
                            f" (switches: {', '.join(sorted(known)) or 'none'})")
        if value:
            out.append(switch)
    return out


def command(name, config=None, *, set=None, seed=None, threads=None, device=None, members=None,
            range=None, output=None, force=False, progress=None, quiet=False, **switches):
    """Runs the registered command `name` (see the module docstring); returns a Result."""
    if name not in _COMMANDS:
        raise ConfigError(f"command: unknown command '{name}' (commands: "
                          f"{', '.join(_COMMANDS)})", "command")
    flags = _switches(name, switches)
    if isinstance(config, os.PathLike):
        config = os.fspath(config)
    keep = output is not None
    tmp = None
    if not keep:
        tmp = tempfile.mkdtemp(prefix="attnmc-")
        output = os.path.join(tmp, "result")
        if "no-plot" in {s for s, _ in _COMMANDS[name]["switches"]}:
            flags.append("no-plot")  # a figure nobody keeps
    callback = _progress(progress, name)
    try:
        out = _attnmc.execute(name, config, set, seed, threads, device, members, range,
                              os.fspath(output), bool(force), flags, bool(quiet), callback)
        result = Result(output, keep_path=keep)
    finally:
        if hasattr(callback, "close"):
            callback.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    result.command = name
    result.scalars = json.loads(out["scalars"])
    result.failure = out["failure"]
    if result.failure and not quiet:
        warnings.warn(result.failure, RunWarning, stacklevel=3)
    return result


def _command_function(name):
    def call(config=None, **kwargs):
        return command(name, config, **kwargs)

    c = _COMMANDS[name]
    call.__name__ = call.__qualname__ = name
    switches = ", ".join(s.replace("-", "_") for s, _ in c["switches"]) or "none"
    call.__doc__ = (f"{c['help']}.\n\nattnmc.{name}(config=None, *, set=None, seed=None, "
                    f"threads=None, device=None, members=None, range=None, output=None, "
                    f"force=False, progress=None, quiet=False, **switches) -> Result\n"
                    f"Switches: {switches}. Built-in configuration:\n{c['builtin']}")
    return call


for _name in _COMMANDS:
    if _name.isidentifier():
        globals()[_name] = _command_function(_name)
        if _name not in __all__:  # every registered family (oversmooth, paths...)
            __all__.append(_name)


def sweep(plan, store, *, set=None, seed=None, threads=None, device=None, members=None,
          force=False, progress=None, quiet=False):
    """``attnmc sweep PLAN -o STORE``: runs the sweep file's cells into the
    resumable store (cells already there are kept; see docs/sweeps.md).
    ``set``, ``seed``, ``members`` and ``device`` go into every cell (they
    are part of the sweep); ``threads`` only says how it runs. Progress
    counts members over the whole sweep. Returns the Store, with
    ``store.outcome`` (cells computed, reused, failed, seconds)."""
    callback = _progress(progress, "sweep")
    try:
        outcome = _attnmc.sweep(os.fspath(plan), os.fspath(store), set, seed, threads, device,
                                members, bool(force), bool(quiet), callback)
    finally:
        if hasattr(callback, "close"):
            callback.close()
    s = Store(store)
    s.outcome = dict(outcome)
    return s


def phase(store, config=None, *, tokens="2", dims="2:10", betas="0:3:0.25", flow=True,
          check_step=False, set=None, seed=None, threads=None, device=None, members=None,
          force=False, progress=None, quiet=False):
    """``attnmc phase -o STORE``: the sphere model's phase diagram, P(collapse)
    and P(antipodal) over the (N, d, beta) grid (``tokens``, ``dims``,
    ``betas``: lists "2,3" or ranges "start:stop:step"), the deterministic
    flow beside each cell unless ``flow=False``; a resumable sweep store with
    phase.csv (``store.phase``, as columns). ``config``: a base sphere TOML
    file or None; the sphere's other options go in ``set``
    ({"sphere.noise": "matrix"}). Returns the Store."""
    callback = _progress(progress, "phase")
    try:
        outcome = _attnmc.phase(os.fspath(store), config if config is None else os.fspath(config),
                                set, seed, threads, device, members, str(tokens), str(dims),
                                str(betas), bool(flow), bool(check_step), bool(force),
                                bool(quiet), callback)
    finally:
        if hasattr(callback, "close"):
            callback.close()
    s = Store(store)
    s.outcome = dict(outcome)
    return s


def merge(pieces, output, *, force=False):
    """``attnmc merge PIECES -o OUTPUT``: pieces of one ensemble (output
    directories or stats.h5 files, run with ``range=``) merged into the
    whole, to the bit. Returns the merged Result."""
    _attnmc.merge([os.fspath(p) for p in pieces], os.fspath(output), bool(force))
    r = Result(output)
    r.command = "merge"
    return r


def grams(config=None, *, first=None, count=None, set=None, seed=None, threads=None,
          device=None, members=None):
    """Gram matrices V = X X^T / n of single networks of a ``run``
    configuration (the same networks as the run's members ``first`` to
    ``first + count``, default: the configured range), for one's own
    analysis. Returns (layers, V) with V float32 of shape
    (count, record, a, b). Memory grows with count: for small runs."""
    layers, v = _attnmc.grams(config, set, seed, threads, device, members, first, count)
    return np.asarray(layers), v
