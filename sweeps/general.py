"""The general path: one task per point, for training, the event engine, or when forced.

Tasks are generated lazily chunk by chunk and run by an executor from :mod:`sweeps.executors`
(serial, processes, Dask); finished tasks are batched into Parquet parts of the same schema as
the fast path's. Training goes through a trainer registered with :func:`register_trainer`
(the hook for the ``quant`` front end, see :mod:`sweeps.trainers`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

import hwsim
from hwsim.errors import HwsimError
from sweeps.columns import (
    config_price,
    config_value,
    error_message,
    hw_columns,
    priced,
    satisfies,
    strings,
    table_of,
)
from sweeps.hashing import chunk_hashes, task_seed
from sweeps.plan import WorkloadPlan, hw_chunks
from sweeps.progress import Tally
from sweeps.spec import TOTALS, SweepSpec, TrainSpec, import_plugins, on_config
from sweeps.store import ResultStore
from sweeps.trainer_registry import TRAINERS, Trainer


def _trainer(method: str) -> Trainer | None:
    from sweeps.trainers import BUILTIN

    return TRAINERS.get(method) or BUILTIN.get(method)


def evaluate_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """Run one general-path point (in any process) and return its result columns."""
    from hwsim import BitPolicy
    from hwsim.hardware import get_family

    import_plugins(task["plugins"])
    out: dict[str, Any] = {
        "point": task["point"],
        "status": "ok",
        "message": "",
        "accuracy": float("nan"),
        "w_bits": task["w_bits"],
        "a_bits": task["a_bits"],
    }
    try:
        hw_dict = task["hardware"]
        hw = get_family(hw_dict["family"]).config_type.from_dict(hw_dict)
        wl = task["workload"]
        if task["train"] is not None:
            train = task["train"]
            trainer = _trainer(train["method"])
            if trainer is None:
                raise HwsimError(
                    "train.method",
                    train["method"],
                    "no trainer registered; the quant front end registers its "
                    "methods with sweeps.register_trainer (list its module in "
                    f"the spec's plugins); known: {sorted(TRAINERS)} and 'codesign'",
                )
            params = dict(train["params"])
            if task["zoo"] is not None:
                params.setdefault("model", task["zoo"])
            policy, extra = trainer(wl, hw, params, task["seed"])
            w, a = policy.arrays(wl)
            if np.all(w == w[0]) and np.all(a == a[0]):
                out["w_bits"], out["a_bits"] = int(w[0]), int(a[0])
            out.update({k: float(v) for k, v in extra.items()})
        else:
            policy = BitPolicy.from_dict(task["policy"])
        totals = (
            _event_totals(wl, policy, hw)
            if task["engine"] == "event"
            else (hwsim.simulate(wl, policy, hw).totals)
        )
        out.update({k: float(v) for k, v in totals.items() if k in TOTALS or k not in out})
        # Priced as on the fast path: the config's area, energy / latency, the efficiencies.
        out.update({k: float(v) for k, v in priced(out, *config_price(hw)).items()})
    except Exception as exc:  # a failed point is a row with its message
        out["status"] = "failed"
        out["message"] = error_message(exc)
    return out


def _event_totals(workload, policy, hw) -> dict[str, float]:
    """Analytic totals with the latency of the SimPy event model (one stream).

    The event model runs the same tiles as processes; its makespan replaces ``latency_s`` and
    the closed form's value is kept as ``analytic_latency_s``.
    """
    from hwsim.events import simulate_events

    totals = dict(hwsim.simulate(workload, policy, hw).totals)
    result = simulate_events(workload, policy, hw, streams=1, keep_trace=False)
    totals["analytic_latency_s"] = totals["latency_s"]
    totals["latency_s"] = float(result.makespan_s)
    return totals


def _tasks(
    spec: SweepSpec,
    store: ResultStore,
    plans: list[WorkloadPlan],
    slots: Mapping[str, np.ndarray],
    salt: int,
    tally: Tally,
) -> Iterator[dict[str, Any]]:
    """Tasks of not-yet-stored general-path points, generated lazily chunk by chunk."""
    space = spec.hardware
    seen: set[int] = set()
    for plan in plans:
        p_slots = slots[plan.label]
        if len(p_slots) == 0:
            continue
        entries = [plan.entries[j] for j in p_slots]
        policy_hashes = np.array([e.hash for e in entries], np.uint64)
        for hw_idx in hw_chunks(len(space), len(entries), spec.chunk_size):
            resolved, ph = chunk_hashes(space, plan.hash, policy_hashes, hw_idx, salt)
            done = store.is_done(ph.ravel()).reshape(ph.shape)
            for i, h in enumerate(hw_idx):
                inside = _inside_config_constraints(spec, int(h), resolved[i])
                for j, e in enumerate(entries):
                    key = int(ph[i, j])
                    if done[i, j] or key in seen:
                        tally.skip(1)
                        continue
                    if not inside:
                        tally.exclude(1)
                        continue
                    seen.add(key)
                    train = e.ref if isinstance(e.ref, TrainSpec) else None
                    yield {
                        "point": int(plan.point_index(h, p_slots[j])),
                        "point_hash": key,
                        "seed": task_seed(key, spec.seed),
                        "engine": spec.engine,
                        "plugins": list(spec.plugins),
                        "hardware": resolved[i][0],
                        "hw_index": int(h),
                        "workload": plan.workload,
                        "workload_label": plan.label,
                        "zoo": plan.zoo,
                        "policy_label": e.label,
                        "policy": e.policy.to_dict() if e.policy is not None else None,
                        "policy_error": e.error,
                        "train": None
                        if train is None
                        else {"method": train.method, "params": dict(train.params)},
                        "w_bits": e.w_bits,
                        "a_bits": e.a_bits,
                    }


def _inside_config_constraints(spec: SweepSpec, h: int, resolved) -> bool:
    """Whether config ``h`` meets the spec's constraints on the config alone (area, fields);
    a config that cannot be built or priced counts as inside (its points fail with the
    reason)."""
    on_cfg = [c for c in spec.constraints if on_config(c)]
    if not on_cfg:
        return True
    try:
        area = config_price(spec.hardware.config(h, resolved[1]))[0]
    except HwsimError:
        return True
    return bool(satisfies(on_cfg, lambda c: config_value(c, resolved[0], area)))


def _inside_constraints(spec: SweepSpec, task: Mapping[str, Any], result: Mapping) -> bool:
    """Whether an evaluated point meets every constraint (a failed point is always kept)."""
    if not spec.constraints or result["status"] != "ok":
        return True

    def column(name: str) -> Any:
        if name in result:
            return result[name]
        if name.startswith("hw."):
            return task["hardware"].get(name.removeprefix("hw."), float("nan"))
        return float("nan")

    return bool(satisfies(list(spec.constraints), column))


def _task_or_error(task: Mapping[str, Any]) -> dict[str, Any]:
    if task["policy_error"]:
        return {
            "point": task["point"],
            "status": "failed",
            "message": task["policy_error"],
            "accuracy": float("nan"),
            "w_bits": task["w_bits"],
            "a_bits": task["a_bits"],
        }
    return evaluate_task(task)


def _table(space, tasks: list[Mapping[str, Any]], results: list[Mapping[str, Any]]):
    """One part from finished general-path tasks (same schema as the fast path's parts)."""
    n = len(tasks)
    canon = [t["hardware"] for t in tasks]
    extra = sorted(
        {k for r in results for k in r}
        - set(TOTALS)
        - {"point", "status", "message", "w_bits", "a_bits", "accuracy"}
    )
    cols: dict[str, Any] = {
        "point": np.array([t["point"] for t in tasks], np.int64),
        "point_hash": np.array([t["point_hash"] for t in tasks], np.int64),
        "status": strings([r["status"] for r in results]),
        "message": strings([r["message"] for r in results]),
        "path": strings(["general"] * n),
        "workload": strings([t["workload_label"] for t in tasks]),
        "policy": strings([t["policy_label"] for t in tasks]),
        "w_bits": np.array([r["w_bits"] for r in results], np.int64),
        "a_bits": np.array([r["a_bits"] for r in results], np.int64),
        **hw_columns(space, np.array([t["hw_index"] for t in tasks]), canon, np.arange(n)),
        **{k: np.array([r.get(k, np.nan) for r in results], np.float64) for k in TOTALS},
        "accuracy": np.array([r["accuracy"] for r in results], np.float64),
        **{k: np.array([r.get(k, np.nan) for r in results], np.float64) for k in extra},
    }
    return table_of(cols)


class _Batch:
    """Finished tasks waiting to be written as one part."""

    def __init__(self) -> None:
        self.tasks: list[Mapping[str, Any]] = []
        self.results: list[Mapping[str, Any]] = []
        self.since = time.monotonic()

    def add(self, task: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        self.tasks.append(task)
        self.results.append(result)

    def due(self, flush_every: int) -> bool:
        # A slow trainer still shows up on disk within seconds.
        return len(self.results) >= flush_every or time.monotonic() - self.since > 5.0

    def flush(self, space, store: ResultStore, tally: Tally) -> None:
        if self.results:
            store.append(_table(space, self.tasks, self.results))
            tally.wrote(
                len(self.results),
                sum(r["status"] != "ok" for r in self.results),
                sum(len(t["workload"]) for t in self.tasks),
            )
        self.__init__()


def run_general(
    spec: SweepSpec,
    store: ResultStore,
    plans: list[WorkloadPlan],
    slots: Mapping[str, np.ndarray],
    salt: int,
    executor: Any,
    flush_every: int,
    tally: Tally,
) -> None:
    """Run the general-path points (policy ``slots`` of each plan) not yet stored."""
    pending: dict[int, Mapping[str, Any]] = {}  # point -> task, until its result arrives

    def tracked() -> Iterator[Mapping[str, Any]]:
        for task in _tasks(spec, store, plans, slots, salt, tally):
            pending[task["point"]] = task
            yield task

    batch = _Batch()
    for result in executor.map_unordered(_task_or_error, tracked()):
        task = pending.pop(result["point"])
        if not _inside_constraints(spec, task, result):
            tally.exclude(1)  # outside the constraints: not stored
            continue
        batch.add(task, result)
        tally.advance(1)
        if batch.due(flush_every):
            batch.flush(spec.hardware, store, tally)
    batch.flush(spec.hardware, store, tally)
