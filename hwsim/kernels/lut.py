"""Low-bit weights x 8-bit activations by table lookup (T-MAC's method).

T-MAC (Wei et al., "T-MAC: CPU Renaissance via Table Lookup for Low-Bit LLM Deployment on
Edge", EuroSys 2025) splits the activations into groups of ``g = 4`` and precomputes, for each
group, the ``2^g = 16`` partial sums ``T[p] = sum_{i < 4} bit_i(p) a_i``. A weight bitplane's
four bits over that group are then an index: ``sum_i w_ji a_i = T[w_j0 + 2 w_j1 + 4 w_j2 +
8 w_j3]``, and

    a . w = sum_j c_j sum_groups T_group[index of plane j],

with ``c_j = 2^j`` (``-2^(b-1)`` on a signed weight's top plane; a +-1 weight's plane holds
``w == -1`` and weighs -2, plus ``sum(a)``). The cost is one lookup per weight bit and group of
four activations, whatever the activations' width: a W2A8 GEMV pays 2 planes, where the binary
decomposition pays 2 x 8 plane pairs.

Here a table is 16 int16 entries (exact: four 8-bit activations sum to at most 1020 in
magnitude). On AVX-512BW one ``vpermw`` looks up 32 outputs at once from a table held in a
register; each weight byte holds the indices of two consecutive groups (the low and high
nibble), which is exactly one byte of the bit-serial kernel's packed plane, so the table
kernel reads the same packed weights. int16 lanes accumulate 32 groups, then widen to int32.
Without AVX-512BW a plain loop computes the same sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.core.extending import intrinsic

from hwsim.bits import as_codes
from hwsim.encoding import DEFAULT_A_ENCODING, resolve
from hwsim.errors import HwsimError, check, check_bits
from hwsim.kernels.gemm import (
    PackedOperand,
    _activation_codes,
    check_accumulator,
)

GROUP = 4
"""Activations per table (T-MAC's ``g``)."""

TABLE = 1 << GROUP
"""Entries per table."""

TILE_N = 64
"""Outputs per register tile: two vectors of 32 int16 lanes."""

FLUSH_BYTES = 16
"""Weight bytes (two groups each) accumulated in int16 before widening to int32: 32 groups of
at most 1020 stay below 2^15."""

MAX_WEIGHT_BITS = 4
"""Widest weight the table kernel runs (its register tile holds 2 x bits accumulators)."""

MAX_ROWS = 16
"""Most activation rows (M) the table kernel is used for: it serves GEMV and small-M GEMM."""

LUT_MIN_A_BITS = 4
"""Narrowest activation for which :func:`use_lut` prefers the tables at one row: the binary
decomposition pays ``a`` plane pairs per weight bit, the tables a fixed cost per weight bit.
Measured here (one thread, CPU time, 1 x 4096 x 4096, W1-W4): the tables are 0.7x the binary
decomposition's speed at A2, 1.0x at A3, 1.1x at A4, 1.2-1.3x at A5, 1.7-2.3x at A8."""


def lut_min_a_bits(m: int) -> int:
    """Narrowest activation for which the tables beat the binary decomposition at ``m`` rows:
    the binary decomposition's register tile reuses each weight word over up to 8 rows, the
    tables do not (measured: at 8 and 16 rows the crossover is A5-A6; ``crossover.md``)."""
    return LUT_MIN_A_BITS + (2 if m > 1 else 0)


def _has_avx512bw() -> bool:
    try:
        return bool(llvm.get_host_cpu_features().get("avx512bw", False))
    except Exception:  # pragma: no cover - feature query unsupported: take the portable loop
        return False


HAS_VPERMW = _has_avx512bw()
"""Whether this CPU runs the ``vpermw`` table kernel (else the portable loop)."""


@dataclass(frozen=True)
class LutWeights:
    """Weights as table indices: uint8 ``idx [tiles, bits, 8*ceil(K/64), TILE_N]``; byte
    ``[t, j, g2, i]`` holds plane ``j``'s bits of output ``t * TILE_N + i`` over lanes
    ``8 g2 .. 8 g2 + 7`` (group ``2 g2`` in the low nibble, ``2 g2 + 1`` in the high one).
    Each tile's bytes are one contiguous run, read front to back: a layout with consecutive
    outputs' rows ``N`` bytes apart put every step in another 4 KiB page, where the hardware
    prefetchers do not follow."""

    idx: np.ndarray
    rows: int
    k: int
    bits: int
    encoding: str
    coef: np.ndarray
    """int64 ``[bits]``: each plane's weight."""

    @property
    def nbytes(self) -> int:
        return int(self.idx.nbytes)


def lut_weights(w: PackedOperand) -> LutWeights:
    """The table kernel's view of packed weights, built once per :class:`PackedOperand` (and
    kept with it): the packed planes' bytes, reordered so the bytes of consecutive outputs lie
    together."""
    cached = w.extras.get("lut")
    if cached is not None:
        return cached
    bits, kw, np_ = w.words.shape
    n_pad = -(-np_ // TILE_N) * TILE_N
    flat = np.zeros((bits, kw * 8, n_pad), dtype=np.uint8)
    # Little-endian words: byte b of word kw holds lanes 64 kw + 8 b .. + 7.
    flat[:, :, :np_] = (
        w.words.view(np.uint8)
        .reshape(bits, kw, np_, 8)
        .transpose(0, 1, 3, 2)
        .reshape(bits, -1, np_)
    )
    tiles = n_pad // TILE_N
    idx = np.ascontiguousarray(flat.reshape(bits, kw * 8, tiles, TILE_N).transpose(2, 0, 1, 3))
    if w.encoding == "bipolar":
        coef = np.array([-2], dtype=np.int64)
    else:
        coef = np.left_shift(np.int64(1), np.arange(bits, dtype=np.int64))
        if w.encoding == "signed":
            coef[-1] = -coef[-1]
    lut = LutWeights(idx, w.rows, w.k, bits, w.encoding, coef)
    w.extras["lut"] = lut
    return lut


# ---------------------------------------------------------------------------- tables
_BITS = np.array([[(p >> i) & 1 for p in range(TABLE)] for i in range(GROUP)], dtype=np.int16)
"""``_BITS[i, p]``: bit ``i`` of table index ``p``."""


@njit(cache=True)
def build_tables(codes, off, inv, k_pad):
    """int16 ``[M, k_pad / 4, 16]`` tables of each row's groups of four codes (codes past K
    are zero), the rows' sums, and True if a code is out of range (one-byte codes are checked
    as ``((x + off) mod 256) & inv``; wider codes are validated already)."""
    m, k = codes.shape
    groups = k_pad // GROUP
    full = k // GROUP
    tab = np.zeros((m, groups, TABLE), dtype=np.int16)
    sums = np.zeros(m, dtype=np.int64)
    b0, b1, b2, b3 = _BITS[0], _BITS[1], _BITS[2], _BITS[3]
    bad = np.uint8(0)
    for r in range(m):
        row = codes[r]
        for i in range(k):
            bad |= (np.uint8(row[i]) + off) & inv
        t = tab[r]
        for g in range(full):
            a0 = np.int16(row[4 * g])
            a1 = np.int16(row[4 * g + 1])
            a2 = np.int16(row[4 * g + 2])
            a3 = np.int16(row[4 * g + 3])
            for p in range(TABLE):  # one 16-lane vector per group
                t[g, p] = a0 * b0[p] + a1 * b1[p] + a2 * b2[p] + a3 * b3[p]
        if full < groups and full * GROUP < k:
            for p in range(TABLE):
                acc = 0
                for i in range(k - full * GROUP):
                    acc += np.int64(row[full * GROUP + i]) * _BITS[i, p]
                t[full, p] = acc
        total = 0
        for g in range(groups):
            total += np.int64(t[g, TABLE - 1])
        sums[r] = total
    return tab, sums, bad != 0


# ---------------------------------------------------------------------------- the kernel
_I16, _I32, _I64, _I8 = ir.IntType(16), ir.IntType(32), ir.IntType(64), ir.IntType(8)
_V32I16 = ir.VectorType(_I16, 32)
_V16I16 = ir.VectorType(_I16, 16)
_V16I32 = ir.VectorType(_I32, 16)
_KERNELS: dict[int, object] = {}


def _shuffle_mask(values: list[int]) -> ir.Constant:
    return ir.Constant(ir.VectorType(ir.IntType(32), len(values)), values)


def lut_kernel(bits: int):
    """The ``vpermw`` tile intrinsic for ``bits``-plane weights (cached):

    ``(tab, tab_base, idx, idx_base, plane_stride, g2_stride, g2_count, out, out_base)``

    stores, for planes ``j < bits`` and outputs ``n < 64``, the int32 sums
    ``out[out_base + j*64 + (n % 2)*32 + n // 2] = sum_{g2 < g2_count} T[2 g2][lo] +
    T[2 g2 + 1][hi]`` of the byte ``idx[idx_base + j*plane_stride + g2*g2_stride + n]``
    (``lo``/``hi`` its nibbles) over the tables ``T[g] = tab[tab_base + 16 g ...]`` (even
    outputs first: each int16 lane of a 64-byte load holds two outputs' bytes). Nothing is
    bounds-checked.
    """
    if bits in _KERNELS:
        return _KERNELS[bits]
    arr_i16 = types.Array(types.int16, 1, "C")
    arr_u8 = types.Array(types.uint8, 1, "C")
    arr_i32 = types.Array(types.int32, 1, "C")
    i64 = types.int64
    sig = types.void(arr_i16, i64, arr_u8, i64, i64, i64, i64, arr_i32, i64)

    def codegen(context, builder, signature, args):
        tab_a, tab_base, idx_a, idx_base, ps, gs, g2n, out_a, out_base = args
        tys = signature.args
        tab_p = context.make_array(tys[0])(context, builder, tab_a).data
        idx_p = context.make_array(tys[2])(context, builder, idx_a).data
        out_p = context.make_array(tys[7])(context, builder, out_a).data
        perm = builder.module.declare_intrinsic(
            "llvm.x86.avx512.permvar.hi.512", fnty=ir.FunctionType(_V32I16, [_V32I16, _V32I16])
        )
        zero16 = ir.Constant(_V32I16, [0] * 32)
        zero32 = ir.Constant(_V16I32, [0] * 16)
        acc16 = [[cgutils.alloca_once(builder, _V32I16) for _ in range(2)] for _ in range(bits)]
        acc32 = [[cgutils.alloca_once(builder, _V16I32) for _ in range(4)] for _ in range(bits)]
        for j in range(bits):
            for h in range(4):
                builder.store(zero32, acc32[j][h])
        chunks = builder.sdiv(
            builder.add(g2n, ir.Constant(_I64, FLUSH_BYTES - 1)), ir.Constant(_I64, FLUSH_BYTES)
        )
        dup = _shuffle_mask(list(range(16)) * 2)
        with cgutils.for_range(builder, chunks) as loop_c:
            c0 = builder.mul(loop_c.index, ir.Constant(_I64, FLUSH_BYTES))
            left = builder.sub(g2n, c0)
            is_short = builder.icmp_signed("<", left, ir.Constant(_I64, FLUSH_BYTES))
            count = builder.select(is_short, left, ir.Constant(_I64, FLUSH_BYTES))
            for j in range(bits):
                for v in range(2):
                    builder.store(zero16, acc16[j][v])
            with cgutils.for_range(builder, count) as loop_t:
                g2 = builder.add(c0, loop_t.index)
                t_off = builder.add(tab_base, builder.mul(g2, ir.Constant(_I64, 2 * TABLE)))
                t_lo = builder.load(
                    builder.bitcast(builder.gep(tab_p, [t_off]), _V16I16.as_pointer()), align=2
                )
                t_hi = builder.load(
                    builder.bitcast(
                        builder.gep(tab_p, [builder.add(t_off, ir.Constant(_I64, TABLE))]),
                        _V16I16.as_pointer(),
                    ),
                    align=2,
                )
                lo_tab = builder.shuffle_vector(t_lo, t_lo, dup)
                hi_tab = builder.shuffle_vector(t_hi, t_hi, dup)
                row = builder.add(idx_base, builder.mul(g2, gs))
                for j in range(bits):
                    plane = builder.add(row, builder.mul(ir.Constant(_I64, j), ps))
                    # The 64 bytes as 32 int16 lanes: lane i holds outputs 2i (low byte) and
                    # 2i + 1. vpermw reads an index's low 5 bits only and the tables are
                    # duplicated over 32 entries, so a shift alone selects each nibble.
                    ptr = builder.bitcast(builder.gep(idx_p, [plane]), _V32I16.as_pointer())
                    raw = builder.load(ptr, align=1)
                    for v in range(2):  # even outputs, then odd
                        lo = builder.lshr(raw, ir.Constant(_V32I16, [8 * v] * 32)) if v else raw
                        hi = builder.lshr(raw, ir.Constant(_V32I16, [8 * v + 4] * 32))
                        got = builder.add(
                            builder.call(perm, [lo_tab, lo]), builder.call(perm, [hi_tab, hi])
                        )
                        builder.store(builder.add(builder.load(acc16[j][v]), got), acc16[j][v])
            for j in range(bits):
                for v in range(2):
                    a16 = builder.load(acc16[j][v])
                    for h in range(2):
                        half = builder.shuffle_vector(
                            a16, a16, _shuffle_mask(list(range(16 * h, 16 * h + 16)))
                        )
                        slot = acc32[j][2 * v + h]
                        builder.store(
                            builder.add(builder.load(slot), builder.sext(half, _V16I32)), slot
                        )
        for j in range(bits):
            for q in range(4):
                off = builder.add(out_base, ir.Constant(_I64, j * TILE_N + 16 * q))
                ptr = builder.bitcast(builder.gep(out_p, [off]), _V16I32.as_pointer())
                builder.store(builder.load(acc32[j][q]), ptr, align=4)
        return context.get_dummy_value()

    @intrinsic
    def _lut(typingctx, tab, tab_base, idx, idx_base, plane_stride, g2_stride, g2_count, out,
             out_base):  # fmt: skip
        return sig, codegen

    _KERNELS[bits] = _lut
    return _lut


def _make_dispatch():
    if not HAS_VPERMW:
        return None
    k1, k2, k3, k4 = (lut_kernel(b) for b in range(1, MAX_WEIGHT_BITS + 1))

    @njit(cache=True)
    def run(bits, tab, tab_base, idx, idx_base, ps, gs, g2n, out, out_base):
        if bits == 1:
            k1(tab, tab_base, idx, idx_base, ps, gs, g2n, out, out_base)
        elif bits == 2:
            k2(tab, tab_base, idx, idx_base, ps, gs, g2n, out, out_base)
        elif bits == 3:
            k3(tab, tab_base, idx, idx_base, ps, gs, g2n, out, out_base)
        else:
            k4(tab, tab_base, idx, idx_base, ps, gs, g2n, out, out_base)

    return run


_run_vpermw = _make_dispatch()


@njit(cache=True)
def portable_tile(bits, tab, tab_base, idx, idx_base, ps, gs, g2n, out, out_base):
    """What the ``vpermw`` kernel computes, as a plain loop (any CPU)."""
    for j in range(bits):
        for n in range(TILE_N):
            acc = np.int32(0)
            for g2 in range(g2n):
                byte = idx[idx_base + j * ps + g2 * gs + n]
                t = tab_base + g2 * 2 * TABLE
                acc += np.int32(tab[t + (byte & 15)]) + np.int32(tab[t + TABLE + (byte >> 4)])
            out[out_base + j * TILE_N + (n % 2) * (TILE_N // 2) + n // 2] = acc


if _run_vpermw is None:  # pragma: no cover - exercised on CPUs without AVX-512BW
    _run_tile = portable_tile
else:
    _run_tile = _run_vpermw


@njit(cache=True)
def _lut_tiles(tab, sums, idx, coef, bias_sign, out, t_begin, t_end):
    """Output tiles ``t_begin .. t_end`` (TILE_N outputs each) of every row of ``out``."""
    m = tab.shape[0]
    _, bits, g2n, _ = idx.shape
    tab_flat, idx_flat = tab.ravel(), idx.ravel()
    scratch = np.empty(bits * TILE_N, dtype=np.int32)
    n_out = out.shape[1]
    for r in range(m):
        tab_base = r * tab.shape[1] * TABLE
        for t in range(t_begin, t_end):
            n0 = t * TILE_N
            _run_tile(bits, tab_flat, tab_base, idx_flat, t * bits * g2n * TILE_N, g2n * TILE_N,
                      TILE_N, g2n, scratch, 0)  # fmt: skip
            for n in range(min(TILE_N, n_out - n0)):
                acc = bias_sign * sums[r]
                lane = (n % 2) * (TILE_N // 2) + n // 2  # even outputs first (see lut_kernel)
                for j in range(bits):
                    acc += coef[j] * np.int64(scratch[j * TILE_N + lane])
                out[r, n0 + n] = acc


@njit(cache=True, parallel=True)
def _lut_parallel(tab, sums, idx, coef, bias_sign, out, chunks):
    tiles = -(-out.shape[1] // TILE_N)
    per = -(-tiles // chunks)
    for c in prange(chunks):
        _lut_tiles(tab, sums, idx, coef, bias_sign, out, c * per, min(tiles, (c + 1) * per))


PARALLEL_MIN_LOOKUPS = 1 << 16
"""Below this many vector lookups (M x tiles x bits x K / 8) one thread is faster."""


def lut_linear(
    a_codes: Any,
    w: LutWeights | PackedOperand,
    a_bits: int,
    *,
    a_signed: bool | None = None,
    a_encoding: str | None = None,
    field: str = "a_codes",
) -> np.ndarray:
    """Exact int64 ``[M, N] = a_codes @ w_codes.T`` by table lookup.

    ``a_codes [M, K]`` are ``a_bits``-bit (at most 8) unsigned or signed activation codes, best
    as uint8 / int8; ``w`` the weights as :func:`~hwsim.kernels.pack_operand` packs them (any
    encoding, at most MAX_WEIGHT_BITS planes) or their :class:`LutWeights`."""
    a_bits = check_bits("a_bits", a_bits)
    check(a_bits <= 8, "a_bits", a_bits, "the table kernel takes activations of at most 8 bits")
    a_enc = resolve("a_encoding", a_encoding, a_signed, DEFAULT_A_ENCODING, a_bits)
    check(a_enc != "bipolar", "a_encoding", a_enc, "the table kernel takes k-bit activations")
    if isinstance(w, PackedOperand):
        w = lut_weights(w)
    check(isinstance(w, LutWeights), "w", type(w).__name__, "must be packed weights")
    check(w.bits <= MAX_WEIGHT_BITS, "w.bits", w.bits, f"must be <= {MAX_WEIGHT_BITS}")
    codes, off, inv, _, _ = _activation_codes(a_codes, a_bits, a_enc, field)
    check(codes.shape[1] == w.k, "K", (codes.shape[1], w.k), "activations and weights must share K")
    check_accumulator(w.k, a_bits, w.bits)
    m = codes.shape[0]
    if m == 0:
        return np.zeros((0, w.rows), dtype=np.int64)
    if codes.dtype.itemsize != 1:  # validated and widened already
        off, inv = np.uint8(0), np.uint8(0)
    tab, sums, bad = build_tables(codes, off, inv, w.idx.shape[2] * 8)
    if bad:
        as_codes(codes, a_bits, a_enc == "signed", field)  # raises, naming the value
        raise HwsimError(field, "codes", "out of range")  # pragma: no cover
    out = np.empty((m, w.rows), dtype=np.int64)
    bias_sign = 1 if w.encoding == "bipolar" else 0
    tiles = w.idx.shape[0]
    threads = numba.get_num_threads()
    lookups = m * tiles * w.bits * w.idx.shape[2] * 2
    if threads > 1 and tiles > 1 and lookups >= PARALLEL_MIN_LOOKUPS:
        _lut_parallel(tab, sums, w.idx, w.coef, bias_sign, out, min(tiles, 4 * threads))
    else:
        _lut_tiles(tab, sums, w.idx, w.coef, bias_sign, out, 0, tiles)
    return out


def use_lut(m: int, w: PackedOperand, a_bits: int, a_encoding: str) -> bool:
    """Whether :func:`~hwsim.kernels.bitserial_linear` runs these ``M`` rows by table lookup:
    at most MAX_ROWS rows, weights of at most MAX_WEIGHT_BITS, k-bit activations of
    :func:`lut_min_a_bits` to 8 bits (4 at one row, 6 at more), and a CPU
    with the ``vpermw`` kernel."""
    return (
        HAS_VPERMW
        and m <= MAX_ROWS
        and w.bits <= MAX_WEIGHT_BITS
        and lut_min_a_bits(m) <= a_bits <= 8
        and a_encoding != "bipolar"
    )
