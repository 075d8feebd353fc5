"""Running a sweep: plan the points, evaluate them on the fast or general path, resume.

A **point** is one (hardware config, workload, policy) combination and becomes one result row
with network totals (the keys of ``CostReport.totals``). Each point evaluates every layer of its
workload, so a sweep also computes ``points x layers`` layer rows (reported, not stored).

- **Fast path** (:mod:`sweeps.fast`; analytic model, no training): one
  :func:`hwsim.cost_table` call per chunk of hardware configs, reduced with numpy gathers.
- **General path** (:mod:`sweeps.general`; ``[[train]]`` points, ``engine = "event"``, or
  forced): one task per point, run by an executor from :mod:`sweeps.executors`.

Points are numbered by :mod:`sweeps.plan` and keyed by their content hash
(:mod:`sweeps.hashing`); a resumed run skips every stored hash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

import hwsim
from hwsim.errors import check
from hwsim.progress import StageLog
from sweeps.executors import make_executor
from sweeps.fast import run_fast
from sweeps.general import evaluate_task, run_general
from sweeps.hashing import point_hashes
from sweeps.plan import make_plans, split_slots
from sweeps.progress import Tally
from sweeps.spec import TOTALS, SweepSpec, hash64, load_spec, spec_fields
from sweeps.store import ResultStore, failed_points
from sweeps.trainer_registry import TRAINERS, Trainer, register_trainer

__all__ = [
    "TOTALS",
    "TRAINERS",
    "SweepSummary",
    "Trainer",
    "evaluate_task",
    "point_hashes",
    "register_trainer",
    "run_sweep",
]


@dataclass
class SweepSummary:
    """What one ``run_sweep`` call did."""

    points: int  # points the spec declares
    skipped: int  # already stored (resumed) or duplicates of another point
    written: int  # rows this run wrote
    failed: int  # of those, rows with status "failed"
    layer_rows: int  # layer evaluations behind the written rows
    seconds: float
    out: Path = field(default=Path("."))
    retried: int = 0  # failed rows dropped at the start (``retry_failed``) and run again
    excluded: int = 0  # points outside the spec's [constraints]: not evaluated or not stored
    # Every failed point stored in ``out`` after the run (this run's and earlier runs'):
    # point, workload, policy, hw_name, message.
    failures: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def points_per_s(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else float("nan")


def run_sweep(
    spec: SweepSpec | str | Path,
    out: str | Path,
    executor: str | Any = "serial",
    processes: int | None = None,
    scheduler: str | None = None,
    force_general: bool = False,
    flush_every: int = 256,
    jobs: int = 1,
    retry_failed: bool = False,
) -> SweepSummary:
    """Evaluate every point of ``spec`` not yet stored under ``out``; resumable.

    A failed point is stored as a row with its message and, like any stored point, skipped
    on a resume; ``retry_failed`` first drops the stored failed rows so they run again.

    ``processes``: the ``process`` executor's worker processes (or a local Dask cluster's).

    ``jobs`` > 1 evaluates fast-path chunks in that many processes (each writes its own parts;
    chunks are claimed here, so no point is evaluated twice).

    ``force_general`` sends analytic points through the general path too (one
    :func:`hwsim.simulate` per point): the per-point reference the fast path is checked against.
    """
    start = time.perf_counter()
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    # Validate before any work; an executor object (e.g. a DaskExecutor on a given client)
    # is used as is.
    executor_obj = (
        make_executor(executor, processes, scheduler) if isinstance(executor, str) else executor
    )
    check(isinstance(jobs, int) and jobs >= 1, "jobs", jobs, "must be an integer >= 1")
    store = ResultStore(out)
    log = StageLog(f"sweep {spec.name}")
    try:
        retried = store.drop_failed() if retry_failed else 0
        store.write_meta(
            {"spec": spec_fields(spec), "source": spec.source, "version": hwsim.__version__}
        )
        plans = make_plans(spec)
        salt = hash64({"engine": spec.engine, "version": hwsim.__version__})
        fast_slots, general_slots = split_slots(
            plans, all_general=force_general or spec.engine != "analytic"
        )
        n_fast, n_general = (
            len(spec.hardware) * sum(len(slots[plan.label]) for plan in plans)
            for slots in (fast_slots, general_slots)
        )
        log(
            f"{spec.n_points:,} points planned ({n_fast:,} analytic, {n_general:,} general); "
            f"{len(store.done):,} already stored in {out}"
        )
        bar = tqdm(
            total=spec.n_points, desc=f"sweep {spec.name}", unit="pt", disable=None, smoothing=0.1
        )
        with bar:
            tally = Tally(bar)
            if n_fast:
                run_fast(spec, store, plans, fast_slots, salt, jobs, tally)
                log(f"analytic points done: {tally.written:,} written, {tally.skipped:,} skipped")
            if n_general:
                log(f"general points: running on the {executor_obj.name} executor")
                run_general(
                    spec, store, plans, general_slots, salt, executor_obj, flush_every, tally
                )
                log(f"general points done: {tally.written:,} written in all")
    except KeyboardInterrupt:
        executor_obj.abort()
        raise
    finally:
        executor_obj.close()
        store.close()
    return SweepSummary(
        points=spec.n_points,
        skipped=tally.skipped,
        written=tally.written,
        failed=tally.failed,
        layer_rows=tally.layer_rows,
        seconds=time.perf_counter() - start,
        out=Path(out),
        retried=retried,
        excluded=tally.excluded,
        failures=failed_points(out),
    )
