"""Low-bit weights x 8-bit activations by unpacking to bytes and VNNI dot products.

What a CPU with AVX-512 VNNI does fastest for a GEMV with weights of 1-4 bits (llama.cpp's
method for its 4-bit formats): keep the weights packed (two 4-bit, four 2-bit or eight 1-bit
codes a byte), unpack one 64-byte vector of them with a shift and a mask per slot, and feed
the bytes to ``vpdpbusd``, which multiplies 64 unsigned bytes by 64 signed bytes and adds
each four products into one of 16 int32 lanes: 64 multiply-accumulates per instruction,
whatever the weights' width, where the table lookup (:mod:`hwsim.kernels.lut`) pays one lookup
per weight bit.

``vpdpbusd`` takes one unsigned and one signed operand, so each weight is stored as an
unsigned slot code ``u`` with ``w = scale * u + shift``: ``u = w`` (unsigned), ``u = w +
2^(b-1)`` (signed, two's complement), ``u = (w + 1) / 2`` (bipolar, ``w = 2u - 1``).
Activations that fit a signed byte (signed codes, and unsigned ones of up to 7 bits) go in as
the signed operand with the slot codes as the unsigned one; 8-bit unsigned activations (up to
255) as the unsigned operand with the slot codes (at most 15) as the signed one. Then
``a . w = scale * (a . u) + shift * sum(a)``.

Layout: 16 outputs share a 64-byte vector, four consecutive activations per int32 lane (what
``vpdpbusd`` sums), and the byte's slots hold the next groups of four: slot ``q`` of byte
``(lane l, i)`` in block ``b`` is output ``l``'s code at activation ``4 (b * slots + q) + i``.
A register tile is four vectors (64 outputs); each activation quad is broadcast once for all
four. int32 lanes cannot overflow: ``|a * u| <= 255 * 15`` and K is bounded by
:func:`check_vnni_accumulator`. Without VNNI a plain loop computes the same sums.
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

from hwsim.errors import HwsimError, check
from hwsim.kernels.operand import PackedOperand, raise_out_of_range, stream_activations

TILE_N = 64
"""Outputs per register tile: four vectors of 16 int32 lanes."""

VECTORS = TILE_N // 16

MAX_WEIGHT_BITS = 4
"""Widest weight the kernel runs (a 4-bit slot; 3-bit weights take 4-bit slots)."""

MIN_WEIGHT_BITS = 2
"""Narrowest weight :func:`use_vnni` gives this kernel: at 1-bit weights the table kernel was
faster in every committed GEMV (0.69-0.93x for this one at 1, 8 and 16 rows, 8-bit
activations, ``crossover_encodings.csv``); the kernel itself runs 1-bit weights exactly."""

MAX_ROWS = 16
"""Most activation rows (M) the kernel is used for: it serves GEMV and small-M GEMM."""

MAX_PRODUCT = 255 * 15
"""Largest ``|a * u|``: an 8-bit activation code times a 4-bit slot code."""

PARALLEL_MIN_BYTES = 1 << 19
"""Below this many weight bytes read per call one thread is faster (measured here, GEMV,
2 threads: a tie at 512 KiB, one thread 1.2-1.5x faster below 256 KiB)."""

MIN_BIT_PRODUCT = 6
MIN_BIT_PRODUCT_ROWS = 8
"""Smallest ``w_bits * a_bits`` for which :func:`use_vnni` prefers this kernel at one row: the
binary decomposition pays ``w * a`` plane pairs, this kernel a cost that does not depend on
the widths. Measured here (2 threads, 1 x 4096 x 4096, ``crossover.md``): the binary
decomposition takes 0.8-0.85x this kernel's time at w2a2, 0.8-1.0x at w1a4-w1a6, 1.2-1.4x at
w2a3, 1.2-1.7x at w4a2. At more rows, MIN_BIT_PRODUCT_ROWS (:func:`vnni_min_bit_product`)."""


def vnni_min_bit_product(m: int) -> int:
    """Smallest ``w * a`` for which this kernel beats the binary decomposition at ``m`` rows:
    the binary decomposition's register tile reuses each weight word over up to 8 rows, this
    kernel does not (measured at 8 and 16 rows: 1.1-1.2x at w2a4, 0.9-1.1x at w4a2 and w1a8,
    0.75-0.8x at w2a3)."""
    return MIN_BIT_PRODUCT if m <= 1 else MIN_BIT_PRODUCT_ROWS


def slot_bits(w_bits: int) -> int:
    """Bits of the slot a ``w_bits``-bit weight code takes (1, 2 or 4: slots tile a byte)."""
    return 1 if w_bits == 1 else 2 if w_bits == 2 else 4


def _has_vnni() -> bool:
    try:
        feats = llvm.get_host_cpu_features()
        return bool(feats.get("avx512vnni", False) and feats.get("avx512bw", False))
    except Exception:  # pragma: no cover - feature query unsupported: take the portable loop
        return False


HAS_VNNI = _has_vnni()
"""Whether this CPU runs the ``vpdpbusd`` kernel (else the portable loop)."""


def check_vnni_accumulator(k: int) -> None:
    """Refuse a K whose int32 sums could overflow: ``K * MAX_PRODUCT < 2^31``."""
    if k * MAX_PRODUCT >= 1 << 31:
        most = (2**31 - 1) // MAX_PRODUCT
        raise HwsimError("K", k, f"too long for the VNNI kernel's int32 sums (at most {most})")


@dataclass(frozen=True)
class VnniWeights:
    """Weights as unsigned slot codes: uint8 ``data [tiles, blocks, VECTORS, 64]`` (module
    docstring), with ``w = scale * u + shift``. Each tile's bytes are one contiguous run."""

    data: np.ndarray
    rows: int
    k: int
    bits: int
    encoding: str
    scale: int
    shift: int

    @property
    def slot(self) -> int:
        return slot_bits(self.bits)

    @property
    def block_k(self) -> int:
        """Activations per block: four per slot."""
        return 4 * (8 // self.slot)

    @property
    def k_pad(self) -> int:
        return int(self.data.shape[1]) * self.block_k

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)


def vnni_weights(w: PackedOperand) -> VnniWeights:
    """The kernel's view of packed weights, built once per :class:`PackedOperand` (and kept
    with it)."""
    cached = w.extras.get("vnni")
    if cached is not None:
        return cached
    check(w.bits <= MAX_WEIGHT_BITS, "w.bits", w.bits, f"must be <= {MAX_WEIGHT_BITS}")
    bits = w.bits
    planes = np.unpackbits(
        np.ascontiguousarray(w.words[:, :, : w.rows].transpose(0, 2, 1)).view(np.uint8),
        axis=-1,
        bitorder="little",
    )[:, :, : w.k]
    # The planes' bits as unsigned codes (a signed code's sign plane weighs +2^(b-1) here:
    # that is u = w + 2^(b-1)); a bipolar plane holds w == -1, so u = 1 - bit.
    u = np.zeros((w.rows, w.k), dtype=np.uint8)
    for j in range(bits):
        u |= planes[j] << np.uint8(j)
    if w.encoding == "bipolar":
        u ^= np.uint8(1)
        scale, shift = 2, -1
    elif w.encoding == "signed":
        u ^= np.uint8(1 << (bits - 1))
        scale, shift = 1, -(1 << (bits - 1))
    else:
        scale, shift = 1, 0
    slot = slot_bits(bits)
    per = 8 // slot
    block_k = 4 * per
    blocks = -(-w.k // block_k)
    tiles = -(-w.rows // TILE_N)
    full = np.zeros((tiles * TILE_N, blocks * block_k), dtype=np.uint8)
    full[: w.rows, : w.k] = u
    # [n, block, slot q, i] -> byte (n, block, i) = sum_q u << (slot * q)
    quads = full.reshape(tiles * TILE_N, blocks, per, 4)
    packed = np.zeros((tiles * TILE_N, blocks, 4), dtype=np.uint8)
    for q in range(per):
        packed |= quads[:, :, q, :] << np.uint8(slot * q)
    data = np.ascontiguousarray(
        packed.reshape(tiles, VECTORS, 16, blocks, 4).transpose(0, 3, 1, 2, 4)
    ).reshape(tiles, blocks, VECTORS, 64)
    view = VnniWeights(data, w.rows, w.k, bits, w.encoding, scale, shift)
    w.extras["vnni"] = view
    return view


# ---------------------------------------------------------------------------- the kernel
_I8, _I32, _I64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
_V64I8 = ir.VectorType(_I8, 64)
_V16I32 = ir.VectorType(_I32, 16)
_KERNELS: dict[tuple[int, bool, bool], object] = {}

MAX_IN_PLACE_K = (2**31 - 1) // (128 * 255)
"""Longest K of the in-place variant: a slot code left in place is at most 255 times an
activation of magnitude at most 128, and a lane sums K such products."""


@njit(cache=True)
def in_place_slots(slot: int, a_signed: bool, k_pad: int) -> bool:
    """Whether the kernel masks each slot where it lies instead of shifting it down: with the
    activations as the signed operand (``a_signed``) the slot codes are the unsigned one, so
    slot ``q`` masked in place is ``u << (slot * q)`` (at most 255) and its accumulator is
    ``2^(slot * q)`` times the sum, shifted back once per tile. That saves one shift per slot
    and vector: a quarter of the instructions at 2-bit slots. 1-bit slots would need 8
    accumulators per vector."""
    return a_signed and slot in (2, 4) and k_pad <= MAX_IN_PLACE_K


def vnni_kernel(slot: int, a_signed: bool, in_place: bool = False):
    """The ``vpdpbusd`` tile intrinsic for ``slot``-bit slots (cached):

    ``(data, data_base, act, act_base, blocks, out, out_base)``

    adds to ``out[out_base + 16 v + l]`` (int32) the dot products of output ``16 v + l``'s
    slot codes over ``blocks`` blocks from ``data[data_base ...]`` with the activation bytes
    ``act[act_base ...]`` (int32 words, four codes each). ``a_signed``: the activations are
    the signed operand. ``in_place``: see :func:`in_place_slots` (signed activations only).
    Nothing is bounds-checked.
    """
    key = (slot, a_signed, in_place)
    if key in _KERNELS:
        return _KERNELS[key]
    if in_place and not a_signed:
        raise ValueError("in-place slots need signed activations")
    per = 8 // slot
    arr_u8 = types.Array(types.uint8, 1, "C")
    arr_i32 = types.Array(types.int32, 1, "C")
    i64 = types.int64
    sig = types.void(arr_u8, i64, arr_i32, i64, i64, arr_i32, i64)
    mask = (1 << slot) - 1
    v32i16 = ir.VectorType(ir.IntType(16), 32)

    def codegen(context, builder, signature, args):
        data_a, data_base, act_a, act_base, blocks, out_a, out_base = args
        tys = signature.args
        data_p = context.make_array(tys[0])(context, builder, data_a).data
        act_p = context.make_array(tys[2])(context, builder, act_a).data
        out_p = context.make_array(tys[5])(context, builder, out_a).data
        dp = builder.module.declare_intrinsic(
            "llvm.x86.avx512.vpdpbusd.512",
            fnty=ir.FunctionType(_V16I32, [_V16I32, _V16I32, _V16I32]),
        )
        slot_masks = [
            ir.Constant(_V64I8, [(mask << (slot * q) if in_place else mask)] * 64)
            for q in range(per)
        ]
        sums = per if in_place else 1  # accumulators per vector: one per slot in place
        acc = [[cgutils.alloca_once(builder, _V16I32) for _ in range(sums)] for _ in range(VECTORS)]
        out_ptrs = [
            builder.bitcast(
                builder.gep(out_p, [builder.add(out_base, ir.Constant(_I64, 16 * v))]),
                _V16I32.as_pointer(),
            )
            for v in range(VECTORS)
        ]
        for v in range(VECTORS):
            builder.store(builder.load(out_ptrs[v], align=4), acc[v][0])
            for q in range(1, sums):
                builder.store(ir.Constant(_V16I32, [0] * 16), acc[v][q])
        with cgutils.for_range(builder, blocks) as loop:
            b = loop.index
            quads = []
            for q in range(per):
                at = builder.add(act_base, builder.add(builder.mul(b, ir.Constant(_I64, per)),
                                                       ir.Constant(_I64, q)))  # fmt: skip
                word = builder.load(builder.gep(act_p, [at]))
                splat = builder.insert_element(
                    ir.Constant(_V16I32, ir.Undefined), word, ir.Constant(_I32, 0)
                )
                quads.append(builder.shuffle_vector(splat, splat, ir.Constant(_V16I32, [0] * 16)))
            row = builder.add(data_base, builder.mul(b, ir.Constant(_I64, 64 * VECTORS)))
            for v in range(VECTORS):
                ptr = builder.bitcast(
                    builder.gep(data_p, [builder.add(row, ir.Constant(_I64, 64 * v))]),
                    _V64I8.as_pointer(),
                )
                raw = builder.load(ptr, align=1)
                for q in range(per):
                    if q == 0 or in_place:
                        codes = builder.and_(raw, slot_masks[q])
                    else:
                        # A 16-bit shift moves a neighbour's bits into each byte's top; the
                        # mask drops them.
                        moved = builder.lshr(
                            builder.bitcast(raw, v32i16), ir.Constant(v32i16, [slot * q] * 32)
                        )
                        codes = builder.and_(builder.bitcast(moved, _V64I8), slot_masks[q])
                    codes32 = builder.bitcast(codes, _V16I32)
                    pair = [quads[q], codes32] if not a_signed else [codes32, quads[q]]
                    slot_acc = acc[v][q if in_place else 0]
                    builder.store(builder.call(dp, [builder.load(slot_acc), *pair]), slot_acc)
        for v in range(VECTORS):
            total = builder.load(acc[v][0])
            for q in range(1, sums):
                # Each in-place sum is 2^(slot q) times the slot's: an exact arithmetic shift.
                scaled = builder.load(acc[v][q])
                total = builder.add(
                    total, builder.ashr(scaled, ir.Constant(_V16I32, [slot * q] * 16))
                )
            builder.store(total, out_ptrs[v], align=4)
        return context.get_dummy_value()

    @intrinsic
    def _vnni(typingctx, data, data_base, act, act_base, blocks, out, out_base):
        return sig, codegen

    _KERNELS[key] = _vnni
    return _vnni


def _make_dispatch():
    if not HAS_VNNI:
        return None
    k1u, k2u, k4u = (vnni_kernel(s, False) for s in (1, 2, 4))
    k1s, k2s, k4s = (vnni_kernel(s, True) for s in (1, 2, 4))
    k2p, k4p = (vnni_kernel(s, True, True) for s in (2, 4))

    @njit(cache=True)
    def run(slot, a_signed, data, data_base, act, act_base, blocks, out, out_base):
        if a_signed:
            if slot == 1:
                k1s(data, data_base, act, act_base, blocks, out, out_base)
            elif not in_place_slots(slot, True, blocks * (32 // slot)):
                if slot == 2:
                    k2s(data, data_base, act, act_base, blocks, out, out_base)
                else:
                    k4s(data, data_base, act, act_base, blocks, out, out_base)
            elif slot == 2:
                k2p(data, data_base, act, act_base, blocks, out, out_base)
            else:
                k4p(data, data_base, act, act_base, blocks, out, out_base)
        elif slot == 1:
            k1u(data, data_base, act, act_base, blocks, out, out_base)
        elif slot == 2:
            k2u(data, data_base, act, act_base, blocks, out, out_base)
        else:
            k4u(data, data_base, act, act_base, blocks, out, out_base)

    return run


_run_vnni = _make_dispatch()


@njit(cache=True)
def portable_tile(slot, a_signed, data, data_base, act, act_base, blocks, out, out_base):
    """What the ``vpdpbusd`` kernel computes, as a plain loop (any CPU)."""
    per = 8 // slot
    mask = (1 << slot) - 1
    act_bytes = act.view(np.uint8)
    for v in range(VECTORS):
        for lane in range(16):
            acc = np.int32(0)
            for b in range(blocks):
                base = data_base + b * 64 * VECTORS + 64 * v + 4 * lane
                for q in range(per):
                    at = 4 * (act_base + b * per + q)
                    for i in range(4):
                        u = np.int32((data[base + i] >> (slot * q)) & mask)
                        x = np.int32(act_bytes[at + i])
                        if a_signed and x > 127:
                            x -= 256
                        acc += u * x
            out[out_base + 16 * v + lane] += acc


if _run_vnni is None:  # pragma: no cover - exercised on CPUs without VNNI
    _run_tile = portable_tile
else:
    _run_tile = _run_vnni


@njit(cache=True)
def _vnni_tiles(data, slot, a_signed, act, sums, scale, shift, out, t_begin, t_end):
    """Output tiles ``t_begin .. t_end`` (TILE_N outputs each) of every row of ``out``."""
    m = act.shape[0]
    _, blocks, _, _ = data.shape
    data_flat, act_flat = data.ravel(), act.ravel()
    words = act.shape[1]
    acc = np.empty(TILE_N, dtype=np.int32)
    n_out = out.shape[1]
    for r in range(m):
        for t in range(t_begin, t_end):
            acc[:] = 0
            _run_tile(slot, a_signed, data_flat, t * blocks * 64 * VECTORS, act_flat, r * words,
                      blocks, acc, 0)  # fmt: skip
            n0 = t * TILE_N
            for n in range(min(TILE_N, n_out - n0)):
                out[r, n0 + n] = scale * np.int64(acc[n]) + shift * sums[r]


@njit(cache=True, parallel=True)
def _vnni_parallel(data, slot, a_signed, act, sums, scale, shift, out, chunks):
    tiles = data.shape[0]
    per = -(-tiles // chunks)
    for c in prange(chunks):
        _vnni_tiles(data, slot, a_signed, act, sums, scale, shift, out, c * per,
                    min(tiles, (c + 1) * per))  # fmt: skip


@njit(cache=True)
def _activation_words(codes, off, inv, k_pad):
    """The codes as bytes padded to ``k_pad`` (int32 words of four), the rows' sums, and True
    if a code is out of range (one-byte codes are checked as ``((x + off) mod 256) & inv``;
    wider codes are validated already)."""
    m, k = codes.shape
    buf = np.zeros((m, k_pad), dtype=np.uint8)
    sums = np.zeros(m, dtype=np.int64)
    bad = np.uint8(0)
    for r in range(m):
        total = 0
        for i in range(k):
            x = codes[r, i]
            bad |= (np.uint8(x) + off) & inv
            buf[r, i] = np.uint8(x & 255)
            total += np.int64(x)
        sums[r] = total
    return buf.view(np.int32), sums, bad != 0


def vnni_linear(
    a_codes: Any,
    w: VnniWeights | PackedOperand,
    a_bits: int,
    *,
    a_signed: bool | None = None,
    a_encoding: str | None = None,
    field: str = "a_codes",
) -> np.ndarray:
    """Exact int64 ``[M, N] = a_codes @ w_codes.T`` by unpacking and VNNI dot products.

    ``a_codes [M, K]`` are ``a_bits``-bit (at most 8) unsigned or signed activation codes,
    best as uint8 / int8; ``w`` the weights as :func:`~hwsim.kernels.pack_operand` packs them
    (any encoding, at most MAX_WEIGHT_BITS bits) or their :class:`VnniWeights`."""
    if isinstance(w, PackedOperand):
        w = vnni_weights(w)
    check(isinstance(w, VnniWeights), "w", type(w).__name__, "must be packed weights")
    codes, off, inv, a_enc = stream_activations(
        a_codes, a_bits, a_signed, a_encoding, w.k, field, "VNNI kernel"
    )
    check_vnni_accumulator(w.k)
    m = codes.shape[0]
    if m == 0:
        return np.zeros((0, w.rows), dtype=np.int64)
    act, sums, bad = _activation_words(codes, off, inv, w.k_pad)
    if bad:
        raise_out_of_range(codes, a_bits, a_enc, field)
    out = np.empty((m, w.rows), dtype=np.int64)
    tiles = w.data.shape[0]
    threads = numba.get_num_threads()
    # Unsigned codes of up to 7 bits are signed bytes too: the faster in-place slots take them
    # (measured here, the kernel on the same bytes, 1 x 4096 x 4096 at 2-bit weights: 0.049 ms
    # in place, 0.058-0.061 ms shifted).
    a_signed_operand = a_enc == "signed" or a_bits <= 7
    args = (w.data, w.slot, a_signed_operand, act, sums, w.scale, w.shift, out)
    if threads > 1 and tiles > 1 and m * w.data.nbytes >= PARALLEL_MIN_BYTES:
        _vnni_parallel(*args, min(tiles, 4 * threads))
    else:
        _vnni_tiles(*args, 0, tiles)
    return out


def use_vnni(m: int, w: PackedOperand, a_bits: int, a_encoding: str) -> bool:
    """Whether :func:`~hwsim.kernels.bitserial_linear` runs these ``M`` rows with this kernel:
    a CPU with VNNI, at most MAX_ROWS rows, weights of MIN_WEIGHT_BITS to MAX_WEIGHT_BITS,
    k-bit activations of at most 8 bits, and ``w * a`` of at least
    :func:`vnni_min_bit_product`."""
    return (
        HAS_VNNI
        and m <= MAX_ROWS
        and MIN_WEIGHT_BITS <= w.bits <= MAX_WEIGHT_BITS
        and a_bits <= 8
        and w.bits * a_bits >= vnni_min_bit_product(m)
        and a_encoding != "bipolar"
    )
