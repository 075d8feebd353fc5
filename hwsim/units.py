"""Human units for every printed number: the one formatting helper of hwsim's output.

Time, energy and counts scale by SI prefixes (ns, µs, ms; nJ, µJ, mJ; k, M, G), memory by
binary ones (B, KiB, MiB, GiB), so that ``1.669 µs`` replaces ``0.001669 ms``. A table column
takes one scale for all its rows (:func:`column_scale`), so rows compare at a glance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

_SI = ((1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""), (1e3, "k"), (1e6, "M"))
_SI_UP = ((1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T"))  # counts: no milli-MACs
_BINARY = ((1.0, ""), (2.0**10, "Ki"), (2.0**20, "Mi"), (2.0**30, "Gi"), (2.0**40, "Ti"))

BINARY_UNITS: tuple[str, ...] = ("B",)
"""Units scaled by powers of 1024; every other unit scales by powers of 1000."""

COUNT_UNITS: tuple[str, ...] = ("MACs", "BOPs", "cycles", "points")
"""Units of counts: never scaled below one."""


def scale(magnitude: float, unit: str) -> tuple[float, str]:
    """The divisor and the prefixed unit that put ``magnitude`` in [1, 1000) (or [1, 1024)).

    Zero, NaN and infinities keep the bare unit; magnitudes beyond the prefixes take the
    largest or smallest one."""
    table = _BINARY if unit in BINARY_UNITS else _SI_UP if unit in COUNT_UNITS else _SI
    m = abs(magnitude)
    if m == 0 or not math.isfinite(m):
        return 1.0, unit
    chosen = table[0]
    for factor, prefix in table:
        if m >= factor * (1 - 5e-13):  # 1e-6 s is 1 µs, not 1000 ns
            chosen = (factor, prefix)
    return chosen[0], chosen[1] + unit


def format_quantity(value: float, unit: str, digits: int = 4) -> str:
    """``value`` (in base units: s, J, B, ...) with an automatic prefix: ``1.669 µs``."""
    factor, label = scale(value, unit)
    return f"{value / factor:.{digits}g} {label}"


def column_scale(values: Iterable[float], unit: str) -> tuple[float, str]:
    """One divisor and unit for a whole column, chosen by its largest magnitude."""
    finite = [abs(v) for v in values if math.isfinite(v)]
    return scale(max(finite, default=0.0), unit)


def align_columns(
    rows: list[list[str]], rules: tuple[int, ...] = (), left: tuple[int, ...] = (0,)
) -> str:
    """Columns padded to their widest cell (those in ``left`` left-aligned, the numbers
    right-aligned), with a rule of dashes before each row index in ``rules``."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    rule = "-" * max(len(line) for line in lines)
    for i in sorted(rules, reverse=True):
        lines.insert(i, rule)
    return "\n".join(lines)
