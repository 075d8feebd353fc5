"""Bit-serial integer matmul on this CPU: packed bitplanes, AND + popcount, shift and add.

The binary decomposition (EBS, BISMO): with ``a = sum_i s_i 2^i a_i`` and ``w = sum_j t_j 2^j
w_j`` over 0/1 bitplanes (``s``, ``t`` are -1 on the sign plane of a signed operand, else 1),

    a . w = sum_{i,j} s_i t_j 2^(i+j) popcount(a_i AND w_j),

so an ``a_bits x w_bits`` matmul is ``a_bits * w_bits`` binary matmuls whose popcounts are
weighted and summed. Planes are packed 64 lanes to a uint64 word along K, so one AND and one
``popcnt`` do 64 binary multiply-accumulates.

Each operand is ``unsigned``, ``signed`` (two's complement) or ``bipolar`` (+-1 in one bit, see
:mod:`hwsim.encoding`). A bipolar value ``v`` is packed as the bit ``n = (v == -1)``, so
``v = 1 - 2n``: a +-1 x +-1 product is ``K - 2 popcount(a XOR w)`` (one XOR and one popcount
per 64 lanes), and a +-1 x k-bit one is ``sum(x) - 2 sum_j t_j 2^j popcount(n AND x_j)``, where
``sum(x)`` is the other operand's row sum (kept with packed weights, taken per call for
activations), added once per output by the register tile.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numba
import numpy as np
from numba import njit, prange, types
from numba.core.extending import overload

from hwsim.bits import as_codes, pack_row, pack_word, pack_word_prefix
from hwsim.encoding import DEFAULT_A_ENCODING, DEFAULT_W_ENCODING, resolve
from hwsim.errors import check, check_bits
from hwsim.kernels.lut import lut_linear, lut_weights, use_lut
from hwsim.kernels.microkernel import COLS, tile_kernel
from hwsim.kernels.operand import (
    PackedOperand,
    activation_codes,
    bipolar_codes,
    check_accumulator,
    pack_operand,
    row_sums,
    tiled_words,
)
from hwsim.kernels.vnni import use_vnni, vnni_linear, vnni_weights

LINEAR_KERNELS: tuple[str, ...] = ("auto", "bitserial", "lut", "vnni")
"""What :func:`bitserial_linear` may be told to run (``auto``: the fastest here)."""

ROW_TILE = 8
"""Activation rows in one register tile (shorter tiles serve the last rows and batch 1)."""

COL_TILE = COLS
"""Weight rows (output channels) in one register tile: two 512-bit vectors of int64 lanes.
Each activation word is broadcast against 16 weight words; 8 x 16 keeps 16 vector
accumulators and the two weight vectors in registers, and unlike a tile vectorized along K it
needs no horizontal sums, which dominate at short K."""

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
    return _dispatch_plain(*tiles)


def _dispatch_plain(t1, t2, t3, t4, t5, t6, t7, t8):
    @njit(cache=True)
    def run_tile(rows, a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
                 coef, out, out_base, out_rs, accumulate, tiles, wts):  # fmt: skip
        """A panel of ``rows x COL_TILE`` tiles (:func:`~hwsim.kernels.microkernel.tile_kernel`)."""
        if rows == 8:
            t8(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate, tiles, wts)  # fmt: skip
        elif rows == 7:
            t7(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate, tiles, wts)  # fmt: skip
        elif rows == 6:
            t6(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate, tiles, wts)  # fmt: skip
        elif rows == 5:
            t5(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate, tiles, wts)  # fmt: skip
        elif rows == 4:
            t4(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate, tiles, wts)  # fmt: skip
        elif rows == 3:
            t3(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate, tiles, wts)  # fmt: skip
        elif rows == 2:
            t2(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate, tiles, wts)  # fmt: skip
        else:
            t1(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
               coef, out, out_base, out_rs, accumulate, tiles, wts)  # fmt: skip

    return run_tile


run_tile = _make_tile_dispatch()


def _make_biased_dispatch(xor: bool):
    t1, t2, t3, t4, t5, t6, t7, t8 = (tile_kernel(r, xor, True) for r in range(1, ROW_TILE + 1))

    @njit(cache=True)
    def run(rows, a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
            coef, out, out_base, out_rs, tiles, wts, rb, rb_base, cb, cb_base):  # fmt: skip
        if rows == 8:
            t8(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1, coef,
               out, out_base, out_rs, False, tiles, wts, rb, rb_base, cb, cb_base)  # fmt: skip
        elif rows == 7:
            t7(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1, coef,
               out, out_base, out_rs, False, tiles, wts, rb, rb_base, cb, cb_base)  # fmt: skip
        elif rows == 6:
            t6(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1, coef,
               out, out_base, out_rs, False, tiles, wts, rb, rb_base, cb, cb_base)  # fmt: skip
        elif rows == 5:
            t5(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1, coef,
               out, out_base, out_rs, False, tiles, wts, rb, rb_base, cb, cb_base)  # fmt: skip
        elif rows == 4:
            t4(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1, coef,
               out, out_base, out_rs, False, tiles, wts, rb, rb_base, cb, cb_base)  # fmt: skip
        elif rows == 3:
            t3(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1, coef,
               out, out_base, out_rs, False, tiles, wts, rb, rb_base, cb, cb_base)  # fmt: skip
        elif rows == 2:
            t2(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1, coef,
               out, out_base, out_rs, False, tiles, wts, rb, rb_base, cb, cb_base)  # fmt: skip
        else:
            t1(a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1, coef,
               out, out_base, out_rs, False, tiles, wts, rb, rb_base, cb, cb_base)  # fmt: skip

    return run


run_tile_and_bias = _make_biased_dispatch(False)
"""One AND tile plus a row and a column bias (a +-1 operand against a k-bit one)."""
run_tile_xor_bias = _make_biased_dispatch(True)
"""One XOR tile plus biases (+-1 x +-1: coefficient -2, column bias K)."""


@njit(cache=True)
def run_tile_mode(mode, rows, a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0,
                  k1, coef, out, out_base, out_rs, tiles, wts, rb, rb_base, cb,
                  cb_base):  # fmt: skip
    """A panel of ``tiles`` column tiles whose weights are ``wts`` words apart (see
    :func:`~hwsim.kernels.microkernel.tile_kernel`). ``mode`` 0: the plain AND tile; 1: AND
    plus biases; 2: XOR plus biases."""
    if mode == 0:
        run_tile(rows, a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb, k0, k1,
                 coef, out, out_base, out_rs, False, tiles, wts)  # fmt: skip
    elif mode == 1:
        run_tile_and_bias(rows, a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb,
                          k0, k1, coef, out, out_base, out_rs, tiles, wts, rb, rb_base, cb,
                          cb_base)  # fmt: skip
    else:
        run_tile_xor_bias(rows, a, a_base, a_rs, a_ps, ab, k_off, w, w_base, w_ks, w_ps, wb,
                          k0, k1, coef, out, out_base, out_rs, tiles, wts, rb, rb_base, cb,
                          cb_base)  # fmt: skip


# ---------------------------------------------------------------------------- GEMM drivers
def _pack_row_bipolar(row, buf, r):
    """Pack +-1 codes ``row`` into ``buf[0, :, r]`` as ``v == -1`` bits; True if a code is
    neither -1 nor +1 (Numba only; see the overload)."""
    raise NotImplementedError


@overload(_pack_row_bipolar, jit_options={"cache": True})
def _pack_row_bipolar_overload(row, buf, r):
    if row.dtype == types.int8:

        def narrow(row, buf, r):
            # Bit 1 of the byte: 0 for +1 (0x01), 1 for -1 (0xFF); x + 1 must be 0 or 2.
            bad = np.uint8(0)
            for k in range(row.shape[0]):
                bad |= (np.uint8(row[k]) + np.uint8(1)) & np.uint8(0xFD)
            k_len = row.shape[0]
            full = k_len // 64
            for w in range(full):
                buf[0, w, r] = pack_word(row, w * 64, 1)
            if full * 64 < k_len:
                buf[0, full, r] = pack_word_prefix(row, full * 64, 1, k_len - full * 64)
            return bad != 0

        return narrow

    def wide(row, buf, r):  # only typed, never run: wide bipolar codes are narrowed first
        bad = False
        k_len = row.shape[0]
        for w in range(-(-k_len // 64)):
            word = np.uint64(0)
            for k in range(w * 64, min(k_len, w * 64 + 64)):
                bad |= (row[k] != 1) & (row[k] != -1)
                word |= np.uint64(row[k] < 0) << np.uint64(k - w * 64)
            buf[0, w, r] = word
        return bad

    return wide


@njit(cache=True)
def _linear_chunk(codes, bits, off, inv, lo, hi, w_words, coef, out, row_block, col_block,
                  r_begin, r_end, c_begin, c_end, mode, bipolar, rb, cb):  # fmt: skip
    """Rows ``r_begin .. r_end`` x column tiles ``c_begin .. c_end`` of ``out [M, No]``.

    Each block of ``row_block`` activation rows is packed into an L2-sized buffer right before
    the tiles that use it, so packed activations never travel through memory. A row tile then
    sweeps a block of ``col_block`` weight tiles (L2-resident) with its words in L1, writing
    its output rows front to back. ``mode`` picks the tile (:func:`run_tile_mode`), ``rb`` /
    ``cb`` its per-row and per-column biases; ``bipolar`` activations are int8 +-1 codes.
    True if a code was out of range. ``w_words`` are the weights by tile (:func:`tiled_words`).
    """
    wb, kw = w_words.shape[1], w_words.shape[2]
    tile_words = wb * kw * COL_TILE
    no = out.shape[1]
    buf = np.empty((bits, kw, row_block), dtype=np.uint64)
    k_off = np.arange(kw) * row_block
    buf_flat, w_flat, out_flat = buf.ravel(), w_words.ravel(), out.ravel()
    bad = False
    for rb0 in range(r_begin, r_end, row_block):
        rows = min(row_block, r_end - rb0)
        for r in range(rows):
            if bipolar:
                bad |= _pack_row_bipolar(codes[rb0 + r], buf, r)
            else:
                bad |= pack_row(codes[rb0 + r], bits, buf, r, off, inv, lo, hi)
        for cb0 in range(c_begin, c_end, col_block):
            tiles = min(cb0 + col_block, c_end) - cb0
            for t0 in range(0, rows, ROW_TILE):
                run_tile_mode(mode, min(ROW_TILE, rows - t0), buf_flat, t0, 1, kw * row_block,
                              bits, k_off, w_flat, cb0 * tile_words, COL_TILE, kw * COL_TILE,
                              wb, 0, kw, coef, out_flat, (rb0 + t0) * no + cb0 * COL_TILE, no,
                              tiles, tile_words, rb, rb0 + t0, cb, cb0 * COL_TILE)  # fmt: skip
    return bad


@njit(cache=True, parallel=True)
def _linear_parallel(codes, bits, off, inv, lo, hi, w_words, coef, out, row_block, col_block,
                     rows_per_chunk, m_chunks, c_per_chunk, n_chunks, mode, bipolar, rb,
                     cb):  # fmt: skip
    """:func:`_linear_chunk` over a grid of disjoint output blocks, one thread each; a grid
    with several column chunks (small M) packs each row block once per column chunk."""
    m, c_tiles = codes.shape[0], out.shape[1] // COL_TILE
    bad = np.zeros(m_chunks * n_chunks, dtype=np.bool_)
    for chunk in prange(m_chunks * n_chunks):
        r0 = (chunk // n_chunks) * rows_per_chunk
        c0 = (chunk % n_chunks) * c_per_chunk
        bad[chunk] = _linear_chunk(codes, bits, off, inv, lo, hi, w_words, coef, out,
                                   row_block, col_block, r0, min(r0 + rows_per_chunk, m),
                                   c0, min(c0 + c_per_chunk, c_tiles), mode, bipolar,
                                   rb, cb)  # fmt: skip
    return bad.any()


@njit(cache=True)
def _packed_chunk(a_words, w_words, coef, out, col_block, r_begin, r_end, c_begin, c_end,
                  mode, rb, cb):  # fmt: skip
    """Like :func:`_linear_chunk` with the activations already packed ``[ab, KW, Mp]``."""
    ab, kw, mp = a_words.shape[0], a_words.shape[1], a_words.shape[2]
    wb = w_words.shape[1]
    tile_words = wb * kw * COL_TILE
    no = out.shape[1]
    k_off = np.arange(kw) * mp
    a_flat, w_flat, out_flat = a_words.ravel(), w_words.ravel(), out.ravel()
    for cb0 in range(c_begin, c_end, col_block):
        tiles = min(cb0 + col_block, c_end) - cb0
        for t0 in range(r_begin, r_end, ROW_TILE):
            run_tile_mode(mode, min(ROW_TILE, r_end - t0), a_flat, t0, 1, kw * mp, ab, k_off,
                          w_flat, cb0 * tile_words, COL_TILE, kw * COL_TILE, wb, 0, kw, coef,
                          out_flat, t0 * no + cb0 * COL_TILE, no, tiles, tile_words, rb, t0,
                          cb, cb0 * COL_TILE)  # fmt: skip


@njit(cache=True, parallel=True)
def _packed_parallel(a_words, w_words, coef, out, col_block, rows_per_chunk, m_chunks,
                     c_per_chunk, n_chunks, mode, rb, cb):  # fmt: skip
    m, c_tiles = out.shape[0], out.shape[1] // COL_TILE
    for chunk in prange(m_chunks * n_chunks):
        r0 = (chunk // n_chunks) * rows_per_chunk
        c0 = (chunk % n_chunks) * c_per_chunk
        _packed_chunk(a_words, w_words, coef, out, col_block, r0, min(r0 + rows_per_chunk, m),
                      c0, min(c0 + c_per_chunk, c_tiles), mode, rb, cb)  # fmt: skip


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


@lru_cache(maxsize=512)
def _coefficients(a_bits: int, w_bits: int, a_signed: bool, w_signed: bool) -> np.ndarray:
    """Flat ``plane_pair_coefficients``, cached: it is on every layer call's path."""
    coef = plane_pair_coefficients(a_bits, w_bits, a_signed, w_signed).ravel().copy()
    coef.flags.writeable = False
    return coef


MODE_PLAIN, MODE_AND_BIAS, MODE_XOR = 0, 1, 2
"""The tile of :func:`run_tile_mode`: AND, AND plus biases (one +-1 operand), XOR (both)."""

_NO_BIAS = np.zeros(0, dtype=np.int64)


@lru_cache(maxsize=512)
def encoding_plan(a_bits: int, w_bits: int, a_enc: str, w_enc: str) -> tuple[int, np.ndarray]:
    """``(mode, flat coefficients)`` of an ``a_enc x w_enc`` product (see the module notes).

    A bipolar plane ``n`` stands for ``1 - 2n``: its plane weight is -2, and the constant 1
    times the other operand's row sum is the bias (``K`` when both are bipolar, where the
    XOR tile's popcount counts the lanes whose signs differ)."""
    if a_enc == "bipolar" and w_enc == "bipolar":
        coef = np.array([-2], dtype=np.int64)
        mode = MODE_XOR
    else:
        coef = plane_pair_coefficients(a_bits, w_bits, a_enc == "signed", w_enc == "signed")
        if "bipolar" in (a_enc, w_enc):
            coef = -2 * coef
        coef = coef.ravel().copy()
        mode = MODE_AND_BIAS if "bipolar" in (a_enc, w_enc) else MODE_PLAIN
    coef.flags.writeable = False
    return mode, coef


def _biases(
    mode: int, a_enc: str, w: PackedOperand, a_sums: Any, rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(row bias, column bias)`` of one product: the +-1 operand's constant times the other
    operand's row sums (``a_sums``: the activations' sums, or a callable that computes them)."""
    if mode == MODE_XOR:
        return _const_bias(0, rows), _const_bias(w.k, w.words.shape[2])
    if mode == MODE_AND_BIAS:
        if a_enc == "bipolar":
            return _const_bias(0, rows), w.sums
        return (a_sums() if callable(a_sums) else a_sums), _const_bias(0, w.words.shape[2])
    return _NO_BIAS, _NO_BIAS


@lru_cache(maxsize=256)
def _const_bias(value: int, length: int) -> np.ndarray:
    out = np.full(length, value, dtype=np.int64)
    out.flags.writeable = False
    return out


def _out_buffer(m: int, n: int) -> np.ndarray:
    """``[M, No]`` with ``No = ceil(N/16)*16``: whole column tiles and no anti-aliasing rows,
    so a layer whose N is a multiple of 16 returns this very array."""
    return np.empty((m, -(-n // COL_TILE) * COL_TILE), dtype=np.int64)


def _trim(out: np.ndarray, rows: int, cols: int) -> np.ndarray:
    if out.shape == (rows, cols):
        return out
    return np.ascontiguousarray(out[:rows, :cols])


def linear_kernel(m: int, w: PackedOperand, a_bits: int, a_encoding: str) -> str:
    """The kernel :func:`bitserial_linear` runs ``m`` rows of ``a_bits``-bit ``a_encoding``
    activations against ``w`` with, on this CPU: ``vnni`` where
    :func:`~hwsim.kernels.vnni.use_vnni` says so, else ``lut`` where
    :func:`~hwsim.kernels.lut.use_lut` does, else ``bitserial``."""
    if use_vnni(m, w, a_bits, a_encoding):
        return "vnni"
    return "lut" if use_lut(m, w, a_bits, a_encoding) else "bitserial"


def bitserial_linear(
    a_codes: Any,
    w: PackedOperand,
    a_bits: int,
    *,
    a_signed: bool | None = None,
    a_encoding: str | None = None,
    field: str = "a_codes",
    kernel: str = "auto",
) -> np.ndarray:
    """Exact int64 ``[M, N] = a_codes @ w_codes.T`` against weights packed once.

    ``a_codes [M, K]`` are ``a_bits``-bit activation codes in ``a_encoding`` (``unsigned``,
    the default, ``signed`` or ``bipolar``; ``a_signed`` is the shorthand), best as uint8
    (unsigned) or int8 (signed, bipolar) when ``a_bits <= 8``: then the kernel reads one byte
    per code. They are packed a block of rows at a time, right before the register tiles that
    use them, and range-checked in the same pass. ``field`` names the codes in errors.

    Low-bit weights against wider activations at a few rows (a GEMV) go to a weight-stream
    kernel when it is the faster one (``kernel="auto"``): the VNNI kernel
    (:mod:`hwsim.kernels.vnni`, see :func:`~hwsim.kernels.vnni.use_vnni`) on a CPU with
    AVX-512 VNNI, else the table lookup (:mod:`hwsim.kernels.lut`, see
    :func:`~hwsim.kernels.lut.use_lut`). ``kernel="bitserial"``, ``"lut"`` or ``"vnni"``
    forces one.
    """
    a_bits = check_bits("a_bits", a_bits)
    check(isinstance(w, PackedOperand), "w", type(w).__name__, "must be a PackedOperand")
    a_enc = resolve("a_encoding", a_encoding, a_signed, DEFAULT_A_ENCODING, a_bits)
    check(kernel in LINEAR_KERNELS, "kernel", kernel, f"must be one of {LINEAR_KERNELS}")
    codes, off, inv, lo, hi = activation_codes(a_codes, a_bits, a_enc, field)
    check(codes.shape[1] == w.k, "K", (codes.shape[1], w.k), "activations and weights must share K")
    check_accumulator(w.k, a_bits, w.bits)
    m = codes.shape[0]
    if m == 0:
        return np.zeros((0, w.rows), dtype=np.int64)
    if kernel == "auto":
        kernel = linear_kernel(m, w, a_bits, a_enc)
    if kernel == "vnni":
        return vnni_linear(codes, vnni_weights(w), a_bits, a_encoding=a_enc, field=field)
    if kernel == "lut":
        return lut_linear(codes, lut_weights(w), a_bits, a_encoding=a_enc, field=field)
    out = _out_buffer(m, w.rows)
    mode, coef = encoding_plan(a_bits, w.bits, a_enc, w.encoding)
    rb, cb = _biases(mode, a_enc, w, lambda: row_sums(codes), m)
    words = w.words.shape[1]
    row_block = row_block_for(a_bits, words)
    col_block = col_block_for(w.bits, words)
    c_tiles = out.shape[1] // COL_TILE
    grid = _grid(m, c_tiles, out.size * words * a_bits * w.bits)
    bipolar = a_enc == "bipolar"
    if grid is None:
        bad = _linear_chunk(codes, a_bits, off, inv, lo, hi, tiled_words(w), coef, out, row_block,
                            col_block, 0, m, 0, c_tiles, mode, bipolar, rb, cb)  # fmt: skip
    else:
        bad = _linear_parallel(codes, a_bits, off, inv, lo, hi, tiled_words(w), coef, out,
                               row_block, col_block, *grid, mode, bipolar, rb, cb)  # fmt: skip
    if bad:
        if bipolar:
            bipolar_codes(codes, field)  # raises, naming the value
        as_codes(codes, a_bits, a_enc == "signed", field)  # raises, naming the value
    return _trim(out, m, w.rows)


def bitserial_matmul_packed(a: PackedOperand, w: PackedOperand) -> np.ndarray:
    """int64 ``[M, N] = a_codes @ w_codes.T`` from two packed operands (see :func:`pack_operand`).

    ``a`` holds ``[M, K]``, ``w`` ``[N, K]`` (rows are output channels, as in
    ``torch.nn.Linear``). Either may be activations: an act x act product (attention scores)
    packs both operands per call. Each operand's encoding comes with it.
    """
    check(isinstance(a, PackedOperand), "a", type(a).__name__, "must be a PackedOperand")
    check(isinstance(w, PackedOperand), "w", type(w).__name__, "must be a PackedOperand")
    check(a.k == w.k, "K", (a.k, w.k), "activations and weights must share K")
    check_accumulator(a.k, a.bits, w.bits)
    if a.rows == 0:
        return np.zeros((0, w.rows), dtype=np.int64)
    out = _out_buffer(a.rows, w.rows)
    mode, coef = encoding_plan(a.bits, w.bits, a.encoding, w.encoding)
    rb, cb = _biases(mode, a.encoding, w, a.sums, a.words.shape[2])
    c_tiles = out.shape[1] // COL_TILE
    grid = _grid(a.rows, c_tiles, out.size * a.words.shape[1] * a.bits * w.bits)
    col_block = col_block_for(w.bits, a.words.shape[1])
    if grid is None:
        _packed_chunk(a.words, tiled_words(w), coef, out, col_block, 0, a.rows, 0, c_tiles, mode,
                      rb, cb)  # fmt: skip
    else:
        _packed_parallel(a.words, tiled_words(w), coef, out, col_block, *grid, mode, rb, cb)
    return _trim(out, a.rows, w.rows)


def bitserial_matmul(
    a_codes: Any,
    w_codes: Any,
    a_bits: int,
    w_bits: int,
    *,
    a_signed: bool | None = None,
    w_signed: bool | None = None,
    a_encoding: str | None = None,
    w_encoding: str | None = None,
) -> np.ndarray:
    """Exact int64 ``a_codes @ w_codes.T`` by bit-serial AND (XOR) + popcount.

    ``a_codes [M, K]`` are ``a_bits``-bit activation codes, ``w_codes [N, K]`` ``w_bits``-bit
    weight codes (rows are output channels, as in ``torch.nn.Linear``); any integer dtype.
    Each operand's encoding is ``unsigned``, ``signed`` (two's complement) or ``bipolar`` (the
    values -1 and +1, 1 bit); ``a_signed`` / ``w_signed`` are shorthands for unsigned/signed.
    Defaults: unsigned activations, signed weights. Both are validated (range, rank, K,
    overflow) before the kernel runs. To reuse packed weights, call :func:`pack_operand` once
    and :func:`bitserial_linear` per input.
    """
    a_bits = check_bits("a_bits", a_bits)
    w_bits = check_bits("w_bits", w_bits)
    a_enc = resolve("a_encoding", a_encoding, a_signed, DEFAULT_A_ENCODING, a_bits)
    w_enc = resolve("w_encoding", w_encoding, w_signed, DEFAULT_W_ENCODING, w_bits)
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
    w = pack_operand(w_arr, w_bits, encoding=w_enc, field="w_codes")
    return bitserial_linear(a_arr, w, a_bits, a_encoding=a_enc)
