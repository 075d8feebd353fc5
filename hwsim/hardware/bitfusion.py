"""Bit Fusion (Sharma et al., ISCA 2018): the public simulator's model, exactly, and fast.

A systolic array of ``rows x cols`` fusion units; each unit's 2-bit BitBricks fuse into fewer,
wider multipliers, so a layer at ``a``/``w`` bits runs ``floor(pmax/a) * floor(pmax/w)`` MACs
per unit per cycle. For each layer the simulator searches every power-of-two tiling under all
120 loop orders (docs/models.md, section 3); :mod:`hwsim.hardware._bitfusion_kernel` runs
that search in Numba over the distinct (layer shape, bits, config) points only.

Mapping of hwsim layers onto the simulator's square conv:

- conv: kernel, output size and stride per axis (square in the reference; a non-square layer
  uses each axis' own size, which reduces to the reference when both axes agree); ``first``
  (the layer reads the network input) selects the simulator's im2col case.
- linear / matmul: a conv with K = O = S = 1 and batch = the GEMM's M rows.
- groups (depthwise): the reference has none; a grouped layer runs as ``groups`` identical
  independent layers of ``in/groups -> out/groups`` channels, so every count is ``groups``
  times the one-group count.
- dilation > 1 is not modelled and raises.
- Bits above ``max_bits`` crash the reference (its fusion factor is zero): the exact preset
  raises :class:`HwsimError`; with ``temporal_high_bits`` (the ``bitfusion-corrected``
  preset) wider operands run as ``ceil(a/pmax) * ceil(w/pmax)`` passes over fused units at
  ``pmax`` bits, as the paper does 16-bit (four passes for 16x16).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from hwsim.errors import HwsimError, check
from hwsim.hardware import _bitfusion_kernel as kern
from hwsim.hardware.base import HardwareConfig, RenamedField, per_cycle_to_per_s
from hwsim.hardware.registry import Points, register_family
from hwsim.workload import KINDS

_MAX_BUFFER_BYTES = 1 << 30
_INT_LIMIT = float(1 << 62)


@dataclass(frozen=True)
class BitFusionConfig(HardwareConfig):
    """One Bit Fusion accelerator: array, buffers, DRAM interface and energy table.

    Energies are per compute cycle of the whole array (core) and per bit (buffers, DRAM), in
    picojoules, as the simulator charges them. DRAM bandwidth is in bytes per second, as in
    every family; the simulator's interface width in bits per cycle is
    :attr:`dram_bits_per_cycle`.
    """

    family: ClassVar[str] = "bitfusion"
    RENAMED: ClassVar = {
        "dram_bits_per_cycle": RenamedField(
            "dram_bytes_per_s", per_cycle_to_per_s(0.125), "bits per cycle / 8 x frequency_hz"
        )
    }

    name: str = "bitfusion"
    frequency_hz: float = 500e6
    rows: int = 16  # N: fusion units along the reduction (input) side
    cols: int = 32  # M: output columns
    max_bits: int = 8  # pmax: widest fused operand
    min_bits: int = 2  # pmin: one BitBrick; narrower operands compute as this width
    wbuf_bytes: int = 65536
    ibuf_bytes: int = 32768
    obuf_bytes: int = 16384
    dram_bytes_per_s: float = 12e9  # 192 bits per cycle at 500 MHz
    psum_bits: int = 32  # partial sums and outputs are held and moved at this width
    temporal_high_bits: bool = False  # run bits > max_bits as several passes (else raise)
    core_pj_per_cycle: float = 235.104
    wbuf_read_pj_per_bit: float = 0.02136565625
    wbuf_write_pj_per_bit: float = 0.02891615625
    ibuf_read_pj_per_bit: float = 0.059474375
    ibuf_write_pj_per_bit: float = 0.1137040625
    obuf_read_pj_per_bit: float = 0.0331553125
    obuf_write_pj_per_bit: float = 0.0730840625
    dram_pj_per_bit: float = 15.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.positive_int(
            "rows",
            "cols",
            "max_bits",
            "min_bits",
            "wbuf_bytes",
            "ibuf_bytes",
            "obuf_bytes",
            "psum_bits",
        )
        self.positive("dram_bytes_per_s")
        self.non_negative(
            "core_pj_per_cycle",
            "wbuf_read_pj_per_bit",
            "wbuf_write_pj_per_bit",
            "ibuf_read_pj_per_bit",
            "ibuf_write_pj_per_bit",
            "obuf_read_pj_per_bit",
            "obuf_write_pj_per_bit",
            "dram_pj_per_bit",
        )
        check(
            self.min_bits <= self.max_bits <= 16,
            "bitfusion.max_bits",
            self.max_bits,
            f"must be in min_bits ({self.min_bits})..16",
        )
        check(self.psum_bits <= 64, "bitfusion.psum_bits", self.psum_bits, "must be <= 64")
        check(
            self.rows * self.cols <= 1 << 16,
            "bitfusion.rows",
            (self.rows, self.cols),
            "rows * cols must be <= 65536 fusion units",
        )
        bits = self.dram_bytes_per_s * 8.0 / self.frequency_hz
        check(
            1.0 <= bits <= 1 << 20,
            "bitfusion.dram_bytes_per_s",
            self.dram_bytes_per_s,
            f"must give 1..2**20 bits per cycle at frequency_hz ({bits:g})",
        )
        for buf in ("wbuf_bytes", "ibuf_bytes", "obuf_bytes"):
            check(
                getattr(self, buf) <= _MAX_BUFFER_BYTES,
                f"bitfusion.{buf}",
                getattr(self, buf),
                f"must be <= {_MAX_BUFFER_BYTES} bytes",
            )
        check(
            isinstance(self.temporal_high_bits, bool),
            "bitfusion.temporal_high_bits",
            self.temporal_high_bits,
            "must be true or false",
        )

    @property
    def dram_bits_per_cycle(self) -> int:
        """The DRAM interface width the simulator counts in: whole bits per cycle.

        ``dram_bytes_per_s * 8 / frequency_hz``, rounded down to whole bits (a value within
        1e-9 of a whole number is that number, so a rate given as width x clock comes back
        exactly)."""
        bits = self.dram_bytes_per_s * 8.0 / self.frequency_hz
        whole = round(bits)
        return whole if abs(bits - whole) <= 1e-9 * bits else math.floor(bits)

    def fusion_factor(self, a_bits: int, w_bits: int) -> int:
        """Fused MACs per fusion unit per cycle at ``a_bits`` x ``w_bits`` (0 if too wide)."""
        a, w = max(a_bits, self.min_bits), max(w_bits, self.min_bits)
        return (self.max_bits // a) * (self.max_bits // w)

    def _int_row(self) -> list[int]:
        return [
            self.rows,
            self.cols,
            self.max_bits,
            self.min_bits,
            self.wbuf_bytes,
            self.ibuf_bytes,
            self.obuf_bytes,
            self.dram_bits_per_cycle,
            self.psum_bits,
        ]

    def _energy_row(self) -> list[float]:
        return [
            self.core_pj_per_cycle,
            self.wbuf_read_pj_per_bit,
            self.wbuf_write_pj_per_bit,
            self.ibuf_read_pj_per_bit,
            self.ibuf_write_pj_per_bit,
            self.obuf_read_pj_per_bit,
            self.obuf_write_pj_per_bit,
            self.dram_pj_per_bit,
        ]


EXTRA_KEYS: tuple[str, ...] = (*kern.OUT_FIELDS[2:], "groups_run")
"""Per-point outputs beyond METRICS: compute cycles, per-buffer read/write bits, DRAM read and
write bits, the chosen tile sizes and loop order (index into ``LOOP_ORDERS``)."""

LOOP_ORDERS: tuple[tuple[str, ...], ...] = tuple(
    tuple(kern.LOOP_NAMES[i] for i in order) for order in kern.ORDERS
)
"""The 120 loop orders, outermost first."""


def layer_rows(points: Points) -> tuple[np.ndarray, np.ndarray]:
    """The simulator's layer parameters per point (``kern.ROW_FIELDS`` without bits and
    config) and the number of identical groups each point runs as."""
    col = points.column
    kind = col("kind")
    conv_like = (kind == KINDS.index("conv")) | (kind == KINDS.index("depthwise"))
    groups = col("groups")
    dil = (col("dilation_h") > 1) | (col("dilation_w") > 1)
    if bool(np.any(dil & conv_like)):
        i = int(np.flatnonzero(dil & conv_like)[0])
        name = points.workload.layer_names[int(points.layer[i])]
        raise HwsimError(
            f"workload.dilation[{name}]",
            (int(col("dilation_h")[i]), int(col("dilation_w")[i])),
            "Bit Fusion does not model dilated convolutions",
        )
    one = np.ones_like(kind)
    # An act x act row is ``batch`` independent GEMMs of ``M / batch`` rows, each with its own
    # second operand in the weight's place: identical groups, as a grouped layer's are.
    act = kind == KINDS.index("act_matmul")
    groups = np.where(act, col("batch"), groups)
    rows = np.stack(
        [
            np.where(conv_like, col("batch"), col("M") // np.where(act, groups, 1)),
            np.where(conv_like, col("out_h"), one),
            np.where(conv_like, col("out_w"), one),
            np.where(conv_like, col("kernel_h"), one),
            np.where(conv_like, col("kernel_w"), one),
            np.where(conv_like, col("stride_h"), one),
            np.where(conv_like, col("stride_w"), one),
            np.where(conv_like, col("in_channels") // groups, col("K")),
            np.where(act, col("out_channels"), col("out_channels") // groups),
            np.where(conv_like, col("first"), 0 * one),
        ],
        axis=1,
    )
    return rows.astype(np.int64), groups.astype(np.int64)


def _check_bits(cfg: BitFusionConfig, points: Points) -> None:
    for key, arr in (("w_bits", points.w_bits), ("a_bits", points.a_bits)):
        arr = np.asarray(arr)
        bad = (arr < 1) | (arr > 16)
        if not cfg.temporal_high_bits:
            bad |= arr > cfg.max_bits
        if bool(np.any(bad)):
            i = int(np.flatnonzero(bad)[0])
            name = points.workload.layer_names[int(points.layer[i])]
            limit = "1..16" if cfg.temporal_high_bits else f"1..{cfg.max_bits}"
            raise HwsimError(
                f"{key}[{name}]",
                int(arr[i]),
                f"{cfg.name} runs {limit} bits (the public simulator divides by "
                "zero above max_bits; use bitfusion-corrected for temporal "
                "high precision)"
                if not cfg.temporal_high_bits
                else f"{cfg.name} runs {limit} bits",
            )


def _check_magnitude(cfg: BitFusionConfig, rows: np.ndarray, workload_names, layer) -> None:
    # Every counter is bounded by roughly this product (padded tiles, the widest receptive
    # field, the widest operands); keep it far from int64 overflow.
    r = rows.astype(np.float64)
    bound = (
        r[:, kern.R_B]
        * r[:, kern.R_OH]
        * r[:, kern.R_OW]
        * (r[:, kern.R_KH] + r[:, kern.R_SH])
        * (r[:, kern.R_KW] + r[:, kern.R_SW])
        * (2 * r[:, kern.R_IC] + 16 * cfg.rows)
        * (2 * r[:, kern.R_OC] + 2 * cfg.cols)
        * (64 + 2 * 16 + cfg.psum_bits)
        * 16
    )
    bad = bound >= _INT_LIMIT
    if bool(np.any(bad)):
        i = int(np.flatnonzero(bad)[0])
        raise HwsimError(
            f"workload[{workload_names[int(layer[i])]}]",
            rows[i].tolist(),
            "layer too large for the exact Bit Fusion model's 64-bit counters",
        )


def evaluate(configs: Sequence[BitFusionConfig], points: Points) -> dict[str, np.ndarray]:
    """Every METRICS key plus :data:`EXTRA_KEYS`, each ``[config, point]``."""
    n_h, n_p = len(configs), len(points)
    geo, groups = layer_rows(points)
    for cfg in configs:
        _check_bits(cfg, points)
        _check_magnitude(cfg, geo, points.workload.layer_names, points.layer)
    bits = np.stack(
        [np.asarray(points.a_bits, np.int64), np.asarray(points.w_bits, np.int64)], axis=1
    )
    per_point = np.concatenate([geo, bits], axis=1)
    rows = np.concatenate(
        [np.concatenate([per_point, np.full((n_p, 1), h, np.int64)], axis=1) for h in range(n_h)]
    )
    # Memoize: networks repeat layer shapes, and a cost table repeats every layer per option.
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    cfgs = np.array([c._int_row() for c in configs], dtype=np.int64)
    energies = np.array([c._energy_row() for c in configs], dtype=np.float64)
    found = kern.run_search(uniq, cfgs, energies)
    if bool(np.any(found[:, kern.O_CYCLES] < 0)):
        i = int(np.flatnonzero(found[:, kern.O_CYCLES] < 0)[0])
        raise HwsimError(
            "bitfusion buffers",
            configs[int(uniq[i, kern.R_CONFIG])].name,
            f"no tiling of layer {dict(zip(kern.ROW_FIELDS, uniq[i].tolist(), strict=False))} "
            "fits half the buffers",
        )
    res = found[inverse.reshape(-1)].reshape(n_h, n_p, -1)
    g = groups[None, :]
    field = {k: res[:, :, i] for i, k in enumerate(kern.OUT_FIELDS)}
    counts = {k: field[k] * g for k in kern.OUT_FIELDS[:11]}
    e = energies[:, None, :]
    compute_e = counts["compute_cycles"] * e[..., 0]
    sram_e = (
        counts["wbuf_read_bits"] * e[..., 1]
        + counts["wbuf_write_bits"] * e[..., 2]
        + counts["ibuf_read_bits"] * e[..., 3]
        + counts["ibuf_write_bits"] * e[..., 4]
        + counts["obuf_read_bits"] * e[..., 5]
        + counts["obuf_write_bits"] * e[..., 6]
    )
    dram_e = (counts["dram_read_bits"] + counts["dram_write_bits"]) * e[..., 7]

    freq = np.array([c.frequency_hz for c in configs])[:, None]
    a = bits[:, 0][None, :]
    w = bits[:, 1][None, :]
    pmax = cfgs[:, 2][:, None]
    pmin = cfgs[:, 3][:, None]
    pa = np.minimum(np.maximum(a, pmin), pmax)
    pw = np.minimum(np.maximum(w, pmin), pmax)
    passes = -(-a // pmax) * -(-w // pmax)
    peak = (cfgs[:, 0] * cfgs[:, 1])[:, None] * (pmax // pa) * (pmax // pw) / passes
    macs = points.column("M") * points.column("N") * points.column("K")
    wl = points.workload
    second = wl.weight_elems[points.layer]
    held_w = np.where(wl.is_act_matmul[points.layer], 0, second)
    sram_bits = sum(
        counts[k]
        for k in (
            "wbuf_read_bits",
            "wbuf_write_bits",
            "ibuf_read_bits",
            "ibuf_write_bits",
            "obuf_read_bits",
            "obuf_write_bits",
        )
    )
    out = {
        "cycles": counts["cycles"].astype(np.float64),
        "stall_cycles": counts["stall_cycles"].astype(np.float64),
        "latency_s": counts["cycles"] / freq,
        "energy_j": (compute_e + sram_e + dram_e) * 1e-12,
        "compute_energy_j": compute_e * 1e-12,
        "sram_energy_j": sram_e * 1e-12,
        "dram_energy_j": dram_e * 1e-12,
        "dram_read_bytes": counts["dram_read_bits"] / 8.0,
        "dram_write_bytes": counts["dram_write_bits"] / 8.0,
        "dram_bytes": (counts["dram_read_bits"] + counts["dram_write_bits"]) / 8.0,
        "sram_bits": sram_bits.astype(np.float64),
        # An act x act row stores no weights: its second operand is an activation footprint.
        "weight_bits": np.broadcast_to(held_w * w, (n_h, n_p)) * 1.0,
        "activation_bits": np.broadcast_to(
            (wl.input_elems[points.layer] + wl.output_elems[points.layer]) * a
            + (second - held_w) * w,
            (n_h, n_p),
        )
        * 1.0,
        "utilization": macs[None, :] / (counts["cycles"] * peak),
        # Operands are fused at the next width the bricks support (1 -> 2, 3 -> 4, 5..7 -> 8).
        "w_bits_run": np.broadcast_to(pmax // (pmax // pw) * -(-w // pmax), (n_h, n_p)) * 1.0,
        "a_bits_run": np.broadcast_to(pmax // (pmax // pa) * -(-a // pmax), (n_h, n_p)) * 1.0,
    }
    for k in EXTRA_KEYS[:9]:
        out[k] = counts[k].astype(np.float64)
    for k in ("tile_b", "tile_oh", "tile_ow", "tile_ic", "tile_oc", "loop_order"):
        out[k] = field[k].astype(np.float64)
    out["groups_run"] = np.broadcast_to(groups, (n_h, n_p)) * 1.0
    return out


register_family(
    BitFusionConfig,
    evaluate,
    "Bit Fusion: fusible 2-bit bricks in a systolic array; the public simulator's "
    "tiling search, exactly",
)
