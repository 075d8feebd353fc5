"""Bit-serial integer 2-D convolution: im2col of the codes, then the bit-serial matmul."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import njit, prange

from hwsim.bits import as_codes
from hwsim.errors import HwsimError, check, check_bits
from hwsim.kernels.gemm import bitserial_matmul_packed, check_accumulator, pack_operand


@njit(cache=True)
def _im2col_rows(x, cols, c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, r0, r1):
    """Rows ``r0 .. r1`` of the ``[N*OH*OW, cg*kh*kw]`` patches of channels ``c0 .. c0+cg``.

    Columns follow the weight layout ``[cg, kh, kw]``; taps in the padding stay code 0 (``cols``
    comes zeroed), which is exact padding for signed and unsigned codes alike.
    """
    h, w = x.shape[2], x.shape[3]
    for row in range(r0, r1):
        n = row // (oh * ow)
        oy = (row // ow) % oh
        ox = row % ow
        col = 0
        for c in range(cg):
            for ky in range(kh):
                iy = oy * sh - ph + ky * dh
                for kx in range(kw):
                    ix = ox * sw - pw + kx * dw
                    if 0 <= iy < h and 0 <= ix < w:
                        cols[row, col] = x[n, c0 + c, iy, ix]
                    col += 1


@njit(cache=True, parallel=True)
def _im2col_parallel(x, cols, c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, chunks):
    rows = cols.shape[0]
    per_chunk = -(-rows // chunks)
    for chunk in prange(chunks):
        r0 = chunk * per_chunk
        r1 = min(rows, r0 + per_chunk)
        _im2col_rows(x, cols, c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, r0, r1)


PARALLEL_MIN_ELEMENTS = 1 << 20
"""Below this many patch elements one thread is faster than waking the pool."""


def _im2col(
    x: np.ndarray,
    c0: int,
    cg: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    out_hw: tuple[int, int],
) -> np.ndarray:
    """int64 ``[N*OH*OW, cg*kh*kw]`` patches of channels ``c0 .. c0+cg`` of ``x [N, C, H, W]``."""
    rows = x.shape[0] * out_hw[0] * out_hw[1]
    cols = np.zeros((rows, cg * kernel[0] * kernel[1]), dtype=np.int64)
    geometry = (c0, cg, *kernel, *stride, *padding, *dilation, *out_hw)
    threads = numba.get_num_threads()
    if cols.size < PARALLEL_MIN_ELEMENTS or threads == 1 or rows < 2:
        _im2col_rows(x, cols, *geometry, 0, rows)
    else:
        _im2col_parallel(x, cols, *geometry, min(rows, 4 * threads))
    return cols


def _pair(value: Any, field: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each at least ``minimum``."""
    pair = (value, value) if isinstance(value, int | np.integer) else value
    ok = (
        isinstance(pair, tuple | list)
        and len(pair) == 2
        and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in pair)
    )
    if not ok or isinstance(value, bool):
        raise HwsimError(field, value, "must be an integer or a pair of integers")
    check(all(int(v) >= minimum for v in pair), field, value, f"must be >= {minimum}")
    return int(pair[0]), int(pair[1])


def bitserial_conv2d(
    x_codes: Any,
    w_codes: Any,
    a_bits: int,
    w_bits: int,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    a_signed: bool = False,
    w_signed: bool = True,
) -> np.ndarray:
    """Exact int64 convolution ``[N, O, OH, OW]`` of integer codes, as ``torch`` computes it.

    ``x_codes [N, C, H, W]`` are ``a_bits``-bit activation codes and ``w_codes [O, C/groups,
    kh, kw]`` ``w_bits``-bit weight codes. Each group becomes one bit-serial matmul of its
    im2col patches ``[N*OH*OW, C/groups*kh*kw]`` against its ``O/groups`` filters.
    """
    a_bits = check_bits("a_bits", a_bits)
    w_bits = check_bits("w_bits", w_bits)
    x_arr, w_arr = np.asarray(x_codes), np.asarray(w_codes)
    for name, flag in (("a_signed", a_signed), ("w_signed", w_signed)):
        check(isinstance(flag, bool | np.bool_), name, flag, "must be a bool")
    check(x_arr.ndim == 4, "x_codes.shape", x_arr.shape, "must be 4-D [N, C, H, W]")
    check(w_arr.ndim == 4, "w_codes.shape", w_arr.shape, "must be 4-D [O, C/groups, kh, kw]")
    sh, sw = _pair(stride, "stride", 1)
    ph, pw = _pair(padding, "padding", 0)
    dh, dw = _pair(dilation, "dilation", 1)
    check(
        isinstance(groups, int | np.integer) and not isinstance(groups, bool) and groups >= 1,
        "groups",
        groups,
        "must be an integer >= 1",
    )
    groups = int(groups)
    n_img, c_in, h, w = x_arr.shape
    c_out, cg, kh, kw = w_arr.shape
    check(c_in % groups == 0, "groups", groups, f"must divide the input channels ({c_in})")
    check(c_out % groups == 0, "groups", groups, f"must divide the output channels ({c_out})")
    check(
        cg == c_in // groups,
        "w_codes.shape",
        w_arr.shape,
        f"dim 1 must be C/groups = {c_in // groups}",
    )
    check(kh >= 1 and kw >= 1, "w_codes.shape", w_arr.shape, "kernel must be at least 1x1")
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    check(
        oh >= 1 and ow >= 1,
        "x_codes.shape",
        x_arr.shape,
        f"too small for kernel {kh}x{kw}, dilation {(dh, dw)}, padding {(ph, pw)}",
    )
    check_accumulator(cg * kh * kw, a_bits, w_bits)
    x = as_codes(x_arr, a_bits, a_signed, "x_codes")
    wts = as_codes(w_arr, w_bits, w_signed, "w_codes")
    og = c_out // groups
    out = np.empty((n_img, c_out, oh, ow), dtype=np.int64)
    for g in range(groups):
        cols = _im2col(x, g * cg, cg, (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow))
        a = pack_operand(cols, a_bits, signed=a_signed, field="x_codes")
        wp = pack_operand(
            wts[g * og : (g + 1) * og].reshape(og, -1), w_bits, signed=w_signed, field="w_codes"
        )
        res = bitserial_matmul_packed(a, wp)  # [N*OH*OW, og]
        out[:, g * og : (g + 1) * og] = res.reshape(n_img, oh, ow, og).transpose(0, 3, 1, 2)
    return out
