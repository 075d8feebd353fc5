"""Integer codes and their bitplanes: quantization, plane decomposition, packing, statistics.

A ``b``-bit code is an integer in ``[0, 2^b - 1]`` (unsigned) or ``[-2^(b-1), 2^(b-1) - 1]``
(signed, two's complement). Its bitplanes are the ``b`` binary arrays of its bits, least
significant first; plane ``i`` weighs ``2^i``, except the top plane of a signed code, which
weighs ``-2^(b-1)``. Bit-serial hardware and the kernels in :mod:`hwsim.kernels` compute on those
planes, so the data-dependent hardware models read their statistics from here too.

Everything takes and returns numpy arrays; nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.core.extending import intrinsic, overload

from hwsim.errors import HwsimError, check, check_bits
from hwsim.policy import LayerStats

WORD_BITS = 64
"""Lanes per packed word: planes are packed into uint64 along the reduction axis."""


# ---------------------------------------------------------------------------- validation
def code_range(bits: int, signed: bool) -> tuple[int, int]:
    """Inclusive ``(lowest, highest)`` code of a ``bits``-bit integer."""
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def as_codes(
    codes: Any, bits: int, signed: bool, field: str = "codes", keep_bytes: bool = False
) -> np.ndarray:
    """Validate integer codes for ``bits``/``signed`` and return them as a C-contiguous int64
    (``keep_bytes``: uint8 / int8 codes stay one byte each, which the packers read in place).

    Any integer dtype is accepted; floats, bools and values outside the code range are a
    :class:`HwsimError` naming ``field`` and the offending value.
    """
    arr = np.asarray(codes)
    if not np.issubdtype(arr.dtype, np.integer):
        raise HwsimError(f"{field}.dtype", str(arr.dtype), "codes must have an integer dtype")
    if arr.size:
        lo, hi = code_range(bits, signed)
        # Compare as Python ints so uint64 values above int64 cannot wrap on the way in.
        low, high = int(arr.min()), int(arr.max())
        kind = "signed" if signed else "unsigned"
        check(low >= lo, field, low, f"below the {kind} {bits}-bit range [{lo}, {hi}]")
        check(high <= hi, field, high, f"above the {kind} {bits}-bit range [{lo}, {hi}]")
    if keep_bytes and arr.dtype in (np.uint8, np.int8):
        return np.ascontiguousarray(arr)
    return np.ascontiguousarray(arr, dtype=np.int64)


def _check_group_size(group_size: Any) -> None:
    ok = isinstance(group_size, int | np.integer) and not isinstance(group_size, bool)
    check(ok and group_size >= 1, "group_size", group_size, "must be an integer >= 1")


def _check_signed(signed: Any, field: str) -> bool:
    check(isinstance(signed, bool | np.bool_), field, signed, "must be a bool")
    return bool(signed)


# ---------------------------------------------------------------------------- quantization
def quantize(
    x: Any, bits: int, *, signed: bool, axis: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform symmetric quantization of a float array to ``bits``-bit integer codes.

    ``scale = max|x| / qmax`` with ``qmax = 2^(b-1) - 1`` (signed, codes in ``[-qmax, qmax]``,
    so the range stays symmetric and ``-2^(b-1)`` is unused) or ``qmax = 2^b - 1`` (unsigned,
    codes in ``[0, qmax]``; negative inputs, e.g. before a ReLU, quantize to 0 by definition of
    an unsigned quantizer). ``axis=None`` gives one scale for the tensor; an integer gives one
    per channel along that axis, shaped to broadcast against ``x``. An all-zero tensor or
    channel gets scale 1. Returns ``(codes int64, scale float64)``; ``codes * scale``
    reconstructs ``x`` to within ``scale / 2`` inside the range.
    """
    bits = check_bits("bits", bits)
    signed = _check_signed(signed, "signed")
    arr = np.asarray(x)
    check(
        np.issubdtype(arr.dtype, np.number) and not np.iscomplexobj(arr),
        "x.dtype",
        str(arr.dtype),
        "must be a real numeric array",
    )
    arr = arr.astype(np.float64)
    check(bool(np.isfinite(arr).all()), "x", "non-finite", "contains NaN or infinity")
    check(
        not (signed and bits == 1),
        "bits",
        bits,
        "signed symmetric codes need at least 2 bits (1 bit leaves only 0)",
    )
    qmax = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    if axis is None:
        peak = np.array(np.abs(arr).max() if arr.size else 0.0)
    else:
        axis = _normalize_axis(axis, arr.ndim)
        others = tuple(d for d in range(arr.ndim) if d != axis)
        peak = (
            np.abs(arr).max(axis=others, keepdims=True)
            if arr.size
            else np.zeros([arr.shape[d] if d == axis else 1 for d in range(arr.ndim)])
        )
    step = peak / qmax
    # A zero (or underflowing) peak has nothing to resolve: any positive scale is exact.
    scale = np.where(step > 0, step, 1.0).astype(np.float64)
    lo = -qmax if signed else 0
    codes = np.clip(np.rint(arr / scale), lo, qmax).astype(np.int64)
    return codes, scale


def dequantize(codes: Any, scale: Any, axis: int | None = None) -> np.ndarray:
    """Float reconstruction ``codes * scale``.

    ``scale`` is a scalar, an array that already broadcasts (as :func:`quantize` returns it), or
    a 1-D per-channel vector laid along ``axis``.
    """
    c = np.asarray(codes)
    if not np.issubdtype(c.dtype, np.integer):
        raise HwsimError("codes.dtype", str(c.dtype), "codes must have an integer dtype")
    s = np.asarray(scale, dtype=np.float64)
    if axis is not None and s.ndim == 1:
        axis = _normalize_axis(axis, c.ndim)
        check(
            s.shape[0] == c.shape[axis],
            "scale",
            s.shape,
            f"needs one scale per channel along axis {axis} ({c.shape[axis]})",
        )
        s = s.reshape([-1 if d == axis else 1 for d in range(c.ndim)])
    try:
        return c.astype(np.float64) * s
    except ValueError as exc:
        raise HwsimError("scale", s.shape, f"does not broadcast against codes {c.shape}") from exc


def _normalize_axis(axis: Any, ndim: int) -> int:
    check(
        isinstance(axis, int | np.integer) and not isinstance(axis, bool),
        "axis",
        axis,
        "must be an integer or None",
    )
    check(-ndim <= int(axis) < ndim, "axis", axis, f"out of range for {ndim} dimensions")
    return int(axis) % ndim


# ---------------------------------------------------------------------------- bitplanes
def plane_weights(bits: int, signed: bool) -> np.ndarray:
    """int64 weight of each plane, LSB first: ``2^i``, the top one ``-2^(b-1)`` if signed."""
    bits = check_bits("bits", bits)
    w = np.left_shift(np.int64(1), np.arange(bits, dtype=np.int64))
    if _check_signed(signed, "signed"):
        w[-1] = -w[-1]
    return w


def to_bitplanes(codes: Any, bits: int, signed: bool) -> np.ndarray:
    """uint8 ``[bits, *codes.shape]`` of each code's bits, LSB first (two's complement)."""
    bits = check_bits("bits", bits)
    c = as_codes(codes, bits, _check_signed(signed, "signed"))
    shifts = np.arange(bits, dtype=np.int64).reshape((bits,) + (1,) * c.ndim)
    # Arithmetic shift of a negative int64 fills with ones: bit i is the two's complement bit.
    return ((c[None] >> shifts) & 1).astype(np.uint8)


def from_bitplanes(planes: Any, signed: bool) -> np.ndarray:
    """int64 codes from ``[bits, ...]`` planes of 0/1: the inverse of :func:`to_bitplanes`."""
    p = np.asarray(planes)
    check(p.ndim >= 1 and p.shape[0] >= 1, "planes.shape", p.shape, "needs a leading plane axis")
    if not np.issubdtype(p.dtype, np.integer) and p.dtype != np.bool_:
        raise HwsimError("planes.dtype", str(p.dtype), "planes must be integer or bool")
    bits = check_bits("planes.shape[0]", p.shape[0])
    if p.size:
        check(bool(((p == 0) | (p == 1)).all()), "planes", "values", "planes must hold 0 or 1")
    w = plane_weights(bits, signed).reshape((bits,) + (1,) * (p.ndim - 1))
    return (p.astype(np.int64) * w).sum(axis=0)


@intrinsic
def pack_word(typingctx, codes, offset, bit):
    """uint64 word whose bit ``j`` is bit ``bit`` of byte ``codes[offset + j]``, ``j < 64``.

    ``codes`` is a 1-D uint8 or int8 array whose elements are contiguous (a C array or a
    unit-step slice of one); bit ``p`` of an int8 is its two's complement bit, which for a
    ``b``-bit signed code (``p < b``) is the code's own bit ``p``.
    One 64-byte load, an AND with ``1 << bit`` and a compare to zero: LLVM emits ``vptestmb``
    into a mask register, which is the packed word. The caller keeps ``offset + 64`` in bounds.
    """
    if not (
        isinstance(codes, types.Array)
        and codes.ndim == 1
        and codes.dtype in (types.uint8, types.int8)
    ):
        return None
    sig = types.uint64(codes, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        arr, off, b = args
        ptr = context.make_array(signature.args[0])(context, builder, arr).data
        v64 = ir.VectorType(ir.IntType(8), 64)
        vec = builder.load(builder.bitcast(builder.gep(ptr, [off]), v64.as_pointer()), align=1)
        return _test_bit(builder, vec, b)

    return sig, codegen


def _test_bit(builder: ir.IRBuilder, vec: ir.Value, bit: ir.Value) -> ir.Value:
    """uint64 mask of the bytes of ``vec`` (``<64 x i8>``) whose bit ``bit`` is set."""
    i8, i32 = ir.IntType(8), ir.IntType(32)
    v64 = ir.VectorType(i8, 64)
    mask = builder.shl(ir.Constant(i8, 1), builder.trunc(bit, i8))
    lane0 = builder.insert_element(ir.Constant(v64, ir.Undefined), mask, ir.Constant(i32, 0))
    splat = builder.shuffle_vector(
        lane0, ir.Constant(v64, ir.Undefined), ir.Constant(ir.VectorType(i32, 64), [0] * 64)
    )
    hit = builder.icmp_unsigned("!=", builder.and_(vec, splat), ir.Constant(v64, [0] * 64))
    return builder.bitcast(hit, ir.IntType(64))


@intrinsic
def pack_word_prefix(typingctx, codes, offset, bit, lanes):
    """:func:`pack_word` over the first ``lanes`` (0..64) bytes from ``offset``; the other
    bits are 0. The bytes are copied to a zeroed stack vector first, so nothing past them is
    read: the tail of a row whose K is not a multiple of 64 in a few instructions instead of
    a bit-by-bit loop (a 147-code row: a third of its packing time)."""
    if not (
        isinstance(codes, types.Array)
        and codes.ndim == 1
        and codes.dtype in (types.uint8, types.int8)
    ):
        return None
    sig = types.uint64(codes, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        arr, off, b, n = args
        ptr = context.make_array(signature.args[0])(context, builder, arr).data
        v64 = ir.VectorType(ir.IntType(8), 64)
        slot = cgutils.alloca_once(builder, v64)
        builder.store(ir.Constant(v64, [0] * 64), slot)
        dst = builder.bitcast(slot, ir.IntType(8).as_pointer())
        src = builder.bitcast(builder.gep(ptr, [off]), ir.IntType(8).as_pointer())
        cgutils.raw_memcpy(builder, dst, src, n, 1)
        return _test_bit(builder, builder.load(slot), b)

    return sig, codegen


def pack_row(row, bits, buf, r, off, inv, lo, hi):
    """Pack one row of codes into ``buf[:, :, r]``; True if a code is out of range (Numba
    only; see the overloads)."""
    raise NotImplementedError


@overload(pack_row, jit_options={"cache": True})
def _pack_row_overload(row, bits, buf, r, off, inv, lo, hi):
    if row.dtype in (types.uint8, types.int8):

        def narrow(row, bits, buf, r, off, inv, lo, hi):
            # Range check as one vectorizable OR: (code - lo) mod 256 must fit in ``bits``.
            bad = np.uint8(0)
            for k in range(row.shape[0]):
                bad |= (np.uint8(row[k]) + off) & inv
            k_len = row.shape[0]
            full = k_len // WORD_BITS
            for w in range(full):
                for p in range(bits):
                    buf[p, w, r] = pack_word(row, w * WORD_BITS, p)
            if full * WORD_BITS < k_len:
                for p in range(bits):
                    buf[p, full, r] = pack_word_prefix(
                        row, full * WORD_BITS, p, k_len - full * WORD_BITS
                    )
            return bad != 0

        return narrow

    def wide(row, bits, buf, r, off, inv, lo, hi):
        bad = False
        for k in range(row.shape[0]):
            bad |= (row[k] < lo) | (row[k] > hi)
        k_len = row.shape[0]
        full = k_len // WORD_BITS
        for w in range(full):
            k0 = w * WORD_BITS
            for p in range(bits):
                word = np.uint64(0)
                for j in range(WORD_BITS):
                    # Two's complement bit p of the code; the int64 shift is arithmetic.
                    word |= np.uint64((row[k0 + j] >> p) & 1) << np.uint64(j)
                buf[p, w, r] = word
        if full * WORD_BITS < k_len:
            k0 = full * WORD_BITS
            for p in range(bits):
                word = np.uint64(0)
                for k in range(k0, k_len):
                    word |= np.uint64((row[k] >> p) & 1) << np.uint64(k - k0)
                buf[p, full, r] = word
        return bad

    return wide


@njit(cache=True)
def _pack_range(codes: np.ndarray, bits: int, out: np.ndarray, r0: int, r1: int) -> None:
    """Pack rows ``r0 .. r1`` of validated ``codes [rows, K]`` into ``out [rows_padded, bits,
    words]``."""
    planes = np.transpose(out, (1, 2, 0))
    zero = np.uint8(0)
    lo, hi = -(1 << 62), 1 << 62  # validated already: nothing to flag
    for r in range(r0, r1):
        pack_row(codes[r], bits, planes, r, zero, zero, lo, hi)


@njit(cache=True, parallel=True)
def _pack_parallel(codes: np.ndarray, bits: int, out: np.ndarray, chunks: int) -> None:
    rows = codes.shape[0]
    per_chunk = -(-rows // chunks)
    for chunk in prange(chunks):
        _pack_range(codes, bits, out, chunk * per_chunk, min(rows, (chunk + 1) * per_chunk))


PARALLEL_MIN_LANES = 1 << 20
"""Below this many code bits to pack, one thread is faster than waking the pool."""


def pack_rows(
    codes: np.ndarray, bits: int, row_multiple: int = 1, out: np.ndarray | None = None
) -> np.ndarray:
    """Pack validated 2-D codes (int64, or uint8 / int8 read a byte at a time) into uint64
    ``[rows_padded, bits, ceil(K/64)]``.

    Rows are padded with zero codes up to a multiple of ``row_multiple`` (the kernels' register
    tile) and lanes past ``K`` are zero, which contributes nothing to any popcount. ``out`` may
    be given as a view of that shape over the caller's own layout (a transposed array), so the
    words land where they are used with no copy; its padding rows are zeroed here.
    """
    rows, k_len = codes.shape
    padded = -(-rows // row_multiple) * row_multiple
    shape = (padded, bits, -(-k_len // WORD_BITS))
    if out is None:
        out = np.empty(shape, dtype=np.uint64)
    check(out.shape == shape and out.dtype == np.uint64, "out", out.shape, f"must be {shape}")
    out[rows:] = 0
    threads = numba.get_num_threads()
    if rows * k_len * bits < PARALLEL_MIN_LANES or threads == 1 or rows < 2:
        _pack_range(codes, bits, out, 0, rows)
    else:
        _pack_parallel(codes, bits, out, min(rows, 4 * threads))
    return out


def pack_bitplanes(codes: Any, bits: int, signed: bool) -> np.ndarray:
    """uint64 ``[bits, rows, ceil(K/64)]``: each plane of 2-D ``codes [rows, K]`` packed along K.

    Lane ``k`` of a row is bit ``k % 64`` of word ``k // 64`` (LSB first); lanes past ``K`` are
    zero.
    """
    bits = check_bits("bits", bits)
    c = as_codes(codes, bits, _check_signed(signed, "signed"))
    check(c.ndim == 2, "codes.shape", c.shape, "must be 2-D [rows, K]")
    planes = np.empty((bits, c.shape[0], -(-c.shape[1] // WORD_BITS)), dtype=np.uint64)
    pack_rows(c, bits, out=planes.transpose(1, 0, 2))
    return planes


# ---------------------------------------------------------------------------- statistics
def plane_density(codes: Any, bits: int, signed: bool) -> np.ndarray:
    """float64 ``[bits]``: the fraction of codes whose (two's complement) bit ``i`` is set."""
    planes = to_bitplanes(codes, bits, signed)
    if planes[0].size == 0:
        return np.zeros(bits)
    return planes.reshape(bits, -1).mean(axis=1)


@njit(cache=True)
def _group_histograms(
    mags: np.ndarray, group_size: int, bits: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Histograms over groups of the largest popcount and largest bit length in the group."""
    rows, k_len = mags.shape
    essential = np.zeros(bits + 1, dtype=np.int64)
    precision = np.zeros(bits + 1, dtype=np.int64)
    total_set = 0
    for r in range(rows):
        for g0 in range(0, k_len, group_size):
            most_set = 0
            most_len = 0
            for k in range(g0, min(g0 + group_size, k_len)):
                v = mags[r, k]
                n_set = 0
                n_len = 0
                while v:
                    n_set += v & 1
                    n_len += 1
                    v >>= 1
                total_set += n_set
                most_set = max(most_set, n_set)
                most_len = max(most_len, n_len)
            essential[most_set] += 1
            precision[most_len] += 1
    return essential, precision, total_set


def group_stats(
    codes: Any, bits: int, signed: bool, group_size: int = 16, *, axis: int = -1
) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-group statistics of codes along their reduction axis ``axis`` (default the last).

    Lanes are cut into groups of ``group_size`` consecutive codes along ``axis`` (the last
    group of a row may be shorter); for NCHW conv activations pass ``axis=1``, the channels
    that bit-serial hardware processes side by side. Returns the distribution over groups of
    the largest number of essential (set) bits in the group and of the group's dynamic
    precision (the leading-one position + 1 of its largest code), each of length ``bits + 1``,
    and the mean number of set bits per code. Signed codes are measured on their magnitude
    (sign-magnitude view), the way bit-serial hardware that skips zero bits sees them.
    """
    bits = check_bits("bits", bits)
    c = as_codes(codes, bits, _check_signed(signed, "signed"))
    _check_group_size(group_size)
    check(c.size > 0, "codes.shape", c.shape, "statistics need at least one code")
    if c.ndim:
        c = np.moveaxis(c, _normalize_axis(axis, c.ndim), -1)
    mags = np.ascontiguousarray(np.abs(c)).reshape(-1, c.shape[-1] if c.ndim else 1)
    # |−2^(b−1)| needs b bits, so it still fits the histogram.
    essential, precision, total_set = _group_histograms(mags, int(group_size), bits)
    n_groups = essential.sum()
    return essential / n_groups, precision / n_groups, float(total_set) / c.size


def layer_stats(
    w_codes: Any,
    a_codes: Any,
    w_bits: int,
    a_bits: int,
    *,
    w_signed: bool = True,
    a_signed: bool = False,
    conv: Mapping[str, Any] | None = None,
    group_size: int = 16,
    axis: int = -1,
    max_images: int = 8,
) -> LayerStats:
    """The :class:`~hwsim.LayerStats` of one layer's weight and activation codes.

    With ``conv`` (``{"stride": (sh, sw), "padding": (ph, pw), "dilation": (dh, dw),
    "groups": g}``) the codes are a conv layer's NCHW activations and OIHW weights, and the
    statistics are taken in a bit-serial array's grouping (:mod:`hwsim.stepstats`): a group is
    the ``group_size`` lanes one column sees in one step (input channels at one kernel
    position, windows walked with the output's H fastest), and ``step_cycles`` holds each
    default step rule's mean cycles per step, replayed on the first ``max_images`` images.
    Without ``conv``, 2-D ``[M, K]`` activations are FC inputs (one row per image, each run at
    batch 1 for ``step_cycles``) and groups are ``group_size`` consecutive codes along
    ``axis``. Plane densities count two's complement bits; signed codes are measured on their
    magnitude, the way hardware that skips zero bits sees them.
    """
    from hwsim.stepstats import step_cycles

    w_bits = check_bits("w_bits", w_bits)
    a_bits = check_bits("a_bits", a_bits)
    w_signed = _check_signed(w_signed, "w_signed")
    a_signed = _check_signed(a_signed, "a_signed")
    w = as_codes(w_codes, w_bits, w_signed, "w_codes")
    a = as_codes(a_codes, a_bits, a_signed, "a_codes")
    check(w.size > 0, "w_codes.shape", w.shape, "statistics need at least one weight")
    check(
        isinstance(max_images, int) and not isinstance(max_images, bool) and max_images >= 1,
        "max_images",
        max_images,
        "must be an integer >= 1",
    )
    steps: dict[str, float] = {}
    if conv is not None:
        geometry = conv_geometry(conv, w.shape, a.shape)
        essential, precision, mean_set = _conv_group_stats(a, w, geometry, a_bits, group_size)
        per_image = [step_cycles(w, a[i], w_bits, geometry) for i in range(min(len(a), max_images))]
        steps = {k: float(np.mean([d[k] for d in per_image])) for k in per_image[0]}
    else:
        essential, precision, mean_set = group_stats(a, a_bits, a_signed, group_size, axis=axis)
        if a.ndim == 2 and w.ndim == 2 and w.shape[1] == a.shape[1]:
            rows = a[: min(len(a), max_images)]
            per_image = [step_cycles(w, r, w_bits, None) for r in rows]
            steps = {k: float(np.mean([d[k] for d in per_image])) for k in per_image[0]}
    return LayerStats(
        group_size=int(group_size),
        w_plane_density=tuple(plane_density(w, w_bits, w_signed)),
        a_plane_density=tuple(plane_density(a, a_bits, a_signed)),
        a_group_max_essential=tuple(essential),
        a_group_max_precision=tuple(precision),
        a_mean_essential=mean_set,
        step_cycles=steps,
    )


def conv_geometry(conv: Mapping[str, Any], w_shape: tuple, a_shape: tuple) -> tuple:
    """Validate a conv description against OIHW weights and NCHW activations; returns
    ``((sh, sw), (ph, pw), (dh, dw), groups)``."""
    check(isinstance(conv, Mapping), "conv", type(conv).__name__, "must be a mapping")
    unknown = sorted(set(conv) - {"stride", "padding", "dilation", "groups"})
    check(not unknown, "conv", unknown, "unknown keys; known: stride, padding, dilation, groups")

    def pair(key: str, default: tuple[int, int], low: int) -> tuple[int, int]:
        v = conv.get(key, default)
        v = (v, v) if isinstance(v, int | np.integer) and not isinstance(v, bool) else v
        ok = isinstance(v, tuple | list) and len(v) == 2
        ok = ok and all(isinstance(x, int | np.integer) and not isinstance(x, bool) for x in v)
        check(ok and min(v) >= low, f"conv.{key}", v, f"must be a pair of integers >= {low}")
        return int(v[0]), int(v[1])

    stride = pair("stride", (1, 1), 1)
    padding = pair("padding", (0, 0), 0)
    dilation = pair("dilation", (1, 1), 1)
    groups = conv.get("groups", 1)
    check(
        isinstance(groups, int | np.integer) and not isinstance(groups, bool) and groups >= 1,
        "conv.groups",
        groups,
        "must be an integer >= 1",
    )
    check(len(w_shape) == 4, "w_codes.shape", w_shape, "a conv layer needs OIHW weights")
    check(len(a_shape) == 4, "a_codes.shape", a_shape, "a conv layer needs NCHW activations")
    check(a_shape[0] >= 1, "a_codes.shape", a_shape, "needs at least one image")
    check(
        a_shape[1] == w_shape[1] * groups and w_shape[0] % groups == 0,
        "conv.groups",
        int(groups),
        f"weights {w_shape} and activations {a_shape} do not fit these groups",
    )
    for i, key in ((2, "H"), (3, "W")):
        span = dilation[i - 2] * (w_shape[i] - 1) + 1
        check(
            a_shape[i] + 2 * padding[i - 2] >= span,
            "a_codes.shape",
            a_shape,
            f"the padded input {key} is smaller than the kernel",
        )
    return stride, padding, dilation, int(groups)


def _conv_group_stats(
    a: np.ndarray, w: np.ndarray, geometry: tuple, a_bits: int, group_size: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Group statistics over what one column's ``group_size`` lanes see per step."""
    from hwsim.stepstats import conv_step_values

    _check_group_size(group_size)
    groups = []
    for img in np.abs(a):
        vals = conv_step_values(img, w, geometry, 1, int(group_size))
        groups.append(vals.reshape(-1, int(group_size)))
    mags = np.ascontiguousarray(np.concatenate(groups))
    essential, precision, _ = _group_histograms(mags, int(group_size), a_bits)
    n_groups = essential.sum()
    _, _, total_set = _group_histograms(np.abs(a).reshape(1, -1), 1, a_bits)
    return essential / n_groups, precision / n_groups, float(total_set) / a.size


__all__ = [
    "WORD_BITS",
    "as_codes",
    "code_range",
    "conv_geometry",
    "dequantize",
    "from_bitplanes",
    "group_stats",
    "layer_stats",
    "pack_bitplanes",
    "pack_rows",
    "plane_density",
    "plane_weights",
    "quantize",
    "to_bitplanes",
]
