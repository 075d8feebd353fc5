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
from typing import Any

import numba
import numpy as np
from numba import njit, prange

from hwsim.bits import as_codes, pack_rows
from hwsim.errors import HwsimError, check, check_bits
from hwsim.kernels.popcount import popcount

ROW_TILE = 8
"""Activation rows in one register tile."""

COL_TILE = 16
"""Weight rows (output channels) in one register tile: two 512-bit (or four 256-bit) vectors.
An 8 x 16 tile keeps 16 vector accumulators in registers while each activation word is
broadcast against 16 weight words; measured faster here than 4x16, 4x32, 8x32 or 16x16, and
unlike a tile vectorized along K it needs no horizontal sums, which dominate at short K."""

ROW_PAD = 16
"""Both operands' rows are padded to a multiple of this (a multiple of both tiles)."""

L2_BUDGET_BYTES = 256 * 1024
"""Activation words kept hot per block: half of a 512 KiB L2 per core."""

PARALLEL_MIN_WORDS = 1 << 21
"""Below this many word AND + popcounts (about half a millisecond) waking threads costs more
than it saves, so small problems run on the calling thread."""

ALIGN_BYTES = 64
"""Packed operands start on a cache line: the kernel's 512-bit loads and stores
then never straddle two lines (measured here: up to 1.7x slower when misaligned)."""

ACCUMULATOR_BITS = 62
"""Largest ``K * 2^(a_bits + w_bits)`` allowed: int64 with two bits of margin (see below)."""


@dataclass(frozen=True)
class PackedOperand:
    """One matmul operand as packed bitplanes, ready for :func:`bitserial_matmul_packed`.

    ``words`` is uint64 ``[bits, ceil(K/64), rows rounded up to ROW_PAD]``: for one plane and
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
        want = (self.bits, -(-self.k // 64), -(-self.rows // ROW_PAD) * ROW_PAD)
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
    rows_padded = -(-c.shape[0] // ROW_PAD) * ROW_PAD
    words = aligned_empty((bits, -(-c.shape[1] // 64), rows_padded), np.uint64)
    pack_rows(c, bits, ROW_PAD, out=words.transpose(2, 0, 1))
    return PackedOperand(words, int(c.shape[0]), int(c.shape[1]), bits, bool(signed))


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


@njit(cache=True)
def _gemm_tiles(a_words, w_words, coef, out, m_block, k_block, t_begin, t_end, c_begin, c_end):
    """``out[Mp, Np] += sum_{i,j} coef[i,j] popcount(a_i AND w_j)`` over row tiles
    ``t_begin .. t_end`` (of ROW_TILE activation rows) and column tiles ``c_begin .. c_end``
    (of COL_TILE weight rows).

    ``a_words [ab, KW, Mp]``, ``w_words [wb, KW, Np]``. K is cut into ``k_block`` words and
    the row tiles into blocks of ``m_block`` tiles whose activation words stay in L2 while
    every column tile's weight words (a few KiB, in L1) pass over them.
    """
    ab, kw = a_words.shape[0], a_words.shape[1]
    wb = w_words.shape[0]
    acc = np.empty((ROW_TILE, COL_TILE), dtype=np.int64)
    for k0 in range(0, kw, k_block):
        k1 = min(k0 + k_block, kw)
        for tb in range(t_begin, t_end, m_block):
            for ct in range(c_begin, c_end):
                n0 = ct * COL_TILE
                for mt in range(tb, min(tb + m_block, t_end)):
                    m0 = mt * ROW_TILE
                    for i in range(ab):
                        for j in range(wb):
                            acc[:] = 0
                            for k in range(k0, k1):
                                a0 = a_words[i, k, m0]
                                a1 = a_words[i, k, m0 + 1]
                                a2 = a_words[i, k, m0 + 2]
                                a3 = a_words[i, k, m0 + 3]
                                a4 = a_words[i, k, m0 + 4]
                                a5 = a_words[i, k, m0 + 5]
                                a6 = a_words[i, k, m0 + 6]
                                a7 = a_words[i, k, m0 + 7]
                                for n in range(COL_TILE):
                                    # An unsigned index skips Numba's negative-index wrap,
                                    # which hides the contiguity from LLVM: with it, the 16
                                    # words become two vector loads instead of two gathers.
                                    w = w_words[j, k, np.uint64(n0 + n)]
                                    acc[0, n] += popcount(a0 & w)
                                    acc[1, n] += popcount(a1 & w)
                                    acc[2, n] += popcount(a2 & w)
                                    acc[3, n] += popcount(a3 & w)
                                    acc[4, n] += popcount(a4 & w)
                                    acc[5, n] += popcount(a5 & w)
                                    acc[6, n] += popcount(a6 & w)
                                    acc[7, n] += popcount(a7 & w)
                            c = coef[i, j]
                            for r in range(ROW_TILE):
                                for n in range(COL_TILE):
                                    out[m0 + r, np.uint64(n0 + n)] += c * acc[r, n]


@njit(cache=True, parallel=True)
def _gemm_parallel(a_words, w_words, coef, out, m_block, k_block, m_tiles, m_chunks, n_chunks):
    """:func:`_gemm_tiles` over a grid of ``m_chunks x n_chunks`` disjoint output blocks, one
    thread per block; splitting N too keeps both cores busy when M is a single tile."""
    c_tiles = w_words.shape[2] // COL_TILE
    m_per = -(-m_tiles // m_chunks)
    c_per = -(-c_tiles // n_chunks)
    for chunk in prange(m_chunks * n_chunks):
        t_begin = (chunk // n_chunks) * m_per
        c_begin = (chunk % n_chunks) * c_per
        _gemm_tiles(
            a_words,
            w_words,
            coef,
            out,
            m_block,
            k_block,
            t_begin,
            min(t_begin + m_per, m_tiles),
            c_begin,
            min(c_begin + c_per, c_tiles),
        )


def _blocking(a_bits: int, words: int) -> tuple[int, int]:
    """``(m_block row tiles, k_block words)`` so one block of activation words fits the L2
    budget; K is cut only when a block of 64 rows would not fit."""
    row_bytes = a_bits * 8
    k_block = max(1, min(words, L2_BUDGET_BYTES // (64 * row_bytes)))
    m_block = max(1, L2_BUDGET_BYTES // (row_bytes * k_block * ROW_TILE))
    return m_block, k_block


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


def bitserial_matmul_packed(a: PackedOperand, w: PackedOperand) -> np.ndarray:
    """int64 ``[M, N] = a_codes @ w_codes.T`` from two packed operands (see :func:`pack_operand`).

    ``a`` holds the activations ``[M, K]``, ``w`` the weights ``[N, K]`` (rows are output
    channels, as in ``torch.nn.Linear``).
    """
    check(isinstance(a, PackedOperand), "a", type(a).__name__, "must be a PackedOperand")
    check(isinstance(w, PackedOperand), "w", type(w).__name__, "must be a PackedOperand")
    check(a.k == w.k, "K", (a.k, w.k), "activations and weights must share K")
    check_accumulator(a.k, a.bits, w.bits)
    out = np.zeros((a.words.shape[2], w.words.shape[2]), dtype=np.int64)
    coef = plane_pair_coefficients(a.bits, w.bits, a.signed, w.signed)
    m_block, k_block = _blocking(a.bits, a.words.shape[1])
    m_tiles = -(-a.rows // ROW_TILE)
    c_tiles = out.shape[1] // COL_TILE
    work = out.size * a.words.shape[1] * a.bits * w.bits
    threads = numba.get_num_threads()
    if threads == 1 or work < PARALLEL_MIN_WORDS:
        _gemm_tiles(a.words, w.words, coef, out, m_block, k_block, 0, m_tiles, 0, c_tiles)
    else:
        m_chunks = min(m_tiles, 4 * threads)
        n_chunks = max(1, min(c_tiles, (4 * threads) // m_chunks))
        _gemm_parallel(a.words, w.words, coef, out, m_block, k_block, m_tiles, m_chunks, n_chunks)
    if out.shape == (a.rows, w.rows):
        return out
    return np.ascontiguousarray(out[: a.rows, : w.rows])


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
    weights, call :func:`pack_operand` once and :func:`bitserial_matmul_packed` per input.
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
    a = pack_operand(a_arr, a_bits, signed=a_signed, field="a_codes")
    w = pack_operand(w_arr, w_bits, signed=w_signed, field="w_codes")
    return bitserial_matmul_packed(a, w)
