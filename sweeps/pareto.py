"""Pareto fronts and hypervolumes of sweep results.

Objectives are result columns with a sense, ``{"latency_s": "min", "accuracy": "max"}``
(a list of names means all ``min``). Internally every objective is turned into one to minimize.
A point is on the front when no other point is at least as good in every objective and strictly
better in one; equal points do not dominate each other, so duplicates stay on the front
(:func:`pareto_fronts` reports them once, with their count, and draws one front per workload).

- 2-D: sort by (x, y) and sweep keeping the best y so far, O(n log n).
- n-D: sort lexicographically, then compare each point with the front found so far; a
  dominating point always sorts earlier, and a point dominated by a dominated point is also
  dominated by a front point, so the earlier front points suffice.
- Hypervolume (the volume dominated by the front and bounded by a reference point): exact in
  2-D (sum of strips) and 3-D (2-D areas swept over z slabs); Monte Carlo with a seed beyond.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numba import njit

from hwsim.errors import HwsimError, check
from sweeps.spec import Condition, parse_condition

Objectives = Mapping[str, str] | Sequence[str]


def _normalize(df: pd.DataFrame, objectives: Objectives) -> tuple[list[str], np.ndarray]:
    """Column names and a float matrix ``[n, d]`` where smaller is better in every column."""
    if isinstance(objectives, str):
        objectives = [objectives]
    senses = (
        dict(objectives) if isinstance(objectives, Mapping) else dict.fromkeys(objectives, "min")
    )
    check(len(senses) >= 1, "objectives", objectives, "need at least one objective")
    cols = list(senses)
    for c, s in senses.items():
        check(
            c in df.columns,
            f"objectives.{c}",
            c,
            f"not a column; columns: {sorted(map(str, df.columns))}",
        )
        check(s in ("min", "max"), f"objectives.{c}", s, "sense must be 'min' or 'max'")
    values = df[cols].to_numpy(dtype=np.float64, copy=True)
    for j, c in enumerate(cols):
        if senses[c] == "max":
            values[:, j] = -values[:, j]
    return cols, values


@njit(cache=True)
def _front_2d(order: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    n = len(order)
    keep = np.zeros(n, dtype=np.bool_)
    best_prev = np.inf  # best y over all points with strictly smaller x
    i = 0
    while i < n:
        # The group of equal x: only its smallest y can survive, and only if it beats
        # every point with a smaller x.
        j = i
        group_best = y[order[i]]
        while j < n and x[order[j]] == x[order[i]]:
            j += 1
        if group_best < best_prev:
            k = i
            while k < j and y[order[k]] == group_best:
                keep[order[k]] = True
                k += 1
            best_prev = group_best
        i = j
    return keep


@njit(cache=True)
def _front_nd(order: np.ndarray, v: np.ndarray) -> np.ndarray:
    n, d = v.shape
    keep = np.zeros(n, dtype=np.bool_)
    front = np.empty(n, dtype=np.int64)
    n_front = 0
    for t in range(n):
        i = order[t]
        dominated = False
        for f in range(n_front):
            k = front[f]
            all_le = True
            any_lt = False
            for c in range(d):
                if v[k, c] > v[i, c]:
                    all_le = False
                    break
                if v[k, c] < v[i, c]:
                    any_lt = True
            if all_le and any_lt:
                dominated = True
                break
        if not dominated:
            keep[i] = True
            front[n_front] = i
            n_front += 1
    return keep


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values[n, d]`` (all minimized)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    check(values.ndim == 2, "values", values.shape, "must be a 2-D array [points, objectives]")
    ok = np.all(np.isfinite(values), axis=1)
    mask = np.zeros(len(values), dtype=bool)
    if not ok.any():
        return mask
    idx = np.flatnonzero(ok)
    v = values[idx]
    if v.shape[1] == 1:
        mask[idx] = v[:, 0] == v[:, 0].min()
        return mask
    order = np.lexsort(v.T[::-1]).astype(np.int64)
    if v.shape[1] == 2:
        keep = _front_2d(order, np.ascontiguousarray(v[:, 0]), np.ascontiguousarray(v[:, 1]))
    else:
        keep = _front_nd(order, v)
    mask[idx] = keep
    return mask


def pareto(df: pd.DataFrame, objectives: Objectives) -> pd.DataFrame:
    """The non-dominated rows of ``df`` (rows with a missing objective never qualify),
    sorted by the first objective."""
    cols, values = _normalize(df, objectives)
    front = df[pareto_mask(values)]
    return front.sort_values(cols, kind="stable")


def resolve_column(df: pd.DataFrame, name: str, field: str) -> str:
    """The column of ``df`` that ``name`` means: itself, its alias (``latency`` ->
    ``latency_s``, ``area`` -> ``area_mm2``) or a varying hardware field (``rows`` ->
    ``hw.rows``). Raises :class:`HwsimError` naming ``field`` otherwise."""
    from sweeps.spec import OBJECTIVE_ALIASES

    for candidate in (name, OBJECTIVE_ALIASES.get(name, name), f"hw.{name}"):
        if candidate in df.columns:
            return candidate
    known = sorted(map(str, df.columns))
    raise HwsimError(field, name, f"not a column of these results; columns: {known}")


def where(
    df: pd.DataFrame, conditions: Sequence[str | Condition], field: str = "where"
) -> pd.DataFrame:
    """The rows of ``df`` that satisfy every condition (``"area_mm2 <= 2"``,
    ``"policy == w4a4"``, or parsed :class:`sweeps.spec.Condition`). A row with no value in a
    compared column never qualifies. A bad expression or an unknown column raises
    :class:`HwsimError` naming ``field`` and the expression."""
    keep = np.ones(len(df), dtype=bool)
    for c in conditions:
        cond = c if isinstance(c, Condition) else parse_condition(c, field)
        try:
            column = resolve_column(df, cond.column, field)
        except HwsimError as exc:
            raise HwsimError(field, cond.text, exc.reason) from None
        numeric = pd.api.types.is_numeric_dtype(df[column])
        if isinstance(cond.value, float) and not numeric:
            raise HwsimError(field, cond.text, f"{column} holds text; compare it with == or !=")
        if isinstance(cond.value, str) and numeric:
            raise HwsimError(
                field, cond.text, f"{column} holds numbers; {cond.value!r} is not a number"
            )
        keep &= cond.mask(df[column].to_numpy())
    return df[keep]


def pareto_fronts(
    df: pd.DataFrame,
    objectives: Objectives,
    by: str | None = "workload",
    collapse: bool = True,
) -> pd.DataFrame:
    """The front of each group of ``df`` (one per workload by default; ``by=None``: one front
    over every row), sorted by group then objectives.

    With ``collapse``, points with equal objective values (ties: e.g. two policies that run at
    the same precision) are reported once, as the first of them in row order, with their
    number in a ``ties`` column (1 when a point is alone) and, in a ``tied`` column, what
    tells them apart (``"policy w2a2 / w4a2 / w8a2"``; empty when a point is alone).
    """
    cols, values = _normalize(df, objectives)
    if by is not None:
        check(by in df.columns, "by", by, f"not a column; columns: {sorted(map(str, df.columns))}")
    mask = np.zeros(len(df), dtype=bool)
    if by is None or len(df) == 0:
        mask = pareto_mask(values)
    else:
        codes = pd.factorize(df[by], use_na_sentinel=False)[0]
        for g in np.unique(codes):
            idx = np.flatnonzero(codes == g)
            mask[idx] = pareto_mask(values[idx])
    front = df[mask]
    keys = ([by] if by is not None else []) + cols
    if collapse:
        groups = front.groupby(keys, sort=False, dropna=False)
        ties = groups[cols[0]].transform("size").to_numpy(np.int64)
        described = [
            c
            for c in front.columns
            if c in ("policy", "hw_name") or (c.startswith("hw.") and c not in cols)
        ]
        tied = pd.Series("", index=front.index, dtype=object)
        for _, idx in groups.indices.items():
            if len(idx) > 1:
                tied.iloc[idx[0]] = _what_differs(front.iloc[idx], described)
        front = front.assign(ties=ties, tied=tied.to_numpy()).drop_duplicates(keys)
    return front.sort_values(keys, kind="stable")


def _what_differs(group: pd.DataFrame, columns: list[str], shown: int = 4) -> str:
    """``"policy w2a2 / w4a2; hw.dram_gbps 3 values"``: the columns that vary in ``group``."""
    parts = []
    for c in columns:
        values = list(dict.fromkeys(map(str, group[c])))
        if len(values) < 2:
            continue
        if len(values) <= shown:
            parts.append(f"{c} {' / '.join(values)}")
        else:
            parts.append(f"{c} {len(values)} values")
    return "; ".join(parts)


# ---------------------------------------------------------------------------- hypervolume
def _hv2(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact 2-D hypervolume of minimized points below ``ref``."""
    p = points[np.all(points < ref, axis=1)]
    if len(p) == 0:
        return 0.0
    p = p[pareto_mask(p)]
    p = p[np.argsort(p[:, 0], kind="stable")]
    xs = np.append(p[1:, 0], ref[0])
    return float(np.sum((xs - p[:, 0]) * (ref[1] - p[:, 1])))


def _hv3(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact 3-D hypervolume: 2-D areas of the points below each z level, times slab height."""
    p = points[np.all(points < ref, axis=1)]
    if len(p) == 0:
        return 0.0
    p = p[pareto_mask(p)]
    zs = np.unique(p[:, 2])
    bounds = np.append(zs, ref[2])
    total = 0.0
    for z, z_next in itertools.pairwise(bounds):
        total += _hv2(p[p[:, 2] <= z][:, :2], ref[:2]) * (z_next - z)
    return total


@njit(cache=True)
def _hv_monte_carlo(
    p: np.ndarray, lo: np.ndarray, ref: np.ndarray, samples: int, seed: int
) -> float:
    np.random.seed(seed)  # noqa: NPY002 (Numba's per-thread generator; Generator is unsupported)
    d = p.shape[1]
    hits = 0
    s = np.empty(d)
    for _ in range(samples):
        for c in range(d):
            u = np.random.random()  # noqa: NPY002
            s[c] = lo[c] + u * (ref[c] - lo[c])
        for i in range(p.shape[0]):
            inside = True
            for c in range(d):
                if p[i, c] > s[c]:
                    inside = False
                    break
            if inside:
                hits += 1
                break
    box = 1.0
    for c in range(d):
        box *= ref[c] - lo[c]
    return box * hits / samples


def hypervolume(
    df: pd.DataFrame,
    objectives: Objectives,
    reference: Sequence[float] | Mapping,
    samples: int = 200_000,
    seed: int = 0,
) -> float:
    """Volume dominated by the rows of ``df`` and bounded by ``reference``.

    ``reference`` is given in the objectives' own units and senses (a worst acceptable value
    per objective, e.g. a maximum latency and a minimum accuracy). Exact for 2 and 3
    objectives; a seeded Monte Carlo estimate with ``samples`` draws beyond.
    """
    cols, values = _normalize(df, objectives)
    if isinstance(reference, Mapping):
        missing = [c for c in cols if c not in reference]
        check(not missing, "reference", dict(reference), f"missing objectives {missing}")
        reference = [reference[c] for c in cols]
    ref = np.asarray(reference, dtype=np.float64)
    check(
        ref.shape == (len(cols),),
        "reference",
        list(reference),
        f"need one value per objective {cols}",
    )
    check(bool(np.all(np.isfinite(ref))), "reference", list(reference), "must be finite")
    senses = dict(objectives) if isinstance(objectives, Mapping) else {}
    ref = np.array([-r if senses.get(c) == "max" else r for c, r in zip(cols, ref, strict=True)])
    values = values[np.all(np.isfinite(values), axis=1)]
    if len(cols) == 1:
        inside = values[values[:, 0] < ref[0]]
        return float(ref[0] - inside[:, 0].min()) if len(inside) else 0.0
    if len(cols) == 2:
        return _hv2(values, ref)
    if len(cols) == 3:
        return _hv3(values, ref)
    check(isinstance(samples, int) and samples >= 1, "samples", samples, "must be >= 1")
    p = values[np.all(values < ref, axis=1)]
    if len(p) == 0:
        return 0.0
    p = np.ascontiguousarray(p[pareto_mask(p)])
    return float(_hv_monte_carlo(p, p.min(axis=0), ref, samples, seed))


__all__ = ["hypervolume", "pareto", "pareto_fronts", "pareto_mask", "resolve_column", "where"]
