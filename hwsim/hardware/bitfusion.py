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

Prices (:meth:`BitFusionConfig.derived_energies`, :meth:`BitFusionConfig.area_breakdown`,
:meth:`BitFusionConfig.leakage_w`) follow the simulator's ``Simulator.get_energy_cost`` and
``get_area``: the array from the authors' synthesis table (``systolic_array_synth.csv``: the
exact ``N x M`` row where the table has one, else the 4 x 4 row scaled by ``N*M/16``), each
buffer as banks of CACTI rows (WBUF ``N*M`` banks and IBUF ``N`` banks of
``max_bits^2/min_bits``-bit words with separate read and write ports, OBUF ``M`` banks of
32-bit words with a read-write port as well), read from the authors' ``cacti_sweep.csv`` and,
beyond its eight rows, from the same CACTI 7 run with the same settings
(``benchmarks/bitfusion_ref/make_cacti_rows.py``).
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar, Self

import numpy as np

from hwsim.errors import HwsimError, check
from hwsim.hardware import _bitfusion_kernel as kern
from hwsim.hardware.base import HardwareConfig
from hwsim.hardware.pricing import area_factor, check_node, energy_factor, power_factor
from hwsim.hardware.registry import Points, register_family
from hwsim.workload import ACT_MATMUL, CONV, DEPTHWISE

_MAX_BUFFER_BYTES = 1 << 30
_INT_LIMIT = float(1 << 62)

DERIVED_ENERGIES: tuple[str, ...] = (
    "core_pj_per_cycle",
    "wbuf_read_pj_per_bit",
    "wbuf_write_pj_per_bit",
    "ibuf_read_pj_per_bit",
    "ibuf_write_pj_per_bit",
    "obuf_read_pj_per_bit",
    "obuf_write_pj_per_bit",
)
"""Energy fields a config derives from its array and buffers when they are not given."""

_DATA = "hwsim.hardware"
_CACTI_FILES = (
    # (file, origin); a later file wins where both hold a bank: the authors' own rows last.
    ("data/bitfusion_cacti_ext.csv", "CACTI 7 with the authors' settings"),
    ("data/bitfusion_cacti_sweep.csv", "the authors' sram/cacti_sweep.csv"),
)
_SYNTH_FILE = "data/bitfusion_systolic_array_synth.csv"
_BUFFER_NAMES = {"wbuf": "weight_buffer", "ibuf": "act_buffer", "obuf": "out_buffer"}


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files(_DATA).joinpath(name).read_text()
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


@functools.cache
def sram_rows() -> dict[tuple[float, float, int], dict[str, Any]]:
    """CACTI rows by (bank bytes, block bytes, read-write port): read and write energy per
    access (nJ), leakage (mW), area (mm^2) and where the row comes from."""
    out: dict[tuple[float, float, int], dict[str, Any]] = {}
    for name, origin in _CACTI_FILES:
        if not resources.files(_DATA).joinpath(name).is_file():
            continue
        for r in _read_csv(name):
            key = (
                float(r["size (bytes)"]),
                float(r["block size (bytes)"]),
                int(r["read-write port"]),
            )
            out[key] = {
                "read_nj": float(r["read_energy_nJ"]),
                "write_nj": float(r["write_energy_nJ"]),
                "leak_mw": float(r["leak_power_mW"]),
                "area_mm2": float(r["area_mm^2"]),
                "origin": origin,
            }
    return out


@functools.cache
def synth_rows() -> dict[tuple[int, int, int, int], dict[str, float]]:
    """The authors' synthesis rows by (N, M, max bits, min bits): frequency (Hz), area (um^2),
    leakage and dynamic power (nW)."""
    out: dict[tuple[int, int, int, int], dict[str, float]] = {}
    for r in _read_csv(_SYNTH_FILE):
        key = (
            int(r["N"]),
            int(r["M"]),
            int(r["Max Precision (bits)"]),
            int(r["Min Precision (bits)"]),
        )
        out[key] = {
            "frequency": float(r["Frequency"]),
            "area_um2": float(r["Area (um^2)"]),
            "leak_nw": float(r["Leakage Power (nW)"]),
            "dyn_nw": float(r["Dynamic Power (nW)"]),
        }
    return out


@dataclass(frozen=True)
class BitFusionConfig(HardwareConfig):
    """One Bit Fusion accelerator: array, buffers, DRAM interface and energy table.

    Energies are per compute cycle of the whole array (core) and per bit (buffers, DRAM), in
    picojoules at 45 nm, as the simulator charges them; at another ``technology_nm`` the
    core and buffer energies, the area and the leakage are scaled by the Stillmaker-Baas
    factors of :mod:`hwsim.hardware.pricing` (DRAM energy is not). An energy left out
    (``None``) is derived from the array shape and buffer sizes exactly as the simulator
    derives it (:meth:`derived_energies`), and :meth:`replace` derives it again for the new
    shape; a number given pins it. DRAM bandwidth is in bytes per second, as in every family;
    the simulator's interface width in bits per cycle is :attr:`dram_bits_per_cycle`.
    """

    family: ClassVar[str] = "bitfusion"

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
    technology_nm: int = 45  # energies, area and leakage are at 45 nm and scaled to this node
    # None: derived from the array and buffers (derived_energies); a number pins it.
    core_pj_per_cycle: float | None = None
    wbuf_read_pj_per_bit: float | None = None
    wbuf_write_pj_per_bit: float | None = None
    ibuf_read_pj_per_bit: float | None = None
    ibuf_write_pj_per_bit: float | None = None
    obuf_read_pj_per_bit: float | None = None
    obuf_write_pj_per_bit: float | None = None
    dram_pj_per_bit: float = 15.0

    def __post_init__(self) -> None:
        super().__post_init__()
        pinned = frozenset(k for k in DERIVED_ENERGIES if getattr(self, k) is not None)
        object.__setattr__(self, "_pinned", pinned)
        check_node("bitfusion.technology_nm", self.technology_nm)
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
        self.non_negative("dram_pj_per_bit", *pinned)
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
        if len(pinned) < len(DERIVED_ENERGIES):
            derived = self.derived_energies(only=[k for k in DERIVED_ENERGIES if k not in pinned])
            for key, value in derived.items():
                object.__setattr__(self, key, value)
        self.non_negative(*DERIVED_ENERGIES)

    def to_dict(self) -> dict[str, Any]:
        """The fields as given: an energy this config derived is ``None`` (derived again on
        reading), so a written config resized later is re-priced, not pinned at this size."""
        out = super().to_dict()
        out.update({k: None for k in DERIVED_ENERGIES if k not in self._pinned})
        return out

    def replace(self, **overrides: Any) -> Self:
        """A copy with ``overrides``; energies this config derived are derived again."""
        unpinned = {k: None for k in DERIVED_ENERGIES if k not in self._pinned}
        return super().replace(**{**unpinned, **overrides})

    # Prices, as the authors' simulator derives them ---------------------------------------
    def _buffer_banks(self) -> dict[str, tuple[str, int, int, int]]:
        """Per buffer: (size field, banks, word bits, read-write port), as the simulator banks
        them (``Simulator.get_energy_cost``)."""
        word = self.max_bits * self.max_bits // self.min_bits
        return {
            "wbuf": ("wbuf_bytes", self.rows * self.cols, word, 0),
            "ibuf": ("ibuf_bytes", self.rows, word, 0),
            "obuf": ("obuf_bytes", self.cols, self.psum_bits, 1),
        }

    def _bank_row(self, buf: str) -> tuple[int, dict[str, Any], int]:
        """(banks, CACTI row of one bank, word bits) of one buffer; raises where no row."""
        field, banks, word, port = self._buffer_banks()[buf]
        size_bits = getattr(self, field) * 8
        bank_bits = -(-size_bits // (banks * word)) * word
        ports = "a read and a write port" + (" and a read-write port" if port else "")
        if word % 8:
            raise HwsimError(
                "bitfusion.max_bits",
                (self.max_bits, self.min_bits),
                f"the {buf} banks' {word}-bit words (max_bits^2 / min_bits, or psum_bits) are "
                "not whole bytes, so no CACTI row prices them; give the energies to price it",
            )
        if bank_bits * banks != size_bits:
            raise HwsimError(
                f"bitfusion.{field}",
                getattr(self, field),
                f"to derive its energy and area the buffer must split into {banks} banks of whole "
                f"{word}-bit words, as the authors' simulator banks it (a multiple of "
                f"{banks * word // 8} bytes); give the energies to price another",
            )
        key = (bank_bits / 8, word / 8, port)
        row = sram_rows().get(key)
        if row is None:
            held = sorted(int(k[0]) for k in sram_rows() if k[1:] == key[1:])
            raise HwsimError(
                f"bitfusion.{field}",
                getattr(self, field),
                f"its {banks} banks of {bank_bits // 8} bytes ({word}-bit words, {ports}) have "
                f"no CACTI row; the table holds banks of {held or 'no'} bytes for these words "
                f"and ports (give the energies to price another)",
            )
        return banks, row, word

    def _core_row(self) -> tuple[dict[str, float], float]:
        """The synthesis row of the array and its scale (``N*M/16`` from the 4 x 4 row where
        the table has no row of this shape, as the simulator does)."""
        table = synth_rows()
        exact = table.get((self.rows, self.cols, self.max_bits, self.min_bits))
        if exact is not None:
            return exact, 1.0
        four = table.get((4, 4, self.max_bits, self.min_bits))
        if four is None:
            pairs = sorted({(k[2], k[3]) for k in table if k[:2] == (4, 4)})
            raise HwsimError(
                "bitfusion.max_bits",
                (self.max_bits, self.min_bits),
                f"the authors' synthesis table has (max_bits, min_bits) in {pairs}; "
                "give core_pj_per_cycle to price another fusion unit",
            )
        return four, self.rows * self.cols / 16.0

    def derived_energies(self, only: Sequence[str] = DERIVED_ENERGIES) -> dict[str, float]:
        """The energies the authors' simulator derives for this shape (pJ per array cycle,
        pJ per bit), whatever this config pins.

        Core: the synthesis row's dynamic power over its frequency (the table's 500 MHz, not
        ``frequency_hz``), scaled with the array. Buffers: one bank's CACTI read or write
        energy per access over its word width."""
        out: dict[str, float] = {}
        if "core_pj_per_cycle" in only:
            row, scale = self._core_row()
            out["core_pj_per_cycle"] = row["dyn_nw"] * scale / row["frequency"] * 1e3
        for buf in ("wbuf", "ibuf", "obuf"):
            keys = (f"{buf}_read_pj_per_bit", f"{buf}_write_pj_per_bit")
            if not any(k in only for k in keys):
                continue
            _, row, word = self._bank_row(buf)
            out[keys[0]] = row["read_nj"] / word * 1e3
            out[keys[1]] = row["write_nj"] / word * 1e3
        return {k: v for k, v in out.items() if k in only}

    def area_breakdown(self) -> dict[str, float]:
        """Area in mm^2, as the simulator's ``get_area`` at 45 nm: the array ("compute") from
        the synthesis table, each buffer (WBUF "weight_buffer", IBUF "act_buffer", OBUF
        "out_buffer") its banks times one bank's CACTI area; scaled to ``technology_nm``."""
        f = area_factor(self.technology_nm)
        row, scale = self._core_row()
        out = {"compute": row["area_um2"] * 1e-6 * scale * f}
        for buf, name in _BUFFER_NAMES.items():
            banks, bank, _ = self._bank_row(buf)
            out[name] = bank["area_mm2"] * banks * f
        return out

    def leakage_w(self) -> float:
        """Leakage power in watts of the same rows (the simulator logs it and leaves it out of
        its energy): the array's synthesis leakage, scaled as its power, plus every bank's."""
        row, scale = self._core_row()
        total = row["leak_nw"] * scale * 1e-9
        for buf in ("wbuf", "ibuf", "obuf"):
            banks, bank, _ = self._bank_row(buf)
            total += bank["leak_mw"] * banks * 1e-3
        return total * power_factor(self.technology_nm)

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
        """The energies the search charges: core and buffers at ``technology_nm``, DRAM as
        given."""
        f = 1.0 if self.technology_nm == 45 else energy_factor(self.technology_nm)
        return [getattr(self, k) * f for k in DERIVED_ENERGIES] + [self.dram_pj_per_bit]


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
    conv_like = (kind == CONV) | (kind == DEPTHWISE)
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
    act = kind == ACT_MATMUL
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
