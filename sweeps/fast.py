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
from sweeps.columns import dict_array, error_message, hw_columns, n_failed, table_of
from sweeps.executors import ProcessExecutor
from sweeps.hashing import chunk_hashes
from sweeps.plan import PolicyEntry, WorkloadPlan, hw_chunks
from sweeps.progress import Tally
from sweeps.spec import SUMMED, TOTALS, SweepSpec, import_plugins
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
    configs: list, plan: WorkloadPlan, entries: list[PolicyEntry]
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
class Chunk:
    """A claimed chunk of fast-path work: configs x policies, with the points still to do."""

    plan_index: int
    hw_idx: np.ndarray
    resolved: list  # (canonical dict, overrides) per config
    ph: np.ndarray  # point hashes [configs, policies]
    todo: np.ndarray  # bool [configs, policies]


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
    store.claim(ph[todo])
    return Chunk(k, hw_idx, resolved, ph, todo), int(ph.size - todo.sum())


class _Messages:
    """Failure messages of a chunk as dictionary codes (0: no failure)."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.codes = np.zeros(shape, np.int32)
        self.texts = {"": 0}  # text -> code; dictionary values must be unique

    def fail(self, rows, cols, text: str) -> None:
        self.codes[np.ix_(rows, cols)] = self.texts.setdefault(text, len(self.texts))


def _evaluate_isolating_failures(configs, good_h, good_p, plan, entries, totals, msg) -> None:
    """Fill ``totals`` for the good configs x policies; a failure marks only what fails."""
    sub = [entries[j] for j in good_p]
    try:
        res = evaluate_configs(configs, plan, sub)
        for k in TOTALS:
            totals[k][np.ix_(good_h, good_p)] = res[k]
        return
    except Exception:
        pass
    # Isolate what fails; the rest of the chunk still counts. Policy by policy first
    # (a precision the hardware cannot run fails every config), then config by config.
    for j in good_p:
        try:
            res = evaluate_configs(configs, plan, [entries[j]])
            for k in TOTALS:
                totals[k][good_h, j] = res[k][:, 0]
            continue
        except Exception:
            pass
        for i, cfg in zip(good_h, configs, strict=True):
            try:
                res = evaluate_configs([cfg], plan, [entries[j]])
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
    configs, good_h = [], []
    for i, h in enumerate(hw_idx):
        if not todo[i].any():
            continue
        try:
            configs.append(space.config(int(h), resolved[i][1]))
            good_h.append(i)
        except HwsimError as exc:
            msg.fail([i], np.arange(n_p), error_message(exc))
    if configs and good_p:
        _evaluate_isolating_failures(configs, good_h, good_p, plan, entries, totals, msg)

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


def _chunk_in_worker(chunk: Chunk) -> tuple[int, int, int]:
    plan = _WORKER["plans"][chunk.plan_index]
    table = evaluate_chunk(_WORKER["spec"], plan, _WORKER["slots"][plan.label], chunk)
    write_part(Path(_WORKER["root"]) / PARTS, table)
    return chunk.plan_index, table.num_rows, n_failed(table)


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

    def count(k: int, rows: int, failed: int) -> None:
        tally.wrote(rows, failed, rows * len(plans[k].workload))
        tally.advance(rows)

    chunks = _claimed_chunks(spec, store, plans, slots, salt, tally)
    if jobs == 1:
        for chunk in chunks:
            plan = plans[chunk.plan_index]
            table = evaluate_chunk(spec, plan, slots[plan.label], chunk)
            store.append(table)
            count(chunk.plan_index, table.num_rows, n_failed(table))
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
