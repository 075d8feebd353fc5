"""What a bit-serial array's steps cost on real codes, measured in the hardware's own grouping.

A spatial bit-serial array (DaDianNao's organisation: ``rows`` filters x ``cols`` windows x
``lanes`` terms) feeds one *step* per brick: ``cols`` output windows (walked with the output's
H coordinate fastest) times ``lanes`` input channels at one kernel position (so a layer with
``C_in`` channels takes ``kh * kw * ceil(C_in / lanes)`` steps per window). Depthwise layers run
``lanes`` channels side by side; an FC layer at batch 1 has one window, whose successive
``lanes``-input chunks go to successive columns (they overlap in time: a column takes a new
chunk once it finished its previous one, one chunk starts per cycle).

Data-dependent designs charge each step what its bricks contain:

- dynamic precision (ShapeShifter, Loom): the leading-one position + 1 of the largest value in
  the step's ``cols x lanes`` group, at least 1 (an all-zero group still takes a cycle);
- Bit-Pragmatic: per column, one cycle per round in which every lane retires one essential bit
  within ``2^first_stage - 1`` positions above the group's lowest remaining one (a two-stage
  shifter), optionally after Booth-like recoding; at least one cycle. Columns synchronise every
  step, or run ahead by up to ``run_ahead`` steps of the slowest one (each column keeps its own
  window for the whole window set, so a slow column sets the pace);
- Laconic: per lane the essential terms of the weight times those of the activation (after
  Booth-like recoding if on), the slowest (window, filter, lane) pair sets the step.

Each rule is a :class:`MeasuredSteps` object (one class per kind, registered in :data:`RULES`)
whose ``measure`` replays it on one layer; a family's config returns its own
(``measured_steps()``). :func:`step_cycles` measures rules on one image's codes and returns the
mean cycles per step under each rule's name (:data:`DEFAULT_RULES`: the configurations of the
papers as DNNsim's example batch files set them, and the ideal Pragmatic ones).
:func:`hwsim.bits.layer_stats` stores them in :class:`hwsim.LayerStats`, where the families
look their rule up by its name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
from numba import njit

from hwsim.errors import HwsimError, check

BOOTH_VALUES = 1 << 16


def _booth_pattern(v: int) -> int:
    """The terms of a Booth-like recoding of ``v`` (as used by Bit-Pragmatic and Laconic), as
    a bit pattern: scanning from the MSB, a run of three or more ones is replaced by a term
    one position above the run and a negative term at its end; while inside such a run an
    isolated zero costs one negative term and the run goes on."""
    inside = False
    out = 0
    for p in range(15, -1, -1):
        b2 = (v >> p) & 1
        b1 = (v >> (p - 1)) & 1 if p >= 1 else 0
        b0 = (v >> (p - 2)) & 1 if p >= 2 else 0
        if b2 == 0:
            if b1 and inside:  # the run ends just below: its negative term
                out |= 1 << p
        elif b1 == 0:
            if b0 == 0:  # an isolated one, or the last zero of a run
                out |= 1 << p
                inside = False
            elif not inside:
                out |= 1 << p
        elif b0 == 0:
            if not inside:
                out |= 1 << p
        elif not inside:  # three ones: start a run, its term one position up
            out |= 1 << (p + 1)
            inside = True
    return out & 0xFFFF


def booth_table() -> np.ndarray:
    """``table[v]``: the Booth-like term pattern of every 16-bit magnitude ``v``."""
    global _BOOTH
    if _BOOTH is None:
        _BOOTH = np.array([_booth_pattern(v) for v in range(BOOTH_VALUES)], dtype=np.int64)
    return _BOOTH


_BOOTH: np.ndarray | None = None


def essential_table(booth: bool) -> np.ndarray:
    """``table[v]``: the essential terms of every 16-bit magnitude, Booth-recoded or not."""
    vals = booth_table() if booth else np.arange(BOOTH_VALUES, dtype=np.int64)
    bits = (vals[:, None] >> np.arange(17)) & 1
    return bits.sum(axis=1).astype(np.int64)


# ------------------------------------------------------------------------------ rule names
def rule_key(kind: str, cols: int, **params: int | bool) -> str:
    """The name under which a step rule's measured mean cycles per step are stored."""
    parts = [kind, f"cols={cols}"]
    parts += [f"{k}={int(v)}" for k, v in sorted(params.items())]
    return "/".join(parts)


DEFAULT_RULES: tuple[str, ...] = (
    rule_key("dynamic", 16),
    rule_key("dynamic", 256),
    rule_key("loom", 16, a_bits_per_cycle=1),
    rule_key("loom", 256, a_bits_per_cycle=1),
    rule_key("pragmatic", 16, first_stage_bits=2, booth=True, run_ahead=1),
    rule_key("pragmatic", 16, first_stage_bits=4, booth=False, run_ahead=0),
    rule_key("pragmatic", 16, first_stage_bits=4, booth=False, run_ahead=1),
    rule_key("laconic", 16, rows=256, booth=True),
    rule_key("laconic", 16, rows=256, booth=False),
    rule_key("columns", 16, run_ahead=1),
)
"""Rules measured by default: the paper configurations as DNNsim's example batch files set
them (16 lanes, 16 windows, 16 tiles x 16 filters; Loom also at 256 windows) and the ideal
Pragmatic configurations (a full first-stage shifter, no Booth, with and without run-ahead),
and Dynamic Stripes with per-column groups and one run-ahead register (DNNsim f8935f0's
example; conv layers: its kernel loop runs H outside W, and its total repeats once per filter
set)."""


def parse_rule(key: str) -> tuple[str, int, dict[str, int]]:
    parts = key.split("/")
    try:
        params = dict(p.split("=") for p in parts[1:])
        cols = int(params.pop("cols"))
        return parts[0], cols, {k: int(v) for k, v in params.items()}
    except (ValueError, KeyError) as exc:
        raise HwsimError("rules", key, "not a step rule name (hwsim.stepstats.rule_key)") from exc


# ------------------------------------------------------------------------------ step order
@njit(cache=True)
def _gather_conv(
    a, kh, kw, sh, sw, dh, dw, out_h, out_w, n_cgroups, cg_chans, cols, lanes, h_outer, out
):  # fmt: skip
    """``out[step, col, lane]``: the activation magnitude each slot of each step sees, -1 for a
    column with no window. Steps run channel group, window set, then kernel W, kernel H,
    channel chunk (kernel H outside W with ``h_outer``); windows walk the output's H fastest."""
    chunks = (cg_chans + lanes - 1) // lanes
    per_window = kh * kw * chunks
    n_windows = out_h * out_w
    n_sets = (n_windows + cols - 1) // cols
    n_ch = a.shape[0]
    s = 0
    for g in range(n_cgroups):
        for ws in range(n_sets):
            for outer in range(kw * kh):
                if h_outer:
                    kx, ky = outer // kw, outer % kw
                else:
                    ky, kx = outer // kh, outer % kh
                for ck in range(chunks):
                    for c in range(cols):
                        w = ws * cols + c
                        if w >= n_windows:
                            for lane in range(lanes):
                                out[s, c, lane] = -1
                            continue
                        oh = w % out_h
                        ow = w // out_h
                        ih = oh * sh + kx * dh
                        iw = ow * sw + ky * dw
                        for lane in range(lanes):
                            ch_in_group = ck * lanes + lane
                            ch = g * cg_chans + ch_in_group
                            if ch_in_group < cg_chans and ch < n_ch:
                                out[s, c, lane] = a[ch, ih, iw]
                            else:
                                out[s, c, lane] = 0
                    s += 1
    return per_window


@njit(cache=True)
def _bit_length(v: int) -> int:
    n = 0
    while v > 0:
        n += 1
        v >>= 1
    return n


@njit(cache=True)
def _popcount(v: int) -> int:
    n = 0
    while v > 0:
        n += v & 1
        v >>= 1
    return n


@njit(cache=True)
def _dynamic_precision(vals):
    """Per step: the leading-one precision of its whole group, at least 1."""
    out = np.ones(vals.shape[0], dtype=np.int64)
    for s in range(vals.shape[0]):
        m = 0
        for c in range(vals.shape[1]):
            for lane in range(vals.shape[2]):
                if vals[s, c, lane] > m:
                    m = vals[s, c, lane]
        out[s] = max(1, _bit_length(m))
    return out


@njit(cache=True)
def _column_precision(vals):
    """Per (step, column): the leading-one precision of the column's lanes, at least 1; 0 for
    an absent column."""
    out = np.zeros((vals.shape[0], vals.shape[1]), dtype=np.int64)
    for s in range(vals.shape[0]):
        for c in range(vals.shape[1]):
            if vals[s, c, 0] < 0:
                continue
            m = 0
            for lane in range(vals.shape[2]):
                m = max(m, vals[s, c, lane])
            out[s, c] = max(1, _bit_length(m))
    return out


@njit(cache=True)
def _bounded_lead(cost, run_ahead):
    """Dynamic Stripes' columns: each column adds its step cycles; a column that would end at
    or before the slowest column's end ``run_ahead`` steps ago waits until one cycle after it
    (the run-ahead input registers bound the lead); the layer ends with the slowest column."""
    n_c = cost.shape[1]
    done = np.zeros(n_c, dtype=np.int64)
    history = np.zeros(run_ahead, dtype=np.int64)
    for s in range(cost.shape[0]):
        for c in range(n_c):
            done[c] += cost[s, c]
            if done[c] <= history[0]:
                done[c] = history[0] + 1
        for i in range(run_ahead - 1):
            history[i] = history[i + 1]
        history[run_ahead - 1] = done.max()
    return done.max()


@njit(cache=True)
def _pragmatic_columns(vals, first_stage_bits, booth, table):
    """Per (step, column): Bit-Pragmatic's two-stage shifter cycles, 0 for an absent column."""
    n_s, n_c, n_l = vals.shape
    out = np.zeros((n_s, n_c), dtype=np.int64)
    reach = (1 << first_stage_bits) - 1
    work = np.zeros(n_l, dtype=np.int64)
    for s in range(n_s):
        for c in range(n_c):
            if vals[s, c, 0] < 0:
                continue
            for lane in range(n_l):
                v = vals[s, c, lane]
                work[lane] = table[v] if booth else v
            cycles = 0
            while True:
                low = 64
                for lane in range(n_l):
                    v = work[lane]
                    if v:
                        b = 0
                        while not (v >> b) & 1:
                            b += 1
                        low = min(low, b)
                if low == 64:
                    break
                for lane in range(n_l):
                    for b in range(low, low + reach + 1):
                        if (work[lane] >> b) & 1:
                            work[lane] &= ~(1 << b)
                            break
                cycles += 1
            out[s, c] = max(1, cycles)
    return out


@njit(cache=True)
def _run_ahead(cost, order, run_ahead):
    """Compute cycles of columns that may run ``run_ahead`` steps ahead of the slowest one
    (0: all columns wait for the slowest every step). ``order`` lists the step of each
    position of the schedule (steps repeat once per filter set)."""
    n_c = cost.shape[1]
    done = np.zeros(n_c, dtype=np.int64)
    if run_ahead == 0:
        total = 0
        for i in range(order.shape[0]):
            m = 0
            for c in range(n_c):
                m = max(m, cost[order[i], c])
            total += m
        return total
    history = np.zeros(run_ahead, dtype=np.int64)
    ready = 0
    idx = 0
    for i in range(order.shape[0]):
        s = order[i]
        m = 0
        for c in range(n_c):
            done[c] = max(ready, done[c]) + cost[s, c]
            m = max(m, done[c])
        ready = history[idx]
        history[idx] = m
        idx = (idx + 1) % run_ahead
    return done.max()


@njit(cache=True)
def _stagger(cost, order, cols):
    """Compute cycles of an FC layer at batch 1: chunk ``i`` goes to column ``i % cols``,
    starts one cycle after chunk ``i - 1`` and once its column finished its previous chunk."""
    done = np.zeros(cols, dtype=np.int64)
    t = 0
    for i in range(order.shape[0]):
        c = i % cols
        start = max(t, done[c])
        done[c] = start + cost[order[i]]
        t = start + 1
    return done.max()


@njit(cache=True)
def _laconic_steps(vals, w_max, step_group, step_time, fset, booth, table):
    """Per step at filter set ``fset``: the largest essential-term product over its (window,
    filter, lane) pairs, at least 1. ``w_max[group, fset, time, lane]`` holds the most
    essential terms among the set's filters at that lane."""
    n_s, n_c, n_l = vals.shape
    out = np.ones(n_s, dtype=np.int64)
    for s in range(n_s):
        m = 1
        for lane in range(n_l):
            am = 0
            for c in range(n_c):
                v = vals[s, c, lane]
                if v > 0:
                    am = max(am, _popcount(table[v] if booth else v))
            m = max(m, am * w_max[step_group[s], fset, step_time[s], lane])
        out[s] = m
    return out


# ------------------------------------------------------------------------------ entry point
def _conv_steps(a, w, conv, cols, lanes, h_outer=False):
    """Activation slots per step, and per step its channel group and time index, and the
    weight magnitudes laid out as ``[group, filter in group, time, lane]``."""
    n_ch, _, _ = a.shape
    n_f, w_ch, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw), groups = conv
    depthwise = groups == n_ch and w_ch == 1 and n_ch > 1
    padded = np.pad(a, ((0, 0), (ph, ph), (pw, pw)))
    out_h = (padded.shape[1] - dh * (kh - 1) - 1) // sh + 1
    out_w = (padded.shape[2] - dw * (kw - 1) - 1) // sw + 1
    if depthwise:
        n_cgroups, cg_chans = -(-n_ch // lanes), lanes
    else:
        n_cgroups, cg_chans = groups, w_ch
    chunks = -(-cg_chans // lanes)
    per_window = kh * kw * chunks
    n_sets = -(-(out_h * out_w) // cols)
    vals = np.empty((n_cgroups * n_sets * per_window, cols, lanes), dtype=np.int64)
    _gather_conv(
        np.ascontiguousarray(padded), kh, kw, sh, sw, dh, dw, out_h, out_w,
        n_cgroups, cg_chans, cols, lanes, h_outer, vals,
    )  # fmt: skip
    step = np.arange(vals.shape[0])
    step_group = step // (n_sets * per_window)
    step_time = step % per_window
    # Weights per (group, filter of the group, time, lane); a depthwise filter f only has a
    # weight at lane f of its group.
    f_per_group = lanes if depthwise else n_f // groups
    wl = np.zeros((n_cgroups, f_per_group, per_window, lanes), dtype=np.int64)
    for g in range(n_cgroups):
        for f in range(f_per_group):
            filt = g * f_per_group + f
            if filt >= n_f:
                continue
            t = 0
            for ky in range(kw):
                for kx in range(kh):
                    for ck in range(chunks):
                        if depthwise:
                            wl[g, f, t, f] = abs(int(w[filt, 0, kx, ky]))
                        else:
                            seg = np.abs(w[filt, ck * lanes : (ck + 1) * lanes, kx, ky])
                            wl[g, f, t, : len(seg)] = seg
                        t += 1
    return vals, step_group, step_time, wl, n_sets, per_window


def conv_step_values(a: np.ndarray, w: np.ndarray, geometry: tuple, cols: int, lanes: int):
    """``[steps, cols, lanes]`` activation magnitudes of one image (-1: no window)."""
    return _conv_steps(np.abs(a).astype(np.int64), w, geometry, cols, lanes)[0]


class _Layer:
    """One layer's codes (magnitudes), laid out once per column count for every rule."""

    def __init__(self, w: np.ndarray, a: np.ndarray, w_bits: int, conv: tuple | None) -> None:
        self.w, self.a, self.w_bits, self.conv = w, a, w_bits, conv
        self.table = booth_table()
        self._by_cols: dict[int, tuple] = {}

    def steps(self, cols: int, lanes: int = 16) -> tuple:
        """``(vals, step_group, step_time, wl, n_sets, per_window)`` at ``cols`` columns."""
        if cols not in self._by_cols:
            a, w = self.a, self.w
            if self.conv is None:
                n_f = w.shape[0]
                chunks = -(-a.shape[0] // lanes)
                vals = np.zeros((chunks, 1, lanes), dtype=np.int64)
                vals.reshape(-1)[: a.shape[0]] = a
                wl = np.zeros((1, n_f, chunks, lanes), dtype=np.int64)
                wl.reshape(1, n_f, -1)[:, :, : a.shape[0]] = w
                out = (vals, np.zeros(chunks, np.int64), np.arange(chunks), wl, 1, chunks)
                self._by_cols[cols] = out
            else:
                self._by_cols[cols] = _conv_steps(a, w, self.conv, cols, lanes)
        return self._by_cols[cols]

    def schedule(self, cols: int, rows: int) -> tuple[np.ndarray, np.ndarray, int]:
        """``(order, fset_of, n_fsets)``: per channel group and window set, the window set's
        steps once per filter set of ``rows`` filters (DNNsim's window-first
        output-stationary order), and the filter set of each position."""
        vals, _, _, wl, _, per_window = self.steps(cols)
        n_fsets = max(1, math.ceil(wl.shape[1] / rows))
        blocks = vals.shape[0] // per_window
        base = np.arange(per_window)
        order = np.concatenate(
            [b * per_window + base for b in range(blocks) for _ in range(n_fsets)]
        ).astype(np.int64)
        fset_of = np.concatenate(
            [np.full(per_window, f, np.int64) for _ in range(blocks) for f in range(n_fsets)]
        )
        return order, fset_of, n_fsets

    def mean(self, cost: np.ndarray, order: np.ndarray, cols: int) -> float:
        """Mean cycles per step of per-step ``cost`` walked in ``order``: staggered over the
        columns for an FC layer at batch 1, summed for a conv layer."""
        if self.conv is None:
            return float(_stagger(cost, order, cols)) / len(order)
        return float(cost[order].sum()) / len(order)


@dataclass(frozen=True)
class MeasuredSteps:
    """A data-dependent family's step rule: how many cycles one step of ``cols`` windows x 16
    lanes takes on real codes. :meth:`measure` replays it on one layer; :attr:`key` names its
    measurement in :attr:`hwsim.LayerStats.step_cycles`. Each kind registers itself
    (:data:`RULES`) under its :attr:`kind`."""

    kind: ClassVar[str] = ""
    cols: int
    rows: ClassVar[int] = 256  # filters per filter set (the schedule's repeats)

    @property
    def key(self) -> str:
        params = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "cols"}
        return rule_key(self.kind, self.cols, **params)

    def measure(self, layer: _Layer) -> float | None:
        """Mean cycles per step on ``layer``; None where the rule is not measured there."""
        raise NotImplementedError


RULES: dict[str, type[MeasuredSteps]] = {}
"""Step rule kind -> its class."""


def register_rule(cls: type[MeasuredSteps]) -> type[MeasuredSteps]:
    RULES[cls.kind] = cls
    return cls


@register_rule
@dataclass(frozen=True)
class DynamicSteps(MeasuredSteps):
    """ShapeShifter / Dynamic Stripes: the leading-one precision of each step's group."""

    kind: ClassVar[str] = "dynamic"

    def cost(self, layer: _Layer, vals: np.ndarray) -> np.ndarray:
        return _dynamic_precision(vals)

    def measure(self, layer: _Layer) -> float | None:
        vals = layer.steps(self.cols)[0]
        order, _, _ = layer.schedule(self.cols, self.rows)
        return layer.mean(self.cost(layer, vals), order, self.cols)


@register_rule
@dataclass(frozen=True)
class LoomSteps(DynamicSteps):
    """Loom: the dynamic precision in ``a_bits_per_cycle`` chunks, times the weight bits."""

    kind: ClassVar[str] = "loom"
    a_bits_per_cycle: int = 1

    def cost(self, layer: _Layer, vals: np.ndarray) -> np.ndarray:
        return -(-_dynamic_precision(vals) // self.a_bits_per_cycle) * layer.w_bits


@register_rule
@dataclass(frozen=True)
class PragmaticSteps(MeasuredSteps):
    """Bit-Pragmatic: the two-stage shifter's rounds per column, columns running
    ``run_ahead`` steps ahead of the slowest (0: synchronised every step)."""

    kind: ClassVar[str] = "pragmatic"
    booth: int = 0
    first_stage_bits: int = 4
    run_ahead: int = 0

    def measure(self, layer: _Layer) -> float | None:
        vals = layer.steps(self.cols)[0]
        order, _, _ = layer.schedule(self.cols, self.rows)
        cols_cost = _pragmatic_columns(vals, self.first_stage_bits, bool(self.booth), layer.table)
        if layer.conv is None:
            return layer.mean(cols_cost[:, 0], order, self.cols)
        return float(_run_ahead(cols_cost, order, self.run_ahead)) / len(order)


@register_rule
@dataclass(frozen=True)
class LaconicSteps(MeasuredSteps):
    """Laconic: the slowest (window, filter, lane) pair's essential-term product per step,
    over filter sets of ``rows`` filters."""

    kind: ClassVar[str] = "laconic"
    booth: int = 0
    rows: int = 256  # type: ignore[misc]

    def measure(self, layer: _Layer) -> float | None:
        vals, step_group, step_time, wl, _, _ = layer.steps(self.cols)
        order, fset_of, n_fsets = layer.schedule(self.cols, self.rows)
        booth, rows = bool(self.booth), self.rows
        w_ess = essential_table(booth)[wl]
        w_max = np.stack(
            [w_ess[:, f * rows : (f + 1) * rows].max(axis=1) for f in range(n_fsets)], axis=1
        )
        per_set = [
            _laconic_steps(vals, w_max, step_group, step_time, f, booth, layer.table)
            for f in range(n_fsets)
        ]
        flat = np.stack(per_set).reshape(-1)  # [fset, step]
        return layer.mean(flat, fset_of * vals.shape[0] + order, self.cols)


@register_rule
@dataclass(frozen=True)
class ColumnSteps(MeasuredSteps):
    """Dynamic Stripes with per-column groups and ``run_ahead`` input registers (DNNsim
    f8935f0's model, kernel H outside W); conv layers only."""

    kind: ClassVar[str] = "columns"
    run_ahead: int = 1

    def measure(self, layer: _Layer) -> float | None:
        if layer.conv is None:
            return None  # FC: not measured (DNNsim f8935f0's FC model is not replayed)
        vals_h = _conv_steps(layer.a, layer.w, layer.conv, self.cols, 16, h_outer=True)[0]
        per_set = _bounded_lead(_column_precision(vals_h), max(1, self.run_ahead))
        return float(per_set) / vals_h.shape[0]


def step_rule(key: str) -> MeasuredSteps:
    """The rule a stored name (:func:`rule_key`) stands for."""
    kind, cols, params = parse_rule(key)
    check(kind in RULES, "rules", key, f"unknown rule kind ({', '.join(RULES)})")
    known = {f.name for f in fields(RULES[kind])} - {"cols"}
    params = {k: v for k, v in params.items() if k in known}
    return RULES[kind](cols=cols, **params)


def step_cycles(
    w_codes: np.ndarray,
    a_codes: np.ndarray,
    w_bits: int,
    conv: tuple | None,
    rules: Sequence[str | MeasuredSteps] = DEFAULT_RULES,
) -> dict[str, float]:
    """Mean cycles per step of each rule in ``rules`` (:class:`MeasuredSteps` objects, or their
    names) on validated codes: ``a_codes`` one image ``[C, H, W]`` (conv) or ``[K]`` (FC),
    ``w_codes`` OIHW or ``[N, K]``; ``conv`` is ``((sh, sw), (ph, pw), (dh, dw), groups)`` or
    None for an FC layer at batch 1. Each result is stored under the name it was asked by."""
    layer = _Layer(np.abs(w_codes).astype(np.int64), np.abs(a_codes).astype(np.int64), w_bits, conv)
    out: dict[str, float] = {}
    for asked in rules:
        rule = step_rule(asked) if isinstance(asked, str) else asked
        name = asked if isinstance(asked, str) else rule.key
        check(rule.cols >= 1, "rules", name, "cols must be >= 1")
        value = rule.measure(layer)
        if value is not None:
            out[name] = value
    return out
