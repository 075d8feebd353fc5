"""The shared accelerator skeleton: a layer tiled onto a spatial array, in one Numba call.

A layer in GEMM form (``M x K`` activations times ``K x N`` weights) is mapped onto an array of
``rows`` (output channels, the N dimension) x ``cols`` (output pixels / windows, the M
dimension) x ``lanes`` (the reduction, the K dimension). One *step* feeds the array one brick:
``rows*cols*lanes`` MAC slots. A family only says how many cycles one step takes (its
:class:`StepRule`, or the mean measured on real codes) and which precisions it can run;
everything else is shared:

- **Steps** (DaDianNao's window-first dataflow, as DNNsim models it; families with
  ``channel_lanes``): lanes map to input channels at each kernel position, so a window takes
  ``kh * kw * ceil(C_in/groups / lanes)`` steps and a layer
  ``groups * ceil(M/cols) * ceil(N/groups / rows)`` times that; a depthwise layer runs
  ``lanes`` channels side by side: ``ceil(C/lanes) * ceil(M/cols) * kh * kw``. An FC (or
  matmul) layer with fewer rows ``M`` than ``cols`` staggers its ``S = M * ceil(N/rows) *
  ceil(K/lanes)`` chunks over the columns: chunk ``i`` starts a cycle after chunk ``i-1`` and
  once its column is free, so ``S`` chunks of ``p`` cycles take
  ``floor((S-1)/cols) * max(p, cols) + (S-1) % cols + p``. Other families (BISMO) see the GEMM:
  ``ceil(M/cols) * ceil(N/rows) * ceil(K/lanes)``.
- **Measured steps**: a family whose step depends on the data names its rule, a
  :class:`hwsim.stepstats.MeasuredSteps` (:meth:`SkeletonConfig.measured_steps`); a layer
  whose :class:`LayerStats` hold that rule's mean cycles per step (``step_cycles``, replayed
  on the codes in this order by :mod:`hwsim.stepstats`) costs ``steps * mean`` at the
  measured bits, scaled by ``a / a_measured`` (and the weight factor) at other widths.
  Without them the family's stated default applies and the report's notes say so.

- **Precision**: a requested width is rounded up to the next one the family runs (``w_bits_run``
  / ``a_bits_run``); 32 (float) maps to the widest width, or is refused (HwsimError) by families
  that cannot run float. DaDianNao, Stripes, Loom and Pragmatic run float as 16-bit fixed
  point; BISMO refuses it (an integer overlay), as do the CPU bit-serial and int8 kernels;
  the CPU fp32 kernel runs every request as float.
- **DRAM traffic**: weights (``N*K*w`` bits) and input activations (``in_elems*a`` bits) are
  streamed through half of their buffers (the other half is the double buffer). When one of the
  two fits, both are read once; otherwise the cheaper loop order re-reads one tensor once per
  chunk of the other: ``min(W + A*ceil(W/half_wbuf), A + W*ceil(A/half_abuf))``. Outputs are
  written once at ``out_bits`` (the activation width when 0); partial sums stay on chip.
- **Activation x activation rows** (``act_matmul``: attention scores and values): the second
  operand takes the weight's place in the array at the policy's ``w_bits`` (so it is as serial
  as the family's weights), but it is an activation: both operands share the activation
  buffer (a quarter of it each per double-buffer half), every batch element is its own GEMM
  with its own second operand (no reuse across the batch: steps and chunk counts are per
  GEMM), and the whole second operand (the KV cache, in decode) is read from DRAM. It stores
  no weights: ``weight_bits`` is 0 and the second operand counts in ``activation_bits``.
- **Latency**: the layer is cut into ``T`` equal tiles (the number of half-buffer loads at the
  family's widest precision, so ``T`` does not depend on the bits, and at most one per step).
  Each tile loads ``l``, computes ``c`` and stores ``s`` cycles. Double buffering in lock step:
  while tile ``i`` computes, the DMA stores tile ``i-1`` and then loads tile ``i+1``; a barrier
  ends each period. So ``cycles = l + max(c, l) + (T-2)*max(c, l+s) + max(c, s) + s`` (for
  ``T >= 2``; ``l + c + s`` for one tile), plus the array's fill/drain cycles.
  :mod:`hwsim.events` runs exactly this schedule as SimPy processes.
- **Energy**: MACs at their run widths (multiplier energy scales with the product of the
  widths, from the 8x8-bit figure) plus an accumulate per MAC, on-chip buffer bits (every DRAM
  byte passes a buffer, the array reads one weight and one activation brick per step, outputs
  are written once) and DRAM bits.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numba import njit, prange

from hwsim.errors import HwsimError
from hwsim.hardware import report as M
from hwsim.hardware.base import HardwareConfig
from hwsim.hardware.pricing import (
    LEAKAGE_NW_PER_UM2,
    area_factor,
    check_node,
    energy_factor,
    power_factor,
)
from hwsim.hardware.registry import Points
from hwsim.hardware.report import METRICS
from hwsim.hardware.sram import PORTS as SRAM_PORTS
from hwsim.hardware.sram import SramCost, sram_cost
from hwsim.policy import FLOAT_BITS, LayerStats
from hwsim.stepstats import MeasuredSteps
from hwsim.workload import ACT_MATMUL, DEPTHWISE, LINEAR, MATMUL

MAX_BITS = 16

# Serial modes of one operand in a step rule.
PARALLEL = 0  # bit-parallel: the width does not change the step's cycles
SERIAL = 1  # ceil(bits / bits_per_cycle) cycles
ESSENTIAL = 2  # expected largest number of set bits in a lane group (Bit-Pragmatic)

TILE_KEYS: tuple[str, ...] = (
    "tiles",
    "tile_compute_cycles",
    "tile_load_cycles",
    "tile_store_cycles",
    "fill_cycles",
)
"""Extra outputs of the skeleton (beyond METRICS): the tile schedule the event model replays."""

OUT_KEYS: tuple[str, ...] = METRICS + TILE_KEYS
# Rows of the tile outputs, after the METRICS rows (report.M_* give those).
T_TILES = OUT_KEYS.index("tiles")
T_COMPUTE = OUT_KEYS.index("tile_compute_cycles")
T_LOAD = OUT_KEYS.index("tile_load_cycles")
T_STORE = OUT_KEYS.index("tile_store_cycles")
T_FILL = OUT_KEYS.index("fill_cycles")


def slot_offsets(layout: Sequence[tuple[str, int]]) -> tuple[dict[str, int], int]:
    """``({name: first index}, total length)`` of a packed float64 row of named fields, each
    ``size`` entries long: kernel layouts are declared as one tuple and numbered from it."""
    offsets, n = {}, 0
    for name, size in layout:
        offsets[name] = n
        n += size
    return offsets, n


PARAM_LAYOUT: tuple[tuple[str, int], ...] = (
    ("rows", 1),
    ("cols", 1),
    ("lanes", 1),
    ("w_mode", 1),
    ("w_bits_per_cycle", 1),
    ("a_mode", 1),
    ("a_bits_per_cycle", 1),
    ("frequency_hz", 1),
    ("weight_buffer_bytes", 1),
    ("act_buffer_bytes", 1),
    ("out_buffer_bytes", 1),
    ("dram_bytes_per_cycle", 1),  # dram_bytes_per_s / frequency_hz
    ("e_mul8_pj", 1),
    ("e_add_pj", 1),
    # pJ per bit read from / written to each buffer (CACTI per buffer, or a pinned number)
    ("e_wbuf_read", 1),
    ("e_wbuf_write", 1),
    ("e_abuf_read", 1),
    ("e_abuf_write", 1),
    ("e_obuf_read", 1),
    ("e_obuf_write", 1),
    ("e_dram_pj_per_bit", 1),
    ("out_bits", 1),
    ("fill_cycles", 1),
    ("ref_bits", 1),  # the widest precision: fixes the tile count
    ("inv_frequency", 1),
    ("w_run", FLOAT_BITS + 1),  # run width for each requested width 0..32 (0 = cannot run)
    ("a_run", FLOAT_BITS + 1),
    ("a_essential", MAX_BITS + 1),  # expected group-max essential bits at a = 0..16
    ("w_factor", MAX_BITS + 1),  # the weight step factor at w = 0..16
    ("w_scale", MAX_BITS + 1),  # what a measured step mean scales with at w = 0..16
    ("channel_lanes", 1),  # 1: window-first dataflow (lanes = channels, FC stagger)
)
"""One row of the kernel's float64 parameter matrix (one row per config)."""

_P, N_PARAMS = slot_offsets(PARAM_LAYOUT)
P_ROWS = _P["rows"]
P_COLS = _P["cols"]
P_LANES = _P["lanes"]
P_WMODE = _P["w_mode"]
P_WBPC = _P["w_bits_per_cycle"]
P_AMODE = _P["a_mode"]
P_ABPC = _P["a_bits_per_cycle"]
P_FREQ = _P["frequency_hz"]
P_WBUF = _P["weight_buffer_bytes"]
P_ABUF = _P["act_buffer_bytes"]
P_OBUF = _P["out_buffer_bytes"]
P_BW = _P["dram_bytes_per_cycle"]
P_EMUL = _P["e_mul8_pj"]
P_EADD = _P["e_add_pj"]
P_EW_RD = _P["e_wbuf_read"]
P_EW_WR = _P["e_wbuf_write"]
P_EA_RD = _P["e_abuf_read"]
P_EA_WR = _P["e_abuf_write"]
P_EO_RD = _P["e_obuf_read"]
P_EO_WR = _P["e_obuf_write"]
P_EDRAM = _P["e_dram_pj_per_bit"]
P_OUTBITS = _P["out_bits"]
P_FILL = _P["fill_cycles"]
P_REFBITS = _P["ref_bits"]
P_INVFREQ = _P["inv_frequency"]
P_WRUN = _P["w_run"]
P_ARUN = _P["a_run"]
P_AESS = _P["a_essential"]
P_WFACTOR = _P["w_factor"]
P_WSCALE = _P["w_scale"]
P_CHLANES = _P["channel_lanes"]


@dataclass(frozen=True)
class StepRule:
    """How many cycles one step takes: the product of one factor per operand.

    ``mode`` PARALLEL gives 1, SERIAL ``ceil(bits/bits_per_cycle)``, ESSENTIAL the expected
    largest count of set bits within a group of lanes (at least 1)."""

    w_mode: int = PARALLEL
    w_bits_per_cycle: int = 1
    a_mode: int = PARALLEL
    a_bits_per_cycle: int = 1


@dataclass(frozen=True)
class SkeletonConfig(HardwareConfig):
    """Fields every spatial-array family shares; families add their step rule and precisions.

    Buffers are in bytes, DRAM bandwidth in bytes per second, energies in pJ (given at 45 nm
    and scaled to ``technology_nm``).

    Pricing (:mod:`hwsim.hardware.pricing`): each buffer is ``*_buffer_banks`` equal banks of
    ``sram_word_bits``-wide words with ``sram_ports``; its per-bit read and write energy, leakage
    and area come from the CACTI table (:mod:`hwsim.hardware.sram`) unless
    ``e_sram_pj_per_bit`` pins one number for every buffer access. The compute array is
    ``rows x cols x lanes`` units of ``unit_area_um2`` (45 nm; None: the family's default)."""

    family: ClassVar[str] = ""
    runs_float: ClassVar[bool] = True  # False: a 32-bit (float) request is an error
    channel_lanes: ClassVar[bool] = True  # False: the GEMM mapping (an im2col overlay)
    UNIT_AREA_UM2: ClassVar[float] = 0.0  # a family's default compute-unit area (45 nm)

    rows: int = 16
    cols: int = 1
    lanes: int = 16
    weight_buffer_bytes: float = 2 * 2**20
    act_buffer_bytes: float = 2**20
    out_buffer_bytes: float = 2**20
    dram_bytes_per_s: float = 64e9
    e_mul8_pj: float = 0.2
    e_add_pj: float = 0.1
    e_sram_pj_per_bit: float | None = None
    e_dram_pj_per_bit: float = 20.0
    out_bits: int = 0
    fill_cycles: float = 0.0
    technology_nm: int = 45
    sram_word_bits: int = 64
    sram_ports: str = "1r1w"
    weight_buffer_banks: int = 1
    act_buffer_banks: int = 1
    out_buffer_banks: int = 1
    unit_area_um2: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.positive_int("rows", "cols", "lanes")
        self.positive(
            "weight_buffer_bytes", "act_buffer_bytes", "out_buffer_bytes", "dram_bytes_per_s"
        )
        self.non_negative("e_mul8_pj", "e_add_pj", "e_dram_pj_per_bit", "fill_cycles")
        if self.e_sram_pj_per_bit is not None:
            self.non_negative("e_sram_pj_per_bit")
        if self.unit_area_um2 is not None:
            self.positive("unit_area_um2")
        check_node(f"{self.family}.technology_nm", self.technology_nm)
        self.positive_int(
            "sram_word_bits", "weight_buffer_banks", "act_buffer_banks", "out_buffer_banks"
        )
        if self.sram_ports not in SRAM_PORTS:
            raise HwsimError(
                f"{self.family}.sram_ports", self.sram_ports, f"must be one of {list(SRAM_PORTS)}"
            )
        if (
            isinstance(self.out_bits, bool)
            or not isinstance(self.out_bits, int)
            or not (0 <= self.out_bits <= FLOAT_BITS)
        ):
            raise HwsimError(
                f"{self.family}.out_bits",
                self.out_bits,
                "must be an integer in 0..32 (0: the activation width)",
            )
        for name in (
            "rows",
            "cols",
            "lanes",
            "weight_buffer_bytes",
            "act_buffer_bytes",
            "out_buffer_bytes",
        ):
            # Beyond 2**40 the float64 products of the kernel lose integer exactness.
            if getattr(self, name) > 2**40:
                raise HwsimError(f"{self.family}.{name}", getattr(self, name), "too large")
        if self.dram_bytes_per_s / self.frequency_hz > 2**40:
            raise HwsimError(
                f"{self.family}.dram_bytes_per_s",
                self.dram_bytes_per_s,
                "too large (over 2**40 bytes per cycle at frequency_hz)",
            )

    # What a family says ------------------------------------------------------------------
    def step_rule(self) -> StepRule:
        raise NotImplementedError

    def w_precisions(self) -> tuple[int, ...]:
        """Weight widths the hardware runs natively (ascending); others round up."""
        return tuple(range(1, MAX_BITS + 1))

    def a_precisions(self) -> tuple[int, ...]:
        return tuple(range(1, MAX_BITS + 1))

    def array(self) -> tuple[int, int, int]:
        """``(rows, cols, lanes)``: N, M and K extents of one step."""
        return self.rows, self.cols, self.lanes

    def group_size(self) -> int:
        """Lanes whose activations advance together (the Bit-Pragmatic synchronisation group)."""
        return self.lanes

    def measured_steps(self) -> MeasuredSteps | None:
        """The family's measured step rule at this config (a :mod:`hwsim.stepstats` rule
        object, which replays it on real codes); None: the step does not depend on the data."""
        return None

    def step_rule_key(self) -> str | None:
        """The name of :meth:`measured_steps` in :attr:`LayerStats.step_cycles` (None: the
        step does not depend on the data)."""
        rule = self.measured_steps()
        return None if rule is None else rule.key

    def w_scale(self, w_bits: int) -> float:
        """What a measured step mean scales with at ``w_bits`` (1: it does not)."""
        return 1.0

    def w_step_factor(self, w_bits: int) -> float:
        """The weight factor of an ESSENTIAL-weight step rule without measurements."""
        raise NotImplementedError

    def missing_stats_default(self) -> str:
        """What the family assumes for a layer without its measured rule (for the notes)."""
        return ""

    def precision_reason(self, w: int, a: int, w_run: int, a_run: int, row=None) -> str:
        """Why a layer asked at ``w``/``a`` ran at ``w_run``/``a_run`` (for the notes)."""
        from hwsim.hardware.registry import get_family

        desc = get_family(self.family).description
        title = desc.split(":")[0] if ":" in desc else self.name
        rule = self.step_rule()
        modes = {"weights": rule.w_mode, "activations": rule.a_mode}
        fixed = {
            "weights": len(self.w_precisions()) == 1,
            "activations": len(self.a_precisions()) == 1,
        }
        kinds: dict[tuple, list[str]] = {}  # operands that moved for the same reason
        for operand, asked, ran in (("weights", w, w_run), ("activations", a, a_run)):
            if asked == ran:
                continue
            if asked == FLOAT_BITS:
                kind: tuple = ("float", ran)
            elif fixed[operand] and modes[operand] == PARALLEL:
                kind = ("parallel", ran)
            else:
                kind = ("up", ran, asked)
            kinds.setdefault(kind, []).append(operand)
        parts: list[str] = []
        for kind, operands in kinds.items():
            ops = " and ".join(operands)
            if kind[0] == "float":
                parts.append(f"float {ops} as {kind[1]}-bit fixed point")
            elif kind[0] == "parallel":
                parts.append(f"{ops} bit-parallel at {kind[1]} bits")
            else:
                parts.append(f"{ops} at {kind[1]} bits (the next width it runs above {kind[2]})")
        serial = [op for op, mode in modes.items() if mode != PARALLEL]
        design = (
            f"{title} is {serial[0][:-1]}-serial"
            if len(serial) == 1
            else f"{title} is bit-serial in both operands"
            if serial
            else f"{title} is bit-parallel"
        )
        return f"runs {' and '.join(parts)} ({design})"

    # The price of the design -------------------------------------------------------------
    def buffers(self) -> dict[str, tuple[float, int]]:
        """``{name: (bytes, banks)}`` of the on-chip buffers."""
        return {
            "weight_buffer": (self.weight_buffer_bytes, self.weight_buffer_banks),
            "act_buffer": (self.act_buffer_bytes, self.act_buffer_banks),
            "out_buffer": (self.out_buffer_bytes, self.out_buffer_banks),
        }

    def sram_costs(self) -> dict[str, SramCost]:
        """Each buffer's CACTI cost at this config's banks, word width, ports and node."""
        return {
            name: sram_cost(
                size,
                self.sram_word_bits,
                self.sram_ports,
                banks,
                self.technology_nm,
                f"{self.family}.{name}",
            )
            for name, (size, banks) in self.buffers().items()
        }

    def sram_pj_per_bit(self) -> tuple[float, float, float, float, float, float]:
        """(read, write) pJ per bit of the weight, activation and output buffers, at the node:
        the pinned ``e_sram_pj_per_bit`` (scaled from 45 nm) or each buffer's CACTI row."""
        if self.e_sram_pj_per_bit is not None:
            e = self.e_sram_pj_per_bit * energy_factor(self.technology_nm)
            return (e, e, e, e, e, e)
        c = self.sram_costs()
        out: list[float] = []
        for name in ("weight_buffer", "act_buffer", "out_buffer"):
            out += [float(c[name].read_pj_per_bit), float(c[name].write_pj_per_bit)]
        return tuple(out)  # type: ignore[return-value]

    def default_unit_area_um2(self) -> float:
        """Area (um^2, 45 nm) of one compute unit (one row x column x lane slot): the
        family's ``UNIT_AREA_UM2`` (its source is in the family's module and preset)."""
        if not self.UNIT_AREA_UM2:
            raise HwsimError(f"{self.family}.unit_area_um2", None, "no default; give one")
        return self.UNIT_AREA_UM2

    def compute_area_mm2(self) -> float:
        """The array: ``rows x cols x lanes`` units, at the node."""
        unit = self.unit_area_um2
        if unit is None:
            unit = self.default_unit_area_um2()
        rows, cols, lanes = self.array()
        return rows * cols * lanes * unit * 1e-6 * area_factor(self.technology_nm)

    def area_breakdown(self) -> dict[str, float]:
        parts = {"compute": float(self.compute_area_mm2())}
        parts.update({k: float(v.area_mm2) for k, v in self.sram_costs().items()})
        return parts

    def leakage_w(self) -> float:
        """Buffers: CACTI's leakage; the array: its area x the leakage density of the
        synthesized 16-bit MAC (both scaled to the node)."""
        at45 = self.compute_area_mm2() / area_factor(self.technology_nm)
        logic = at45 * 1e6 * LEAKAGE_NW_PER_UM2 * 1e-9 * power_factor(self.technology_nm)
        return float(logic + sum(c.leakage_w for c in self.sram_costs().values()))

    def pack(self) -> np.ndarray:
        """This config as one row of the kernel's float64 parameter matrix."""
        rule = self.step_rule()
        rows, cols, lanes = self.array()
        v = np.zeros(N_PARAMS, dtype=np.float64)
        v[P_ROWS], v[P_COLS], v[P_LANES] = rows, cols, lanes
        v[P_WMODE], v[P_WBPC] = rule.w_mode, rule.w_bits_per_cycle
        v[P_AMODE], v[P_ABPC] = rule.a_mode, rule.a_bits_per_cycle
        v[P_FREQ] = self.frequency_hz
        v[P_WBUF], v[P_ABUF] = self.weight_buffer_bytes, self.act_buffer_bytes
        v[P_OBUF] = self.out_buffer_bytes
        v[P_BW] = self.dram_bytes_per_s / self.frequency_hz
        fe = energy_factor(self.technology_nm)
        v[P_EMUL], v[P_EADD] = self.e_mul8_pj * fe, self.e_add_pj * fe
        v[P_EW_RD : P_EO_WR + 1] = self.sram_pj_per_bit()
        v[P_EDRAM] = self.e_dram_pj_per_bit  # off chip: not node-scaled
        v[P_OUTBITS], v[P_FILL] = self.out_bits, self.fill_cycles
        w_run = run_width_table(self.w_precisions(), self.runs_float)
        a_run = run_width_table(self.a_precisions(), self.runs_float)
        v[P_REFBITS] = max(max(self.w_precisions()), max(self.a_precisions()))
        v[P_INVFREQ] = 1.0 / self.frequency_hz
        if rule.w_mode == SERIAL:
            v[P_WFACTOR : P_WFACTOR + MAX_BITS + 1] = [
                math.ceil(b / rule.w_bits_per_cycle) for b in range(MAX_BITS + 1)
            ]
        elif rule.w_mode == ESSENTIAL:
            v[P_WFACTOR : P_WFACTOR + MAX_BITS + 1] = [
                self.w_step_factor(b) for b in range(MAX_BITS + 1)
            ]
        else:
            v[P_WFACTOR : P_WFACTOR + MAX_BITS + 1] = 1.0
        v[P_WSCALE : P_WSCALE + MAX_BITS + 1] = [self.w_scale(b) for b in range(MAX_BITS + 1)]
        v[P_CHLANES] = 1.0 if self.channel_lanes else 0.0
        v[P_WRUN : P_WRUN + FLOAT_BITS + 1] = w_run
        v[P_ARUN : P_ARUN + FLOAT_BITS + 1] = a_run
        g = self.group_size()
        v[P_AESS : P_AESS + MAX_BITS + 1] = [
            expected_step_binomial(a, 0.5, g) for a in range(MAX_BITS + 1)
        ]
        return v


def run_width_table(supported: Sequence[int], runs_float: bool) -> np.ndarray:
    """``table[b]``: the width run for a request of ``b`` bits (0 where it cannot run)."""
    table = np.zeros(FLOAT_BITS + 1, dtype=np.float64)
    ordered = sorted(supported)
    for b in range(1, MAX_BITS + 1):
        up = [s for s in ordered if s >= b]
        table[b] = up[0] if up else 0
    table[FLOAT_BITS] = ordered[-1] if runs_float else 0
    return table


@functools.lru_cache(maxsize=4096)
def expected_max_binomial(n: int, p: float, group: int) -> float:
    """E[max of ``group`` independent Binomial(n, p)]: sum over k of P(max > k).

    Cached: every config of a sweep packs the same few (n, p, group) triples."""
    if n <= 0:
        return 0.0
    total, cdf = 0.0, 0.0
    for k in range(n):
        cdf += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        total += 1.0 - min(cdf, 1.0) ** group
    return total


def expected_step_binomial(n: int, p: float, group: int) -> float:
    """E[max(1, max of ``group`` Binomial(n, p))]: a step takes at least one cycle, so the
    expectation adds P(every value is zero) = (1-p)^(n*group) to E[max]."""
    return expected_max_binomial(n, p, group) + (1.0 - p) ** (n * group)


def essential_table(points: Points, group: int) -> np.ndarray:
    """``[layer, a]`` expected per-step cycles E[max(1, group-max essential bits)] from measured
    statistics, NaN where a layer has none (the kernel then uses the config's Binomial(a, 0.5)
    assumption).

    Statistics measured at the requested width give the exact expectation; at another width
    the measured bit density replaces the 0.5 of the assumption."""
    n_layers = len(points.workload)
    tab = np.full((n_layers, MAX_BITS + 1), np.nan)
    for i, st in enumerate(points.stats):
        if st is None:
            continue
        if not isinstance(st, LayerStats):
            raise HwsimError("points.stats", type(st).__name__, "must be LayerStats or None")
        measured_bits = len(st.a_group_max_essential) - 1
        density = st.a_mean_essential / max(measured_bits, 1)
        for a in range(1, MAX_BITS + 1):
            if a == measured_bits and st.group_size == group:
                tab[i, a] = st.expected_group_max_essential() + st.a_group_max_essential[0]
            else:
                tab[i, a] = expected_step_binomial(a, min(density, 1.0), group)
    return tab


@njit(cache=True, inline="always")
def _ceil_div(a: float, b: float) -> float:
    return math.ceil(a / b)


# Per (config, layer) quantities that do not depend on the bits.
LAYER_FIELDS: tuple[str, ...] = (
    "steps",
    "inv_tile_bandwidth",  # 1 / (tiles * DRAM bytes per cycle)
    "tiles",
    "macs",
    "weight_elems",
    "input_elems",
    "output_elems",
    "sram_weight_elems",  # weight elements the array reads from the buffer
    "sram_act_elems",
    "inv_tiles",
    "peak_utilization",  # MACs / array slots, before the step factor and stalls
    "stagger",  # GEMMs whose chunks are staggered over the columns, each apart (0: none)
    "act_operand",  # 1: the second operand is an activation (act x act row), 0: weights
)
N_LAYER = len(LAYER_FIELDS)
L_STEPS = LAYER_FIELDS.index("steps")
L_INV_TBW = LAYER_FIELDS.index("inv_tile_bandwidth")
L_TILES = LAYER_FIELDS.index("tiles")
L_MACS = LAYER_FIELDS.index("macs")
L_WELEM = LAYER_FIELDS.index("weight_elems")
L_IN = LAYER_FIELDS.index("input_elems")
L_OUT = LAYER_FIELDS.index("output_elems")
L_SRAM_W = LAYER_FIELDS.index("sram_weight_elems")
L_SRAM_A = LAYER_FIELDS.index("sram_act_elems")
L_INV_T = LAYER_FIELDS.index("inv_tiles")
L_UTIL = LAYER_FIELDS.index("peak_utilization")
L_STAGGER = LAYER_FIELDS.index("stagger")
L_ACT = LAYER_FIELDS.index("act_operand")


@njit(cache=True)
def layer_steps(
    channel_lanes, rows, cols, lanes, kind, m, n, k, gemms, groups, cin, kernel_area
) -> tuple[float, bool]:
    """``(steps, staggered)`` of one layer on a ``rows x cols x lanes`` array; ``gemms``
    independent GEMMs of ``m / gemms`` rows each make up an act x act row."""
    gemm_steps = gemms * _ceil_div(m / gemms, cols) * _ceil_div(n, rows) * _ceil_div(k, lanes)
    if channel_lanes == 0.0:
        return gemm_steps, False
    if kind == LINEAR or kind == MATMUL or kind == ACT_MATMUL:
        if m / gemms < cols:
            return m * _ceil_div(n, rows) * _ceil_div(k, lanes), True
        return gemm_steps, False
    if kind == DEPTHWISE or (groups == cin and groups > 1 and n == cin):
        return _ceil_div(cin, lanes) * _ceil_div(m, cols) * kernel_area, False
    per_window = kernel_area * _ceil_div(cin / groups, lanes)
    return groups * _ceil_div(m, cols) * _ceil_div(n / groups, rows) * per_window, False


@njit(cache=True, inline="always")
def staggered_cycles(steps: float, p: float, cols: float) -> float:
    """Cycles of ``steps`` chunks of ``p`` cycles each, issued one per cycle round-robin over
    ``cols`` columns, a column taking its next chunk once it finished the previous one."""
    if steps <= 0.0:
        return 0.0
    return math.floor((steps - 1.0) / cols) * max(p, cols) + (steps - 1.0) % cols + p


@njit(cache=True)
def _layer_pairs(
    params, kind_col, m_col, n_col, k_col, in_col, w_col, g_col, act_col, groups_col, cin_col,
    area_col, ess, measured, lay, n_w, n_a, a_factor, lo, hi,
):  # fmt: skip
    """Stage one for the (config, layer) pairs ``lo..hi-1`` (pair ``j`` is config
    ``j // layers``, layer ``j % layers``): everything the bits do not change, and the
    bit-dependent chunk counts and step factors as tables over the run widths 0..16.

    ``w_col``: second-operand elements; ``g_col``: independent GEMMs per row; ``act_col``: 1
    where the second operand is an activation (it then shares the activation buffer)."""
    n_layers = m_col.shape[0]
    for j in range(lo, hi):
        h = j // n_layers
        li = j % n_layers
        q = params[h]
        m = float(m_col[li])
        n = float(n_col[li])
        k = float(k_col[li])
        in_elems = float(in_col[li])
        w_elems = float(w_col[li])
        g = float(g_col[li])
        rows = q[P_ROWS]
        cols = q[P_COLS]
        lanes = q[P_LANES]
        steps, stagger = layer_steps(
            q[P_CHLANES], rows, cols, lanes, kind_col[li], m, n, k, g,
            float(groups_col[li]), float(cin_col[li]), float(area_col[li]),
        )  # fmt: skip
        half_w = q[P_WBUF] / 2.0
        half_a = q[P_ABUF] / 2.0
        if act_col[li]:
            half_a = half_a / 2.0
            half_w = half_a
        # Tile count at the widest precision, so it does not move with the bits.
        ref = q[P_REFBITS]
        t = max(
            1.0,
            _ceil_div(w_elems * ref / 8.0, half_w),
            _ceil_div(in_elems * ref / 8.0, half_a),
            _ceil_div(m * n * ref / 8.0, q[P_OBUF] / 2.0),
        )
        t = min(t, steps)
        lay[h, li, L_STEPS] = steps
        lay[h, li, L_INV_TBW] = 1.0 / (t * q[P_BW])
        lay[h, li, L_TILES] = t
        lay[h, li, L_MACS] = m * n * k
        lay[h, li, L_WELEM] = w_elems
        lay[h, li, L_IN] = in_elems
        lay[h, li, L_OUT] = m * n
        lay[h, li, L_SRAM_W] = steps * lanes * rows
        lay[h, li, L_SRAM_A] = steps * lanes * cols
        lay[h, li, L_INV_T] = 1.0 / t
        lay[h, li, L_UTIL] = m * n * k / (rows * cols * lanes)
        lay[h, li, L_STAGGER] = g if stagger else 0.0
        lay[h, li, L_ACT] = 1.0 if act_col[li] else 0.0
        for b in range(MAX_BITS + 1):
            fb = float(b)
            # Chunks of one GEMM's operands: the re-read rule then holds GEMM by GEMM.
            n_w[h, li, b] = _ceil_div(w_elems / g * fb / 8.0, half_w)
            n_a[h, li, b] = _ceil_div(in_elems / g * fb / 8.0, half_a)
            af = 1.0
            if q[P_AMODE] == SERIAL:
                af = _ceil_div(fb, q[P_ABPC])
            elif q[P_AMODE] == ESSENTIAL:
                e = ess[h, li, b]
                if e != e:  # NaN: no statistics for this layer
                    e = q[P_AESS + b]
                af = max(1.0, e / q[P_ABPC])
            if measured[h, li, b] == measured[h, li, b]:  # a measured mean replaces the rule
                af = measured[h, li, b]
            a_factor[h, li, b] = af


_PAIRS_PER_TASK = 64


@njit(parallel=True, cache=True)
def _layer_tables(
    params, kind_col, m_col, n_col, k_col, in_col, w_col, g_col, act_col, groups_col, cin_col,
    area_col, ess, measured, lay, n_w, n_a, a_factor,
):  # fmt: skip
    """Stage one over every (config, layer) pair, in tasks of ``_PAIRS_PER_TASK`` pairs
    spread over the threads (:func:`_layer_pairs`)."""
    n_pairs = params.shape[0] * m_col.shape[0]
    for task in prange((n_pairs + _PAIRS_PER_TASK - 1) // _PAIRS_PER_TASK):
        _layer_pairs(
            params, kind_col, m_col, n_col, k_col, in_col, w_col, g_col, act_col, groups_col,
            cin_col, area_col, ess, measured, lay, n_w, n_a, a_factor,
            task * _PAIRS_PER_TASK, min(n_pairs, (task + 1) * _PAIRS_PER_TASK),
        )  # fmt: skip


_CHUNK = 512


@njit(cache=True)
def _kernel_block(params, layer, w_req, a_req, lay, n_w, n_a, a_factor, measured, out, chunk, buf):
    """Every metric of every config at the points of block ``chunk`` (``_CHUNK`` points).

    A point has some twenty outputs: written point by point, that is twenty store streams
    at once, more than the caches follow (the kernel then waits on memory). So the block is
    computed into ``buf``, small enough to stay in the first-level cache, then copied out
    one metric at a time."""
    n_cfg = params.shape[0]
    n_pts = layer.shape[0]
    with_tiles = out.shape[0] > len(METRICS)
    n_out = out.shape[0]
    p0 = chunk * _CHUNK
    p1 = min(n_pts, p0 + _CHUNK)
    for h in range(n_cfg):
        q = params[h]
        lh = lay[h]
        cols = q[P_COLS]
        out_bits = q[P_OUTBITS]
        fill = q[P_FILL]
        inv_freq = q[P_INVFREQ]
        e_mul = q[P_EMUL]
        e_add = q[P_EADD]
        # Per-bit energies: weight, activation and output buffer, read and write.
        e_wrd = q[P_EW_RD]
        e_wwr = q[P_EW_WR]
        e_ard = q[P_EA_RD]
        e_awr = q[P_EA_WR]
        e_ord = q[P_EO_RD]
        e_owr = q[P_EO_WR]
        e2rd = e_wrd  # the second operand's buffer (the activation buffer for act x act)
        e2wr = e_wwr
        e_dram_bit = q[P_EDRAM]
        # The layer's row, re-read only when the layer changes (points come grouped).
        prev = -1
        steps = inv_tbw = t = inv_t = macs = w_elem = in_elem = out_elem = 0.0
        sram_w = sram_a = util = gemms = act = 0.0
        for p in range(p0, p1):
            j = p - p0
            li = layer[p]
            if li != prev:
                prev = li
                row = lh[li]
                steps = row[L_STEPS]
                inv_tbw = row[L_INV_TBW]
                t = row[L_TILES]
                inv_t = row[L_INV_T]
                macs = row[L_MACS]
                w_elem = row[L_WELEM]
                in_elem = row[L_IN]
                out_elem = row[L_OUT]
                sram_w = row[L_SRAM_W]
                sram_a = row[L_SRAM_A]
                util = row[L_UTIL]
                gemms = row[L_STAGGER]
                act = row[L_ACT]
                e2rd = e_ard if act else e_wrd
                e2wr = e_awr if act else e_wwr
            wr = q[P_WRUN + w_req[p]]
            ar = q[P_ARUN + a_req[p]]
            iw = int(wr)
            ia = int(ar)
            mean = measured[h, li, ia]
            if mean == mean:
                cps = q[P_WSCALE + iw] * a_factor[h, li, ia]
                compute = steps * cps  # the mean includes the stagger
            else:
                cps = q[P_WFACTOR + iw] * a_factor[h, li, ia]
                compute = steps * cps
                if gemms > 0.0:  # each independent GEMM staggers its own chunks
                    per_gemm = steps / gemms
                    compute = gemms * staggered_cycles(per_gemm, cps, cols)
                    cps = compute / steps
            ob = out_bits
            if ob == 0.0:
                ob = ar
            w_bytes = w_elem * wr * 0.125
            a_bytes = in_elem * ar * 0.125
            o_bytes = out_elem * ob * 0.125
            cw = n_w[h, li, iw]
            ca = n_a[h, li, ia]
            rd_w = w_bytes  # DRAM bytes into the second operand's / activation buffer
            rd_a = a_bytes
            if cw > 1.0 and ca > 1.0:  # the cheaper loop order re-reads one tensor
                if w_bytes + a_bytes * cw <= a_bytes + w_bytes * ca:
                    rd_a = a_bytes * cw
                else:
                    rd_w = w_bytes * ca
            read = rd_w + rd_a
            write = o_bytes
            lt = read * inv_tbw
            st = write * inv_tbw
            ct = compute * inv_t
            if t == 1.0:
                total = lt + ct + st
            else:
                total = lt + max(ct, lt) + (t - 2.0) * max(ct, lt + st) + max(ct, st) + st
            total += fill
            traffic = read + write
            sram = 8.0 * traffic + sram_w * wr + sram_a * ar + out_elem * ob
            e_comp = macs * (e_mul * wr * ar * 0.015625 + e_add) * 1e-12
            # DRAM fills are buffer writes, the array's reads and the output drain reads.
            e_sram = (
                8.0 * rd_w * e2wr
                + sram_w * wr * e2rd
                + 8.0 * rd_a * e_awr
                + sram_a * ar * e_ard
                + out_elem * ob * e_owr
                + 8.0 * write * e_ord
            ) * 1e-12
            e_dram = 8.0 * traffic * e_dram_bit * 1e-12
            buf[M.M_CYCLES, j] = total
            buf[M.M_STALL_CYCLES, j] = total - compute
            buf[M.M_LATENCY_S, j] = total * inv_freq
            buf[M.M_ENERGY_J, j] = e_comp + e_sram + e_dram
            buf[M.M_COMPUTE_ENERGY_J, j] = e_comp
            buf[M.M_SRAM_ENERGY_J, j] = e_sram
            buf[M.M_DRAM_ENERGY_J, j] = e_dram
            buf[M.M_DRAM_READ_BYTES, j] = read
            buf[M.M_DRAM_WRITE_BYTES, j] = write
            buf[M.M_DRAM_BYTES, j] = traffic
            buf[M.M_SRAM_BITS, j] = sram
            # An act x act row stores no weights: its second operand (keys, values) is an
            # activation footprint, held at the width it runs in the weight's place.
            second = w_elem * wr
            held_w = 0.0 if act else second
            buf[M.M_WEIGHT_BITS, j] = held_w
            buf[M.M_ACTIVATION_BITS, j] = in_elem * ar + out_elem * ob + second - held_w
            buf[M.M_UTILIZATION, j] = util * cps / total
            buf[M.M_W_BITS_RUN, j] = wr
            buf[M.M_A_BITS_RUN, j] = ar
            if with_tiles:
                buf[T_TILES, j] = t
                buf[T_COMPUTE, j] = ct
                buf[T_LOAD, j] = lt
                buf[T_STORE, j] = st
                buf[T_FILL, j] = fill
        # Then one output stream at a time: each metric's block is written contiguously.
        for k in range(n_out):
            dst = out[k, h]
            row_k = buf[k]
            for j in range(p1 - p0):
                dst[p0 + j] = row_k[j]


@njit(parallel=True, cache=True)
def _skeleton_kernel(params, layer, w_req, a_req, lay, n_w, n_a, a_factor, measured, out):
    """Stage two: every metric of every (config, point) from the stage-one tables, the blocks
    of points spread over the threads."""
    n_chunks = (layer.shape[0] + _CHUNK - 1) // _CHUNK
    for chunk in prange(n_chunks):
        # Rows padded off a power-of-two stride, so they do not share cache sets.
        buf = np.empty((out.shape[0], _CHUNK + 8))
        _kernel_block(
            params, layer, w_req, a_req, lay, n_w, n_a, a_factor, measured, out, chunk, buf
        )


@njit(cache=True)
def _skeleton_kernel_serial(params, layer, w_req, a_req, lay, n_w, n_a, a_factor, measured, out):
    """:func:`_skeleton_kernel` on the calling thread, for calls too small to share out."""
    buf = np.empty((out.shape[0], _CHUNK + 8))
    for chunk in range((layer.shape[0] + _CHUNK - 1) // _CHUNK):
        _kernel_block(
            params, layer, w_req, a_req, lay, n_w, n_a, a_factor, measured, out, chunk, buf
        )


@njit(cache=True)
def _scan_points(layer, w_bits, a_bits):
    """``(smallest layer, largest layer, seen)`` in one pass: ``seen[0, b]`` / ``seen[1, b]``
    count the points that ask ``b`` weight / activation bits (``b`` in 0..32; index 33 counts
    any width outside 0..32)."""
    seen = np.zeros((2, FLOAT_BITS + 2), dtype=np.int64)
    lo = layer[0] if layer.shape[0] else 0
    hi = lo
    for p in range(layer.shape[0]):
        li = layer[p]
        lo = min(lo, li)
        hi = max(hi, li)
        w = w_bits[p]
        a = a_bits[p]
        seen[0, w if 0 <= w <= FLOAT_BITS else FLOAT_BITS + 1] += 1
        seen[1, a if 0 <= a <= FLOAT_BITS else FLOAT_BITS + 1] += 1
    return lo, hi, seen


def check_points(points: Points) -> np.ndarray | None:
    """Refuse point arrays a kernel could index out of range with.

    Returns ``seen`` (``[2, 34]``: how many points ask each weight / activation width 0..32)
    for :func:`check_runnable`, or None where the arrays are not int64."""
    n_layers = len(points.workload)
    for name in ("layer", "w_bits", "a_bits"):
        arr = getattr(points, name)
        if not isinstance(arr, np.ndarray) or arr.ndim != 1 or arr.shape != points.layer.shape:
            raise HwsimError(
                f"points.{name}",
                getattr(arr, "shape", arr),
                "must be a 1-D array, one entry per point",
            )
    seen = None
    if all(getattr(points, n).dtype == np.int64 for n in ("layer", "w_bits", "a_bits")):
        # One compiled pass; the numpy checks below then only run to name a bad value.
        lo, hi, seen = _scan_points(points.layer, points.w_bits, points.a_bits)
        widths = seen[:, 1 : MAX_BITS + 1].sum(axis=1) + seen[:, FLOAT_BITS]
        if lo >= 0 and hi < n_layers and (widths == len(points)).all():
            return seen
    if len(points.layer) and (points.layer.min() < 0 or points.layer.max() >= n_layers):
        raise HwsimError("points.layer", int(points.layer.max()), f"must be in 0..{n_layers - 1}")
    for name in ("w_bits", "a_bits"):
        arr = getattr(points, name)
        if len(arr) == 0:
            continue
        bad = (arr < 1) | ((arr > MAX_BITS) & (arr != FLOAT_BITS))
        if bad.any():
            raise HwsimError(
                f"points.{name}",
                int(arr[np.argmax(bad)]),
                "bit width must be in 1..16 or 32 (float)",
            )
    return seen


def check_runnable(
    configs: Sequence[HardwareConfig],
    params: np.ndarray,
    points: Points,
    w_off: int,
    a_off: int,
    seen: np.ndarray | None = None,
) -> None:
    """Raise for a requested width some config cannot run (a float request on an integer-only
    family), naming the family and the width. ``seen``: what :func:`check_points` returned."""
    for r, (col, off) in enumerate((("w_bits", w_off), ("a_bits", a_off))):
        # Widths are 1..32 (check_points): a count per width finds the distinct ones.
        counts = (
            seen[r, : FLOAT_BITS + 1]
            if seen is not None
            else np.bincount(getattr(points, col), minlength=FLOAT_BITS + 1)
        )
        req = np.flatnonzero(counts)
        runs = params[:, off + req]
        if not (runs == 0).any():
            continue
        for h, cfg in enumerate(configs):
            if (runs[h] == 0).any():
                bad = int(req[np.argmax(runs[h] == 0)])
                widest = int(params[h, off + 1 : off + MAX_BITS + 1].max())
                what = "float (32-bit)" if bad == FLOAT_BITS else f"{bad}-bit"
                raise HwsimError(
                    col,
                    bad,
                    f"{cfg.family} ({cfg.name}) cannot run {what} tensors; "
                    f"it runs at most {widest} bits",
                )


def packed(config: SkeletonConfig) -> np.ndarray:
    """``config.pack()``, read-only, computed once per config object (configs are frozen)."""
    row = config.__dict__.get("_packed_row")
    if row is None:
        row = config.pack()
        row.setflags(write=False)
        object.__setattr__(config, "_packed_row", row)
    return row


_SERIAL_PAIRS = 1024  # (config, layer) pairs under which one thread beats waking the pool
# Points x configs under which one thread finishes first. Waking the pool is cheap at its
# best (0.3 ms for ResNet-50's 13,824 points), but on the 2-vCPU machine the benchmarks run on
# most such calls wait about 8 ms for it under the OpenMP runtime's default wait policy
# (benchmarks/results/costmodel_calls.csv), while one thread takes 0.45 ms; below about 2^18
# points one thread is faster in the typical call, not only the worst.
_SERIAL_POINTS = 1 << 18


def run_kernel(
    configs: Sequence[SkeletonConfig], points: Points, with_tiles: bool = True
) -> dict[str, np.ndarray]:
    """Every METRICS array ``[H, P]`` (and the TILE_KEYS with ``with_tiles``) for ``configs``
    at ``points``: one Numba call over the (config, layer) pairs, one over the points."""
    seen = check_points(points)
    params = np.stack([packed(c) for c in configs])
    check_runnable(configs, params, points, P_WRUN, P_ARUN, seen)
    n_layers = len(points.workload)
    n_cfg = len(configs)
    # Measured essential bits per config (NaN: none, or not an essential-bit family).
    ess = np.full((n_cfg, n_layers, MAX_BITS + 1), np.nan)
    if points.stats and any(st is not None for st in points.stats):
        by_group: dict[int, np.ndarray] = {}
        for h, c in enumerate(configs):
            if c.step_rule().a_mode == ESSENTIAL:
                g = c.group_size()
                if g not in by_group:
                    by_group[g] = essential_table(points, g)
                ess[h] = by_group[g]
    measured = measured_table(configs, points)
    wl = points.workload
    cols = wl.columns
    lay = np.empty((n_cfg, n_layers, N_LAYER))
    n_w = np.empty((n_cfg, n_layers, MAX_BITS + 1))
    n_a = np.empty_like(n_w)
    a_factor = np.empty_like(n_w)
    layer_args = (
        params,
        cols["kind"],
        cols["M"],
        cols["N"],
        cols["K"],
        wl.input_elems,
        wl.weight_elems,
        wl.independent_gemms,
        wl.is_act_matmul.astype(np.int64),
        cols["groups"],
        cols["in_channels"],
        cols["kernel_h"] * cols["kernel_w"],
        ess,
        measured,
        lay,
        n_w,
        n_a,
        a_factor,
    )
    n_pairs = n_cfg * n_layers
    if n_pairs < _SERIAL_PAIRS:
        _layer_pairs(*layer_args, 0, n_pairs)
    else:
        _layer_tables(*layer_args)
    keys = OUT_KEYS if with_tiles else METRICS
    out = np.empty((len(keys), n_cfg, len(points)), dtype=np.float64)
    if len(points):
        kernel = (
            _skeleton_kernel_serial if n_cfg * len(points) < _SERIAL_POINTS else _skeleton_kernel
        )
        kernel(
            params,
            np.ascontiguousarray(points.layer, dtype=np.int64),
            np.ascontiguousarray(points.w_bits, dtype=np.int64),
            np.ascontiguousarray(points.a_bits, dtype=np.int64),
            lay,
            n_w,
            n_a,
            a_factor,
            measured,
            out,
        )
    return {k: out[i] for i, k in enumerate(keys)}


def measured_table(configs: Sequence[SkeletonConfig], points: Points) -> np.ndarray:
    """``[config, layer, a]`` the measured mean cycles per step of each config's rule, divided
    by its weight scale at the measured width and scaled by ``a / a_measured`` (NaN: no
    measurement, or a data-independent family)."""
    n_layers = len(points.workload)
    out = np.full((len(configs), n_layers, MAX_BITS + 1), np.nan)
    if not points.stats:
        return out
    widths = np.arange(MAX_BITS + 1, dtype=np.float64)
    # Configs of a sweep share few rules: one table per (rule, weight scale), then copied.
    tables: dict[tuple, np.ndarray] = {}
    for h, c in enumerate(configs):
        key = c.step_rule_key()
        if key is None:
            continue
        scale = tuple(c.w_scale(b) for b in range(MAX_BITS + 1))
        if (key, scale) not in tables:
            tab = np.full((n_layers, MAX_BITS + 1), np.nan)
            for i, st in enumerate(points.stats):
                if st is None or key not in st.step_cycles:
                    continue
                ws = scale[min(st.w_bits, MAX_BITS)]
                tab[i] = np.maximum(1.0 / ws, st.step_cycles[key] / ws * widths / st.a_bits)
            tables[(key, scale)] = tab
        out[h] = tables[(key, scale)]
    return out


def missing_stats_notes(config: HardwareConfig, names: Sequence[str], stats: Sequence) -> list:
    """Report notes for the layers a data-dependent config costs without its measured rule."""
    if not isinstance(config, SkeletonConfig) or config.step_rule_key() is None:
        return []
    key = config.step_rule_key()
    missing = [
        n for n, st in zip(names, stats, strict=True) if st is None or key not in st.step_cycles
    ]
    if not missing:
        return []
    shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
    from hwsim.stepstats import DEFAULT_RULES

    how = (
        "quant.export(model, calibration_data) measures it on real codes (or "
        "hwsim.bits.layer_stats per layer); save the policy it returns "
        "(BitPolicy.save) and pass it to hwsim simulate --policy FILE"
        if key in DEFAULT_RULES
        else f"hwsim.stepstats.step_cycles(..., rules=['{key}']) measures it on real codes "
        "(it is not among the rules hwsim.bits.layer_stats measures by default); put the mean "
        "in each layer's LayerStats.step_cycles"
    )
    return [
        f"{config.family} ({config.name}): no measured '{key}' for {len(missing)} of "
        f"{len(names)} layers ({shown}); assumed {config.missing_stats_default()}. "
        f"To supply the measurements: {how}"
    ]


def evaluate(configs: Sequence[SkeletonConfig], points: Points) -> dict[str, np.ndarray]:
    """The registry entry point shared by every skeleton family."""
    return run_kernel(configs, points, with_tiles=False)
