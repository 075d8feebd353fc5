"""The codesign problem, built once: what every stage of a run searches and checks against.

:class:`CodesignProblem` holds the workload at the data's sample shape, the hardware (the
object), the simulated and proxy cost tables over the candidate bits, the budgets in the user's
terms, as fractions of uniform reference bits and as absolute amounts in each table, and the
candidates. The feasibility check, the searches, the repairs and the report all read it.

:class:`JointProblem` is the same for the joint search over a hardware space: the workload, the
configurations and the reference configuration (objects), one cost table of the configurations,
the budgets read against the reference, the configurations' areas and the candidates. The
budgets of both are read the one way, :class:`quant.codesign.budgets.Budgets`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwsim.errors import HwsimError
from hwsim.hardware.report import CostTable
from hwsim.workload import Workload
from quant.codesign.budgets import Budgets
from quant.codesign.config import BUDGET_TOLERANCE, CodesignConfig, JointConfig
from quant.search.hardware_aware import (
    PROXY_KEYS,
    REPORT_KEYS,
    check_feasible,
    hardware_costs,
    proxy_costs,
    table_budgets,
)


@dataclass(frozen=True)
class _Problem:
    """What every codesign problem holds: ``config`` (the budgets as the user wrote them), the
    ``workload`` at the data's shape and ``terms``, the budgets read against the uniform
    reference bits on the reference hardware."""

    config: CodesignConfig
    workload: Workload
    terms: Budgets

    @property
    def candidates(self) -> tuple[int, ...]:
        """The candidate bit widths, for weights and activations alike."""
        return self.config.candidates

    @property
    def budgets(self) -> dict[str, float]:
        """The absolute budgets on the simulated hardware, by budget name."""
        return self.terms.absolute

    @property
    def reference_totals(self) -> dict[str, float]:
        """Uniform reference bits' totals on the reference hardware, by budget name."""
        return dict(self.terms.reference_totals)


@dataclass(frozen=True)
class CodesignProblem(_Problem):
    """One codesign problem (module docstring). ``config`` gives the budgets in the user's
    terms (a fraction of uniform ``reference`` bits, or an amount with a unit);
    ``fractions`` is the same config with every budget a fraction of the reference bits on
    ``hardware``; ``hw_budgets`` / ``proxy_budgets`` are the absolute budgets of
    ``hw_table`` / ``proxy_table`` by table metric."""

    hardware: Any
    hw_table: CostTable
    proxy_table: CostTable
    fractions: CodesignConfig
    proxy_budgets: dict[str, float]

    @classmethod
    def build(cls, config: CodesignConfig, workload: Workload, hardware: Any) -> CodesignProblem:
        """Price ``workload`` on ``hardware`` and under the proxy over the config's candidates,
        once, and read the budgets against both tables."""
        cands = config.candidates
        hw_table = hardware_costs(workload, hardware, cands, cands)
        terms = Budgets.read(config.budgets, hw_table, config.reference)
        fractions = terms.config_in_fractions(config)  # "latency=2ms": its fraction here
        proxy_table = proxy_costs(workload, cands, cands)
        return cls(
            config,
            workload,
            terms,
            hardware,
            hw_table,
            proxy_table,
            fractions,
            table_budgets(proxy_table, fractions.budgets, PROXY_KEYS, config.reference),
        )

    @property
    def hw_budgets(self) -> dict[str, float]:
        """The absolute budgets on the simulated hardware, by table metric."""
        return {REPORT_KEYS[m]: b for m, b in self.budgets.items()}

    def check(self, proxy_label: str) -> None:
        """Raise, in the user's terms, when no policy over the candidates meets the budgets on
        the hardware, or under the proxy (named ``proxy_label``) the comparison searches with
        (no training needed)."""
        cfg = self.fractions
        where = f"on {self.hardware.name} for {cfg.model}"
        check_feasible(self.hw_table, cfg.budgets, REPORT_KEYS, where, cfg.reference)
        proxy_where = f"under the {proxy_label} proxy for {cfg.model}"
        check_feasible(self.proxy_table, cfg.budgets, PROXY_KEYS, proxy_where, cfg.reference)

    def price(self, metric: str):
        """``fn(w_bits, a_bits)``: the simulated ``metric`` of every layer at any bits, outside
        the candidates too (what BSQ prices its choices with)."""

        def price(w_bits, a_bits):
            return hardware_costs(self.workload, self.hardware, w_bits, a_bits).metric(metric)

        return price


@dataclass(frozen=True, eq=False)
class JointProblem(_Problem):
    """One joint problem (module docstring). ``hardware``: the configurations searched;
    ``reference``: the configuration the fractions are of (priced with them, left out of
    ``table``); ``table``: the cost of every layer x option on each of ``hardware``
    (``[H, L, nw, na]``); ``areas``: mm^2 of each (NaN: no area model)."""

    config: JointConfig
    hardware: tuple[Any, ...]
    reference: Any
    table: CostTable
    areas: np.ndarray

    @classmethod
    def build(
        cls,
        config: JointConfig,
        workload: Workload,
        hardware_space: Sequence[Any],
        reference: Any,
        area_of: Callable[[Any], float],
    ) -> JointProblem:
        """Price ``workload`` on every configuration of ``hardware_space`` and ``reference`` in
        one ``hwsim.cost_table`` over the config's candidates, read the budgets against
        ``reference``, and take each configuration's area from ``area_of``."""
        import hwsim

        hardware = tuple(hardware_space)
        cands = config.candidates
        priced = hwsim.cost_table(workload, [*hardware, reference], cands, cands)
        terms = Budgets.read(config.budgets, priced, config.reference, config=len(hardware))
        areas = np.array([area_of(h) for h in hardware], dtype=np.float64)
        areas.setflags(write=False)
        table = _hardware_rows(priced, len(hardware))
        return cls(config, workload, terms, hardware, reference, table, areas)

    def check(self) -> None:
        """Raise in the user's terms when no configuration within the area limit can meet a
        budget even with every layer at its cheapest option (no training needed)."""
        cfg, areas = self.config, self.areas
        fits = np.ones(len(areas), dtype=bool)
        if cfg.max_area is not None:
            fits = areas <= cfg.max_area
        if not fits.any():
            shown = np.nanmin(areas) if np.isfinite(areas).any() else float("nan")
            raise HwsimError(
                "max_area",
                cfg.max_area,
                f"no configuration of the space fits (the smallest is {shown:.4g} mm^2)",
            )
        for m, b in self.budgets.items():
            low = self.table.flat(REPORT_KEYS[m])[fits].min(axis=2).sum(axis=1)
            if not np.any(low <= b * (1 + BUDGET_TOLERANCE)):
                raise HwsimError(
                    "budgets",
                    {m: cfg.budgets[m]},
                    f"no configuration within the area reaches it: the lowest reachable is "
                    f"{low.min() / self.terms.reference_totals[m]:.3g}x uniform 8-bit on "
                    f"{self.reference.name}",
                )


def _hardware_rows(table: CostTable, n: int) -> CostTable:
    """The first ``n`` configurations of a multi-config table (the reference is the last)."""
    return CostTable(
        table.layer_names,
        table.w_bits,
        table.a_bits,
        {k: v[:n] for k, v in table.metrics.items()},
        table.hardware[:n],
    )
