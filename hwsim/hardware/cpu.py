"""CPU models: the bit-serial AND+popcount GEMM, torch's int8 and fp32 kernels, and the best
of the three per layer.

Every layer is a GEMM ``[M, K] x [K, N]``:

- **bitserial** (``hwsim.kernels``): ``w * a`` binary GEMMs of ``ceil(K/64)`` words per output,
  each word one AND, one POPCNT and one ADD, at the calibrated word rate. The kernel's register
  tile is up to 8 activation rows x 16 weight rows; outputs pad to 16 (and 16 more where the
  packed weights' row stride would alias in the caches), and each row tile costs
  about one row more (its two weight-vector loads per word), plus ``row_tile_s_per_word`` per
  word (fitted: what a short tile, a GEMV's, pays for loads that a full tile shares). Plus one
  write-back per output and plane pair, and the activation packing on every call (``M * K``
  codes read, ``M * K * a`` element-bits written); weights are packed once, offline. Its time
  is the larger of that and the memory time of the words it touches. Rates are whole-chip: a
  call that the kernel runs on fewer threads (a small one on the calling thread) or splits
  unevenly is stretched by ``cores / speedup`` of the kernel's own split
  (``hwsim.kernels.gemm.parallel_split``), and a threaded call pays ``parallel_call_s`` more.
  Packed weights that outgrow each thread's L2 cost ``weight_stream_s_per_byte`` more per byte
  on every sweep of the weights (once per block of packed activation rows).
- **int8** / **fp32** (torch's ``_int_mm`` / quantized conv and ``matmul`` / ``conv2d``, timed
  by ``hwsim calibrate``): ``call + stretch * (M*N*K/rate + M*K*s_in + N*K*s_w + M*N*s_out) +
  max(0, weight bytes - cache) * s_dram``, fitted on shapes from square to batch-1 GEMVs, so a
  tall-skinny or batch-1 layer is predicted by the terms that dominate it (the weight stream
  of a GEMV, from cache or beyond it from DRAM, whose bandwidth the threads share; the output
  write-back of a short-K layer). ``stretch`` is ``cores`` for a layer under
  ``parallel_macs`` MACs, which the library runs on one thread. int8 runs operands of up to 8
  bits (16 at half the rate), fp32 anything.
- **lut** and **vnni**, the weight-stream kernels (implementations, not config kernels):
  weights of at most 4 bits against activations of at most 8, at a few rows. ``lut``
  (``hwsim.kernels.lut``, T-MAC's table lookup) works through ``ceil(N/64)*64 * w *
  2*ceil(K/12)`` index bytes per row, which are also what it stores; ``vnni``
  (``hwsim.kernels.vnni``) through ``ceil(N/64)*64 * K'`` unpacked weight bytes, one per MAC
  at any width (``K'``: K rounded up to the 8, 16 or 32 activations of a block), stored as
  ``s/8`` of that (``s``: the 1-, 2- or 4-bit slot a ``w``-bit code takes). Each: its work
  bytes at its calibrated byte rate, ``M * K`` codes prepared (tables, or the padded
  activation bytes), the stored bytes read per row from beyond L2 when they outgrow it, and
  the call overhead; threads split the 64-output tiles from a kernel-specific count of stored
  bytes on. Where ``bitserial_linear`` takes one
  (``hwsim.kernels.vnni.use_vnni``: at most 16 rows, ``2 <= w <= 4``, ``a <= 8`` and ``w * a``
  of at least 6 at one row, 8 at more; else ``hwsim.kernels.lut.use_lut``: ``a`` from 4 bits at
  one row, from 6 at more), the bitserial kernel is priced as it. A zero byte rate (an
  uncalibrated preset, or a CPU without the instructions) leaves that kernel out.
- **best**: per layer, the fastest of the three (and the weight-stream kernels) that can run
  its bits; the extra per-layer output ``implementation`` (an index into ``IMPLEMENTATIONS``) says
  which, in ``CostReport.layers`` and ``CostTable.extra``.

Energy is package power times time plus DRAM energy per bit of the compulsory traffic (cold
caches). ``hwsim calibrate`` measures the rates on this machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numba import njit, prange

from hwsim.errors import HwsimError
from hwsim.hardware import report as M
from hwsim.hardware.base import HardwareConfig
from hwsim.hardware.registry import Points, register_family
from hwsim.hardware.report import METRICS
from hwsim.hardware.skeleton import (
    MAX_BITS,
    check_points,
    check_runnable,
    run_width_table,
    slot_offsets,
)
from hwsim.kernels import lut, vnni
from hwsim.kernels.gemm import (
    COL_TILE,
    PACK_BUFFER_BYTES,
    ROW_TILE,
    parallel_split,
    rows_in_buffer,
)
from hwsim.kernels.operand import padded_rows
from hwsim.policy import FLOAT_BITS, bits_label

BASELINE_FIELDS: tuple[str, ...] = (
    "s_per_input",
    "s_per_weight",
    "s_per_output",
    "call_s",
    "s_per_dram_byte",
    "s_per_gemm_weight",
    "cache_bytes",
    "parallel_macs",
)
"""Per-implementation terms of the int8 / fp32 models (besides ``<impl>_macs_per_s``)."""

KERNELS: tuple[str, ...] = ("bitserial", "int8", "fp32", "best")
STREAM_KERNELS: tuple[str, ...] = ("lut", "vnni")
"""The weight-stream kernels: low-bit weights against 8-bit activations at a few rows."""
STREAM_FIELDS: tuple[str, ...] = ("bytes_per_s", "s_per_code", "stream_s_per_byte")
"""Each weight-stream kernel's calibrated terms, ``<kernel>_<term>``."""
IMPLEMENTATIONS: tuple[str, ...] = (*KERNELS, "lut", "vnni")
"""What a layer ran: a config kernel, or a weight-stream kernel (``implementation`` indexes
this)."""
K_BITSERIAL = float(KERNELS.index("bitserial"))  # the kernel slot holds the index as a float
K_INT8 = float(KERNELS.index("int8"))
K_FP32 = float(KERNELS.index("fp32"))
K_BEST = float(KERNELS.index("best"))
K_LUT = float(IMPLEMENTATIONS.index("lut"))
K_VNNI = float(IMPLEMENTATIONS.index("vnni"))

CPU_PARAM_LAYOUT: tuple[tuple[str, int], ...] = (
    ("kernel", 1),  # index into KERNELS
    ("cores", 1),
    ("frequency_hz", 1),
    ("l1_bytes", 1),
    ("l2_bytes", 1),
    ("l3_bytes", 1),
    ("l1_bytes_per_s", 1),
    ("l2_bytes_per_s", 1),
    ("l3_bytes_per_s", 1),
    ("dram_bytes_per_s", 1),
    ("binary_words_per_s", 1),
    ("pack_s_per_elem_bit", 1),
    ("int8_macs_per_s", 1),
    ("fp32_macs_per_s", 1),
    ("call_overhead_s", 1),
    ("power_w", 1),
    ("e_dram_pj_per_bit", 1),
    ("writeback_s_per_output_pair", 1),
    ("pack_s_per_elem", 1),
    ("int8_s_per_input", 1),
    ("int8_s_per_weight", 1),
    ("int8_s_per_output", 1),
    ("int8_call_s", 1),
    ("fp32_s_per_input", 1),
    ("fp32_s_per_weight", 1),
    ("fp32_s_per_output", 1),
    ("fp32_call_s", 1),
    ("parallel_call_s", 1),
    ("int8_s_per_dram_byte", 1),
    ("int8_cache_bytes", 1),
    ("int8_parallel_macs", 1),
    ("fp32_s_per_dram_byte", 1),
    ("fp32_cache_bytes", 1),
    ("fp32_parallel_macs", 1),
    ("row_tile_s_per_word", 1),
    ("weight_stream_s_per_byte", 1),
    ("int8_s_per_gemm_weight", 1),
    ("fp32_s_per_gemm_weight", 1),
    ("lut_bytes_per_s", 1),
    ("lut_s_per_code", 1),
    ("lut_stream_s_per_byte", 1),
    ("vnni_bytes_per_s", 1),
    ("vnni_s_per_code", 1),
    ("vnni_stream_s_per_byte", 1),
    ("w_run", FLOAT_BITS + 1),  # run width for each requested width 0..32 (0 = cannot run)
    ("a_run", FLOAT_BITS + 1),
)
"""One row of the CPU kernel's float64 parameter matrix (one row per config)."""

_C, N_CPU_PARAMS = slot_offsets(CPU_PARAM_LAYOUT)
C_KERNEL = _C["kernel"]
C_CORES = _C["cores"]
C_FREQ = _C["frequency_hz"]
C_L1 = _C["l1_bytes"]
C_L2 = _C["l2_bytes"]
C_L3 = _C["l3_bytes"]
C_BW1 = _C["l1_bytes_per_s"]
C_BW2 = _C["l2_bytes_per_s"]
C_BW3 = _C["l3_bytes_per_s"]
C_BWD = _C["dram_bytes_per_s"]
C_WORDS = _C["binary_words_per_s"]
C_PACK = _C["pack_s_per_elem_bit"]
C_INT8 = _C["int8_macs_per_s"]
C_FP32 = _C["fp32_macs_per_s"]
C_OVERHEAD = _C["call_overhead_s"]
C_POWER = _C["power_w"]
C_EDRAM = _C["e_dram_pj_per_bit"]
C_WRITEBACK = _C["writeback_s_per_output_pair"]
C_PACK_ELEM = _C["pack_s_per_elem"]
C_INT8_IN = _C["int8_s_per_input"]
C_INT8_W = _C["int8_s_per_weight"]
C_INT8_OUT = _C["int8_s_per_output"]
C_INT8_CALL = _C["int8_call_s"]
C_FP32_IN = _C["fp32_s_per_input"]
C_FP32_W = _C["fp32_s_per_weight"]
C_FP32_OUT = _C["fp32_s_per_output"]
C_FP32_CALL = _C["fp32_call_s"]
C_PAR_CALL = _C["parallel_call_s"]
C_INT8_DRAM = _C["int8_s_per_dram_byte"]
C_INT8_CACHE = _C["int8_cache_bytes"]
C_INT8_PAR = _C["int8_parallel_macs"]
C_FP32_DRAM = _C["fp32_s_per_dram_byte"]
C_FP32_CACHE = _C["fp32_cache_bytes"]
C_FP32_PAR = _C["fp32_parallel_macs"]
C_TILE = _C["row_tile_s_per_word"]
C_STREAM = _C["weight_stream_s_per_byte"]
C_INT8_GW = _C["int8_s_per_gemm_weight"]
C_FP32_GW = _C["fp32_s_per_gemm_weight"]
C_LUT_RATE = _C["lut_bytes_per_s"]
C_LUT_CODE = _C["lut_s_per_code"]
C_LUT_STREAM = _C["lut_stream_s_per_byte"]
C_VNNI_RATE = _C["vnni_bytes_per_s"]
C_VNNI_CODE = _C["vnni_s_per_code"]
C_VNNI_STREAM = _C["vnni_stream_s_per_byte"]
C_WRUN = _C["w_run"]
C_ARUN = _C["a_run"]


@dataclass(frozen=True)
class CpuConfig(HardwareConfig):
    """A multicore CPU running one GEMM kernel (``kernel``: bitserial, int8, fp32, or best: the
    fastest of the three per layer).

    Caches are per core for L1/L2 and shared for L3 (bytes); bandwidths are whole-chip
    bytes per second; rates are whole-chip per second with all ``cores`` busy."""

    family: ClassVar[str] = "cpu"

    kernel: str = "bitserial"
    cores: int = 2
    l1_bytes: float = 32 * 1024
    l2_bytes: float = 512 * 1024
    l3_bytes: float = 32 * 2**20
    l1_bytes_per_s: float = 200e9
    l2_bytes_per_s: float = 100e9
    l3_bytes_per_s: float = 50e9
    dram_bytes_per_s: float = 10e9
    binary_words_per_s: float = 4e9
    pack_s_per_elem: float = 0.0
    pack_s_per_elem_bit: float = 1e-9
    writeback_s_per_output_pair: float = 0.0
    row_tile_s_per_word: float = 0.0
    weight_stream_s_per_byte: float = 0.0
    int8_macs_per_s: float = 100e9
    fp32_macs_per_s: float = 50e9
    call_overhead_s: float = 5e-6
    int8_s_per_input: float = 0.0
    int8_s_per_weight: float = 0.0
    int8_s_per_output: float = 0.0
    int8_call_s: float = 5e-6
    fp32_s_per_input: float = 0.0
    fp32_s_per_weight: float = 0.0
    fp32_s_per_output: float = 0.0
    fp32_call_s: float = 5e-6
    parallel_call_s: float = 0.0
    int8_s_per_dram_byte: float = 0.0
    int8_s_per_gemm_weight: float = 0.0
    int8_cache_bytes: float = 32 * 2**20
    int8_parallel_macs: float = 0.0
    fp32_s_per_dram_byte: float = 0.0
    fp32_s_per_gemm_weight: float = 0.0
    fp32_cache_bytes: float = 32 * 2**20
    fp32_parallel_macs: float = 0.0
    lut_bytes_per_s: float = 0.0
    lut_s_per_code: float = 0.0
    lut_stream_s_per_byte: float = 0.0
    vnni_bytes_per_s: float = 0.0
    vnni_s_per_code: float = 0.0
    vnni_stream_s_per_byte: float = 0.0
    power_w: float = 30.0
    e_dram_pj_per_bit: float = 20.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kernel not in KERNELS:
            raise HwsimError("cpu.kernel", self.kernel, f"must be one of {KERNELS}")
        self.positive_int("cores")
        self.positive(
            "l1_bytes",
            "l2_bytes",
            "l3_bytes",
            "l1_bytes_per_s",
            "l2_bytes_per_s",
            "l3_bytes_per_s",
            "dram_bytes_per_s",
            "binary_words_per_s",
            "int8_macs_per_s",
            "fp32_macs_per_s",
        )
        self.non_negative(
            "pack_s_per_elem",
            "pack_s_per_elem_bit",
            "writeback_s_per_output_pair",
            "row_tile_s_per_word",
            "weight_stream_s_per_byte",
            "call_overhead_s",
            "parallel_call_s",
            *(f"{impl}_{term}" for impl in ("int8", "fp32") for term in BASELINE_FIELDS),
            *(f"{impl}_{term}" for impl in STREAM_KERNELS for term in STREAM_FIELDS),
            "power_w",
            "e_dram_pj_per_bit",
        )

    @property
    def runs_float(self) -> bool:
        return self.kernel in ("fp32", "best")

    def precisions(self) -> tuple[int, ...]:
        """Widths the kernel runs; requests round up, 32 (float) only on fp32 (and best)."""
        if self.kernel == "bitserial":
            return tuple(range(1, MAX_BITS + 1))
        if self.kernel == "best":
            return (*range(1, MAX_BITS + 1), FLOAT_BITS)
        if self.kernel == "int8":
            return (8, 16)
        return (FLOAT_BITS,)

    def precision_reason(self, w: int, a: int, w_run: int, a_run: int, row=None) -> str:
        """Why a layer asked at ``w``/``a`` ran at ``w_run``/``a_run`` (for the notes)."""
        ran = self.kernel
        if row is not None and "implementation" in row:
            ran = IMPLEMENTATIONS[int(row["implementation"])]
        asked = bits_label(w, a)
        if self.kernel == "best":
            if FLOAT_BITS in (w, a):
                return f"{self.name} ran {ran} here (a float operand: only fp32 runs it)"
            slower = "bit-serial" if ran == "int8" else "bit-serial and int8"
            if ran in STREAM_KERNELS:
                slower = "bit-serial, int8 and fp32"
            return f"{self.name} ran {ran} here (faster than {slower} at {asked})"
        if ran == "fp32":
            return f"{self.name} runs every layer in fp32 (asked {asked})"
        return f"{self.name} runs {ran} at w{w_run}a{a_run}, the nearest width it has to {asked}"

    def pack(self) -> np.ndarray:
        v = np.zeros(N_CPU_PARAMS, dtype=np.float64)
        v[C_KERNEL] = KERNELS.index(self.kernel)
        v[C_CORES], v[C_FREQ] = self.cores, self.frequency_hz
        v[C_L1], v[C_L2], v[C_L3] = self.l1_bytes, self.l2_bytes, self.l3_bytes
        v[C_BW1], v[C_BW2] = self.l1_bytes_per_s, self.l2_bytes_per_s
        v[C_BW3], v[C_BWD] = self.l3_bytes_per_s, self.dram_bytes_per_s
        v[C_WORDS], v[C_PACK] = self.binary_words_per_s, self.pack_s_per_elem_bit
        v[C_INT8], v[C_FP32] = self.int8_macs_per_s, self.fp32_macs_per_s
        v[C_OVERHEAD], v[C_POWER] = self.call_overhead_s, self.power_w
        v[C_EDRAM] = self.e_dram_pj_per_bit
        v[C_WRITEBACK] = self.writeback_s_per_output_pair
        v[C_TILE] = self.row_tile_s_per_word
        v[C_STREAM] = self.weight_stream_s_per_byte
        v[C_PACK_ELEM] = self.pack_s_per_elem
        v[C_INT8_IN], v[C_INT8_W] = self.int8_s_per_input, self.int8_s_per_weight
        v[C_INT8_OUT], v[C_INT8_CALL] = self.int8_s_per_output, self.int8_call_s
        v[C_FP32_IN], v[C_FP32_W] = self.fp32_s_per_input, self.fp32_s_per_weight
        v[C_FP32_OUT], v[C_FP32_CALL] = self.fp32_s_per_output, self.fp32_call_s
        v[C_PAR_CALL] = self.parallel_call_s
        v[C_INT8_DRAM], v[C_INT8_CACHE] = self.int8_s_per_dram_byte, self.int8_cache_bytes
        v[C_INT8_PAR] = self.int8_parallel_macs
        v[C_INT8_GW], v[C_FP32_GW] = self.int8_s_per_gemm_weight, self.fp32_s_per_gemm_weight
        v[C_FP32_DRAM], v[C_FP32_CACHE] = self.fp32_s_per_dram_byte, self.fp32_cache_bytes
        v[C_FP32_PAR] = self.fp32_parallel_macs
        v[C_LUT_RATE], v[C_LUT_CODE] = self.lut_bytes_per_s, self.lut_s_per_code
        v[C_LUT_STREAM] = self.lut_stream_s_per_byte
        v[C_VNNI_RATE], v[C_VNNI_CODE] = self.vnni_bytes_per_s, self.vnni_s_per_code
        v[C_VNNI_STREAM] = self.vnni_stream_s_per_byte
        table = run_width_table(self.precisions(), self.runs_float)
        v[C_WRUN : C_WRUN + FLOAT_BITS + 1] = table
        v[C_ARUN : C_ARUN + FLOAT_BITS + 1] = table
        return v


@njit(cache=True, inline="always")
def _level_bandwidth(q, ws):
    cores = q[C_CORES]
    if ws <= q[C_L1] * cores:
        return q[C_BW1]
    if ws <= q[C_L2] * cores:
        return q[C_BW2]
    if ws <= q[C_L3]:
        return q[C_BW3]
    return q[C_BWD]


@njit(cache=True, inline="always")
def _impl_time(q, impl, m, n, k, w_elems, g, act, wr, ar):
    """``(seconds, stall seconds, bytes touched, peak MAC/s)`` of one layer on implementation
    ``impl`` (K_BITSERIAL / K_INT8 / K_FP32) at run widths ``wr`` / ``ar``. The fitted int8 /
    fp32 models fold memory into their terms, so they report no stall of their own.

    ``w_elems``: second-operand elements; ``g``: independent GEMMs (an act x act row's batch,
    each padding its own rows to the register tile); ``act``: the second operand is an
    activation, packed (bit-serial) or converted (int8, fp32) on every call like the first."""
    cores = q[C_CORES]
    if impl == K_LUT or impl == K_VNNI:
        return stream_time(q, impl, m, n, k, wr)
    if impl == K_BITSERIAL:
        words = np.ceil(k / 64.0)
        tiles = g * np.ceil(m / g / ROW_TILE)
        np_ = float(padded_rows(int(n)))  # outputs the kernel computes (see padded_rows)
        pairs = wr * ar
        # The kernel's own thread split: whole-chip rates stretched by cores / speedup for a
        # call that runs on fewer threads (a small one on one) or splits unevenly.
        row_block = rows_in_buffer(int(ar), int(words), PACK_BUFFER_BYTES)
        speedup, col_chunks, sweeps = parallel_split(
            int(m), int(np_ // COL_TILE), int(m * np_ * words * pairs), int(cores), row_block
        )
        stretch = cores / speedup
        per_word = (m + tiles) / q[C_WORDS] + tiles * q[C_TILE]
        t_comp = pairs * np_ * (per_word * words + m * q[C_WRITEBACK]) * stretch
        # Packed weights that outgrow each thread's L2 are read again from L3 (or DRAM) on
        # every sweep, at a fitted cost per byte: a GEMV's weight stream.
        w_bytes = g * wr * np_ * words * 8.0
        if w_bytes / speedup > q[C_L2]:
            t_comp += sweeps * w_bytes * q[C_STREAM] * stretch
        touched = (m * ar + g * np_ * wr) * words * 8.0 + m * n * 8.0
        t_mem = touched / _level_bandwidth(q, touched)
        # Each column chunk packs its rows again (a small-M call split along N).
        pack = m * k * (q[C_PACK_ELEM] + ar * q[C_PACK]) * col_chunks * stretch
        if act:
            pack += w_elems * (q[C_PACK_ELEM] + wr * q[C_PACK]) * stretch
        t = max(t_comp, t_mem) + pack + q[C_OVERHEAD]
        if speedup > 1.0:
            t += q[C_PAR_CALL]
        return t, max(0.0, t_mem - t_comp), touched, q[C_WORDS] * 64.0 / pairs
    if impl == K_INT8:
        rate = q[C_INT8] if wr <= 8.0 and ar <= 8.0 else q[C_INT8] / 2.0
        w_bytes = w_elems * (1.0 if wr <= 8.0 else 2.0)
        t = _torch_time(q, m, n, k, w_elems, w_bytes, rate, C_INT8_IN, C_INT8_W, C_INT8_OUT,
                        C_INT8_CALL, C_INT8_DRAM, C_INT8_CACHE, C_INT8_PAR, C_INT8_GW)  # fmt: skip
        return t, 0.0, (m * k * ar + w_elems * wr) / 8.0 + m * n * 4.0, rate
    t = _torch_time(q, m, n, k, w_elems, w_elems * 4.0, q[C_FP32], C_FP32_IN, C_FP32_W,
                    C_FP32_OUT, C_FP32_CALL, C_FP32_DRAM, C_FP32_CACHE, C_FP32_PAR,
                    C_FP32_GW)  # fmt: skip
    return t, 0.0, (m * k + w_elems + m * n) * 4.0, q[C_FP32]


# The weight-stream kernels' own constants, as floats for the model (one source of truth).
STREAM_TILE_N = float(lut.TILE_N)
"""Outputs per tile of both weight-stream kernels."""
assert lut.TILE_N == vnni.TILE_N
LUT_STEP_K = float(lut.STEP_K)
"""Activations per uint16 index word of the table kernel."""
LUT_PARALLEL_MIN_BYTES = float(lut.PARALLEL_MIN_BYTES)
"""Below this many stored bytes read per call the table kernel runs on one thread."""
VNNI_PARALLEL_MIN_BYTES = float(vnni.PARALLEL_MIN_BYTES)
"""The same for the VNNI kernel."""
LUT_MIN_A_BITS = float(lut.LUT_MIN_A_BITS)
VNNI_MIN_BIT_PRODUCT = float(vnni.MIN_BIT_PRODUCT)
VNNI_MIN_BIT_PRODUCT_ROWS = float(vnni.MIN_BIT_PRODUCT_ROWS)
VNNI_MIN_WEIGHT_BITS = float(vnni.MIN_WEIGHT_BITS)


@njit(cache=True, inline="always")
def lut_applies(q, m, wr, ar):
    """Whether ``hwsim.kernels.bitserial_linear`` takes the table kernel for this layer
    (``hwsim.kernels.lut.use_lut``) and the config prices it."""
    min_a = LUT_MIN_A_BITS + (2.0 if m > 1.0 else 0.0)  # hwsim.kernels.lut.lut_min_a_bits
    return q[C_LUT_RATE] > 0.0 and m <= 16.0 and wr <= 4.0 and min_a <= ar <= 8.0


@njit(cache=True, inline="always")
def vnni_applies(q, m, wr, ar):
    """Whether ``hwsim.kernels.bitserial_linear`` takes the VNNI kernel for this layer
    (``hwsim.kernels.vnni.use_vnni``: 2- to 4-bit weights, ``w * a`` of at least 6 at one
    row, 8 at more; see ``hwsim.kernels.vnni.vnni_min_bit_product``) and the config prices
    it."""
    least = VNNI_MIN_BIT_PRODUCT if m <= 1.0 else VNNI_MIN_BIT_PRODUCT_ROWS
    return (
        q[C_VNNI_RATE] > 0.0
        and m <= 16.0
        and VNNI_MIN_WEIGHT_BITS <= wr <= 4.0
        and ar <= 8.0
        and wr * ar >= least
    )


@njit(cache=True, inline="always")
def stream_runs(q, impl, wr, ar):
    """Whether a weight-stream kernel can run these widths at all (``cpu-best`` considers
    it)."""
    rate = q[C_LUT_RATE] if impl == K_LUT else q[C_VNNI_RATE]
    return rate > 0.0 and wr <= 4.0 and ar <= 8.0


@njit(cache=True, inline="always")
def stream_bytes(impl, n, k, wr):
    """``(work bytes, packed bytes, 64-output tiles, MACs per work byte)`` of one row of a
    weight-stream kernel. The table kernel's work is its index words, which are also what it
    stores; the VNNI kernel's is the unpacked weight bytes it feeds ``vpdpbusd`` (one per MAC,
    whatever the width), from slot bytes a ``w``-bit code fills 1, 2 or 4 bits of."""
    tiles = np.ceil(n / STREAM_TILE_N)
    if impl == K_LUT:
        work = tiles * STREAM_TILE_N * wr * 2.0 * np.ceil(k / LUT_STEP_K)
        return work, work, tiles, LUT_STEP_K / 2.0 / wr
    slot = 1.0 if wr <= 1.0 else 2.0 if wr <= 2.0 else 4.0
    work = tiles * STREAM_TILE_N * 32.0 / slot * np.ceil(k * slot / 32.0)
    return work, work * slot / 8.0, tiles, 1.0


@njit(cache=True, inline="always")
def stream_speedup(cores, tiles, read, min_bytes):
    """The weight-stream kernels' thread split: one thread under ``min_bytes`` stored bytes
    read per call, else up to 4 chunks of whole 64-output tiles per thread."""
    if cores <= 1.0 or tiles <= 1.0 or read < min_bytes:
        return 1.0
    chunks = min(tiles, 4.0 * cores)
    per_chunk = np.ceil(tiles / chunks)
    return tiles / (np.ceil(np.ceil(tiles / per_chunk) / cores) * per_chunk)


@njit(cache=True, inline="always")
def stream_time(q, impl, m, n, k, wr):
    """``(seconds, stall, bytes touched, peak MAC/s)`` of a weight-stream kernel (``K_LUT`` or
    ``K_VNNI``): its work bytes at its rate, the codes prepared, the packed weights re-read
    per row from beyond L2."""
    if impl == K_LUT:
        rate, code_s, stream_s = q[C_LUT_RATE], q[C_LUT_CODE], q[C_LUT_STREAM]
        min_bytes = LUT_PARALLEL_MIN_BYTES
    else:
        rate, code_s, stream_s = q[C_VNNI_RATE], q[C_VNNI_CODE], q[C_VNNI_STREAM]
        min_bytes = VNNI_PARALLEL_MIN_BYTES
    cores = q[C_CORES]
    work, packed, tiles, macs_per_byte = stream_bytes(impl, n, k, wr)
    speedup = stream_speedup(cores, tiles, m * packed, min_bytes)
    stretch = cores / speedup
    t = m * work / rate + m * k * code_s
    if packed / speedup > q[C_L2]:
        t += m * packed * stream_s  # every row streams the weights again
    t = t * stretch + q[C_OVERHEAD]
    if speedup > 1.0:
        t += q[C_PAR_CALL]
    touched = m * packed + m * k + m * n * 8.0
    return t, 0.0, touched, rate * macs_per_byte


@njit(cache=True, inline="always")
def _torch_time(q, m, n, k, w_elems, w_bytes, rate, c_in, c_w, c_out, c_call, c_dram, c_cache,
                c_par, c_gw):  # fmt: skip
    """Seconds of one torch int8 / fp32 GEMM: ``call + stretch * (M*N*K/rate + M*K*s_in +
    N*K*(s_w + s_gw if M > 1) + M*N*s_out) + max(0, weight bytes - cache) * s_dram``. The
    bracket is the
    whole-chip work; ``stretch`` is ``cores`` for a layer under ``parallel_macs`` (the library
    runs it on one thread), else 1. The last term is the weight stream that no longer fits the
    cache a call leaves warm for the next: DRAM bandwidth, shared by the threads, not scaled
    by them."""
    macs = m * n * k
    work = macs / rate + m * k * q[c_in] + w_elems * q[c_w] + m * n * q[c_out]
    if m > 1.0:  # a GEMM, not a GEMV: the library packs the weights on every call
        work += w_elems * q[c_gw]
    if macs < q[c_par]:
        work *= q[C_CORES]
    return q[c_call] + work + max(0.0, w_bytes - q[c_cache]) * q[c_dram]


@njit(parallel=True, cache=True)
def _cpu_kernel(
    params, layer, w_req, a_req, m_col, n_col, k_col, in_col, w_col, g_col, act_col, out, chosen
):
    n_cfg = params.shape[0]
    for p in prange(layer.shape[0]):
        li = layer[p]
        m = float(m_col[li])
        n = float(n_col[li])
        k = float(k_col[li])
        in_elems = float(in_col[li])
        w_elems = float(w_col[li])
        g = float(g_col[li])
        act = act_col[li] != 0
        macs = m * n * k
        for h in range(n_cfg):
            q = params[h]
            wr = q[C_WRUN + w_req[p]]
            ar = q[C_ARUN + a_req[p]]
            impl = q[C_KERNEL]
            if impl == K_BITSERIAL and not act:  # what bitserial_linear runs for these rows
                if vnni_applies(q, m, wr, ar):
                    impl = K_VNNI
                elif lut_applies(q, m, wr, ar):
                    impl = K_LUT
            if impl == K_BEST:
                # Every implementation that can run the layer's bits, at its own widths.
                impl, best_t = K_FP32, np.inf
                w_fp, a_fp = float(FLOAT_BITS), float(FLOAT_BITS)
                if wr < FLOAT_BITS and ar < FLOAT_BITS:
                    best_t = _impl_time(q, K_BITSERIAL, m, n, k, w_elems, g, act, wr, ar)[0]
                    impl = K_BITSERIAL
                    for stream in (K_LUT, K_VNNI):
                        if stream_runs(q, stream, wr, ar) and not act:
                            t_stream = stream_time(q, stream, m, n, k, wr)[0]
                            if t_stream < best_t:
                                impl, best_t = stream, t_stream
                    w8 = 8.0 if wr <= 8.0 else 16.0
                    a8 = 8.0 if ar <= 8.0 else 16.0
                    t8 = _impl_time(q, K_INT8, m, n, k, w_elems, g, act, w8, a8)[0]
                    if t8 < best_t:
                        impl, best_t = K_INT8, t8
                if _impl_time(q, K_FP32, m, n, k, w_elems, g, act, w_fp, a_fp)[0] < best_t:
                    impl = K_FP32
                if impl == K_INT8:
                    wr, ar = 8.0 if wr <= 8.0 else 16.0, 8.0 if ar <= 8.0 else 16.0
                elif impl == K_FP32:
                    wr, ar = w_fp, a_fp
            t, stall, touched, peak = _impl_time(q, impl, m, n, k, w_elems, g, act, wr, ar)
            # Compulsory DRAM traffic: stored weights and input, output, at the run widths.
            read = (w_elems * wr + in_elems * ar) / 8.0
            write = m * n * ar / 8.0
            e_dram = 8.0 * (read + write) * q[C_EDRAM] * 1e-12
            e_core = t * q[C_POWER]
            cycles = t * q[C_FREQ]
            chosen[h, p] = impl
            out[M.M_CYCLES, h, p] = cycles
            out[M.M_STALL_CYCLES, h, p] = stall * q[C_FREQ]
            out[M.M_LATENCY_S, h, p] = t
            out[M.M_ENERGY_J, h, p] = e_core + e_dram
            out[M.M_COMPUTE_ENERGY_J, h, p] = e_core
            out[M.M_SRAM_ENERGY_J, h, p] = 0.0
            out[M.M_DRAM_ENERGY_J, h, p] = e_dram
            out[M.M_DRAM_READ_BYTES, h, p] = read
            out[M.M_DRAM_WRITE_BYTES, h, p] = write
            out[M.M_DRAM_BYTES, h, p] = read + write
            out[M.M_SRAM_BITS, h, p] = 8.0 * touched
            # An act x act row stores no weights: its second operand is an activation.
            held_w = 0.0 if act else w_elems * wr
            out[M.M_WEIGHT_BITS, h, p] = held_w
            out[M.M_ACTIVATION_BITS, h, p] = in_elems * ar + m * n * ar + w_elems * wr - held_w
            out[M.M_UTILIZATION, h, p] = macs / (t * peak)
            out[M.M_W_BITS_RUN, h, p] = wr
            out[M.M_A_BITS_RUN, h, p] = ar


def evaluate(configs: Sequence[CpuConfig], points: Points) -> dict[str, np.ndarray]:
    """All METRICS ``[H, P]`` of the CPU configs at the points, in one Numba call."""
    check_points(points)
    params = np.ascontiguousarray(np.stack([c.pack() for c in configs]))
    check_runnable(configs, params, points, C_WRUN, C_ARUN)
    out = np.empty((len(METRICS), len(configs), len(points)), dtype=np.float64)
    chosen = np.empty((len(configs), len(points)), dtype=np.float64)
    wl = points.workload
    cols = wl.columns
    if len(points):
        _cpu_kernel(
            params,
            np.ascontiguousarray(points.layer, dtype=np.int64),
            np.ascontiguousarray(points.w_bits, dtype=np.int64),
            np.ascontiguousarray(points.a_bits, dtype=np.int64),
            cols["M"],
            cols["N"],
            cols["K"],
            wl.input_elems,
            wl.weight_elems,
            wl.independent_gemms,
            wl.is_act_matmul.astype(np.int64),
            out,
            chosen,
        )
    # Which implementation ran each layer: an index into KERNELS (never "best" itself).
    return {**{k: out[i] for i, k in enumerate(METRICS)}, "implementation": chosen}


register_family(
    CpuConfig,
    evaluate,
    "CPU: bit-serial popcount GEMM, torch's int8 and fp32 kernels, or the fastest per layer",
)
