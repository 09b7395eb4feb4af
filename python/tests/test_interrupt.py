"""Stopping a run: a progress callback that raises, and Ctrl-C (SIGINT) in
a separate process. The run stops after its chunk in flight, leaves no
output, and the process can run again."""
import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import attnmc
from conftest import SMALL_RUN

# Over a minute on one thread if it were not stopped (1.6 million networks
# in chunks of 2000; three records keep the statistics small).
LONG_RUN = {"model": {"preset": "shaped", "width": 64, "tokens": 2, "depth": 64},
            "ensemble": {"members": 1600000, "chunk": 2000, "record_every": 32}}


def test_callback_keyboard_interrupt_stops_the_run(tmp_path):
    calls = []

    def stop(done, total):
        calls.append((done, total))
        raise KeyboardInterrupt

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        attnmc.run(LONG_RUN, output=tmp_path / "out", progress=stop, threads=1)
    assert time.monotonic() - t0 < 10
    assert len(calls) == 1 and calls[0][0] < calls[0][1] == 1600000
    assert os.listdir(tmp_path) == []  # neither the output nor its staging directory
    # The process is fine afterwards.
    r = attnmc.run(SMALL_RUN)
    assert r.members[-1] == 400


def test_callback_exception_propagates():
    def fail(done, total):
        raise ValueError("from the callback")

    with pytest.raises(ValueError, match="from the callback"):
        attnmc.sde(members=100000, set={"ensemble.chunk": 1000}, progress=fail)


def test_progress_reaches_the_total():
    seen = []
    attnmc.run(SMALL_RUN, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (400, 400)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_progress_true_shows_a_bar_or_lines(capsys):
    attnmc.run(SMALL_RUN, progress=True)
    err = capsys.readouterr().err
    assert "400/400" in err or "run: 400 / 400 (100%)" in err, err


def test_tqdm_as_callback():
    tqdm = pytest.importorskip("tqdm")
    with tqdm.tqdm(total=None, file=io.StringIO()) as bar:
        def update(done, total):
            bar.total = total
            bar.update(done - bar.n)

        attnmc.sde(members=300, progress=update)
        assert bar.n == bar.total == 300


def test_sigint_stops_a_run_cleanly(tmp_path):
    script = textwrap.dedent(f"""
        import sys, attnmc
        def started(done, total):
            if done > 0:
                print("started", flush=True)
        try:
            attnmc.run({LONG_RUN!r}, output={str(tmp_path / "out")!r}, progress=started,
                       threads=1)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            r = attnmc.run({SMALL_RUN!r})   # still usable
            print("again", r.members[-1], flush=True)
            sys.exit(3)
        sys.exit(0)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "started"
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        rest = p.stdout.read()
        code = p.wait(timeout=30)
    finally:
        p.kill()
    assert time.monotonic() - t0 < 10
    assert code == 3, rest
    assert "interrupted" in rest and "again 400" in rest
    assert os.listdir(tmp_path) == []


def test_interrupted_sweep_resumes(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(textwrap.dedent("""
        [sweep]
        command = "run"
        [[sweep.axis]]
        key = "model.width"
        values = [8, 16, 32]
        [base.model]
        preset = "shaped"
        tokens = 2
        depth = 8
        [base.ensemble]
        members = 2000
    """))
    store = tmp_path / "store"

    def stop_in_second_cell(done, total):
        if done > 2000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        attnmc.sweep(plan, store, progress=stop_in_second_cell, quiet=True)
    kept = len(attnmc.load(store))
    # The first cell is in the store; the one in flight when the engine saw
    # the flag was not written (tests/test_execute.cpp checks that
    # deterministically: here the flag is set by the waiting thread, and a
    # heavily loaded machine may let a small cell finish first).
    assert kept >= 1
    s = attnmc.sweep(plan, store, quiet=True)
    assert s.outcome["reused"] == kept and s.outcome["computed"] == 3 - kept and len(s) == 3
