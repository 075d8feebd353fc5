"""The one timing loop of the calibration and the benchmarks: the best of repeated calls.

On a shared machine the least disturbed run is the measurement, so every timing here is a
best-of. :data:`CLOCK` is what a timing measures unless told otherwise: wall time by default;
:func:`set_clock` ``("cpu")`` switches to the calling thread's CPU time, which the scheduler
taking the core away does not stretch (it measures a single-threaded call on a crowded
machine).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from hwsim.errors import check

Clock = Callable[[], float]

CLOCKS: dict[str, Clock] = {"wall": time.perf_counter, "cpu": time.thread_time}
"""The clocks a caller may pick by name: wall time, or the calling thread's CPU time."""

CLOCK: Clock = time.perf_counter
"""What :func:`best_time` measures by default: wall time. ``time.thread_time`` (CPU time of
the calling thread) is immune to the scheduler taking the core away, so it measures a
single-threaded call on a crowded machine; a caller running one thread may set it with
:func:`set_clock`."""


def set_clock(name: str) -> None:
    """Make :data:`CLOCK` the clock called ``name`` in :data:`CLOCKS` (``wall`` / ``cpu``)."""
    global CLOCK
    check(name in CLOCKS, "clock", name, f"must be one of {sorted(CLOCKS)}")
    CLOCK = CLOCKS[name]


def best_times(
    fn: Callable[[], Any],
    repeats: int,
    clocks: Sequence[Clock],
    budget_s: float | None = None,
    warmup: bool = False,
) -> tuple[float, ...]:
    """The least time of ``fn`` on each of ``clocks`` (each clock's best over the same calls)
    over ``repeats`` calls, after one untimed call when ``warmup`` (compilation, caches,
    waking a thread pool). With ``budget_s``, stops once that much wall time has passed after
    at least three timed calls."""
    if warmup:
        fn()
    best = [float("inf")] * len(clocks)
    start = time.perf_counter()
    for i in range(repeats):
        t0 = [clock() for clock in clocks]
        fn()
        best = [min(b, clock() - t) for b, clock, t in zip(best, clocks, t0, strict=True)]
        if budget_s is not None and i >= 2 and time.perf_counter() - start > budget_s:
            break
    return tuple(best)


def best_time(
    fn: Callable[[], Any],
    repeats: int,
    budget_s: float | None = 2.0,
    clock: Clock | None = None,
    warmup: bool = True,
) -> float:
    """Best-of time of ``fn`` over up to ``repeats`` runs within ``budget_s`` of wall time (at
    least three; ``None``: all ``repeats``), after a warm-up call unless ``warmup`` is false:
    the least disturbed run on a shared machine, on ``clock`` (default :data:`CLOCK`)."""
    return best_times(fn, repeats, (clock or CLOCK,), budget_s, warmup)[0]
