"""The engine runs with the GIL released, its thread count is the call's
own (run.threads), and nothing process-wide is left changed."""
import ctypes
import ctypes.util
import threading
import time

import numpy as np
import pytest

import attnmc
from conftest import SMALL_RUN


def omp_max_threads():
    """omp_get_max_threads() of this thread, from the OpenMP runtime the module loaded."""
    lib = ctypes.CDLL(ctypes.util.find_library("gomp") or "libgomp.so.1")
    return lib.omp_get_max_threads()


def test_thread_settings_are_restored():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def state():
        return sorted((i["internal_api"], i["filepath"], i["num_threads"])
                      for i in threadpoolctl.threadpool_info())

    before, omp_before = state(), omp_max_threads()
    with threadpoolctl.threadpool_limits(limits=2):
        limited, omp_limited = state(), omp_max_threads()
        for threads in (1, 2, None):
            attnmc.run(SMALL_RUN, threads=threads)
            attnmc.sde(members=200, threads=threads)
        assert state() == limited and omp_max_threads() == omp_limited
    attnmc.run(SMALL_RUN, threads=1)
    assert state() == before and omp_max_threads() == omp_before
    # The module's own OpenBLAS and OpenMP are among those reported.
    assert any(i["internal_api"] == "openmp" for i in threadpoolctl.threadpool_info())


def test_same_bits_for_any_thread_count():
    one = attnmc.run(SMALL_RUN, threads=1)
    two = attnmc.run(SMALL_RUN, threads=2)
    for k in one.arrays:
        assert np.array_equal(one.arrays[k], two.arrays[k], equal_nan=True), k
    assert one.summary["threads"] == 1 and two.summary["threads"] == 2


def spin_rate(stop):
    """Iterations a second of a pure-Python loop on this thread until stop()."""
    ticks, t0 = 0, time.perf_counter()
    while not stop():
        ticks += 1
    return ticks / (time.perf_counter() - t0)


def test_gil_is_released_while_the_engine_runs():
    # Three chunks of about half a second each (one engine thread):
    # if the engine held the GIL, this thread could only run at the three
    # progress callbacks, a few milliseconds each.
    config = {"model": {"preset": "shaped", "width": 64, "tokens": 2, "depth": 64},
              "ensemble": {"members": 9000, "chunk": 3000, "record_every": 32}}
    calibrated = threading.Event()
    threading.Timer(0.3, calibrated.set).start()
    alone = spin_rate(calibrated.is_set)

    done = threading.Event()
    seconds = []

    def work():
        t0 = time.perf_counter()
        attnmc.run(config, threads=1)
        seconds.append(time.perf_counter() - t0)
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    beside = spin_rate(done.is_set)
    worker.join()
    assert seconds[0] > 0.3, "the run is too short to tell"
    assert beside > 0.3 * alone, (beside, alone)
