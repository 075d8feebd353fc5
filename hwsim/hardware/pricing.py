"""The price of a design: chip area, leakage, and the technology-node scaling of both.

``area(hardware)`` returns an :class:`Area` (mm^2 per component: the compute array and each
on-chip buffer). It is priced per hardware configuration, never per layer, so the cost model's
per-layer path is untouched. Each family answers ``area_breakdown()`` (None: no area model,
as for CPUs) and ``leakage_w()``.

Technology node: figures are given at 45 nm and moved to ``technology_nm`` with the scaling
equations of Stillmaker and Baas, "Scaling equations for the accurate prediction of CMOS device
performance from 180 nm to 7 nm", Integration 58 (2017) 74-81:

- area: the paper's area scaling table (:data:`AREA_VS_45NM`, the area at node n over the area
  at 45 nm);
- energy per operation: the paper's fitted energy polynomial ``E(V) = a V^2 + b V + c`` of each
  node (high-performance fits at 45 nm and below), evaluated at the node's nominal supply
  (:data:`NOMINAL_VDD`), over the same at 45 nm and 1.0 V (:func:`energy_factor`);
- power (leakage): the paper's fitted power polynomial, the same way (:func:`power_factor`).

DRAM energy per bit is a sourced constant of each preset and is not node-scaled (it is the
off-chip interface's, not the logic node's).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hwsim.errors import HwsimError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from hwsim.hardware.base import HardwareConfig

BASE_NODE_NM = 45

# Stillmaker & Baas 2017, area scaling: area at node n divided by the area at 45 nm (the
# paper's area table, the 45 nm row). Also used by the public nodeScale tool (UCLA NanoCAD).
AREA_VS_45NM: Mapping[int, float] = {
    180: 19.0,
    130: 6.4,
    90: 2.8,
    65: 1.5,
    45: 1.0,
    32: 0.46,
    20: 0.21,
    16: 0.19,
    14: 0.17,
    10: 0.1,
    7: 0.059,
}

# Stillmaker & Baas 2017, fitted coefficients per node: energy E(V) = e2 V^2 + e1 V + e0 and
# power P(V) = p2 V^2 + p1 V + p0 (relative units; only ratios between nodes are used). 180 to
# 65 nm: the measured-process fits; 45 nm and below: the high-performance (HP) fits.
_FITS: Mapping[int, tuple[float, float, float, float, float, float]] = {
    180: (0.0, 24.64, -17.98, 0.0, 101000.0, -79720.0),
    130: (7.171, -6.709, 2.904, 27020.0, -15450.0, 5630.0),
    90: (4.762, -4.781, 2.092, 17320.0, -11230.0, 4328.0),
    65: (3.755, -4.398, 1.975, 12890.0, -10510.0, 4362.0),
    45: (1.018, -0.3107, 0.1539, 5462.0, -1760.0, 522.4),
    32: (0.8367, -0.4341, 0.1701, 4001.0, -1733.0, 533.6),
    20: (0.373, -0.1582, 0.04104, 2922.0, -1286.0, 299.9),
    16: (0.2958, -0.1241, 0.03024, 2133.0, -882.6, 197.7),
    14: (0.2363, -0.09675, 0.02239, 1675.0, -711.0, 159.0),
    10: (0.2068, -0.09311, 0.02375, 1456.0, -621.6, 143.8),
    7: (0.1776, -0.09097, 0.02447, 1179.0, -515.7, 123.4),
}

# The nominal supply each node's figures are evaluated at (V): the supplies of the paper's
# device tables (bulk 180-65 nm, PTM high-performance 45/32 nm, PTM multi-gate 20-7 nm).
NOMINAL_VDD: Mapping[int, float] = {
    180: 1.8,
    130: 1.3,
    90: 1.2,
    65: 1.1,
    45: 1.0,
    32: 0.9,
    20: 0.9,
    16: 0.85,
    14: 0.8,
    10: 0.75,
    7: 0.7,
}

NODES: tuple[int, ...] = tuple(sorted(AREA_VS_45NM, reverse=True))
"""Technology nodes (nm) a ``technology_nm`` field accepts."""


def check_node(field_name: str, nm: object) -> int:
    """``nm`` if it is a node the scaling equations cover, else HwsimError naming the field."""
    if isinstance(nm, bool) or not isinstance(nm, int) or nm not in AREA_VS_45NM:
        raise HwsimError(
            field_name,
            nm,
            f"must be one of the nodes the Stillmaker-Baas equations cover: {list(NODES)} (nm)",
        )
    return nm


def _poly(c2: float, c1: float, c0: float, v: float) -> float:
    return c2 * v * v + c1 * v + c0


def area_factor(nm: int) -> float:
    """Area at ``nm`` over the area at 45 nm (Stillmaker & Baas 2017)."""
    return AREA_VS_45NM[check_node("technology_nm", nm)]


def energy_factor(nm: int) -> float:
    """Energy per operation at ``nm`` (nominal supply) over the same at 45 nm and 1.0 V."""
    e2, e1, e0 = _FITS[check_node("technology_nm", nm)][:3]
    b2, b1, b0 = _FITS[BASE_NODE_NM][:3]
    return _poly(e2, e1, e0, NOMINAL_VDD[nm]) / _poly(b2, b1, b0, NOMINAL_VDD[BASE_NODE_NM])


def power_factor(nm: int) -> float:
    """Power at ``nm`` (nominal supply) over the same at 45 nm and 1.0 V: what leakage
    is scaled with (the paper fits total power; it gives no separate leakage fit)."""
    p2, p1, p0 = _FITS[check_node("technology_nm", nm)][3:]
    b2, b1, b0 = _FITS[BASE_NODE_NM][3:]
    return _poly(p2, p1, p0, NOMINAL_VDD[nm]) / _poly(b2, b1, b0, NOMINAL_VDD[BASE_NODE_NM])


# Compute units ---------------------------------------------------------------------------
# The Bit Fusion authors' synthesis of fixed-precision p x p MAC units (1 x 1 array, 45 nm,
# 500 MHz; hsharma35/bitfusion results/systolic_array_synth.csv, "Max/Min Precision" p/p):
# area (um^2), leakage (nW), dynamic power (nW).
FIXED_MAC_SYNTH_45NM: Mapping[int, tuple[float, float, float]] = {
    2: (124.8912, 2832.7, 28742.0),
    4: (282.239998, 7780.7, 60101.7),
    8: (687.6072, 22952.0, 148845.0),
    16: (2203.236034, 68980.0, 473688.0),
}
SYNTH_FREQUENCY_HZ = 500e6

LEAKAGE_NW_PER_UM2 = FIXED_MAC_SYNTH_45NM[16][1] / FIXED_MAC_SYNTH_45NM[16][0]
"""Leakage density of logic at 45 nm (nW per um^2): the synthesized 16-bit MAC's leakage over
its area. Compute leakage = compute area x this density (the rule used for every family)."""


def _mac_area_at(width: float) -> float:
    """Synthesized p x p MAC area (um^2, 45 nm) at a real width ``p`` in [2, 16]: the row itself,
    or log-log interpolation in the width between the neighbouring rows."""
    rows = sorted(FIXED_MAC_SYNTH_45NM)
    b = max(width, rows[0])
    if b in FIXED_MAC_SYNTH_45NM:
        return FIXED_MAC_SYNTH_45NM[int(b)][0]
    lo = max(r for r in rows if r < b)
    hi = min(r for r in rows if r > b)
    a_lo, a_hi = FIXED_MAC_SYNTH_45NM[lo][0], FIXED_MAC_SYNTH_45NM[hi][0]
    t = (math.log(b) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return math.exp(math.log(a_lo) + t * (math.log(a_hi) - math.log(a_lo)))


def fixed_mac_area_um2(bits: int) -> float:
    """Area (um^2, 45 nm) of a fixed ``bits x bits`` MAC: the synthesis row at 2, 4, 8 or 16
    bits, log-log interpolation in the width between rows (1 bit: the 2-bit row)."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16:
        raise HwsimError("precision", bits, "must be an integer 1..16")
    return _mac_area_at(float(bits))


SIP_LANES = 16
"""Lanes of one serial inner-product unit (SIP) of the DaDianNao-derived bit-serial designs:
16 products summed by one adder tree into one accumulator (Stripes, Loom, Pragmatic, Laconic)."""


def serial_lane_area_um2(bits_per_lane: int) -> float:
    """Area (um^2, 45 nm) of one lane of a 16-lane serial inner-product unit whose lanes each form
    ``bits_per_lane`` one-bit partial products per cycle (Stripes: 1 activation bit x a 16-bit
    weight = 16; Loom: 1 weight bit x ``a_bits_per_cycle`` activation bits).

    [INFER] compute-to-compute rule: a SIP has the AND array, the reduction tree and the one
    accumulator of a bit-parallel ``p x p`` MAC with the same number of one-bit partial products,
    ``p^2 = 16 x bits_per_lane``; so a lane is that synthesized MAC (the Bit Fusion authors'
    45 nm rows, log-log in the width between rows) over 16. Stripes' lane is a 16 x 16-bit MAC
    over 16 = 137.70 um^2. It does not depend on how the buffers are priced. It omits what a
    SIP adds to a MAC (weight registers held for the serial steps, Pragmatic's shifters and
    oneffset generators, Laconic's term decoders), so it is a lower bound. The papers' own
    absolute area figures (Stripes MICRO 2016, Bit-Pragmatic MICRO 2017, Loom DAC 2018, Laconic
    ISCA 2019) and DaDianNao's NFU share of its chip were searched for and not found."""
    if isinstance(bits_per_lane, bool) or not isinstance(bits_per_lane, int):
        raise HwsimError("bits_per_lane", bits_per_lane, "must be an integer 1..16")
    if not 1 <= bits_per_lane <= 16:
        raise HwsimError("bits_per_lane", bits_per_lane, "must be an integer 1..16")
    return _mac_area_at(math.sqrt(SIP_LANES * bits_per_lane)) / SIP_LANES


SERIAL_LANE_UM2 = serial_lane_area_um2(16)
"""Area (um^2, 45 nm) of one lane of Stripes' serial inner-product units (1 activation bit x a
16-bit weight): a synthesized 16 x 16-bit MAC over 16 (:func:`serial_lane_area_um2`, an
[INFER] compute-to-compute rule). Bit-Pragmatic and Laconic use it too (their lanes also feed
16-bit-wide products into a 16-input adder tree; their extra per-lane logic is not counted);
Loom's lane is :func:`serial_lane_area_um2` of its activation bits per cycle."""

BINARY_LANE_UM2 = FIXED_MAC_SYNTH_45NM[2][0] / 4
"""Area (um^2, 45 nm) of one binary (AND + popcount) lane of BISMO's dot-product units: a
quarter of the synthesized 2x2-bit MAC (which holds four 1-bit partial products); BISMO is an
FPGA overlay with no ASIC figure of its own."""


# Area ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Area:
    """Chip area of one hardware configuration, in mm^2 at ``technology_nm``.

    ``components``: ``compute`` (the array) and one entry per on-chip buffer
    (``weight_buffer``, ``act_buffer``, ``out_buffer``, ...); ``total_mm2`` is their sum."""

    hardware: str
    components: Mapping[str, float]
    technology_nm: int
    total_mm2: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "components", dict(self.components))
        object.__setattr__(self, "total_mm2", float(sum(self.components.values())))

    def to_frame(self) -> pd.DataFrame:
        """One row per component and a ``total`` row: ``mm2`` and ``share`` of the total."""
        import pandas as pd

        names = [*self.components, "total"]
        mm2 = [*self.components.values(), self.total_mm2]
        return pd.DataFrame(
            {"mm2": mm2, "share": [v / self.total_mm2 for v in mm2]},
            index=pd.Index(names, name="component"),
        )

    def __repr__(self) -> str:
        parts = ", ".join(f"{k} {v:.4g}" for k, v in self.components.items())
        return (
            f"Area({self.hardware}: {self.total_mm2:.4g} mm^2 at {self.technology_nm} nm = {parts})"
        )


CPU_NO_AREA = (
    "a CPU has no area model in hwsim: no source gives the share of a general-purpose die "
    "that one network uses, and hwsim does not invent one"
)


def area(hardware: HardwareConfig | str) -> Area:
    """The area breakdown of ``hardware`` (a config or a preset name / TOML path).

    Raises HwsimError for a family without an area model (the CPU presets)."""
    from hwsim.hardware.registry import load_hardware

    hw = load_hardware(hardware)
    parts = hw.area_breakdown()
    if parts is None:
        reason = (
            CPU_NO_AREA
            if hw.family.startswith("cpu")
            else f"the {hw.family} family has no area model"
        )
        raise HwsimError("hardware", hw.name, reason)
    return Area(hw.name, parts, int(getattr(hw, "technology_nm", BASE_NODE_NM)))


def area_mm2(hardware: HardwareConfig) -> float:
    """Total area in mm^2, NaN for a family without an area model (CPUs)."""
    parts = hardware.area_breakdown()
    return float("nan") if parts is None else float(sum(parts.values()))


def price(hardware: HardwareConfig) -> tuple[float, float, str]:
    """``(area mm^2, leakage W, note)`` of one config for reports and cost tables: area NaN
    for a family without an area model (CPUs: leakage 0), both NaN where a buffer lies outside
    the CACTI table, with the reason in ``note`` ("" otherwise)."""
    try:
        total = area_mm2(hardware)
        leak = float(hardware.leakage_w())
    except HwsimError as exc:
        return float("nan"), float("nan"), f"{hardware.name}: not priced ({exc})"
    return total, leak, ""
