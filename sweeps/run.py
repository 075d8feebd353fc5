"""Running a sweep: the vectorized fast path, the task-based general path, resumption.

A **point** is one (hardware config, workload, policy) combination and becomes one result row
with network totals (the keys of ``CostReport.totals``). Each point evaluates every layer of its
workload, so a sweep also computes ``points x layers`` layer rows (reported, not stored).

- **Fast path** (analytic model, no training): points are cut into chunks of hardware configs;
  each chunk is one :func:`hwsim.cost_table` call per workload (many configs, every bit option
  at once, Numba underneath), reduced to totals with numpy gathers, and written as one Parquet
  part. No Python call per point; memory is bounded by the chunk size.
- **General path** (``[[train]]`` points, ``engine = "event"``, or forced): one task per point,
  run by an executor from :mod:`sweeps.executors`. Training goes through a trainer registered
  with :func:`register_trainer` (the hook for the ``quant`` front end).

Point indices enumerate the spec in a fixed order (workload, then hardware config, then
policy); ``point_hash`` is a 64-bit content hash of (hardware config, workload, policy, engine,
package version), each part hashed from its sorted JSON. A resumed run skips stored hashes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

import hwsim
from hwsim.errors import HwsimError, check
from sweeps.executors import ProcessExecutor, make_executor
from sweeps.spec import (
    SUMMED,
    TOTALS,
    PolicyRef,
    SweepSpec,
    TrainSpec,
    canonical_json,
    hash64,
    import_plugins,
    load_spec,
    spec_fields,
    workload_hash,
)
from sweeps.store import PARTS, ResultStore, write_part

STRING_COLUMNS: tuple[str, ...] = (
    "status",
    "message",
    "path",
    "workload",
    "policy",
    "hw_family",
    "hw_name",
    "hw_config",
)

Trainer = Callable[..., tuple[Any, Mapping[str, float]]]
TRAINERS: dict[str, Trainer] = {}


def _trainer(method: str) -> Trainer | None:
    from sweeps.trainers import BUILTIN

    return TRAINERS.get(method) or BUILTIN.get(method)


def register_trainer(method: str, fn: Trainer) -> None:
    """Make ``[[train]] method = "<method>"`` run ``fn(workload, hardware, params, seed)``.

    ``fn`` returns ``(BitPolicy, metrics)``: the trained policy (simulated on the point's
    hardware for the cost columns) and extra columns such as ``{"accuracy": 0.97}``.
    """
    TRAINERS[method] = fn


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

    @property
    def points_per_s(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else float("nan")


# ---------------------------------------------------------------------------- hashing
_M1, _M2, _GOLD = (
    np.uint64(0xBF58476D1CE4E5B9),
    np.uint64(0x94D049BB133111EB),
    np.uint64(0x9E3779B97F4A7C15),
)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a bijective scramble of uint64 (wraps by design)."""
    z = x + _GOLD
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def point_hashes(hw: np.ndarray, workload: int, policy: np.ndarray, salt: int) -> np.ndarray:
    """int64 ``[len(hw), len(policy)]``: the content hash of every (config, policy) pair."""
    with np.errstate(over="ignore"):
        h = _mix(np.asarray(hw, np.uint64)[:, None] ^ np.uint64(salt))
        h = _mix(h ^ np.uint64(workload))
        h = _mix(h ^ np.asarray(policy, np.uint64)[None, :])
    return h.view(np.int64)


def _chunk_hashes(space, plan, entries, hw_idx: np.ndarray, salt: int):
    """Resolved ``(canonical dict, overrides)`` of each config and the point hashes
    ``[configs, entries]`` of one chunk."""
    resolved = [space.resolved(int(h)) for h in hw_idx]
    hw_hash = np.array([hash64({"hardware": c}) for c, _ in resolved], dtype=np.uint64)
    ph = point_hashes(hw_hash, plan.hash, np.array([e.hash for e in entries], np.uint64), salt)
    return resolved, ph


# ---------------------------------------------------------------------------- plan
@dataclass
class _PolicyEntry:
    label: str
    ref: PolicyRef | TrainSpec
    hash: int
    policy: Any = None  # BitPolicy (None for train entries)
    error: str = ""  # why this policy cannot run on the workload
    w_bits: int = -1  # uniform bits, or -1 for a mixed policy
    a_bits: int = -1


@dataclass
class _WorkloadPlan:
    label: str
    workload: Any
    hash: int
    entries: list[_PolicyEntry]
    offset: int  # index of this workload's first point
    zoo: str | None = None  # the zoo network it was extracted from


def _plan(spec: SweepSpec) -> list[_WorkloadPlan]:
    plans, offset = [], 0
    for wref in spec.workloads:
        wl = wref.load()
        entries: list[_PolicyEntry] = []
        for pref in spec.policies:
            if not pref.applies_to(wref):
                continue
            entry = _PolicyEntry(pref.label, pref, 0)
            try:
                pol = pref.load(wref, wl)
                pol.check_matches(wl)
                entry.policy = pol
                w, a = pol.arrays(wl)
                if np.all(w == w[0]) and np.all(a == a[0]):
                    entry.w_bits, entry.a_bits = int(w[0]), int(a[0])
                entry.hash = hash64({"policy": pol.to_dict()})
            except HwsimError as exc:
                entry.error = str(exc)
                entry.hash = hash64({"policy_ref": pref.label, "path": pref.path})
            entries.append(entry)
        for t in spec.train:
            if t.workload == wref.label:
                entries.append(
                    _PolicyEntry(
                        t.label,
                        t,
                        hash64({"train": t.method, "params": dict(t.params), "seed": spec.seed}),
                    )
                )
        plans.append(
            _WorkloadPlan(wref.label, wl, workload_hash(wl), entries, offset, zoo=wref.zoo)
        )
        offset += len(spec.hardware) * len(entries)
    return plans


# ---------------------------------------------------------------------------- tables
def _dict_array(codes: np.ndarray, labels: list[str]):
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(codes, np.int32)), pa.array(labels, pa.string())
    )


def _strings(values: list[str]):
    labels, codes = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    return _dict_array(codes, [str(x) for x in labels])


def _hw_columns(space, hw_idx: np.ndarray, canon: list[dict], take: np.ndarray) -> dict:
    """Per-config columns (family, name, resolved JSON, varying fields) repeated by ``take``."""
    import pyarrow as pa

    take_pa = pa.array(take)
    out = {
        "hw_index": np.asarray(hw_idx, np.int64)[take],
        "hw_family": _strings([c.get("family", "") for c in canon]).take(take_pa),
        "hw_name": _strings([str(c.get("name", "")) for c in canon]).take(take_pa),
        "hw_config": _strings([canonical_json(c) for c in canon]).take(take_pa),
    }
    for name in space.varying:
        values = [c.get(name) for c in canon]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            arr = pa.array(np.asarray(values, dtype=np.int64))
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            arr = pa.array(np.asarray(values, dtype=np.float64))
        else:
            arr = pa.array([json.dumps(v) if v is not None else None for v in values], pa.string())
        out[f"hw.{name}"] = arr.take(take_pa)
    return out


# ---------------------------------------------------------------------------- fast path
def _totals_from_table(
    table, plan: _WorkloadPlan, entries: list[_PolicyEntry], w_opts: np.ndarray, a_opts: np.ndarray
) -> dict[str, np.ndarray]:
    """Network totals ``[configs, policies]`` gathered from a cost table ``[H, L, nw, na]``."""
    wl = plan.workload
    n_l = len(wl)
    w_of = {int(b): i for i, b in enumerate(w_opts)}
    a_of = {int(b): i for i, b in enumerate(a_opts)}
    wb = np.empty((n_l, len(entries)), np.int64)
    ab = np.empty((n_l, len(entries)), np.int64)
    for j, e in enumerate(entries):
        wb[:, j], ab[:, j] = e.policy.arrays(wl)
    wi = np.vectorize(w_of.__getitem__, otypes=[np.int64])(wb)
    ai = np.vectorize(a_of.__getitem__, otypes=[np.int64])(ab)
    rows = np.arange(n_l)[:, None]
    arrays = {
        "latency_s": table.latency_s,
        "energy_j": table.energy_j,
        "weight_bits": table.memory_bits,
        "cycles": table.cycles,
        "dram_bytes": table.dram_bytes,
        **table.extra,
    }
    macs = wl.macs.astype(np.float64)
    arrays["utilization"] = arrays["utilization"] * (macs / macs.sum())[None, :, None, None]
    n_h = table.latency_s.shape[0]
    # A uniform policy reads one (w, a) option in every layer, so its totals are the layer sums
    # of the table at that option: sum first, then pick, with no [H, L, P] temporaries.
    uniform = np.flatnonzero((wi == wi[:1]).all(axis=0) & (ai == ai[:1]).all(axis=0))
    mixed = np.setdiff1d(np.arange(len(entries)), uniform)
    out: dict[str, np.ndarray] = {}
    for key in (*SUMMED, "utilization"):
        arr = arrays[key]
        res = np.empty((n_h, len(entries)))
        if len(uniform):
            res[:, uniform] = arr.sum(axis=1)[:, wi[0, uniform], ai[0, uniform]]
        if len(mixed):
            res[:, mixed] = arr[:, rows, wi[:, mixed], ai[:, mixed]].sum(axis=1)
        out[key] = res
    per_policy = {
        "total_macs": np.full(len(entries), macs.sum()),
        "total_bops": (macs[:, None] * wb * ab).sum(axis=0),
        "total_mem_w_bits": (wl.weight_elems[:, None] * wb).sum(axis=0).astype(np.float64),
        "total_mem_o_bits": (wl.output_elems[:, None] * ab).sum(axis=0).astype(np.float64),
    }
    for key, v in per_policy.items():
        out[key] = np.broadcast_to(v.astype(np.float64), (n_h, len(entries)))
    return out


def _evaluate_configs(
    configs: list, plan: _WorkloadPlan, entries: list[_PolicyEntry]
) -> dict[str, np.ndarray]:
    """Totals ``[len(configs), len(entries)]``; one cost_table per group of policies.

    Policies with measured statistics get their own call (data-dependent families read them).
    """
    out = {k: np.full((len(configs), len(entries)), np.nan) for k in TOTALS}
    groups: list[tuple[Any, list[int]]] = []
    plain = [j for j, e in enumerate(entries) if not e.policy.stats]
    if plain:
        groups.append((None, plain))
    groups += [(e.policy, [j]) for j, e in enumerate(entries) if e.policy.stats]
    for stats_policy, idx in groups:
        sub = [entries[j] for j in idx]
        w_opts = sorted({int(b) for e in sub for b in e.policy.arrays(plan.workload)[0]})
        a_opts = sorted({int(b) for e in sub for b in e.policy.arrays(plan.workload)[1]})
        table = hwsim.cost_table(plan.workload, configs, w_opts, a_opts, policy=stats_policy)
        totals = _totals_from_table(table, plan, sub, np.asarray(w_opts), np.asarray(a_opts))
        for k in TOTALS:
            out[k][:, idx] = totals[k]
    return out


@dataclass
class _Chunk:
    """A claimed chunk of fast-path work: configs x policies, with the points still to do."""

    plan_index: int
    hw_idx: np.ndarray
    resolved: list  # (canonical dict, overrides) per config
    ph: np.ndarray  # point hashes [configs, policies]
    todo: np.ndarray  # bool [configs, policies]


def _claim_chunk(
    spec: SweepSpec,
    store: ResultStore,
    plans: list[_WorkloadPlan],
    k: int,
    p_slots: np.ndarray,
    hw_idx: np.ndarray,
    salt: int,
) -> tuple[_Chunk, int]:
    """Hash a chunk's points, keep those not stored or claimed before; ``(chunk, skipped)``.

    Claimed hashes count as done from here on, so a point repeated in a later chunk (equal
    configs in a grid) is never evaluated twice, in this process or in a worker.
    """
    plan = plans[k]
    entries = [plan.entries[j] for j in p_slots]
    resolved, ph = _chunk_hashes(spec.hardware, plan, entries, hw_idx, salt)
    todo = ~store.is_done(ph.ravel())
    _, first = np.unique(ph.ravel(), return_index=True)
    unique = np.zeros(ph.size, bool)
    unique[first] = True
    todo = (todo & unique).reshape(ph.shape)
    store.claim(ph[todo])
    return _Chunk(k, hw_idx, resolved, ph, todo), int(ph.size - todo.sum())


def _fast_chunk(spec: SweepSpec, plan: _WorkloadPlan, p_slots: np.ndarray, chunk: _Chunk):
    """Evaluate one claimed chunk; returns its part as a ``pyarrow.Table``."""
    space = spec.hardware
    entries = [plan.entries[j] for j in p_slots]
    hw_idx, resolved, ph, todo = chunk.hw_idx, chunk.resolved, chunk.ph, chunk.todo
    canon = [c for c, _ in resolved]
    n_h, n_p = ph.shape
    messages = {"": 0}  # text -> code; dictionary values must be unique
    msg = np.zeros((n_h, n_p), np.int32)

    def fail(rows, cols, text: str) -> None:
        msg[np.ix_(rows, cols)] = messages.setdefault(text, len(messages))

    totals = {k: np.full((n_h, n_p), np.nan) for k in TOTALS}
    good_p = [j for j, e in enumerate(entries) if not e.error]
    for j, e in enumerate(entries):
        if e.error:
            fail(np.arange(n_h), [j], e.error)
    configs, good_h = [], []
    for i, h in enumerate(hw_idx):
        if not todo[i].any():
            continue
        try:
            configs.append(space.config(int(h), resolved[i][1]))
            good_h.append(i)
        except HwsimError as exc:
            fail([i], np.arange(n_p), _message(exc))
    if configs and good_p:
        sub = [entries[j] for j in good_p]
        try:
            res = _evaluate_configs(configs, plan, sub)
            for k in TOTALS:
                totals[k][np.ix_(good_h, good_p)] = res[k]
        except Exception:
            # Isolate what fails; the rest of the chunk still counts. Policy by policy first
            # (a precision the hardware cannot run fails every config), then config by config.
            for j in good_p:
                try:
                    res = _evaluate_configs(configs, plan, [entries[j]])
                    for k in TOTALS:
                        totals[k][good_h, j] = res[k][:, 0]
                    continue
                except Exception:
                    pass
                for i, cfg in zip(good_h, configs, strict=True):
                    try:
                        res = _evaluate_configs([cfg], plan, [entries[j]])
                        for k in TOTALS:
                            totals[k][i, j] = res[k][0, 0]
                    except Exception as exc:  # a failed point is a row, not a crash
                        fail([i], [j], _message(exc))

    hh, pp = np.nonzero(todo)
    w_of = np.array([e.w_bits for e in entries], np.int64)
    a_of = np.array([e.a_bits for e in entries], np.int64)
    m = msg[hh, pp]
    cols: dict[str, Any] = {
        "point": plan.offset + hw_idx[hh].astype(np.int64) * len(plan.entries) + p_slots[pp],
        "point_hash": ph[hh, pp],
        "status": _dict_array((m > 0).astype(np.int32), ["ok", "failed"]),
        "message": _dict_array(m, list(messages)),
        "path": _dict_array(np.zeros(len(hh), np.int32), ["fast"]),
        "workload": _dict_array(np.zeros(len(hh), np.int32), [plan.label]),
        "policy": _dict_array(pp.astype(np.int32), [e.label for e in entries]),
        "w_bits": w_of[pp],
        "a_bits": a_of[pp],
        **_hw_columns(space, hw_idx, canon, hh),
        **{k: totals[k][hh, pp] for k in TOTALS},
        "accuracy": np.full(len(hh), np.nan),
    }
    return _table_of(cols)


# Worker side of the fast path with jobs > 1: the spec and plans arrive once per process.
_WORKER: dict[str, Any] = {}


def _init_fast_worker(spec: SweepSpec, plans: list[_WorkloadPlan], slots: dict, root: str) -> None:
    import_plugins(spec.plugins)
    _WORKER.update(spec=spec, plans=plans, slots=slots, root=root)


def _fast_chunk_in_worker(chunk: _Chunk) -> tuple[int, int, int]:
    plan = _WORKER["plans"][chunk.plan_index]
    table = _fast_chunk(_WORKER["spec"], plan, _WORKER["slots"][plan.label], chunk)
    write_part(Path(_WORKER["root"]) / PARTS, table)
    return chunk.plan_index, table.num_rows, _n_failed(table)


def _n_failed(table) -> int:
    return int(np.sum(table.column("status").to_pandas().to_numpy() == "failed"))


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, HwsimError) else f"{type(exc).__name__}: {exc}"


def _table_of(cols: Mapping[str, Any]):
    import pyarrow as pa

    return pa.table(dict(cols))


# ---------------------------------------------------------------------------- general path
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
    except Exception as exc:  # a failed point is a row with its message
        out["status"] = "failed"
        out["message"] = _message(exc)
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


def _general_tasks(
    spec: SweepSpec,
    store: ResultStore,
    plans: list[_WorkloadPlan],
    slots: Mapping[str, np.ndarray],
    salt: int,
    counters: dict[str, int],
) -> Iterator[dict[str, Any]]:
    """Tasks of not-yet-stored general-path points, generated lazily chunk by chunk."""
    space = spec.hardware
    seen: set[int] = set()
    for plan in plans:
        p_slots = slots[plan.label]
        if len(p_slots) == 0:
            continue
        entries = [plan.entries[j] for j in p_slots]
        step = max(1, spec.chunk_size // len(entries))
        for h0 in range(0, len(space), step):
            hw_idx = np.arange(h0, min(len(space), h0 + step))
            resolved, ph = _chunk_hashes(space, plan, entries, hw_idx, salt)
            canon = [c for c, _ in resolved]
            done = store.is_done(ph.ravel()).reshape(ph.shape)
            for i, h in enumerate(hw_idx):
                for j, e in enumerate(entries):
                    key = int(ph[i, j])
                    if done[i, j] or key in seen:
                        counters["skipped"] += 1
                        continue
                    seen.add(key)
                    train = e.ref if isinstance(e.ref, TrainSpec) else None
                    yield {
                        "point": plan.offset + int(h) * len(plan.entries) + int(p_slots[j]),
                        "point_hash": key,
                        "seed": _task_seed(key, spec.seed),
                        "engine": spec.engine,
                        "plugins": list(spec.plugins),
                        "hardware": canon[i],
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


def _task_seed(point_hash: int, seed: int) -> int:
    """A task's seed: from the spec seed and the point, never from where the task runs."""
    with np.errstate(over="ignore"):
        x = np.array([point_hash], np.int64).view(np.uint64) ^ np.uint64(seed)
        return int(_mix(x)[0] >> np.uint64(33))


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


def _general_table(space, tasks: list[Mapping[str, Any]], results: list[Mapping[str, Any]]):
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
        "status": _strings([r["status"] for r in results]),
        "message": _strings([r["message"] for r in results]),
        "path": _strings(["general"] * n),
        "workload": _strings([t["workload_label"] for t in tasks]),
        "policy": _strings([t["policy_label"] for t in tasks]),
        "w_bits": np.array([r["w_bits"] for r in results], np.int64),
        "a_bits": np.array([r["a_bits"] for r in results], np.int64),
        **_hw_columns(space, np.array([t["hw_index"] for t in tasks]), canon, np.arange(n)),
        **{k: np.array([r.get(k, np.nan) for r in results], np.float64) for k in TOTALS},
        "accuracy": np.array([r["accuracy"] for r in results], np.float64),
        **{k: np.array([r.get(k, np.nan) for r in results], np.float64) for k in extra},
    }
    return _table_of(cols)


# ---------------------------------------------------------------------------- entry point
def run_sweep(
    spec: SweepSpec | str | Path,
    out: str | Path,
    executor: str | Any = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    force_general: bool = False,
    flush_every: int = 256,
    jobs: int = 1,
) -> SweepSummary:
    """Evaluate every point of ``spec`` not yet stored under ``out``; resumable.

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
        make_executor(executor, workers, scheduler) if isinstance(executor, str) else executor
    )
    check(isinstance(jobs, int) and jobs >= 1, "jobs", jobs, "must be an integer >= 1")
    store = ResultStore(out)
    try:
        store.write_meta(
            {"spec": spec_fields(spec), "source": spec.source, "version": hwsim.__version__}
        )
        plans = _plan(spec)
        salt = hash64({"engine": spec.engine, "version": hwsim.__version__})
        general = force_general or spec.engine != "analytic"
        fast_slots, general_slots = {}, {}
        for plan in plans:
            is_train = np.array([isinstance(e.ref, TrainSpec) for e in plan.entries], bool)
            is_general = is_train | general
            fast_slots[plan.label] = np.flatnonzero(~is_general)
            general_slots[plan.label] = np.flatnonzero(is_general)

        written = failed = skipped = layer_rows = 0
        total = spec.n_points
        with tqdm(
            total=total, desc=f"sweep {spec.name}", unit="pt", disable=None, smoothing=0.1
        ) as bar:

            def claimed() -> Iterator[_Chunk]:
                nonlocal skipped
                for k, plan in enumerate(plans):
                    p_slots = fast_slots[plan.label]
                    if len(p_slots) == 0:
                        continue
                    step = max(1, spec.chunk_size // len(p_slots))
                    for h0 in range(0, len(spec.hardware), step):
                        hw_idx = np.arange(h0, min(len(spec.hardware), h0 + step), dtype=np.int64)
                        chunk, s = _claim_chunk(spec, store, plans, k, p_slots, hw_idx, salt)
                        skipped += s
                        bar.update(s)
                        if chunk.todo.any():
                            yield chunk

            def done(k: int, w: int, f: int) -> None:
                nonlocal written, failed, layer_rows
                written, failed = written + w, failed + f
                layer_rows += w * len(plans[k].workload)
                bar.update(w)

            if jobs == 1:
                for chunk in claimed():
                    plan = plans[chunk.plan_index]
                    table = _fast_chunk(spec, plan, fast_slots[plan.label], chunk)
                    store.append(table)
                    done(chunk.plan_index, table.num_rows, _n_failed(table))
            else:
                pool = ProcessExecutor(jobs, _init_fast_worker, (spec, plans, fast_slots, str(out)))
                try:
                    for result in pool.map_unordered(_fast_chunk_in_worker, claimed()):
                        done(*result)
                finally:
                    pool.close()

            counters = {"skipped": 0}
            tasks = _general_tasks(spec, store, plans, general_slots, salt, counters)
            by_point: dict[int, Mapping[str, Any]] = {}
            batch_tasks: list[Mapping[str, Any]] = []
            batch_results: list[Mapping[str, Any]] = []

            def tracked() -> Iterator[Mapping[str, Any]]:
                for t in tasks:
                    by_point[t["point"]] = t
                    yield t

            def flush() -> None:
                nonlocal written, failed, layer_rows
                if not batch_results:
                    return
                store.append(_general_table(spec.hardware, batch_tasks, batch_results))
                written += len(batch_results)
                failed += sum(r["status"] != "ok" for r in batch_results)
                layer_rows += sum(len(t["workload"]) for t in batch_tasks)
                batch_tasks.clear()
                batch_results.clear()

            last = time.monotonic()
            for result in executor_obj.map_unordered(_task_or_error, tracked()):
                batch_tasks.append(by_point.pop(result["point"]))
                batch_results.append(result)
                bar.update(1)
                if len(batch_results) >= flush_every or time.monotonic() - last > 5.0:
                    flush()
                    last = time.monotonic()
            flush()
            skipped += counters["skipped"]
            bar.update(counters["skipped"])
    finally:
        executor_obj.close()
        store.close()
    return SweepSummary(
        points=total,
        skipped=skipped,
        written=written,
        failed=failed,
        layer_rows=layer_rows,
        seconds=time.perf_counter() - start,
        out=Path(out),
    )
