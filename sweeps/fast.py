"""The fast path: analytic points evaluated a chunk of hardware configs at a time.

Points are cut into chunks of hardware configs; each chunk is one :func:`hwsim.cost_table`
call per workload (many configs, every bit option at once, Numba underneath), reduced to
network totals with numpy gathers, and written as one Parquet part. There is no Python call per
point, and memory is bounded by the chunk size. With ``jobs > 1`` chunks are claimed here and
evaluated in worker processes, each writing its own parts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import hwsim
from hwsim.errors import HwsimError
from sweeps.columns import (
    config_price,
    config_value,
    dict_array,
    error_message,
    hw_columns,
    n_failed,
    priced,
    satisfies,
    table_of,
)
from sweeps.executors import ProcessExecutor
from sweeps.hashing import chunk_hashes
from sweeps.plan import PolicyEntry, WorkloadPlan, hw_chunks
from sweeps.progress import Tally
from sweeps.spec import SUMMED, TOTALS, SweepSpec, import_plugins, on_config
from sweeps.store import PARTS, ResultStore, write_part


def _totals_from_table(
    table, plan: WorkloadPlan, entries: list[PolicyEntry], w_opts: np.ndarray, a_opts: np.ndarray
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
    arrays = dict(table.metrics)
    macs = wl.macs.astype(np.float64)
    arrays["utilization"] = arrays["utilization"] * (macs / macs.sum())[None, :, None, None]
    n_h = table.metrics["latency_s"].shape[0]
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
        "total_mem_w_bits": (wl.param_elems[:, None] * wb).sum(axis=0).astype(np.float64),
        "total_mem_o_bits": (wl.output_elems[:, None] * ab).sum(axis=0).astype(np.float64),
    }
    for key, v in per_policy.items():
        out[key] = np.broadcast_to(v.astype(np.float64), (n_h, len(entries)))
    return out


def evaluate_configs(
    configs: list,
    plan: WorkloadPlan,
    entries: list[PolicyEntry],
    prices: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Totals ``[len(configs), len(entries)]``; one cost_table per group of policies.

    Policies with measured statistics get their own call (data-dependent families read them).
    ``prices`` (``[configs, 2]``: area and leakage, from :func:`config_price`; computed when
    not given) price the points: once per config, never per point.
    """
    if prices is None:
        prices = np.array([config_price(c) for c in configs], np.float64).reshape(-1, 2)
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
        for k in (*SUMMED, "total_macs", "total_bops", "total_mem_w_bits", "total_mem_o_bits"):
            out[k][:, idx] = totals[k]
        out["utilization"][:, idx] = totals["utilization"]
    out.update(priced(out, prices[:, :1], prices[:, 1:]))
    return out


@dataclass
class Chunk:
    """A claimed chunk of fast-path work: configs x policies, with the points still to do."""

    plan_index: int
    hw_idx: np.ndarray
    resolved: list  # (canonical dict, overrides) per config
    ph: np.ndarray  # point hashes [configs, policies]
    todo: np.ndarray  # bool [configs, policies]
    built: list | None = None  # per config (:class:`Built`), when the claim needed them
    excluded: int = 0  # points outside the spec's constraints (not evaluated, not stored)


def claim_chunk(
    spec: SweepSpec,
    store: ResultStore,
    plans: list[WorkloadPlan],
    k: int,
    p_slots: np.ndarray,
    hw_idx: np.ndarray,
    salt: int,
) -> tuple[Chunk, int]:
    """Hash a chunk's points, keep those not stored or claimed before; ``(chunk, skipped)``.

    Claimed hashes count as done from here on, so a point repeated in a later chunk (equal
    configs in a grid) is never evaluated twice, in this process or in a worker.
    """
    plan = plans[k]
    policy_hashes = np.array([plan.entries[j].hash for j in p_slots], np.uint64)
    resolved, ph = chunk_hashes(spec.hardware, plan.hash, policy_hashes, hw_idx, salt)
    todo = ~store.is_done(ph.ravel())
    _, first = np.unique(ph.ravel(), return_index=True)
    unique = np.zeros(ph.size, bool)
    unique[first] = True
    todo = (todo & unique).reshape(ph.shape)
    built, excluded = None, 0
    on_cfg = [c for c in spec.constraints if on_config(c)]
    if on_cfg and todo.any():
        # A config outside a constraint on the config alone (its area, a field) is skipped
        # before any of its points is evaluated; one that cannot be built or priced stays,
        # to be stored as failed with its reason.
        built = build_configs(spec.hardware, hw_idx, resolved, todo.any(axis=1))
        keep = np.array(
            [
                b.error is not None
                or bool(
                    satisfies(on_cfg, lambda c, i=i, a=b.area: config_value(c, resolved[i][0], a))
                )
                for i, b in enumerate(built)
            ]
        )
        excluded = int((todo & ~keep[:, None]).sum())
        todo &= keep[:, None]
    store.claim(ph[todo])
    chunk = Chunk(k, hw_idx, resolved, ph, todo, built, excluded)
    return chunk, int(ph.size - todo.sum()) - excluded


@dataclass
class Built:
    """One config of a chunk, built and priced once: the config and its area, or why not."""

    config: Any = None
    area: float = float("nan")
    leakage: float = float("nan")
    error: str | None = None


def build_configs(space, hw_idx: np.ndarray, resolved: list, wanted: np.ndarray) -> list[Built]:
    """The configs of a chunk (those ``wanted``) with their area: one area per config."""
    out = []
    for i, h in enumerate(hw_idx):
        if not wanted[i]:
            out.append(Built(error=""))
            continue
        try:
            config = space.config(int(h), resolved[i][1])
            out.append(Built(config, *config_price(config)))
        except HwsimError as exc:
            out.append(Built(error=error_message(exc)))
    return out


class _Messages:
    """Failure messages of a chunk as dictionary codes (0: no failure)."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.codes = np.zeros(shape, np.int32)
        self.texts = {"": 0}  # text -> code; dictionary values must be unique

    def fail(self, rows, cols, text: str) -> None:
        self.codes[np.ix_(rows, cols)] = self.texts.setdefault(text, len(self.texts))


def _evaluate_isolating_failures(
    configs, good_h, good_p, plan, entries, totals, msg, prices
) -> None:
    """Fill ``totals`` for the good configs x policies; a failure marks only what fails."""
    sub = [entries[j] for j in good_p]
    try:
        res = evaluate_configs(configs, plan, sub, prices)
        for k in TOTALS:
            totals[k][np.ix_(good_h, good_p)] = res[k]
        return
    except Exception:
        pass
    # Isolate what fails; the rest of the chunk still counts. Policy by policy first
    # (a precision the hardware cannot run fails every config), then config by config.
    for j in good_p:
        try:
            res = evaluate_configs(configs, plan, [entries[j]], prices)
            for k in TOTALS:
                totals[k][good_h, j] = res[k][:, 0]
            continue
        except Exception:
            pass
        for i, cfg, pr in zip(good_h, configs, prices, strict=True):
            try:
                res = evaluate_configs([cfg], plan, [entries[j]], pr[None, :])
                for k in TOTALS:
                    totals[k][i, j] = res[k][0, 0]
            except Exception as exc:  # a failed point is a row, not a crash
                msg.fail([i], [j], error_message(exc))


def evaluate_chunk(spec: SweepSpec, plan: WorkloadPlan, p_slots: np.ndarray, chunk: Chunk):
    """Evaluate one claimed chunk; returns its part as a ``pyarrow.Table``."""
    space = spec.hardware
    entries = [plan.entries[j] for j in p_slots]
    hw_idx, resolved, ph, todo = chunk.hw_idx, chunk.resolved, chunk.ph, chunk.todo
    n_h, n_p = ph.shape
    msg = _Messages((n_h, n_p))
    totals = {k: np.full((n_h, n_p), np.nan) for k in TOTALS}
    good_p = [j for j, e in enumerate(entries) if not e.error]
    for j, e in enumerate(entries):
        if e.error:
            msg.fail(np.arange(n_h), [j], e.error)
    built = chunk.built or build_configs(space, hw_idx, resolved, todo.any(axis=1))
    configs, good_h = [], []
    for i, b in enumerate(built):
        if not todo[i].any():
            continue
        if b.error is not None:
            msg.fail([i], np.arange(n_p), b.error)
        else:
            configs.append(b.config)
            good_h.append(i)
    if configs and good_p:
        prices = np.array([(built[i].area, built[i].leakage) for i in good_h], np.float64)
        _evaluate_isolating_failures(configs, good_h, good_p, plan, entries, totals, msg, prices)

    w_of = np.array([e.w_bits for e in entries], np.int64)
    a_of = np.array([e.a_bits for e in entries], np.int64)
    if spec.constraints:
        # Points outside the constraints are not stored (failed points always are).
        area_h = np.array([b.area for b in built], np.float64)

        def column(name: str) -> np.ndarray:
            if name in totals:
                return totals[name]
            if name in ("w_bits", "a_bits"):
                return np.broadcast_to((w_of if name == "w_bits" else a_of)[None, :], todo.shape)
            if name == "area_mm2" or name.startswith("hw."):
                values = [config_value(name, resolved[i][0], area_h[i]) for i in range(n_h)]
                return np.broadcast_to(np.asarray(values, dtype=object)[:, None], todo.shape)
            return np.full(todo.shape, np.nan)  # a trainer's column: no value here

        keep = np.broadcast_to(satisfies(spec.constraints, column), todo.shape)
        outside = todo & ~keep & (msg.codes == 0)
        chunk.excluded += int(outside.sum())
        todo = todo & ~outside
    hh, pp = np.nonzero(todo)
    w_of = np.array([e.w_bits for e in entries], np.int64)
    a_of = np.array([e.a_bits for e in entries], np.int64)
    m = msg.codes[hh, pp]
    cols: dict[str, Any] = {
        "point": plan.point_index(hw_idx[hh], p_slots[pp]),
        "point_hash": ph[hh, pp],
        "status": dict_array((m > 0).astype(np.int32), ["ok", "failed"]),
        "message": dict_array(m, list(msg.texts)),
        "path": dict_array(np.zeros(len(hh), np.int32), ["fast"]),
        "workload": dict_array(np.zeros(len(hh), np.int32), [plan.label]),
        "policy": dict_array(pp.astype(np.int32), [e.label for e in entries]),
        "w_bits": w_of[pp],
        "a_bits": a_of[pp],
        **hw_columns(space, hw_idx, [c for c, _ in resolved], hh),
        **{k: totals[k][hh, pp] for k in TOTALS},
        "accuracy": np.full(len(hh), np.nan),
    }
    return table_of(cols)


# Worker side with jobs > 1: the spec and plans arrive once per process.
_WORKER: dict[str, Any] = {}


def _init_worker(spec: SweepSpec, plans: list[WorkloadPlan], slots: dict, root: str) -> None:
    import_plugins(spec.plugins)
    _WORKER.update(spec=spec, plans=plans, slots=slots, root=root)


def _chunk_in_worker(chunk: Chunk) -> tuple[int, int, int, int]:
    plan = _WORKER["plans"][chunk.plan_index]
    table = evaluate_chunk(_WORKER["spec"], plan, _WORKER["slots"][plan.label], chunk)
    write_part(Path(_WORKER["root"]) / PARTS, table)
    return chunk.plan_index, table.num_rows, n_failed(table), chunk.excluded


def _claimed_chunks(spec, store, plans, slots, salt, tally: Tally) -> Iterator[Chunk]:
    """Chunks with points still to do, claimed in point order; stored points are skipped."""
    for k, plan in enumerate(plans):
        p_slots = slots[plan.label]
        if len(p_slots) == 0:
            continue
        for hw_idx in hw_chunks(len(spec.hardware), len(p_slots), spec.chunk_size):
            chunk, skipped = claim_chunk(spec, store, plans, k, p_slots, hw_idx, salt)
            tally.skip(skipped)
            if chunk.todo.any():
                yield chunk
            else:
                tally.exclude(chunk.excluded)


def run_fast(
    spec: SweepSpec,
    store: ResultStore,
    plans: list[WorkloadPlan],
    slots: dict[str, np.ndarray],
    salt: int,
    jobs: int,
    tally: Tally,
) -> None:
    """Evaluate the fast-path points (policy ``slots`` of each plan) not yet stored."""

    def count(k: int, rows: int, failed: int, excluded: int) -> None:
        tally.wrote(rows, failed, rows * len(plans[k].workload))
        tally.advance(rows)
        tally.exclude(excluded)

    chunks = _claimed_chunks(spec, store, plans, slots, salt, tally)
    if jobs == 1:
        for chunk in chunks:
            plan = plans[chunk.plan_index]
            table = evaluate_chunk(spec, plan, slots[plan.label], chunk)
            store.append(table)
            count(chunk.plan_index, table.num_rows, n_failed(table), chunk.excluded)
        return
    pool = ProcessExecutor(jobs, _init_worker, (spec, plans, slots, str(store.root)))
    try:
        for result in pool.map_unordered(_chunk_in_worker, chunks):
            count(*result)
    except KeyboardInterrupt:
        pool.abort()
        raise
    finally:
        pool.close()
