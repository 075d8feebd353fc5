"""Bit-serial integer matmul on this CPU: packed bitplanes, AND + popcount, shift and add.

The binary decomposition (EBS, BISMO): with ``a = sum_i s_i 2^i a_i`` and ``w = sum_j t_j 2^j
w_j`` over 0/1 bitplanes (``s``, ``t`` are -1 on the sign plane of a signed operand, else 1),

    a . w = sum_{i,j} s_i t_j 2^(i+j) popcount(a_i AND w_j),

so an ``a_bits x w_bits`` matmul is ``a_bits * w_bits`` binary matmuls whose popcounts are
weighted and summed. Planes are packed 64 lanes to a uint64 word along K, so one AND and one
``popcnt`` do 64 binary multiply-accumulates.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numba
import numpy as np
from numba import njit, prange

from hwsim.bits import as_codes, code_range, pack_row, pack_rows
from hwsim.errors import HwsimError, check, check_bits
from hwsim.kernels.microkernel import COLS, tile_kernel

ROW_TILE = 8
"""Activation rows in one register tile (shorter tiles serve the last rows and batch 1)."""

COL_TILE = COLS
"""Weight rows (output channels) in one register tile: two 512-bit vectors of int64 lanes.
Each activation word is broadcast against 16 weight words; 8 x 16 keeps 16 vector
accumulators and the two weight vectors in registers, and unlike a tile vectorized along K it
needs no horizontal sums, which dominate at short K."""

ROW_PAD = 16
"""Packed operands' rows are padded to a multiple of this (a multiple of both tiles)."""

ALIAS_ROWS = 128
"""A padded row count that is a multiple of this, from ALIAS_MIN_ROWS on, gets ROW_PAD rows
more. The words of one row at consecutive K lie ``rows * 8`` bytes apart, and a stride of a
multiple of 1 KiB maps them to a few cache sets only (one set at 4 KiB, N = 512, 1024, 2048):
a GEMV, which reads every weight word once, then ran 2-3x slower at W2-W4. Measured here, one
thread, CPU time, N and N + 16 interleaved in one process: 1 x 4096 x 4096 W4A4 1.39 ms ->
0.45 ms; GEMMs 0.99-1.04x (1024^3 W1A1 1.86 -> 1.84 ms, W2A2 4.48 -> 4.64 ms)."""

ALIAS_MIN_ROWS = 512
"""Below this many rows the extra ROW_PAD rows would cost more than 3 % of the work."""

PACK_BUFFER_BYTES = 96 * 1024
"""Packed activation words per row block: L2-resident while every weight tile passes over
them (each weight tile, a few KiB, stays in L1 over the block's row tiles)."""

WEIGHT_BLOCK_BYTES = 512 * 1024
"""Packed weight words swept by each row tile: half of this machine's 1 MiB L2 per core."""

MAX_ROW_BLOCK = 512
"""At most this many rows per block, so threads get several blocks each."""

PARALLEL_MIN_WORDS = 1 << 18
"""Below this many word AND + popcounts (tens of microseconds) waking threads costs more
than it saves, so small problems run on the calling thread."""

ALIGN_BYTES = 64
"""Packed operands start on a cache line: the kernel's 512-bit loads and stores
then never straddle two lines (measured here: up to 1.7x slower when misaligned)."""

ACCUMULATOR_BITS = 62
"""Largest ``K * 2^(a_bits + w_bits)`` allowed: int64 with two bits of margin (see below)."""


@dataclass(frozen=True)
class PackedOperand:
    """One matmul operand as packed bitplanes, ready for :func:`bitserial_matmul_packed`.

    ``words`` is uint64 ``[bits, ceil(K/64), padded_rows(rows)]``: for one plane and
    one word of K, the words of consecutive rows lie together, so the kernel loads the weight
    words of 16 output channels as whole vectors and broadcasts each activation word against
    them. Pack weights once with :func:`pack_operand` and reuse them; activations are packed
    per call.
    """

    words: np.ndarray
    rows: int
    k: int
    bits: int
    signed: bool

    def __post_init__(self) -> None:
        # The kernel indexes these words without bounds checks: refuse any inconsistency.
        words = self.words
        ok = (
            isinstance(words, np.ndarray)
            and words.dtype == np.uint64
            and words.ndim == 3
            and words.flags.c_contiguous
        )
        check(
            ok,
            "packed.words",
            getattr(words, "shape", type(words).__name__),
            "must be a C-contiguous 3-D uint64 array from pack_operand",
        )
        check_bits("packed.bits", self.bits)
        want = (self.bits, -(-self.k // 64), padded_rows(self.rows))
        check(
            self.k >= 1 and self.rows >= 0 and words.shape == want,
            "packed.words",
            words.shape,
            f"does not match rows={self.rows}, bits={self.bits}, K={self.k} (expected {want})",
        )

    @property
    def nbytes(self) -> int:
        return int(self.words.nbytes)


def pack_operand(codes: Any, bits: int, *, signed: bool, field: str = "codes") -> PackedOperand:
    """Validate 2-D integer ``codes [rows, K]`` and pack them for the bit-serial kernel."""
    bits = check_bits(f"{field}.bits", bits)
    check(isinstance(signed, bool | np.bool_), f"{field}.signed", signed, "must be a bool")
    c = as_codes(codes, bits, bool(signed), field)
    check(c.ndim == 2, f"{field}.shape", c.shape, "must be 2-D [rows, K]")
    check(c.shape[1] >= 1, f"{field}.shape", c.shape, "K (the last axis) must be >= 1")
    tiled = -(-c.shape[0] // ROW_PAD) * ROW_PAD
    words = aligned_empty((bits, -(-c.shape[1] // 64), padded_rows(c.shape[0])), np.uint64)
    rows_first = words.transpose(2, 0, 1)
    pack_rows(c, bits, ROW_PAD, out=rows_first[:tiled])
    rows_first[tiled:] = 0  # the anti-aliasing rows: zero weights, outputs trimmed
    return PackedOperand(words, int(c.shape[0]), int(c.shape[1]), bits, bool(signed))


@njit(cache=True)
def padded_rows(rows):
    """Rows of a packed operand: ``rows`` rounded up to ROW_PAD, plus ROW_PAD more when that
    is a multiple of ALIAS_ROWS of at least ALIAS_MIN_ROWS (see ALIAS_ROWS)."""
    tiled = -(-rows // ROW_PAD) * ROW_PAD
    if tiled >= ALIAS_MIN_ROWS and tiled % ALIAS_ROWS == 0:
        return tiled + ROW_PAD
    return tiled


def aligned_empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on an ALIGN_BYTES boundary."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    buf = np.empty(count * dtype.itemsize + ALIGN_BYTES, dtype=np.uint8)
    start = -buf.ctypes.data % ALIGN_BYTES
    return buf[start : start + count * dtype.itemsize].view(dtype).reshape(shape)


def plane_pair_coefficients(a_bits: int, w_bits: int, a_signed: bool, w_signed: bool) -> np.ndarray:
    """int64 ``[a_bits, w_bits]``: ``2^(i+j)``, negated when exactly one plane is a sign plane."""
    i = np.arange(a_bits, dtype=np.int64)[:, None]
    j = np.arange(w_bits, dtype=np.int64)[None, :]
    coef = np.left_shift(np.int64(1), i + j)
    a_sign = np.zeros(a_bits, dtype=bool)
    w_sign = np.zeros(w_bits, dtype=bool)
    a_sign[-1] = a_signed
    w_sign[-1] = w_signed
    return np.where(a_sign[:, None] ^ w_sign[None, :], -coef, coef)


def _make_tile_dispatch():
    tiles = [tile_kernel(r) for r in range(1, ROW_TILE + 1)]
    t1, t2, t3, t4, t5, t6, t7, t8 = tiles

    @njit(cache=True)
    def run_tile(rows, a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
                 coef, out, out_base, out_rs, accumulate):  # fmt: skip
        """One ``rows x COL_TILE`` tile (see :func:`~hwsim.kernels.microkernel.tile_kernel`)."""
        if rows == 8:
            t8(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate)  # fmt: skip
        elif rows == 7:
            t7(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate)  # fmt: skip
        elif rows == 6:
            t6(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate)  # fmt: skip
        elif rows == 5:
            t5(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate)  # fmt: skip
        elif rows == 4:
            t4(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate)  # fmt: skip
        elif rows == 3:
            t3(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate)  # fmt: skip
        elif rows == 2:
            t2(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate)  # fmt: skip
        else:
            t1(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate)  # fmt: skip

    return run_tile


run_tile = _make_tile_dispatch()


# ---------------------------------------------------------------------------- GEMM drivers
@njit(cache=True)
def _linear_chunk(codes, bits, off, inv, lo, hi, w_words, coef, out, row_block, col_block,
                  r_begin, r_end, c_begin, c_end):  # fmt: skip
    """Rows ``r_begin .. r_end`` x column tiles ``c_begin .. c_end`` of ``out [M, Np]``.

    Each block of ``row_block`` activation rows is packed into an L2-sized buffer right before
    the tiles that use it, so packed activations never travel through memory. A row tile then
    sweeps a block of ``col_block`` weight tiles (L2-resident) with its words in L1, writing
    its output rows front to back. True if a code was out of range."""
    wb, kw, np_ = w_words.shape[0], w_words.shape[1], w_words.shape[2]
    buf = np.empty((bits, kw, row_block), dtype=np.uint64)
    k_off = np.arange(kw) * row_block
    buf_flat, w_flat, out_flat = buf.ravel(), w_words.ravel(), out.ravel()
    bad = False
    for rb0 in range(r_begin, r_end, row_block):
        rows = min(row_block, r_end - rb0)
        for r in range(rows):
            bad |= pack_row(codes[rb0 + r], bits, buf, r, off, inv, lo, hi)
        for cb0 in range(c_begin, c_end, col_block):
            for t0 in range(0, rows, ROW_TILE):
                for ct in range(cb0, min(cb0 + col_block, c_end)):
                    run_tile(min(ROW_TILE, rows - t0), buf_flat, t0, 1, kw * row_block, bits,
                             k_off, w_flat, ct * COL_TILE, np_, kw * np_, wb, 0, kw,
                             coef, out_flat, (rb0 + t0) * np_ + ct * COL_TILE, np_,
                             False)  # fmt: skip
    return bad


@njit(cache=True, parallel=True)
def _linear_parallel(codes, bits, off, inv, lo, hi, w_words, coef, out, row_block, col_block,
                     rows_per_chunk, m_chunks, c_per_chunk, n_chunks):  # fmt: skip
    """:func:`_linear_chunk` over a grid of disjoint output blocks, one thread each; a grid
    with several column chunks (small M) packs each row block once per column chunk."""
    m, c_tiles = codes.shape[0], w_words.shape[2] // COL_TILE
    bad = np.zeros(m_chunks * n_chunks, dtype=np.bool_)
    for chunk in prange(m_chunks * n_chunks):
        r0 = (chunk // n_chunks) * rows_per_chunk
        c0 = (chunk % n_chunks) * c_per_chunk
        bad[chunk] = _linear_chunk(codes, bits, off, inv, lo, hi, w_words, coef, out,
                                   row_block, col_block, r0, min(r0 + rows_per_chunk, m),
                                   c0, min(c0 + c_per_chunk, c_tiles))  # fmt: skip
    return bad.any()


@njit(cache=True)
def _packed_chunk(a_words, w_words, coef, out, col_block, r_begin, r_end, c_begin, c_end):
    """Like :func:`_linear_chunk` with the activations already packed ``[ab, KW, Mp]``."""
    ab, kw, mp = a_words.shape[0], a_words.shape[1], a_words.shape[2]
    wb, np_ = w_words.shape[0], w_words.shape[2]
    k_off = np.arange(kw) * mp
    a_flat, w_flat, out_flat = a_words.ravel(), w_words.ravel(), out.ravel()
    for cb0 in range(c_begin, c_end, col_block):
        for t0 in range(r_begin, r_end, ROW_TILE):
            for ct in range(cb0, min(cb0 + col_block, c_end)):
                run_tile(min(ROW_TILE, r_end - t0), a_flat, t0, 1, kw * mp, ab, k_off,
                         w_flat, ct * COL_TILE, np_, kw * np_, wb, 0, kw,
                         coef, out_flat, t0 * np_ + ct * COL_TILE, np_, False)  # fmt: skip


@njit(cache=True, parallel=True)
def _packed_parallel(a_words, w_words, coef, out, col_block, rows_per_chunk, m_chunks,
                     c_per_chunk, n_chunks):  # fmt: skip
    m, c_tiles = out.shape[0], w_words.shape[2] // COL_TILE
    for chunk in prange(m_chunks * n_chunks):
        r0 = (chunk // n_chunks) * rows_per_chunk
        c0 = (chunk % n_chunks) * c_per_chunk
        _packed_chunk(a_words, w_words, coef, out, col_block, r0, min(r0 + rows_per_chunk, m),
                      c0, min(c0 + c_per_chunk, c_tiles))  # fmt: skip


@njit(cache=True)
def grid_for(m, c_tiles, work, threads, min_words=PARALLEL_MIN_WORDS):
    """``(rows_per_chunk, m_chunks, col_tiles_per_chunk, n_chunks)`` of the threaded drivers
    on ``threads`` threads, or all zeros when one thread is faster (a small problem). Chunks
    are whole row tiles; when M has too few tiles to feed every thread, N is split too. The
    CPU cost model calls this too, so it predicts exactly the split the kernel makes. Calls
    of fewer than ``min_words`` word operations stay on one thread."""
    if threads <= 1 or work < min_words:
        return 0, 0, 0, 0
    m_tiles = -(-m // ROW_TILE)
    m_chunks = min(m_tiles, 4 * threads)
    rows_per_chunk = -(-m_tiles // m_chunks) * ROW_TILE
    m_chunks = -(-m // rows_per_chunk)
    n_chunks = max(1, min(c_tiles, (4 * threads) // m_chunks))
    c_per_chunk = -(-c_tiles // n_chunks)
    n_chunks = -(-c_tiles // c_per_chunk)
    if m_chunks * n_chunks < 2:
        return 0, 0, 0, 0
    return rows_per_chunk, m_chunks, c_per_chunk, n_chunks


@njit(cache=True)
def parallel_split(m, c_tiles, work, threads, row_block):
    """``(speedup, column chunks, weight sweeps)`` of one threaded GEMM call: its work over the
    busiest thread's (``prange`` hands each thread an equal run of consecutive chunks; a
    chunk's work is its row tiles, each costing about one row more, times its column tiles);
    how many times each activation row is packed (once per column chunk); and how many times
    the weights are read whole (each block of ``row_block`` rows sweeps its chunk's weight
    columns once). ``(1, 1, row blocks)`` when the call runs on the calling thread."""
    rows_per_chunk, m_chunks, c_per_chunk, n_chunks = grid_for(m, c_tiles, work, threads)
    if m_chunks == 0:
        return 1.0, 1.0, float(-(-m // row_block))
    chunks = m_chunks * n_chunks
    per_thread = -(-chunks // threads)
    total = 0.0
    busiest = 0.0
    sweeps = 0.0
    for t in range(threads):
        load = 0.0
        for chunk in range(t * per_thread, min(chunks, (t + 1) * per_thread)):
            rows = min(rows_per_chunk, m - (chunk // n_chunks) * rows_per_chunk)
            cols = min(c_per_chunk, c_tiles - (chunk % n_chunks) * c_per_chunk)
            load += (rows + -(-rows // ROW_TILE)) * cols
            sweeps += -(-rows // row_block) * cols / c_tiles
        total += load
        busiest = max(busiest, load)
    return total / busiest, float(n_chunks), sweeps


def _grid(m: int, c_tiles: int, work: int) -> tuple[int, int, int, int] | None:
    """:func:`grid_for` on Numba's current threads, None when one thread runs the call."""
    # The module's threshold read at call time (tests lower it to reach the threaded path).
    grid = grid_for(m, c_tiles, work, numba.get_num_threads(), PARALLEL_MIN_WORDS)
    return None if grid[1] == 0 else grid


def col_block_for(bits: int, words: int) -> int:
    """Weight column tiles swept per row tile: as many as fit WEIGHT_BLOCK_BYTES (at least 1)."""
    return int(max(1, WEIGHT_BLOCK_BYTES // (bits * words * 8 * COL_TILE)))


def row_block_for(bits: int, words: int) -> int:
    """Activation rows packed per block: a multiple of ROW_TILE whose packed words fit
    PACK_BUFFER_BYTES (at least one tile, at most MAX_ROW_BLOCK rows)."""
    return int(rows_in_buffer(bits, words, PACK_BUFFER_BYTES))


@njit(cache=True)
def rows_in_buffer(bits, words, buffer_bytes):
    """:func:`row_block_for` for a ``buffer_bytes`` buffer (Numba code, the cost model's)."""
    rows = buffer_bytes // (bits * words * 8)
    return min(MAX_ROW_BLOCK, max(ROW_TILE, rows // ROW_TILE * ROW_TILE))


def check_accumulator(k: int, a_bits: int, w_bits: int) -> None:
    """Refuse a reduction whose partial sums could overflow the int64 accumulators.

    Every partial sum is bounded by ``K * (2^a_bits - 1) * (2^w_bits - 1)`` in magnitude (the
    sum of all plane-pair weights times ``K``), which ``K * 2^(a_bits + w_bits) <= 2^62``
    keeps well inside int64.
    """
    if k * (1 << (a_bits + w_bits)) > (1 << ACCUMULATOR_BITS):
        raise HwsimError(
            "K",
            k,
            f"too long for int64 accumulation at {a_bits}x{w_bits} bits "
            f"(needs K * 2^(a_bits + w_bits) <= 2^{ACCUMULATOR_BITS})",
        )


def _activation_codes(codes: Any, bits: int, signed: bool, field: str):
    """2-D codes for the kernels, with what they need to range-check them in the packing pass.

    uint8 (unsigned) and int8 (signed) codes of up to 8 bits go in as they are, one byte per
    code, checked inside the packer; any other integer dtype is validated here and widened to
    int64. Returns ``(codes, off, inv, lo, hi)``. Cheap checks only: this is on every call.
    """
    arr = codes if isinstance(codes, np.ndarray) else np.asarray(codes)
    if arr.dtype.kind not in "iu":
        raise HwsimError(f"{field}.dtype", str(arr.dtype), "codes must have an integer dtype")
    check(arr.ndim == 2, f"{field}.shape", arr.shape, "must be 2-D [rows, K]")
    if bits <= 8 and arr.dtype.itemsize == 1 and (arr.dtype.kind == "i") == signed:
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
    else:
        arr = as_codes(arr, bits, signed, field)
    return (arr, *range_check_constants(bits, signed))


@lru_cache(maxsize=64)
def range_check_constants(bits: int, signed: bool) -> tuple[np.uint8, np.uint8, int, int]:
    """``(off, inv, lo, hi)``: a byte code ``x`` is in range iff ``((x + off) mod 256) & inv``
    is zero; ``lo``/``hi`` bound wider codes."""
    lo, hi = code_range(bits, signed)
    return np.uint8((-lo) & 0xFF), np.uint8(~((1 << bits) - 1) & 0xFF), lo, hi


@lru_cache(maxsize=512)
def _coefficients(a_bits: int, w_bits: int, a_signed: bool, w_signed: bool) -> np.ndarray:
    """Flat ``plane_pair_coefficients``, cached: it is on every layer call's path."""
    coef = plane_pair_coefficients(a_bits, w_bits, a_signed, w_signed).ravel().copy()
    coef.flags.writeable = False
    return coef


def _trim(out: np.ndarray, rows: int, cols: int) -> np.ndarray:
    if out.shape == (rows, cols):
        return out
    return np.ascontiguousarray(out[:rows, :cols])


def bitserial_linear(
    a_codes: Any,
    w: PackedOperand,
    a_bits: int,
    *,
    a_signed: bool = False,
    field: str = "a_codes",
) -> np.ndarray:
    """Exact int64 ``[M, N] = a_codes @ w_codes.T`` against weights packed once.

    ``a_codes [M, K]`` are ``a_bits``-bit activation codes, best as uint8 (unsigned) or int8
    (signed) when ``a_bits <= 8``: then the kernel reads one byte per code. They are packed a
    block of rows at a time, right before the register tiles that use them, and range-checked
    in the same pass. ``field`` names the codes in errors.
    """
    a_bits = check_bits("a_bits", a_bits)
    check(isinstance(w, PackedOperand), "w", type(w).__name__, "must be a PackedOperand")
    check(isinstance(a_signed, bool | np.bool_), "a_signed", a_signed, "must be a bool")
    codes, off, inv, lo, hi = _activation_codes(a_codes, a_bits, bool(a_signed), field)
    check(codes.shape[1] == w.k, "K", (codes.shape[1], w.k), "activations and weights must share K")
    check_accumulator(w.k, a_bits, w.bits)
    m = codes.shape[0]
    out = np.empty((m, w.words.shape[2]), dtype=np.int64)
    if m == 0:
        return np.zeros((0, w.rows), dtype=np.int64)
    coef = _coefficients(a_bits, w.bits, bool(a_signed), w.signed)
    words = w.words.shape[1]
    row_block = row_block_for(a_bits, words)
    col_block = col_block_for(w.bits, words)
    c_tiles = out.shape[1] // COL_TILE
    grid = _grid(m, c_tiles, out.size * words * a_bits * w.bits)
    if grid is None:
        bad = _linear_chunk(codes, a_bits, off, inv, lo, hi, w.words, coef, out, row_block,
                            col_block, 0, m, 0, c_tiles)  # fmt: skip
    else:
        bad = _linear_parallel(codes, a_bits, off, inv, lo, hi, w.words, coef, out, row_block,
                               col_block, *grid)  # fmt: skip
    if bad:
        as_codes(codes, a_bits, bool(a_signed), field)  # raises, naming the value
    return _trim(out, m, w.rows)


def bitserial_matmul_packed(a: PackedOperand, w: PackedOperand) -> np.ndarray:
    """int64 ``[M, N] = a_codes @ w_codes.T`` from two packed operands (see :func:`pack_operand`).

    ``a`` holds ``[M, K]``, ``w`` ``[N, K]`` (rows are output channels, as in
    ``torch.nn.Linear``). Either may be activations: an act x act product (attention scores)
    packs both operands per call.
    """
    check(isinstance(a, PackedOperand), "a", type(a).__name__, "must be a PackedOperand")
    check(isinstance(w, PackedOperand), "w", type(w).__name__, "must be a PackedOperand")
    check(a.k == w.k, "K", (a.k, w.k), "activations and weights must share K")
    check_accumulator(a.k, a.bits, w.bits)
    out = np.empty((a.rows, w.words.shape[2]), dtype=np.int64)
    if a.rows == 0:
        return np.zeros((0, w.rows), dtype=np.int64)
    coef = _coefficients(a.bits, w.bits, a.signed, w.signed)
    c_tiles = out.shape[1] // COL_TILE
    grid = _grid(a.rows, c_tiles, out.size * a.words.shape[1] * a.bits * w.bits)
    col_block = col_block_for(w.bits, a.words.shape[1])
    if grid is None:
        _packed_chunk(a.words, w.words, coef, out, col_block, 0, a.rows, 0, c_tiles)
    else:
        _packed_parallel(a.words, w.words, coef, out, col_block, *grid)
    return _trim(out, a.rows, w.rows)


def bitserial_matmul(
    a_codes: Any,
    w_codes: Any,
    a_bits: int,
    w_bits: int,
    *,
    a_signed: bool = False,
    w_signed: bool = True,
) -> np.ndarray:
    """Exact int64 ``a_codes @ w_codes.T`` by bit-serial AND + popcount.

    ``a_codes [M, K]`` are ``a_bits``-bit activation codes, ``w_codes [N, K]`` ``w_bits``-bit
    weight codes (rows are output channels, as in ``torch.nn.Linear``); any integer dtype.
    Both are validated (range, rank, K, overflow) before the kernel runs. To reuse packed
    weights, call :func:`pack_operand` once and :func:`bitserial_linear` per input.
    """
    a_bits = check_bits("a_bits", a_bits)
    w_bits = check_bits("w_bits", w_bits)
    a_arr, w_arr = np.asarray(a_codes), np.asarray(w_codes)
    check(a_arr.ndim == 2, "a_codes.shape", a_arr.shape, "must be 2-D [M, K]")
    check(w_arr.ndim == 2, "w_codes.shape", w_arr.shape, "must be 2-D [N, K]")
    check(
        a_arr.shape[1] == w_arr.shape[1],
        "K",
        (a_arr.shape[1], w_arr.shape[1]),
        "a_codes [M, K] and w_codes [N, K] must share K",
    )
    check_accumulator(a_arr.shape[1], a_bits, w_bits)
    w = pack_operand(w_arr, w_bits, signed=w_signed, field="w_codes")
    return bitserial_linear(a_arr, w, a_bits, a_signed=a_signed)
