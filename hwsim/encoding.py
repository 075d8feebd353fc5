"""Operand encodings: how a ``b``-bit code stands for an integer value.

- ``unsigned``: the code is the value, in ``[0, 2^b - 1]``.
- ``signed``: two's complement, in ``[-2^(b-1), 2^(b-1) - 1]``; the top bitplane weighs
  ``-2^(b-1)``.
- ``bipolar``: one bit standing for +-1 (bit 1 is +1, bit 0 is -1, as FINN and Brevitas's
  ``BipolarQuant`` store it); only ``b == 1``. A product of two bipolar vectors of length ``K`` is
  ``2 * popcount(XNOR(a, w)) - K``.

Values handled by the kernels and the integer model are the *values* (-1 and +1 for bipolar),
never the stored bit; :func:`to_bits` and :func:`from_bits` convert where a bitplane is needed.
The torch-free core and the torch side both take encoding names from here.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from hwsim.errors import HwsimError

ENCODINGS: tuple[str, ...] = ("unsigned", "signed", "bipolar")
"""Every operand encoding name, in the order the docs list them."""

Encoding = Literal["unsigned", "signed", "bipolar"]

DEFAULT_W_ENCODING: Encoding = "signed"
"""The encoding of a weight when none is given (the kernels' ``w_signed=True`` default)."""
DEFAULT_A_ENCODING: Encoding = "unsigned"
"""The encoding of an activation when none is given (the kernels' ``a_signed=False`` default)."""


def check_encoding(field: str, value: Any, bits: int | None = None) -> Encoding:
    """Validate one encoding name (and, given ``bits``, that it can code that width).

    Returns the name as a plain ``str``. Raises :class:`HwsimError` naming ``field`` for an
    unknown name or a bipolar operand wider than 1 bit.
    """
    if not isinstance(value, str) or value not in ENCODINGS:
        raise HwsimError(field, value, f"encoding must be one of {', '.join(ENCODINGS)}")
    if bits is not None and value == "bipolar" and int(bits) != 1:
        raise HwsimError(field, value, f"bipolar (+-1) codes are 1 bit wide, not {bits} bits")
    return value  # type: ignore[return-value]


def from_signed(signed: bool) -> Encoding:
    """The encoding a ``signed=`` flag stands for: ``signed`` or ``unsigned``."""
    return "signed" if signed else "unsigned"


def resolve(
    field: str, encoding: Any, signed: Any, default: Encoding, bits: int | None = None
) -> Encoding:
    """One operand's encoding from an ``*_encoding=`` argument and its ``*_signed=`` shorthand.

    ``encoding`` wins when given (not None); a ``signed`` flag that contradicts it is an error
    naming ``field``. With neither, ``default``.
    """
    if encoding is None:
        if signed is None:
            return check_encoding(field, default, bits)
        if not isinstance(signed, bool | np.bool_):
            raise HwsimError(field.replace("encoding", "signed"), signed, "must be a bool")
        return check_encoding(field, from_signed(bool(signed)), bits)
    enc = check_encoding(field, encoding, bits)
    if signed is not None and bool(signed) != is_signed(enc):
        raise HwsimError(field, encoding, f"contradicts signed={bool(signed)}")
    return enc


def is_signed(encoding: str) -> bool:
    """Whether the encoding takes negative values (``signed`` and ``bipolar``)."""
    return check_encoding("encoding", encoding) != "unsigned"


def value_range(encoding: str, bits: int) -> tuple[int, int]:
    """Inclusive ``(lowest, highest)`` value of a ``bits``-bit code in ``encoding``.

    For ``bipolar`` the values are only the two ends, -1 and +1 (0 is not one of them).
    """
    enc = check_encoding("encoding", encoding, bits)
    b = int(bits)
    if enc == "bipolar":
        return -1, 1
    if enc == "signed":
        return -(1 << (b - 1)), (1 << (b - 1)) - 1
    return 0, (1 << b) - 1


def levels(encoding: str, bits: int) -> int:
    """How many distinct values the code takes: ``2^bits`` in every encoding."""
    check_encoding("encoding", encoding, bits)
    return 1 << int(bits)


def values(encoding: str, bits: int) -> np.ndarray:
    """Every value a ``bits``-bit code in ``encoding`` stands for, ascending, as int64."""
    lo, hi = value_range(encoding, bits)
    if encoding == "bipolar":
        return np.array([-1, 1], dtype=np.int64)
    return np.arange(lo, hi + 1, dtype=np.int64)


def contains(encoding: str, bits: int, x: Any) -> bool:
    """Whether every element of ``x`` is a value of the code (bipolar: only -1 and +1)."""
    arr = np.asarray(x)
    if arr.size == 0:
        return True
    lo, hi = value_range(encoding, bits)
    if encoding == "bipolar":
        return bool(np.all((arr == -1) | (arr == 1)))
    return bool(arr.min() >= lo and arr.max() <= hi)


def to_bits(x: Any) -> np.ndarray:
    """The stored bit of bipolar values: +1 -> 1, -1 -> 0 (uint8). Values must be +-1."""
    arr = np.asarray(x)
    if not contains("bipolar", 1, arr):
        bad = arr[(arr != -1) & (arr != 1)].ravel()[:1]
        raise HwsimError("bipolar values", bad.tolist(), "bipolar values must be -1 or +1")
    return (arr > 0).astype(np.uint8)


def from_bits(bits01: Any) -> np.ndarray:
    """Bipolar values of stored bits: 1 -> +1, 0 -> -1 (int64)."""
    arr = np.asarray(bits01)
    return np.where(arr != 0, 1, -1).astype(np.int64)
