"""The one exception type for bad input anywhere in hwsim."""

from __future__ import annotations

from typing import Any


class HwsimError(ValueError):
    """Bad user input: a config, policy, shape, bit width or spec that cannot be used.

    Raised at the boundary, before any Numba code runs, naming the offending ``field`` and
    ``value`` so that the message alone says what to fix.
    """

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        shown = repr(value)
        if len(shown) > 200:
            shown = shown[:197] + "..."
        super().__init__(f"{field}={shown}: {reason}")


class Interrupted(Exception):
    """Raised by a long run on Ctrl-C in place of ``KeyboardInterrupt``, carrying one line: what
    was kept and how to resume. The CLI prints it without a traceback."""


def check(condition: bool, field: str, value: Any, reason: str) -> None:
    """Raise :class:`HwsimError` for ``field``/``value`` unless ``condition`` holds."""
    if not condition:
        raise HwsimError(field, value, reason)


def check_bits(field: str, value: Any, *, allow_float: bool = False) -> int:
    """Validate one bit width: an integer in 1..16 (or 32, the unquantized float, if allowed)."""
    if type(value) is int:  # the common case, checked first (cost_table calls this per option)
        bits = value
    elif isinstance(value, bool) or not isinstance(value, int | _np_integer()):
        raise HwsimError(field, value, "bit width must be an integer")
    else:
        bits = int(value)
    if allow_float and bits == 32:
        return bits
    if not 1 <= bits <= 16:
        allowed = "1..16 or 32 (float)" if allow_float else "1..16"
        raise HwsimError(field, value, f"bit width must be in {allowed}")
    return bits


def _np_integer() -> type:
    import numpy as np

    return np.integer
