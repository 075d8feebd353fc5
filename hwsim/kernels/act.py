"""Bit-serial activation x activation matmul: attention scores ``Q K^T`` and values ``P V``.

Both operands are activations, so neither can be packed ahead of time: each batch element
(batch x heads) packs its own pair of operands into bitplanes and runs the same AND + popcount
kernel as a weight GEMM, with each operand's own width and signedness.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwsim.encoding import resolve
from hwsim.errors import check, check_bits
from hwsim.kernels.gemm import bitserial_matmul_packed
from hwsim.kernels.operand import check_accumulator, pack_operand


def bitserial_act_matmul(
    a_codes: Any,
    b_codes: Any,
    a_bits: int,
    b_bits: int,
    *,
    a_signed: bool | None = None,
    b_signed: bool | None = None,
    a_encoding: str | None = None,
    b_encoding: str | None = None,
) -> np.ndarray:
    """Exact int64 ``[G, M, N] = a_codes @ b_codes`` of ``G`` independent products.

    ``a_codes [G, M, K]`` and ``b_codes [G, K, N]`` are ``a_bits``- and ``b_bits``-bit integer
    codes (a 2-D pair is one product, returned 2-D), each ``unsigned``, ``signed`` (the
    default) or ``bipolar`` (``a_encoding`` / ``b_encoding``; ``a_signed`` / ``b_signed`` are
    shorthands). Both are validated (range, rank, K, overflow) before any kernel runs."""
    a_bits = check_bits("a_bits", a_bits)
    b_bits = check_bits("b_bits", b_bits)
    a_enc = resolve("a_encoding", a_encoding, a_signed, "signed", a_bits)
    b_enc = resolve("b_encoding", b_encoding, b_signed, "signed", b_bits)
    a_arr, b_arr = np.asarray(a_codes), np.asarray(b_codes)
    flat = a_arr.ndim == 2 and b_arr.ndim == 2
    if flat:
        a_arr, b_arr = a_arr[None], b_arr[None]
    check(a_arr.ndim == 3, "a_codes.shape", a_arr.shape, "must be [G, M, K] or [M, K]")
    check(b_arr.ndim == 3, "b_codes.shape", b_arr.shape, "must be [G, K, N] or [K, N]")
    check(
        a_arr.shape[0] == b_arr.shape[0] and a_arr.shape[2] == b_arr.shape[1],
        "shapes",
        (a_arr.shape, b_arr.shape),
        "need a [G, M, K] and b [G, K, N] with the same G and K",
    )
    check_accumulator(a_arr.shape[2], a_bits, b_bits)
    g, m, _ = a_arr.shape
    n = b_arr.shape[2]
    out = np.empty((g, m, n), dtype=np.int64)
    for i in range(g):
        a = pack_operand(a_arr[i], a_bits, encoding=a_enc, field="a_codes")
        # The kernel takes its second operand row-major by output column: [N, K].
        b = pack_operand(b_arr[i].T, b_bits, encoding=b_enc, field="b_codes")
        out[i] = bitserial_matmul_packed(a, b)
    return out[0] if flat else out
