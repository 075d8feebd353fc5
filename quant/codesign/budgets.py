"""Budgets as the user writes them: a fraction of uniform 8-bit, or an absolute amount.

``latency=0.5`` is half the latency of uniform 8-bit on the reference hardware; ``latency=2ms``,
``energy=50uJ`` and ``memory=96KiB`` are amounts (memory is the weight footprint). A fraction
of 1 or more asks for no saving at all (uniform 8-bit already fits it), which is almost always
a forgotten unit, so it warns (:class:`BudgetWarning`).

A config keeps each budget as given: a float (a fraction) or the string with its unit. The
search turns them into one form once it knows the reference totals
(:func:`absolute_budgets`, :func:`relative_budgets`); :class:`Budgets` is that reading for
one problem, the single-hardware and the joint search alike.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hwsim.errors import HwsimError, check
from quant.search.hardware_aware import BUDGET_METRICS, REPORT_KEYS

UNITS: Mapping[str, Mapping[str, float]] = {
    "latency": {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9},
    "energy": {"J": 1.0, "mJ": 1e-3, "uJ": 1e-6, "µJ": 1e-6, "nJ": 1e-9, "pJ": 1e-12},
    "memory": {
        "bit": 1.0,
        "bits": 1.0,
        "b": 1.0,
        "B": 8.0,
        "KiB": 8.0 * 2**10,
        "MiB": 8.0 * 2**20,
        "GiB": 8.0 * 2**30,
        "kB": 8e3,
        "KB": 8e3,
        "MB": 8e6,
        "GB": 8e9,
    },
}
"""Per metric, each unit an absolute budget may carry and its size in base units (s, J,
bits)."""

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_AMOUNT = re.compile(rf"\s*({_NUMBER})\s*([A-Za-zµ]*)\s*")


class BudgetWarning(UserWarning):
    """A relative budget of 1 or more: it asks for no saving over uniform 8-bit."""


def parse_budget(metric: str, value: Any, field: str = "budget") -> tuple[float, bool]:
    """``(amount, absolute)``: a fraction of uniform 8-bit (``0.5``, ``"0.5"``), or an absolute
    amount in base units (``"2ms"`` -> ``(0.002, True)``). Raises :class:`HwsimError` naming
    ``field`` for an unknown metric or unit, or an amount that is not > 0 and finite."""
    check(metric in BUDGET_METRICS, field, metric, f"metrics are {BUDGET_METRICS}")
    units = UNITS[metric]
    where = f"{field}[{metric}]"
    if isinstance(value, bool):
        raise HwsimError(where, value, "must be a number or an amount with a unit")
    if isinstance(value, int | float):
        amount, absolute = float(value), False
    elif isinstance(value, str):
        m = _AMOUNT.fullmatch(value)
        if m is None:
            raise HwsimError(
                where,
                value,
                f"expected a fraction of uniform 8-bit (0.5) or an amount with a unit "
                f"({', '.join(units)}), e.g. {_example(metric)}",
            )
        number, unit = m.groups()
        if unit and unit not in units:
            raise HwsimError(
                where, value, f"unknown unit {unit!r} for {metric}; units: {', '.join(units)}"
            )
        amount = float(number) * (units[unit] if unit else 1.0)
        absolute = bool(unit)
    else:
        raise HwsimError(where, value, "must be a number or an amount with a unit")
    check(
        math.isfinite(amount) and amount > 0,
        where,
        value,
        "must be > 0 and finite" + ("" if absolute else " (a fraction of uniform 8-bit)"),
    )
    return amount, absolute


def _example(metric: str) -> str:
    return {"latency": "latency=2ms", "energy": "energy=50uJ", "memory": "memory=96KiB"}[metric]


def normalize_budgets(budgets: Any, field: str = "budgets") -> dict[str, float | str]:
    """Validated budgets, each kept as a float fraction or its amount-with-unit string.

    Warns (:class:`BudgetWarning`) for a fraction >= 1."""
    check(
        isinstance(budgets, Mapping) and len(budgets) > 0,
        field,
        budgets,
        "need at least one budget, e.g. {'latency': 0.5} or {'latency': '2ms'}",
    )
    out: dict[str, float | str] = {}
    for metric, value in budgets.items():
        amount, absolute = parse_budget(metric, value, field)
        out[metric] = value.strip() if absolute else amount
    warn_loose(out)
    return out


def warn_loose(budgets: Mapping[str, Any]) -> None:
    """Warn once per call for every relative budget >= 1 in ``budgets``."""
    loose = {m: v for m, v in budgets.items() if not is_absolute(m, v) and float(v) >= 1}
    if loose:
        shown = ", ".join(f"{m}={float(v):g}" for m, v in loose.items())
        warnings.warn(
            f"budget {shown} is a fraction of uniform 8-bit: >= 1 asks for no saving "
            f"(uniform 8-bit already fits it); for an absolute budget give a unit, "
            f"e.g. {_example(next(iter(loose)))}",
            BudgetWarning,
            stacklevel=3,
        )


def is_absolute(metric: str, value: Any) -> bool:
    """Whether a budget value is an amount with a unit (not a fraction)."""
    return parse_budget(metric, value)[1]


def absolute_budgets(
    budgets: Mapping[str, Any], reference: Mapping[str, float]
) -> dict[str, float]:
    """Each budget in base units (s, J, bits): a fraction times ``reference[metric]`` (the
    uniform 8-bit total on the reference hardware), an amount as it is."""
    out = {}
    for metric, value in budgets.items():
        amount, absolute = parse_budget(metric, value)
        out[metric] = amount if absolute else amount * float(reference[metric])
    return out


def relative_budgets(
    budgets: Mapping[str, Any], reference: Mapping[str, float]
) -> dict[str, float]:
    """Each budget as a fraction of ``reference[metric]`` (uniform 8-bit on the reference
    hardware): an amount divided by it, a fraction as it is."""
    out = {}
    for metric, value in budgets.items():
        amount, absolute = parse_budget(metric, value)
        out[metric] = amount / float(reference[metric]) if absolute else amount
    return out


def parse_budget_args(specs: list[str] | None, field: str = "--budget") -> dict[str, float | str]:
    """``["latency=0.5", "energy=50uJ"]`` (or comma-joined) to ``{"latency": 0.5, "energy":
    "50uJ"}``: fractions as floats, amounts with their unit (validated)."""
    out: dict[str, float | str] = {}
    for spec in specs or []:
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or key not in BUDGET_METRICS:
                raise HwsimError(
                    field,
                    part,
                    f"expected METRIC=FRACTION or METRIC=AMOUNT with METRIC in {BUDGET_METRICS}, "
                    "e.g. latency=0.5 or latency=2ms",
                )
            amount, absolute = parse_budget(key, value.strip(), field)
            out[key] = value.strip() if absolute else amount
    return out


def describe(metric: str, value: Any) -> str:
    """``latency <= 0.5 x uniform 8-bit`` or ``latency <= 2ms``."""
    if is_absolute(metric, value):
        return f"{metric} <= {value}"
    return f"{metric} <= {float(value):g} x uniform 8-bit"


def reference_totals(
    table: Any, bits: tuple[int, int] = (8, 8), config: int | None = None
) -> dict[str, float]:
    """The network total of every budget metric with every layer at uniform ``bits``, by budget
    name, in cost ``table``: a one-config table, or configuration ``config`` of several."""
    out = {}
    for metric, key in REPORT_KEYS.items():
        total = table.uniform_total(key, *bits)
        out[metric] = float(total if config is None else total[config])
    return out


@dataclass(frozen=True)
class Budgets:
    """The budgets of one problem: ``written`` as the user wrote them (fractions of uniform
    reference bits, or amounts with a unit), read against ``reference_totals`` (the uniform
    reference bits' totals on the reference hardware, by budget name). Both searches read their
    budgets here, so a fraction and an amount mean the same in each."""

    written: Mapping[str, float | str]
    reference_totals: Mapping[str, float]

    @classmethod
    def read(
        cls,
        written: Mapping[str, Any],
        table: Any,
        bits: tuple[int, int] = (8, 8),
        config: int | None = None,
    ) -> Budgets:
        """``written`` read against uniform ``bits`` in ``table`` (configuration ``config`` of
        a multi-config table: the reference hardware)."""
        return cls(dict(written), reference_totals(table, bits, config))

    @property
    def absolute(self) -> dict[str, float]:
        """Each budget in base units (s, J, bits), by budget name."""
        return absolute_budgets(self.written, self.reference_totals)

    @property
    def fractions(self) -> dict[str, float]:
        """Each budget as a fraction of its reference total, by budget name."""
        return relative_budgets(self.written, self.reference_totals)

    def config_in_fractions(self, cfg: Any) -> Any:
        """``cfg`` (a :class:`quant.codesign.CodesignConfig` whose budgets these are) with every
        absolute budget turned into its fraction; ``cfg`` itself when every budget is already
        a fraction."""
        if not any(is_absolute(m, v) for m, v in self.written.items()):
            return cfg
        with warnings.catch_warnings():  # a converted amount may be >= 1 of 8-bit: not a slip
            warnings.simplefilter("ignore", BudgetWarning)
            return dataclasses.replace(cfg, budgets=self.fractions)
