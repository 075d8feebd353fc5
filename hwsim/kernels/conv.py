"""Bit-serial integer 2-D convolution on packed bitplanes.

Two ways to run a layer, chosen per layer by how well its channels fill 64-bit words:

- **direct**: the input feature map is packed once per call, 64 channels to a word at each
  pixel, into a zero-padded map ``[a_bits, N*Hp, ceil(C/64), Wp]``. A register tile is eight
  neighbouring output pixels of one output row; its activation words for kernel tap
  ``(ky, kx)`` and channel word ``cw`` sit at a fixed offset from the tile's first input pixel,
  so the matmul tile walks a table of those offsets instead of an im2col copy. No patch matrix
  is ever built: each input code is read once, and each packed word is reused by every tap.
- **im2col**: narrow layers (the RGB stem, depthwise convolutions), where 64-channel words
  would be mostly padding, gather their patches ``[N*OH*OW, C/groups*kh*kw]`` (one byte per code
  when codes are uint8/int8) and run :func:`~hwsim.kernels.gemm.bitserial_linear`.

:class:`BitserialConv2d` packs the weights once and keeps every per-shape table, so a call is
one Numba call and a few array views; results are int64 ``[N, O, OH, OW]`` views on
channels-last memory (what the next layer's packer reads fastest).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numba
import numpy as np
from numba import njit, prange

from hwsim.bits import WORD_BITS, as_codes
from hwsim.encoding import DEFAULT_A_ENCODING, DEFAULT_W_ENCODING, resolve
from hwsim.errors import HwsimError, check, check_bits
from hwsim.kernels.gemm import (
    COL_TILE,
    MODE_AND_BIAS,
    MODE_XOR,
    PARALLEL_MIN_WORDS,
    ROW_TILE,
    _pack_row_bipolar,
    bitserial_linear,
    col_block_for,
    encoding_plan,
    pack_row,
    run_tile_mode,
)
from hwsim.kernels.operand import (
    activation_codes,
    bipolar_codes,
    check_accumulator,
    pack_operand,
    tiled_words,
)

DIRECT_MAX_WASTE = 1.25
"""Direct convolution when its reduction (whole channel words per tap) is at most this many
times the words of a dense im2col row; otherwise im2col packs the patches densely."""


# ---------------------------------------------------------------------------- im2col
@njit(cache=True)
def _im2col_rows(x, cols, c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, r0, r1):
    """Rows ``r0 .. r1`` of the ``[N*OH*OW, kh*kw*cg]`` patches of channels ``c0 .. c0+cg``.

    Columns are tap-major, channels innermost (``[kh, kw, cg]``, the order the im2col weights
    are packed in): on channels-last codes, the layout every integer layer hands the next, each
    tap's channels are one contiguous run. Taps in the padding stay code 0 (``cols`` comes
    zeroed), which is exact padding for signed and unsigned codes alike.
    """
    h, w = x.shape[2], x.shape[3]
    for row in range(r0, r1):
        n = row // (oh * ow)
        oy = (row // ow) % oh
        ox = row % ow
        y0, x0 = oy * sh - ph, ox * sw - pw
        if y0 >= 0 and y0 + (kh - 1) * dh < h and x0 >= 0 and x0 + (kw - 1) * dw < w:
            # The window lies inside the map: no bounds checks, and unsigned indices, which
            # spare Numba's negative-index wraparound on every load (measured here, the
            # 7x7 RGB stem at 224x224, one thread: 1.98 -> 1.29 ms).
            col, un, urow = np.uint64(0), np.uint64(n), np.uint64(row)
            for ky in range(np.uint64(kh)):
                uy = np.uint64(y0) + ky * np.uint64(dh)
                for kx in range(np.uint64(kw)):
                    ux = np.uint64(x0) + kx * np.uint64(dw)
                    for c in range(np.uint64(cg)):
                        cols[urow, col] = x[un, np.uint64(c0) + c, uy, ux]
                        col += np.uint64(1)
            continue
        col = 0
        for ky in range(kh):
            iy = oy * sh - ph + ky * dh
            for kx in range(kw):
                ix = ox * sw - pw + kx * dw
                inside = 0 <= iy < h and 0 <= ix < w
                for c in range(cg):
                    if inside:
                        cols[row, col] = x[n, c0 + c, iy, ix]
                    col += 1


@njit(cache=True)
def _im2col_rows_cl(xf, h, w, c, cols, c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, r0, r1):
    """:func:`_im2col_rows` on channels-last codes ``xf`` (flat ``[N, H, W, C]``): inside the
    map each tap's ``cg`` channels are one run, and at ``dw == 1`` with every channel a whole
    row of taps is (measured here, the 7x7 RGB stem at 224x224, one thread: 0.52 ms, where the
    strided gather takes 1.7 ms in this order and 1.3-2.0 ms in channel-major order)."""
    uc, ucg, uw, uh = np.uint64(c), np.uint64(cg), np.uint64(w), np.uint64(h)
    run = np.uint64(kw) * ucg if (dw == 1 and cg == c) else ucg
    for row in range(r0, r1):
        n = row // (oh * ow)
        oy = (row // ow) % oh
        ox = row % ow
        y0, x0 = oy * sh - ph, ox * sw - pw
        urow = np.uint64(row)
        if y0 >= 0 and y0 + (kh - 1) * dh < h and x0 >= 0 and x0 + (kw - 1) * dw < w:
            col = np.uint64(0)
            for ky in range(np.uint64(kh)):
                line = (np.uint64(n) * uh + np.uint64(y0) + ky * np.uint64(dh)) * uw
                if run > ucg:  # the whole row of taps, every channel: one run
                    src = (line + np.uint64(x0)) * uc
                    for i in range(run):
                        cols[urow, col + i] = xf[src + i]
                    col += run
                    continue
                for kx in range(np.uint64(kw)):
                    src = (line + np.uint64(x0) + kx * np.uint64(dw)) * uc + np.uint64(c0)
                    for i in range(ucg):
                        cols[urow, col + i] = xf[src + i]
                    col += ucg
            continue
        col = 0
        for ky in range(kh):
            iy = oy * sh - ph + ky * dh
            for kx in range(kw):
                ix = ox * sw - pw + kx * dw
                if 0 <= iy < h and 0 <= ix < w:
                    src = ((n * h + iy) * w + ix) * c + c0
                    for i in range(cg):
                        cols[row, col + i] = xf[src + i]
                col += cg


@njit(cache=True, parallel=True)
def _im2col_parallel_cl(xf, h, w, c, cols, c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow,
                        chunks):  # fmt: skip
    rows = cols.shape[0]
    per_chunk = -(-rows // chunks)
    for chunk in prange(chunks):
        r0 = chunk * per_chunk
        r1 = min(rows, r0 + per_chunk)
        _im2col_rows_cl(xf, h, w, c, cols, c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, r0,
                        r1)  # fmt: skip


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


def _im2col(x: np.ndarray, c0: int, cg: int, geometry: tuple[int, ...]) -> np.ndarray:
    """``[N*OH*OW, kh*kw*cg]`` patches (``x``'s dtype) of channels ``c0 .. c0+cg``."""
    kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = geometry
    rows = x.shape[0] * oh * ow
    cols = np.zeros((rows, cg * kh * kw), dtype=x.dtype)
    args = (c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    threads = numba.get_num_threads()
    serial = cols.size < PARALLEL_MIN_ELEMENTS or threads == 1 or rows < 2
    last = x.transpose(0, 2, 3, 1)
    if last.flags.c_contiguous:  # channels-last codes: copy runs
        flat = (last.reshape(-1), x.shape[2], x.shape[3], x.shape[1], cols)
        if serial:
            _im2col_rows_cl(*flat, *args, 0, rows)
        else:
            _im2col_parallel_cl(*flat, *args, min(rows, 4 * threads))
    elif serial:
        _im2col_rows(x, cols, *args, 0, rows)
    else:
        _im2col_parallel(x, cols, *args, min(rows, 4 * threads))
    return cols


# ---------------------------------------------------------------------------- direct
# Indices into the per-shape geometry vector handed to the direct kernels.
(G_N, G_H, G_W, G_C, G_C0, G_CG, G_AB, G_PH, G_PW, G_SH, G_SW, G_OH, G_OW, G_HP, G_WP,
 G_CWN, G_COLBLOCK, G_MCHUNKS, G_NCHUNKS) = range(19)  # fmt: skip
N_GEOMETRY = 19


@njit(cache=True)
def _pack_map_rows(x, geo, packed, off, inv, lo, hi, row_begin, row_end, bipolar):
    """Pack input rows ``row_begin .. row_end`` (over ``N*H``) of channels-last codes ``x``
    (flat ``[N, H, W, C]``) into ``packed [ab, N*Hp, CWN, Wp]``; True if a code is out of
    range. Each pixel's ``cg`` channels are one packed row of ``pack_row`` (``bipolar``: of
    the +-1 packer, one ``v == -1`` plane)."""
    h, w, c, c0, cg = geo[G_H], geo[G_W], geo[G_C], geo[G_C0], geo[G_CG]
    ab, ph, pw, hp = geo[G_AB], geo[G_PH], geo[G_PW], geo[G_HP]
    bad = False
    for row in range(row_begin, row_end):
        n = row // h
        iy = row % h
        plane_row = packed[:, n * hp + iy + ph]
        base = row * w * c + c0
        for ix in range(w):
            start = base + ix * c
            if bipolar:
                bad |= _pack_row_bipolar(x[start : start + cg], plane_row, ix + pw)
            else:
                bad |= pack_row(x[start : start + cg], ab, plane_row, ix + pw, off, inv, lo, hi)
    return bad


@njit(cache=True)
def _direct_tiles(packed, geo, w_words, coef, k_off, out, t_begin, t_end, c_begin, c_end,
                  mode, rb, cb):  # fmt: skip
    """Output row tiles ``t_begin .. t_end`` x column tiles ``c_begin .. c_end``. Row tiles
    run along each output row (``ceil(OW/8)`` per row), so a tile's eight pixels are
    ``stride`` words apart in the packed map."""
    oh, ow, sh, sw = geo[G_OH], geo[G_OW], geo[G_SH], geo[G_SW]
    hp, cwn, wp, ab, col_block = geo[G_HP], geo[G_CWN], geo[G_WP], geo[G_AB], geo[G_COLBLOCK]
    wb, kw = w_words.shape[1], w_words.shape[2]  # by tile: see operand.tiled_words
    tile_words = wb * kw * COL_TILE
    no = out.shape[1]
    per_row = -(-ow // ROW_TILE)
    plane = packed.size // ab
    p_flat, w_flat, out_flat = packed.ravel(), w_words.ravel(), out.ravel()
    for cb0 in range(c_begin, c_end, col_block):
        for t in range(t_begin, t_end):
            img_row = t // per_row
            n = img_row // oh
            oy = img_row % oh
            ox0 = (t % per_row) * ROW_TILE
            a_base = (n * hp + oy * sh) * cwn * wp + ox0 * sw
            out_base = (img_row * ow + ox0) * no
            rows = min(ROW_TILE, ow - ox0)
            run_tile_mode(mode, rows, p_flat, a_base, sw, plane, ab, k_off, w_flat,
                          cb0 * tile_words, COL_TILE, kw * COL_TILE, wb, 0, kw, coef, out_flat,
                          out_base + cb0 * COL_TILE, no, min(col_block, c_end - cb0),
                          tile_words, rb, 0, cb, cb0 * COL_TILE)  # fmt: skip


@njit(cache=True)
def _direct_serial(x, geo, w_words, coef, k_off, off, inv, lo, hi, out, mode, bipolar, rb, cb):
    packed = np.zeros((geo[G_AB], geo[G_N] * geo[G_HP], geo[G_CWN], geo[G_WP]), dtype=np.uint64)
    bad = _pack_map_rows(x, geo, packed, off, inv, lo, hi, 0, geo[G_N] * geo[G_H], bipolar)
    tiles = geo[G_N] * geo[G_OH] * (-(-geo[G_OW] // ROW_TILE))
    _direct_tiles(packed, geo, w_words, coef, k_off, out, 0, tiles, 0,
                  w_words.shape[0], mode, rb, cb)  # fmt: skip
    return bad


@njit(cache=True, parallel=True)
def _direct_parallel(x, geo, w_words, coef, k_off, off, inv, lo, hi, out, mode, bipolar, rb, cb):
    """:func:`_direct_serial` on all threads: rows of the map packed in parallel, then a grid
    of ``m_chunks x n_chunks`` disjoint output blocks."""
    packed = np.zeros((geo[G_AB], geo[G_N] * geo[G_HP], geo[G_CWN], geo[G_WP]), dtype=np.uint64)
    in_rows = geo[G_N] * geo[G_H]
    m_chunks, n_chunks = geo[G_MCHUNKS], geo[G_NCHUNKS]
    per = -(-in_rows // m_chunks)
    bad = np.zeros(m_chunks, dtype=np.bool_)
    for i in prange(m_chunks):
        bad[i] = _pack_map_rows(
            x, geo, packed, off, inv, lo, hi, i * per, min(in_rows, (i + 1) * per), bipolar
        )
    tiles = geo[G_N] * geo[G_OH] * (-(-geo[G_OW] // ROW_TILE))
    c_tiles = w_words.shape[0]
    t_per = -(-tiles // m_chunks)
    c_per = -(-c_tiles // n_chunks)
    for chunk in prange(m_chunks * n_chunks):
        t0 = (chunk // n_chunks) * t_per
        c0 = (chunk % n_chunks) * c_per
        _direct_tiles(packed, geo, w_words, coef, k_off, out,
                      t0, min(t0 + t_per, tiles), c0, min(c0 + c_per, c_tiles),
                      mode, rb, cb)  # fmt: skip
    return bad.any()


# ---------------------------------------------------------------------------- the layer
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


def direct_words(cg: int, kh: int, kw: int) -> tuple[int, int]:
    """``(direct, im2col)`` words per output pixel and plane pair for one group."""
    return kh * kw * -(-cg // WORD_BITS), -(-(cg * kh * kw) // WORD_BITS)


class BitserialConv2d:
    """A convolution layer with its weights packed once, called on activation codes.

    ``w_codes [O, C/groups, kh, kw]`` are ``w_bits``-bit weight codes; each call takes
    ``a_bits``-bit activation codes ``x [N, C, H, W]`` and returns the exact int64
    convolution ``[N, O, OH, OW]`` (as ``torch.nn.functional.conv2d`` computes it on integers,
    zero padding included), a view on channels-last memory. Each operand is ``unsigned``,
    ``signed`` or ``bipolar`` (``a_encoding`` / ``w_encoding``; ``a_signed`` / ``w_signed``
    are shorthands; defaults unsigned activations, signed weights). uint8 (unsigned) / int8
    (signed, bipolar) codes laid out channels last are read in place, one byte per code;
    anything else is validated and copied first.

    +-1 activations run one plane: XOR + popcount against +-1 weights, AND + popcount against
    k-bit ones, and the zero padding (which no +-1 code can hold) is exact by a correction of
    the border pixels only. +-1 weights against k-bit activations run as 2-bit signed codes
    (the values -1 and +1 are two of them), so zero padding needs nothing.
    """

    def __init__(
        self,
        w_codes: Any,
        w_bits: int,
        a_bits: int,
        *,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        a_signed: bool | None = None,
        w_signed: bool | None = None,
        a_encoding: str | None = None,
        w_encoding: str | None = None,
    ) -> None:
        self.a_bits = check_bits("a_bits", a_bits)
        self.w_bits = check_bits("w_bits", w_bits)
        self.a_encoding = resolve("a_encoding", a_encoding, a_signed, DEFAULT_A_ENCODING, a_bits)
        self.w_encoding = resolve("w_encoding", w_encoding, w_signed, DEFAULT_W_ENCODING, w_bits)
        self.a_signed = self.a_encoding != "unsigned"
        self.w_signed = self.w_encoding != "unsigned"
        w_arr = np.asarray(w_codes)
        check(w_arr.ndim == 4, "w_codes.shape", w_arr.shape, "must be 4-D [O, C/groups, kh, kw]")
        self.stride = _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        self.dilation = _pair(dilation, "dilation", 1)
        check(
            isinstance(groups, int | np.integer) and not isinstance(groups, bool) and groups >= 1,
            "groups",
            groups,
            "must be an integer >= 1",
        )
        self.groups = int(groups)
        c_out, cg, kh, kw = w_arr.shape
        check(
            c_out % self.groups == 0, "groups", groups, f"must divide the output channels ({c_out})"
        )
        check(kh >= 1 and kw >= 1, "w_codes.shape", w_arr.shape, "kernel must be at least 1x1")
        check(cg >= 1, "w_codes.shape", w_arr.shape, "needs at least one input channel")
        if self.w_encoding == "bipolar":
            wts = bipolar_codes(w_arr, "w_codes")
        else:
            wts = as_codes(w_arr, self.w_bits, self.w_signed, "w_codes")
        self.out_channels, self.group_channels, self.kernel = c_out, cg, (kh, kw)
        direct, dense = direct_words(cg, kh, kw)
        self.direct = direct <= DIRECT_MAX_WASTE * dense
        padded_map = self.padding != (0, 0)
        # What the kernel runs: +-1 activations stay one plane on the direct path (or with no
        # padding); elsewhere they, and +-1 weights against k-bit activations, run as 2-bit
        # signed codes.
        a_run = self.a_encoding
        if a_run == "bipolar" and not self.direct and padded_map:
            a_run = "signed"
        w_run = self.w_encoding
        if w_run == "bipolar" and a_run != "bipolar":
            w_run = "signed"
        self._a_run = a_run
        self._a_run_bits = 2 if a_run != self.a_encoding else self.a_bits
        self._w_run_bits = 2 if w_run != self.w_encoding else self.w_bits
        check_accumulator(cg * kh * kw, self._a_run_bits, self._w_run_bits)
        og = c_out // self.groups
        self.weights = []
        col_bias = []
        for g in range(self.groups):
            wg = wts[g * og : (g + 1) * og]
            if self.direct:
                # Reduction order (ky, kx, channel word): the order the packed map is walked.
                cwn = -(-cg // WORD_BITS)
                stored = (wg < 0).astype(np.int64) if w_run == "bipolar" else wg
                padded = np.zeros((og, kh, kw, cwn * WORD_BITS), dtype=np.int64)
                padded[..., :cg] = stored.transpose(0, 2, 3, 1)
                if w_run == "bipolar":
                    # The stored bits, zero-padded: padding lanes are 0 in both operands.
                    packed = pack_operand(padded.reshape(og, -1), 1, encoding="unsigned")
                    sums = np.zeros_like(packed.sums)
                    sums[:og] = wg.reshape(og, -1).sum(axis=1)
                    packed = dataclasses.replace(packed, signed=True, encoding="bipolar", sums=sums)
                else:
                    packed = pack_operand(padded.reshape(og, -1), self._w_run_bits, encoding=w_run)
            else:
                # Reduction order (ky, kx, channel): the im2col patches' columns.
                taps_major = wg.transpose(0, 2, 3, 1).reshape(og, -1)
                packed = pack_operand(taps_major, self._w_run_bits, encoding=w_run)
            tiled_words(packed)  # built with the weights, not on the first call
            self.weights.append(packed)
            self._mode, self.coef = encoding_plan(self._a_run_bits, self._w_run_bits, a_run, w_run)
            if self._mode == MODE_XOR:
                col_bias.append(np.full(packed.words.shape[2], cg * kh * kw, dtype=np.int64))
            elif self._mode == MODE_AND_BIAS:
                col_bias.append(packed.sums)
            else:
                col_bias.append(np.zeros(0, dtype=np.int64))
        self._col_bias = col_bias
        self._row_bias = np.zeros(ROW_TILE, dtype=np.int64)
        # +-1 activations on the direct path read the padding as +1: each border pixel gets
        # back sum over its padding taps of sum_c w[o, c, tap].
        self._tap_sums = (
            wts.sum(axis=1) if a_run == "bipolar" and self.direct and padded_map else None
        )
        self._shapes: dict[tuple[int, ...], tuple] = {}

    def _border(self, h: int, w: int, oh: int, ow: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``(flat output positions, int64 [positions, O] corrections)`` of the border pixels
        whose window reaches into the padding (+-1 activations on the direct path only)."""
        if self._tap_sums is None:
            return None
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
        )
        iy = np.arange(oh)[:, None] * sh - ph + np.arange(kh)[None, :] * dh
        ix = np.arange(ow)[:, None] * sw - pw + np.arange(kw)[None, :] * dw
        vy = (iy >= 0) & (iy < h)
        vx = (ix >= 0) & (ix < w)
        outside = ~(vy[:, None, :, None] & vx[None, :, None, :])  # [oh, ow, kh, kw]
        border = outside.reshape(oh * ow, -1).any(axis=1)
        idx = np.flatnonzero(border)
        taps = outside.reshape(oh * ow, -1)[idx].astype(np.int64)
        corr = taps @ self._tap_sums.reshape(self.out_channels, -1).T
        return idx, corr

    def _plan(self, shape: tuple[int, ...]) -> tuple:
        """Output size, geometry vectors and offset table for one input shape (cached)."""
        n_img, c_in, h, w = shape
        check(
            c_in == self.group_channels * self.groups,
            "x_codes.shape",
            shape,
            f"needs {self.group_channels * self.groups} channels (groups={self.groups})",
        )
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
        )
        oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        check(
            oh >= 1 and ow >= 1,
            "x_codes.shape",
            shape,
            f"too small for kernel {kh}x{kw}, dilation {(dh, dw)}, padding {(ph, pw)}",
        )
        if not self.direct:
            return oh, ow, None, None, False, None
        cg = self.group_channels
        cwn = -(-cg // WORD_BITS)
        hp, wp = h + 2 * ph, w + 2 * pw
        packed = self.weights[0]
        words = packed.words.shape[1]
        c_tiles = packed.words.shape[2] // COL_TILE
        tiles = n_img * oh * -(-ow // ROW_TILE)
        work = (
            tiles * ROW_TILE * packed.words.shape[2] * words * self._a_run_bits * self._w_run_bits
        )
        threads = numba.get_num_threads()
        threaded = threads > 1 and work >= PARALLEL_MIN_WORDS
        m_chunks = min(tiles, 4 * threads)
        n_chunks = max(1, min(c_tiles, (4 * threads) // m_chunks))
        geos = []
        for g in range(self.groups):
            geo = np.zeros(19, dtype=np.int64)
            geo[[G_N, G_H, G_W, G_C, G_C0, G_CG, G_AB]] = (
                n_img,
                h,
                w,
                c_in,
                g * cg,
                cg,
                self._a_run_bits,
            )
            geo[[G_PH, G_PW, G_SH, G_SW, G_OH, G_OW, G_HP, G_WP, G_CWN]] = (
                ph, pw, sh, sw, oh, ow, hp, wp, cwn,
            )  # fmt: skip
            geo[G_COLBLOCK] = col_block_for(self._w_run_bits, words)
            geo[G_MCHUNKS], geo[G_NCHUNKS] = m_chunks, n_chunks
            geos.append(geo)
        ky, kx, cw = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(cwn), indexing="ij")
        k_off = ((ky * dh * cwn + cw) * wp + kx * dw).reshape(-1).astype(np.int64)
        return oh, ow, geos, k_off, threaded, self._border(h, w, oh, ow)

    def __call__(self, x_codes: Any) -> np.ndarray:
        x = x_codes if isinstance(x_codes, np.ndarray) else np.asarray(x_codes)
        if x.dtype.kind not in "iu":
            raise HwsimError("x_codes.dtype", str(x.dtype), "codes must have an integer dtype")
        check(x.ndim == 4, "x_codes.shape", x.shape, "must be 4-D [N, C, H, W]")
        plan = self._shapes.get(x.shape)
        if plan is None:
            plan = self._shapes[x.shape] = self._plan(x.shape)
        oh, ow, geos, k_off, threaded, border = plan
        if not self.direct:
            return self._im2col_call(x, oh, ow)
        n_img = x.shape[0]
        last = x.transpose(0, 2, 3, 1)
        codes, off, inv, lo, hi = activation_codes(
            last.reshape(-1, last.shape[-1]), self._a_run_bits, self._a_run, "x_codes"
        )
        flat = codes.reshape(-1)
        run = _direct_parallel if threaded else _direct_serial
        rows = n_img * oh * ow
        bipolar = self._a_run == "bipolar"
        mode, rb = self._mode, self._row_bias
        if self.groups == 1:
            w = self.weights[0]
            out = np.empty((rows, w.words.shape[2]), dtype=np.int64)
            bad = run(flat, geos[0], tiled_words(w), self.coef, k_off, off, inv, lo, hi, out,
                      mode, bipolar, rb, self._col_bias[0])  # fmt: skip
            if border is not None:
                view = out.reshape(n_img, oh * ow, -1)
                view[:, border[0], : self.out_channels] -= border[1]
            result = out if w.rows == w.words.shape[2] else out[:, : self.out_channels]
        else:
            og = self.out_channels // self.groups
            result = np.empty((rows, self.out_channels), dtype=np.int64)
            bad = False
            for g, w in enumerate(self.weights):
                out = np.empty((rows, w.words.shape[2]), dtype=np.int64)
                bad |= run(flat, geos[g], tiled_words(w), self.coef, k_off, off, inv, lo, hi, out,
                           mode, bipolar, rb, self._col_bias[g])  # fmt: skip
                result[:, g * og : (g + 1) * og] = out[:, :og]
            if border is not None:
                result.reshape(n_img, oh * ow, -1)[:, border[0]] -= border[1]
        if bad:
            if bipolar:
                bipolar_codes(x, "x_codes")  # raises, naming the value
            as_codes(x, self.a_bits, self.a_signed, "x_codes")  # raises, naming the value
        return result.reshape(n_img, oh, ow, self.out_channels).transpose(0, 3, 1, 2)

    def _im2col_call(self, x: np.ndarray, oh: int, ow: int) -> np.ndarray:
        if self.a_encoding == "bipolar":
            # +-1 codes as int8: the bipolar packer (no padding) or 2-bit signed codes.
            if x.dtype != np.int8 or self._a_run != "bipolar":
                x = bipolar_codes(x, "x_codes").astype(np.int8)
        else:
            narrow = self.a_bits <= 8 and x.dtype == (np.int8 if self.a_signed else np.uint8)
            x = x if narrow else as_codes(x, self.a_bits, self.a_signed, "x_codes")
        cg, og = self.group_channels, self.out_channels // self.groups
        geometry = (*self.kernel, *self.stride, *self.padding, *self.dilation, oh, ow)
        n_img = x.shape[0]
        if self.groups == 1:  # the linear's own output, no copy
            cols = _im2col(x, 0, cg, geometry)
            out = bitserial_linear(
                cols, self.weights[0], self._a_run_bits, a_encoding=self._a_run, field="x_codes"
            )
            return out.reshape(n_img, oh, ow, self.out_channels).transpose(0, 3, 1, 2)
        out = np.empty((n_img * oh * ow, self.out_channels), dtype=np.int64)
        for g, w in enumerate(self.weights):
            cols = _im2col(x, g * cg, cg, geometry)
            out[:, g * og : (g + 1) * og] = bitserial_linear(
                cols, w, self._a_run_bits, a_encoding=self._a_run, field="x_codes"
            )
        return out.reshape(n_img, oh, ow, self.out_channels).transpose(0, 3, 1, 2)


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
    a_signed: bool | None = None,
    w_signed: bool | None = None,
    a_encoding: str | None = None,
    w_encoding: str | None = None,
) -> np.ndarray:
    """Exact int64 convolution ``[N, O, OH, OW]`` of integer codes, as ``torch`` computes it.

    ``x_codes [N, C, H, W]`` are ``a_bits``-bit activation codes and ``w_codes [O, C/groups,
    kh, kw]`` ``w_bits``-bit weight codes, each in its encoding (see
    :class:`BitserialConv2d`). Packs the weights on every call: a layer that runs
    many inputs should build a :class:`BitserialConv2d` once.
    """
    a_bits = check_bits("a_bits", a_bits)
    x_arr = np.asarray(x_codes)
    check(x_arr.ndim == 4, "x_codes.shape", x_arr.shape, "must be 4-D [N, C, H, W]")
    layer = BitserialConv2d(
        w_codes,
        w_bits,
        a_bits,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        a_signed=a_signed,
        w_signed=w_signed,
        a_encoding=a_encoding,
        w_encoding=w_encoding,
    )
    check(
        x_arr.shape[1] % layer.groups == 0,
        "groups",
        groups,
        f"must divide the input channels ({x_arr.shape[1]})",
    )
    check(
        layer.group_channels == x_arr.shape[1] // layer.groups,
        "w_codes.shape",
        np.shape(w_codes),
        f"dim 1 must be C/groups = {x_arr.shape[1] // layer.groups}",
    )
    return layer(x_arr)
