"""The one timing loop: best of repeated calls, on the clock asked for."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwsim import timing
from hwsim.errors import HwsimError


class FakeClock:
    """A clock that only moves when a timed call advances it by its next duration (whole
    numbers, so that differences of its readings are exact)."""

    def __init__(self, durations: list[float]) -> None:
        self.now = 0.0
        self.durations = list(durations)
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def work(self) -> None:
        self.calls += 1
        self.now += float(self.durations.pop(0))


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=20), st.booleans())
def test_best_time_is_the_least_timed_call(durations, warmup):
    clock = FakeClock(([123.0] if warmup else []) + durations)
    got = timing.best_time(clock.work, len(durations), budget_s=None, clock=clock, warmup=warmup)
    assert got == min(durations)
    assert clock.calls == len(durations) + warmup


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=10))
def test_best_times_keeps_each_clocks_own_best(pairs):
    wall, cpu = FakeClock([p[0] for p in pairs]), FakeClock([p[1] for p in pairs])

    def work() -> None:
        wall.work()
        cpu.work()

    got = timing.best_times(work, len(pairs), (wall, cpu))
    assert got == (min(p[0] for p in pairs), min(p[1] for p in pairs))


def test_the_budget_stops_after_three_calls_once_spent():
    calls = []
    timing.best_time(lambda: calls.append(time.sleep(0.01)), 50, budget_s=0.0, warmup=False)
    assert len(calls) == 3


def test_set_clock_switches_the_default_and_rejects_unknown_names(monkeypatch):
    monkeypatch.setattr(timing, "CLOCK", timing.CLOCK)
    timing.set_clock("cpu")
    assert timing.CLOCK is time.thread_time
    timing.set_clock("wall")
    assert timing.CLOCK is time.perf_counter
    with pytest.raises(HwsimError, match="clock"):
        timing.set_clock("sundial")
