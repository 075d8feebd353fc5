"""Operands for the CPU kernels: packed weights, and activation codes checked on the way in.

:func:`pack_operand` packs a weight matrix once into bitplanes (:class:`PackedOperand`), the
form every kernel in :mod:`hwsim.kernels` starts from: the bit-serial GEMM reads the planes,
the weight-stream kernels (:mod:`hwsim.kernels.lut`, :mod:`hwsim.kernels.vnni`) build and keep
their own view of them. :func:`activation_codes` is what every kernel does with the
activations it is given on each call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numba import njit

from hwsim.bits import as_codes, code_range, pack_rows
from hwsim.encoding import DEFAULT_A_ENCODING, DEFAULT_W_ENCODING, contains, resolve
from hwsim.errors import HwsimError, check, check_bits
from hwsim.kernels.microkernel import COLS as COL_TILE

ROW_PAD = 16
"""Packed operands' rows are padded to a multiple of this (a multiple of both tiles)."""

ALIAS_ROWS = 128
"""A padded row count that is a multiple of this, from ALIAS_MIN_ROWS on, gets ROW_PAD rows
more. The words of one row at consecutive K lie ``rows * 8`` bytes apart, and a stride of a
multiple of 1 KiB maps them to a few cache sets only (one set at 4 KiB, N = 512, 1024, 2048):
a GEMV, which reads every weight word once, then ran 2-3x slower at W2-W4. Measured here, one
thread, CPU time, N and N + 16 interleaved in one process: 1 x 4096 x 4096 w4a4 1.39 ms ->
0.45 ms; GEMMs 0.99-1.04x (1024^3 w1a1 1.86 -> 1.84 ms, w2a2 4.48 -> 4.64 ms)."""

ALIAS_MIN_ROWS = 512
"""Below this many rows the extra ROW_PAD rows would cost more than 3 % of the work."""

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

    ``encoding`` is ``unsigned``, ``signed`` or ``bipolar`` (empty: from ``signed``); a bipolar
    operand's one plane holds ``v == -1``. ``sums`` (int64, one per padded row) are the row
    sums of the values, which a product with a +-1 operand adds per output.
    """

    words: np.ndarray
    rows: int
    k: int
    bits: int
    signed: bool
    encoding: str = ""
    sums: np.ndarray | None = None
    extras: dict = field(default_factory=dict, init=False, compare=False, repr=False)
    """Views of these weights other kernels build once and keep here (the table kernel's)."""

    def __post_init__(self) -> None:
        enc = self.encoding or ("signed" if self.signed else "unsigned")
        object.__setattr__(
            self, "encoding", resolve("packed.encoding", enc, None, "signed", self.bits)
        )
        check(
            bool(self.signed) == (enc != "unsigned"),
            "packed.signed",
            self.signed,
            f"contradicts encoding {enc}",
        )
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
        if self.sums is not None:
            check(
                isinstance(self.sums, np.ndarray)
                and self.sums.dtype == np.int64
                and self.sums.shape == (want[2],),
                "packed.sums",
                getattr(self.sums, "shape", type(self.sums).__name__),
                f"must be int64 of shape ({want[2]},)",
            )

    @property
    def nbytes(self) -> int:
        return int(self.words.nbytes)


def bipolar_codes(codes: Any, field: str) -> np.ndarray:
    """Validate +-1 values and return them as int64 (an HwsimError names ``field`` and the
    first value that is neither -1 nor +1)."""
    arr = np.asarray(codes)
    if not np.issubdtype(arr.dtype, np.integer):
        raise HwsimError(f"{field}.dtype", str(arr.dtype), "codes must have an integer dtype")
    if not contains("bipolar", 1, arr):
        bad = arr[(arr != -1) & (arr != 1)].ravel()[0]
        raise HwsimError(field, int(bad), "bipolar codes must be -1 or +1")
    return np.ascontiguousarray(arr, dtype=np.int64)


def pack_operand(
    codes: Any,
    bits: int,
    *,
    signed: bool | None = None,
    encoding: str | None = None,
    field: str = "codes",
) -> PackedOperand:
    """Validate 2-D integer ``codes [rows, K]`` and pack them for the bit-serial kernel.

    ``encoding`` (``unsigned``, ``signed``, ``bipolar``; ``signed=`` is its shorthand, default
    signed) says what the codes are; bipolar codes are the values -1 and +1."""
    bits = check_bits(f"{field}.bits", bits)
    enc = resolve(f"{field}.encoding", encoding, signed, DEFAULT_W_ENCODING, bits)
    if enc == "bipolar":
        values = bipolar_codes(codes, field)
        c = (values < 0).view(np.uint8)
    else:
        # One-byte codes are packed in place: an int64 copy cost 10x the packing.
        values = c = as_codes(codes, bits, enc == "signed", field, keep_bytes=True)
    check(c.ndim == 2, f"{field}.shape", c.shape, "must be 2-D [rows, K]")
    check(c.shape[1] >= 1, f"{field}.shape", c.shape, "K (the last axis) must be >= 1")
    tiled = -(-c.shape[0] // ROW_PAD) * ROW_PAD
    padded = padded_rows(c.shape[0])
    words = aligned_empty((bits, -(-c.shape[1] // 64), padded), np.uint64)
    rows_first = words.transpose(2, 0, 1)
    pack_rows(c, bits, ROW_PAD, out=rows_first[:tiled])
    rows_first[tiled:] = 0  # the anti-aliasing rows: zero weights, outputs trimmed
    sums = np.zeros(padded, dtype=np.int64)
    sums[: c.shape[0]] = row_sums(values)
    packed = PackedOperand(
        words, int(c.shape[0]), int(c.shape[1]), bits, enc != "unsigned", enc, sums
    )
    tiled_words(packed)  # the kernels' layout, built with the weights
    return packed


@njit(cache=True)
def row_sums(codes):
    """int64 sum of each row of 2-D integer codes (numpy's casting sum of one-byte codes cost
    more than packing them)."""
    out = np.zeros(codes.shape[0], dtype=np.int64)
    for r in range(codes.shape[0]):
        acc = 0
        for k in range(codes.shape[1]):
            acc += np.int64(codes[r, k])
        out[r] = acc
    return out


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


def tiled_words(w: PackedOperand) -> np.ndarray:
    """uint64 ``[Np / 16, bits, ceil(K/64), 16]``: each 16-row weight tile's words in one
    contiguous run, in the order the register tile reads them (kept with ``w``, built once).
    In ``words`` a tile's words for consecutive K lie ``Np`` words apart, each step in another
    page, where the hardware prefetchers do not follow (measured here, 1024^3 w1a1, one thread:
    the tile loop 1.77 -> 1.59 ms)."""
    tiles = w.extras.get("tiled")
    if tiles is None:
        bits, kw, np_ = w.words.shape
        tiles = aligned_empty((np_ // COL_TILE, bits, kw, COL_TILE), np.uint64)
        tiles[...] = w.words.reshape(bits, kw, np_ // COL_TILE, COL_TILE).transpose(2, 0, 1, 3)
        w.extras["tiled"] = tiles
    return tiles


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


def activation_codes(codes: Any, bits: int, encoding: str, field: str):
    """2-D codes for the kernels, with what they need to range-check them in the packing pass.

    uint8 (unsigned) and int8 (signed, bipolar) codes of up to 8 bits go in as they are, one
    byte per code, checked inside the packer; any other integer dtype is validated here and
    narrowed (bipolar) or widened to int64. Returns ``(codes, off, inv, lo, hi)``. Cheap checks
    only: this is on every call.
    """
    arr = codes if isinstance(codes, np.ndarray) else np.asarray(codes)
    if arr.dtype.kind not in "iu":
        raise HwsimError(f"{field}.dtype", str(arr.dtype), "codes must have an integer dtype")
    check(arr.ndim == 2, f"{field}.shape", arr.shape, "must be 2-D [rows, K]")
    signed = encoding != "unsigned"
    if encoding == "bipolar":
        if arr.dtype != np.int8:
            arr = bipolar_codes(arr, field).astype(np.int8)
        elif not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
    elif bits <= 8 and arr.dtype.itemsize == 1 and (arr.dtype.kind == "i") == signed:
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


def stream_activations(
    a_codes: Any,
    a_bits: int,
    a_signed: bool | None,
    a_encoding: str | None,
    k: int,
    field: str,
    kernel: str,
) -> tuple[np.ndarray, np.uint8, np.uint8, str]:
    """The activations of a weight-stream kernel (``kernel`` names it in errors): k-bit codes
    of at most 8 bits whose rows are ``k`` long, as :func:`activation_codes` gives them, with
    the byte range check ``(off, inv)`` (zero for wider codes, validated already) and the
    encoding. Returns ``(codes, off, inv, encoding)``."""
    a_bits = check_bits("a_bits", a_bits)
    check(a_bits <= 8, "a_bits", a_bits, f"the {kernel} takes activations of at most 8 bits")
    a_enc = resolve("a_encoding", a_encoding, a_signed, DEFAULT_A_ENCODING, a_bits)
    check(a_enc != "bipolar", "a_encoding", a_enc, f"the {kernel} takes k-bit activations")
    codes, off, inv, _, _ = activation_codes(a_codes, a_bits, a_enc, field)
    check(codes.shape[1] == k, "K", (codes.shape[1], k), "activations and weights must share K")
    if codes.dtype.itemsize != 1:
        off, inv = np.uint8(0), np.uint8(0)
    return codes, off, inv, a_enc


def raise_out_of_range(codes: np.ndarray, a_bits: int, encoding: str, field: str) -> None:
    """Raise the error naming the first out-of-range code (a kernel's byte check found one)."""
    as_codes(codes, a_bits, encoding == "signed", field)
    raise HwsimError(field, "codes", "out of range")  # pragma: no cover
