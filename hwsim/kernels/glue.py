"""What an integer layer does around its kernel, in one pass each: float activations to codes,
int64 accumulators to rescaled floats.

Both keep the memory order of their input (channels-last stays channels-last), so an integer
network's layers hand each other channels-last tensors, the order the conv packer reads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from hwsim.errors import check

PARALLEL_MIN_ELEMENTS = 1 << 16
"""Below this many elements one thread is faster than waking the pool."""


@njit(cache=True)
def _quantize_range(x, step, lo, hi, out, i0, i1):
    # Unsigned indices and the clamp in x's own precision (lo, hi are small integers, exact in
    # either): the loop vectorizes. With signed indices Numba's negative-index wraparound kept
    # it scalar, and a float64 clamp converted every element (measured here, 50k float32
    # codes, one thread: 61 -> 6 us).
    lo_x, hi_x = x.dtype.type(lo), x.dtype.type(hi)
    for i in range(np.uint64(i0), np.uint64(i1)):
        # clamp(rint(x / step)) exactly as torch computes it (IEEE division, half to even).
        out[i] = min(max(np.rint(x[i] / step), lo_x), hi_x)


@njit(cache=True, parallel=True)
def _quantize_parallel(x, step, lo, hi, out, chunks):
    per = -(-x.size // chunks)
    for c in prange(chunks):
        _quantize_range(x, step, lo, hi, out, c * per, min(x.size, (c + 1) * per))


@njit(cache=True)
def _rescale_range(acc, scale, bias, out, r0, r1):
    """Rows ``r0 .. r1`` of ``[rows, channels]``: a row-by-channel loop (no per-element
    modulo) that LLVM vectorizes."""
    channels = np.uint64(scale.size)
    for r in range(np.uint64(r0), np.uint64(r1)):
        base = r * channels
        for c in range(channels):  # unsigned indices: no wraparound check, so it vectorizes
            out[base + c] = acc[base + c] * scale[c] + bias[c]


@njit(cache=True, parallel=True)
def _rescale_parallel(acc, scale, bias, out, chunks):
    rows = acc.size // scale.size
    per = -(-rows // chunks)
    for c in prange(chunks):
        _rescale_range(acc, scale, bias, out, c * per, min(rows, (c + 1) * per))


def _channels_last(arr: np.ndarray) -> np.ndarray | None:
    """The C-contiguous ``[..., C]`` view of an ``[N, C, H, W]`` (or 2-D) array whose memory is
    channels-last, else None."""
    if arr.ndim == 4:
        last = arr.transpose(0, 2, 3, 1)
        return last if last.flags.c_contiguous else None
    return arr if arr.flags.c_contiguous else None


def quantize_activations(x: np.ndarray, step: float, lo: int, hi: int, dtype) -> np.ndarray:
    """``clamp(rint(x / step), lo, hi)`` of a float32 or float64 array as integer ``dtype``
    codes, divided and rounded in ``x``'s own precision (``step`` converted to it), exactly as
    torch codes a tensor of that dtype (``quant.quantizers.code_values``).

    ``x`` is ``[N, C, H, W]`` (any strides; channels-last is read in place) or ``[rows, K]``;
    the codes come back the same shape, channels-last for 4-D input."""
    check(x.dtype in (np.float32, np.float64), "x.dtype", str(x.dtype), "must be float32/64")
    check(step > 0, "step", step, "must be positive")
    # A float32 quotient rounds to float32 before rint, as torch's does: a float64 quotient
    # just below a tie would round the other way.
    step = x.dtype.type(step)
    src = _channels_last(x)
    if src is None:
        src = np.ascontiguousarray(x.transpose(0, 2, 3, 1) if x.ndim == 4 else x)
    out = np.empty(src.shape, dtype=dtype)
    flat_in, flat_out = src.reshape(-1), out.reshape(-1)
    if flat_in.size < PARALLEL_MIN_ELEMENTS:
        _quantize_range(flat_in, step, float(lo), float(hi), flat_out, 0, flat_in.size)
    else:
        _quantize_parallel(flat_in, step, float(lo), float(hi), flat_out, 8)
    return out.transpose(0, 3, 1, 2) if x.ndim == 4 else out


def rescale_accumulators(
    acc: np.ndarray, scale: np.ndarray, bias: np.ndarray, dtype: type = np.float64
) -> np.ndarray:
    """``acc * scale[c] + bias[c]`` per output channel ``c`` (the last axis of 2-D ``acc``,
    axis 1 of a channels-last ``[N, C, H, W]``), in ``acc``'s memory order: computed in float64
    and stored as ``dtype`` (float64 or float32; a float32 result is the float64 one rounded to
    nearest, as a later conversion would round it, without the second pass)."""
    check(dtype in (np.float32, np.float64), "dtype", dtype, "must be float32 or float64")
    src = _channels_last(acc)
    if src is None:
        src = np.ascontiguousarray(acc.transpose(0, 2, 3, 1) if acc.ndim == 4 else acc)
    check(src.shape[-1] == scale.size == bias.size, "scale", scale.shape, "one per channel")
    out = np.empty(src.shape, dtype=dtype)
    flat_in, flat_out = src.reshape(-1), out.reshape(-1)
    scale = np.ascontiguousarray(scale, dtype=np.float64).reshape(-1)
    bias = np.ascontiguousarray(bias, dtype=np.float64).reshape(-1)
    if flat_in.size < PARALLEL_MIN_ELEMENTS:
        _rescale_range(flat_in, scale, bias, flat_out, 0, flat_in.size // max(1, scale.size))
    else:
        _rescale_parallel(flat_in, scale, bias, flat_out, 8)
    return out.transpose(0, 3, 1, 2) if acc.ndim == 4 else out
