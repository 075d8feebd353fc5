"""The codesign problem, built once: what every stage of a run searches and checks against.

:class:`CodesignProblem` holds the workload at the data's sample shape, the hardware (the
object), the simulated and proxy cost tables over the candidate bits, the budgets in the user's
terms, as fractions of uniform reference bits and as absolute amounts in each table, and the
candidates. The feasibility check, the searches, the repairs and the report all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwsim.hardware.report import CostTable
from hwsim.workload import Workload
from quant.codesign.budgets import as_fractions
from quant.codesign.config import CodesignConfig
from quant.search.hardware_aware import (
    PROXY_KEYS,
    REPORT_KEYS,
    check_feasible,
    hardware_costs,
    proxy_costs,
    table_budgets,
)


@dataclass(frozen=True)
class CodesignProblem:
    """One codesign problem (module docstring). ``config`` gives the budgets in the user's
    terms (a fraction of uniform ``reference`` bits, or an amount with a unit);
    ``fractions`` is the same config with every budget a fraction of the reference bits on
    ``hardware``; ``hw_budgets`` / ``proxy_budgets`` are the absolute budgets of
    ``hw_table`` / ``proxy_table`` by table metric."""

    config: CodesignConfig
    workload: Workload
    hardware: Any
    hw_table: CostTable
    proxy_table: CostTable
    fractions: CodesignConfig
    hw_budgets: dict[str, float]
    proxy_budgets: dict[str, float]

    @classmethod
    def build(cls, config: CodesignConfig, workload: Workload, hardware: Any) -> CodesignProblem:
        """Price ``workload`` on ``hardware`` and under the proxy over the config's candidates,
        once, and read the budgets against both tables."""
        cands = config.candidates
        hw_table = hardware_costs(workload, hardware, cands, cands)
        fractions = as_fractions(config, hw_table)  # "latency=2ms": its fraction of 8-bit here
        proxy_table = proxy_costs(workload, cands, cands)
        ref = config.reference
        return cls(
            config,
            workload,
            hardware,
            hw_table,
            proxy_table,
            fractions,
            table_budgets(hw_table, fractions.budgets, REPORT_KEYS, ref),
            table_budgets(proxy_table, fractions.budgets, PROXY_KEYS, ref),
        )

    @property
    def candidates(self) -> tuple[int, ...]:
        """The candidate bit widths, for weights and activations alike."""
        return self.config.candidates

    @property
    def budgets(self) -> dict[str, float]:
        """The absolute budgets on the simulated hardware, by budget name."""
        return {m: self.hw_budgets[REPORT_KEYS[m]] for m in self.fractions.budgets}

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
