"""Low-bit weights x 8-bit activations by table lookup (T-MAC's method).

T-MAC (Wei et al., "T-MAC: CPU Renaissance via Table Lookup for Low-Bit LLM Deployment on
Edge", EuroSys 2025) splits the activations into groups of ``g`` and precomputes, for each
group, the ``2^g`` partial sums ``T[p] = sum_{i < g} bit_i(p) a_i``. A weight bitplane's ``g``
bits over that group are then an index: ``sum_i w_ji a_i = T[sum_i 2^i w_ji]``, and

    a . w = sum_j c_j sum_groups T_group[index of plane j],

with ``c_j = 2^j`` (``-2^(b-1)`` on a signed weight's top plane; a +-1 weight's plane holds
``w == -1`` and weighs -2, plus ``sum(a)``). The cost is one lookup per weight bit and group of
``g`` activations, whatever the activations' width: a w2a8 GEMV pays 2 planes, where the binary
decomposition pays 2 x 8 plane pairs.

T-MAC uses ``g = 4`` (16 entries, one ``vpshufb``/``vpermw`` register). Here ``g = 6``: a
table is 64 int16 entries (exact: six 8-bit activations sum to at most 1530 in magnitude)
held in two registers, and one ``vpermi2w`` looks up 32 outputs at once, reading each 16-bit
lane's low six bits. Each uint16 index word holds two consecutive groups of one plane (bits
0-5 and 6-11), so a shift selects the second, and a lookup covers six weight bits where
``g = 4`` covers four: on this CPU (AMD Zen 4, where ``vpermw`` and ``vpermi2w`` issue at about
the same rate) that was 1.2-1.4x faster at cache-resident shapes, for 4 of 16 index bits
unused (measured, one thread). The index words are a view built once from the packed planes
(:func:`lut_weights`). int16 lanes accumulate FLUSH_STEPS words, then widen to int32, and the
tiles pass over the weights CHUNK_STEPS words at a time so that those words' tables stay in
L1. Without AVX-512BW a plain loop computes the same sums.
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

from hwsim.errors import check
from hwsim.kernels.operand import (
    PackedOperand,
    check_accumulator,
    raise_out_of_range,
    stream_activations,
)

GROUP = 6
"""Activations per table (T-MAC's ``g``; T-MAC itself uses 4: see the module docstring)."""

TABLE = 1 << GROUP
"""Entries per table."""

STEP_K = 2 * GROUP
"""Activations per index word: one uint16 holds two groups' indices (bits 0-5 and 6-11)."""

TILE_N = 64
"""Outputs per register tile: two vectors of 32 int16 lanes."""

FLUSH_STEPS = 10
"""Index words accumulated in int16 before widening to int32: two entries of at most
6 x 255 = 1530 per step, 10 steps stay below 2^15."""

CHUNK_STEPS = 48
"""Index words per pass over the output tiles: the pass's tables (48 x 256 bytes) stay in L1
while every tile reads them (one row's tables for K = 4096 are 88 KB, which L1 does not
hold)."""

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


def lut_steps(k: int) -> int:
    """Index words per output and weight plane over ``k`` activations."""
    return -(-k // STEP_K)


def _has_avx512bw() -> bool:
    try:
        return bool(llvm.get_host_cpu_features().get("avx512bw", False))
    except Exception:  # pragma: no cover - feature query unsupported: take the portable loop
        return False


HAS_VPERMW = _has_avx512bw()
"""Whether this CPU runs the ``vpermi2w`` table kernel (else the portable loop)."""


@dataclass(frozen=True)
class LutWeights:
    """Weights as table indices: uint16 ``idx [tiles, bits, steps, TILE_N]``; word
    ``[t, j, s, i]`` holds plane ``j``'s bits of output ``t * TILE_N + i`` over activations
    ``12 s .. 12 s + 11`` (bit ``b`` is activation ``12 s + b``: group ``2 s`` in bits 0-5,
    group ``2 s + 1`` in bits 6-11). Each tile's words are one contiguous run, read front to
    back: a layout with consecutive outputs' rows far apart put every step in another 4 KiB
    page, where the hardware prefetchers do not follow."""

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

    @property
    def k_pad(self) -> int:
        """Activations the indices cover (``k`` rounded up to whole index words)."""
        return int(self.idx.shape[2]) * STEP_K


_STEP_WEIGHTS = np.left_shift(np.uint16(1), np.arange(STEP_K, dtype=np.uint16))


def lut_weights(w: PackedOperand) -> LutWeights:
    """The table kernel's view of packed weights, built once per :class:`PackedOperand` (and
    kept with it): each plane's bits regrouped twelve activations to a uint16, the words of
    consecutive outputs together."""
    cached = w.extras.get("lut")
    if cached is not None:
        return cached
    bits = w.words.shape[0]
    steps = lut_steps(w.k)
    tiles = -(-w.rows // TILE_N)
    # Little-endian words: bit i of word kw is activation 64 kw + i.
    planes = np.unpackbits(
        np.ascontiguousarray(w.words[:, :, : w.rows].transpose(0, 2, 1)).view(np.uint8),
        axis=-1,
        bitorder="little",
    )[:, :, : w.k]
    lanes = np.zeros((bits, tiles * TILE_N, steps * STEP_K), dtype=np.uint8)
    lanes[:, : w.rows, : w.k] = planes
    words = (lanes.reshape(bits, tiles * TILE_N, steps, STEP_K) * _STEP_WEIGHTS).sum(
        axis=-1, dtype=np.uint16
    )
    idx = np.ascontiguousarray(words.reshape(bits, tiles, TILE_N, steps).transpose(1, 0, 3, 2))
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
    """int16 ``[M, k_pad / 6, 64]`` tables of each row's groups of six codes (codes past K are
    zero; ``T[p] = sum_i bit_i(p) a_i``), the rows' sums, and True if a code is out of range
    (one-byte codes are checked as ``((x + off) mod 256) & inv``; wider codes are validated
    already)."""
    m, k = codes.shape
    groups = k_pad // GROUP
    tab = np.zeros((m, groups, TABLE), dtype=np.int16)
    sums = np.zeros(m, dtype=np.int64)
    bad = np.uint8(0)
    for r in range(m):
        row = codes[r]
        total = 0
        for i in range(k):
            bad |= (np.uint8(row[i]) + off) & inv
            total += np.int64(row[i])
        sums[r] = total
        t = tab[r]
        padded = np.zeros(groups * GROUP, dtype=np.int16)
        for i in range(k):
            padded[i] = np.int16(row[i])
        b0, b1, b2, b3, b4, b5 = _BITS[0], _BITS[1], _BITS[2], _BITS[3], _BITS[4], _BITS[5]
        for g in range(groups):
            c = padded[GROUP * g : GROUP * g + GROUP]
            a0, a1, a2, a3, a4, a5 = c[0], c[1], c[2], c[3], c[4], c[5]
            tg = t[g]
            for p in range(TABLE):  # 64 lanes of six terms: vectorizes
                tg[p] = (a0 * b0[p] + a1 * b1[p] + a2 * b2[p] + a3 * b3[p] + a4 * b4[p]
                         + a5 * b5[p])  # fmt: skip
    return tab, sums, bad != 0


# ---------------------------------------------------------------------------- the kernel
_I16, _I32, _I64 = ir.IntType(16), ir.IntType(32), ir.IntType(64)
_V32I16 = ir.VectorType(_I16, 32)
_V16I32 = ir.VectorType(_I32, 16)
_KERNELS: dict[int, object] = {}


def _shuffle_mask(values: list[int]) -> ir.Constant:
    return ir.Constant(ir.VectorType(ir.IntType(32), len(values)), values)


def lut_kernel(bits: int):
    """The ``vpermi2w`` tile intrinsic for ``bits``-plane weights (cached):

    ``(tab, tab_base, idx, idx_base, plane_stride, steps, out, out_base)``

    adds, for planes ``j < bits`` and outputs ``n < 64``, the int32 sums
    ``out[out_base + j*64 + n] += sum_{s < steps} T[2 s][x & 63] + T[2 s + 1][x >> 6]`` of the
    index word ``x = idx[idx_base + j*plane_stride + 64 s + n]``, over the tables ``T[g] =
    tab[tab_base + 64 g ...]``. One ``vpermi2w`` looks up 32 outputs in a 64-entry table held
    in two registers, reading each lane's low six bits, so a shift alone selects the second
    group. Nothing is bounds-checked.
    """
    if bits in _KERNELS:
        return _KERNELS[bits]
    arr_i16 = types.Array(types.int16, 1, "C")
    arr_u16 = types.Array(types.uint16, 1, "C")
    arr_i32 = types.Array(types.int32, 1, "C")
    i64 = types.int64
    sig = types.void(arr_i16, i64, arr_u16, i64, i64, i64, arr_i32, i64)

    def codegen(context, builder, signature, args):
        tab_a, tab_base, idx_a, idx_base, ps, steps, out_a, out_base = args
        tys = signature.args
        tab_p = context.make_array(tys[0])(context, builder, tab_a).data
        idx_p = context.make_array(tys[2])(context, builder, idx_a).data
        out_p = context.make_array(tys[6])(context, builder, out_a).data
        perm = builder.module.declare_intrinsic(
            "llvm.x86.avx512.vpermi2var.hi.512",
            fnty=ir.FunctionType(_V32I16, [_V32I16, _V32I16, _V32I16]),
        )
        zero16 = ir.Constant(_V32I16, [0] * 32)
        six = ir.Constant(_V32I16, [GROUP] * 32)
        acc16 = [[cgutils.alloca_once(builder, _V32I16) for _ in range(2)] for _ in range(bits)]
        acc32 = [[cgutils.alloca_once(builder, _V16I32) for _ in range(4)] for _ in range(bits)]
        for j in range(bits):
            for q in range(4):
                off = builder.add(out_base, ir.Constant(_I64, j * TILE_N + 16 * q))
                ptr = builder.bitcast(builder.gep(out_p, [off]), _V16I32.as_pointer())
                builder.store(builder.load(ptr, align=4), acc32[j][q])

        def load16(ptr, offset):
            at = builder.bitcast(builder.gep(ptr, [offset]), _V32I16.as_pointer())
            return builder.load(at, align=2)

        chunks = builder.sdiv(
            builder.add(steps, ir.Constant(_I64, FLUSH_STEPS - 1)), ir.Constant(_I64, FLUSH_STEPS)
        )
        with cgutils.for_range(builder, chunks) as loop_c:
            s0 = builder.mul(loop_c.index, ir.Constant(_I64, FLUSH_STEPS))
            left = builder.sub(steps, s0)
            is_short = builder.icmp_signed("<", left, ir.Constant(_I64, FLUSH_STEPS))
            count = builder.select(is_short, left, ir.Constant(_I64, FLUSH_STEPS))
            for j in range(bits):
                for v in range(2):
                    builder.store(zero16, acc16[j][v])
            with cgutils.for_range(builder, count) as loop_s:
                s = builder.add(s0, loop_s.index)
                t0 = builder.add(tab_base, builder.mul(s, ir.Constant(_I64, 2 * TABLE)))
                tabs = [load16(tab_p, builder.add(t0, ir.Constant(_I64, 32 * q))) for q in range(4)]
                row = builder.add(idx_base, builder.mul(s, ir.Constant(_I64, TILE_N)))
                for j in range(bits):
                    plane = builder.add(row, builder.mul(ir.Constant(_I64, j), ps))
                    for v in range(2):  # outputs 0-31, then 32-63
                        raw = load16(idx_p, builder.add(plane, ir.Constant(_I64, 32 * v)))
                        got = builder.add(
                            builder.call(perm, [tabs[0], raw, tabs[1]]),
                            builder.call(perm, [tabs[2], builder.lshr(raw, six), tabs[3]]),
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
    def _lut(typingctx, tab, tab_base, idx, idx_base, plane_stride, steps, out, out_base):
        return sig, codegen

    _KERNELS[bits] = _lut
    return _lut


def _make_dispatch():
    if not HAS_VPERMW:
        return None
    k1, k2, k3, k4 = (lut_kernel(b) for b in range(1, MAX_WEIGHT_BITS + 1))

    @njit(cache=True)
    def run(bits, tab, tab_base, idx, idx_base, ps, steps, out, out_base):
        if bits == 1:
            k1(tab, tab_base, idx, idx_base, ps, steps, out, out_base)
        elif bits == 2:
            k2(tab, tab_base, idx, idx_base, ps, steps, out, out_base)
        elif bits == 3:
            k3(tab, tab_base, idx, idx_base, ps, steps, out, out_base)
        else:
            k4(tab, tab_base, idx, idx_base, ps, steps, out, out_base)

    return run


_run_vpermw = _make_dispatch()


@njit(cache=True)
def portable_tile(bits, tab, tab_base, idx, idx_base, ps, steps, out, out_base):
    """What the ``vpermi2w`` kernel computes, as a plain loop (any CPU)."""
    for j in range(bits):
        for n in range(TILE_N):
            acc = np.int32(0)
            for s in range(steps):
                x = idx[idx_base + j * ps + s * TILE_N + n]
                t = tab_base + s * 2 * TABLE
                acc += np.int32(tab[t + (x & 63)]) + np.int32(tab[t + TABLE + (x >> 6)])
            out[out_base + j * TILE_N + n] += acc


if _run_vpermw is None:  # pragma: no cover - exercised on CPUs without AVX-512BW
    _run_tile = portable_tile
else:
    _run_tile = _run_vpermw


@njit(cache=True)
def _lut_tiles(tab, sums, idx, coef, bias_sign, out, t_begin, t_end):
    """Output tiles ``t_begin .. t_end`` (TILE_N outputs each) of every row of ``out``, a
    chunk of CHUNK_STEPS index words at a time over all the tiles, so that the chunk's tables
    stay in L1 while every tile reads them."""
    m = tab.shape[0]
    _, bits, steps, _ = idx.shape
    tab_flat, idx_flat = tab.ravel(), idx.ravel()
    count = t_end - t_begin
    sums32 = np.empty(count * bits * TILE_N, dtype=np.int32)
    n_out = out.shape[1]
    for r in range(m):
        tab_base = r * tab.shape[1] * TABLE
        sums32[:] = 0
        for s0 in range(0, steps, CHUNK_STEPS):
            chunk = min(CHUNK_STEPS, steps - s0)
            for t in range(t_begin, t_end):
                _run_tile(bits, tab_flat, tab_base + s0 * 2 * TABLE, idx_flat,
                          (t * bits * steps + s0) * TILE_N, steps * TILE_N, chunk, sums32,
                          (t - t_begin) * bits * TILE_N)  # fmt: skip
        for t in range(t_begin, t_end):
            n0 = t * TILE_N
            base = (t - t_begin) * bits * TILE_N
            for n in range(min(TILE_N, n_out - n0)):
                acc = bias_sign * sums[r]
                for j in range(bits):
                    acc += coef[j] * np.int64(sums32[base + j * TILE_N + n])
                out[r, n0 + n] = acc


@njit(cache=True, parallel=True)
def _lut_parallel(tab, sums, idx, coef, bias_sign, out, chunks):
    tiles = -(-out.shape[1] // TILE_N)
    per = -(-tiles // chunks)
    for c in prange(chunks):
        _lut_tiles(tab, sums, idx, coef, bias_sign, out, c * per, min(tiles, (c + 1) * per))


PARALLEL_MIN_BYTES = 1 << 21
"""Below this many index bytes read per call (M x tiles x bits x steps x 128: 2^16 vector
lookups) one thread is faster."""


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
    if isinstance(w, PackedOperand):
        w = lut_weights(w)
    check(isinstance(w, LutWeights), "w", type(w).__name__, "must be packed weights")
    check(w.bits <= MAX_WEIGHT_BITS, "w.bits", w.bits, f"must be <= {MAX_WEIGHT_BITS}")
    codes, off, inv, a_enc = stream_activations(
        a_codes, a_bits, a_signed, a_encoding, w.k, field, "table kernel"
    )
    check_accumulator(w.k, a_bits, w.bits)
    m = codes.shape[0]
    if m == 0:
        return np.zeros((0, w.rows), dtype=np.int64)
    tab, sums, bad = build_tables(codes, off, inv, w.k_pad)
    if bad:
        raise_out_of_range(codes, a_bits, a_enc, field)
    out = np.empty((m, w.rows), dtype=np.int64)
    bias_sign = 1 if w.encoding == "bipolar" else 0
    tiles = w.idx.shape[0]
    threads = numba.get_num_threads()
    if threads > 1 and tiles > 1 and m * w.idx.nbytes >= PARALLEL_MIN_BYTES:
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
