"""Bitwidth search against what the hardware does, or against a proxy, through one interface.

A :class:`SearchSpace` holds, for every layer and every candidate (w_bits, a_bits) option, the
sensitivity (loss increase) and the costs the budgets are stated in. The costs come either from
the simulator (:func:`hardware_costs`: ``hwsim.cost_table`` latency / energy / weight memory at
the bits the hardware really runs) or from the papers' proxies (:func:`proxy_costs`: BitOps for
latency and energy, parameters x bits for memory). Every search below (the exact knapsack, EBS,
BSQ) reads only the space, so the proxy and the simulator are compared with everything else
equal. Budgets are relative to the uniform reference (8/8) in the same cost model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwsim.errors import HwsimError, check, check_bits
from hwsim.policy import BitPolicy
from hwsim.workload import Workload
from quant.methods import (
    SearchProblem,
    SearchResult,
    check_count,
    check_positive,
    finetune_plain,
    register_method,
)
from quant.search.knapsack import solve_mck
from quant.search.repair import RepairResult, repair

BUDGET_METRICS: tuple[str, ...] = ("latency", "energy", "memory")
"""What a budget may constrain; ``hwsim.CostTable.metric`` knows each by this name."""

REPORT_KEYS = {"latency": "latency_s", "energy": "energy_j", "memory": "weight_bits"}
"""The ``CostReport.totals`` key of each budget metric."""

PROXY_NAMES = {"latency": "bitops", "energy": "bitops", "memory": "params x w_bits"}


@dataclass(frozen=True)
class SearchSpace:
    """Per layer and option: sensitivity ``[L, nw, na]`` and one cost array per metric."""

    layer_names: tuple[str, ...]
    w_bits: tuple[int, ...]
    a_bits: tuple[int, ...]
    sensitivity: np.ndarray
    costs: Mapping[str, np.ndarray]
    source: str  # "simulated" or "proxy"

    def __post_init__(self) -> None:
        shape = (len(self.layer_names), len(self.w_bits), len(self.a_bits))
        check(
            self.sensitivity.shape == shape,
            "sensitivity.shape",
            self.sensitivity.shape,
            f"must be [layers, w options, a options] = {shape}",
        )
        for name, arr in self.costs.items():
            check(name in BUDGET_METRICS, "costs", name, f"metrics are {BUDGET_METRICS}")
            check(arr.shape == shape, f"costs[{name}].shape", arr.shape, f"must be {shape}")

    @property
    def option_bits(self) -> np.ndarray:
        """``[O, 2]`` (w_bits, a_bits) of each flattened option ``o = i * na + j``."""
        return np.array([(w, a) for w in self.w_bits for a in self.a_bits], dtype=np.int64)

    def flat(self, arr: np.ndarray) -> np.ndarray:
        return arr.reshape(len(self.layer_names), -1)

    def uniform_total(self, metric: str, bits: tuple[int, int]) -> float:
        i, j = self._index(bits)
        return float(self.costs[metric][:, i, j].sum())

    def budgets(
        self, relative: Mapping[str, float], reference: tuple[int, int] = (8, 8)
    ) -> dict[str, float]:
        """Absolute budgets: ``relative[m]`` x the uniform ``reference`` total of metric m."""
        return {m: float(r) * self.uniform_total(m, reference) for m, r in relative.items()}

    def choice(self, policy: BitPolicy) -> np.ndarray:
        """Flattened option index per layer of ``policy`` (its bits must be candidates)."""
        return np.array(
            [
                np.ravel_multi_index(self._index(policy[n]), (len(self.w_bits), len(self.a_bits)))
                for n in self.layer_names
            ],
            dtype=np.int64,
        )

    def policy(self, choice: np.ndarray) -> BitPolicy:
        bits = self.option_bits[choice]
        return BitPolicy(
            {n: (int(w), int(a)) for n, (w, a) in zip(self.layer_names, bits, strict=True)}
        )

    def totals(self, policy: BitPolicy) -> dict[str, float]:
        c = self.choice(policy)
        rows = np.arange(len(c))
        return {m: float(self.flat(arr)[rows, c].sum()) for m, arr in self.costs.items()}

    def _index(self, bits: tuple[int, int]) -> tuple[int, int]:
        w, a = bits
        if w not in self.w_bits or a not in self.a_bits:
            raise HwsimError("bits", (w, a), f"not a candidate (w {self.w_bits}, a {self.a_bits})")
        return self.w_bits.index(w), self.a_bits.index(a)


def candidates(name: str, bits: Sequence[int]) -> tuple[int, ...]:
    """Validated, sorted, distinct candidate bit widths."""
    opts = tuple(sorted({check_bits(name, b) for b in bits}))
    check(len(opts) > 0, name, list(bits), "need at least one candidate")
    return opts


def hardware_costs(
    workload: Workload,
    hardware,
    w_bits: Sequence[int],
    a_bits: Sequence[int],
    metrics: Sequence[str] = BUDGET_METRICS,
) -> dict[str, np.ndarray]:
    """Simulated ``[L, nw, na]`` cost arrays from ``hwsim.cost_table`` (one Numba call)."""
    from hwsim import cost_table

    table = cost_table(workload, hardware, list(w_bits), list(a_bits))
    return {m: np.asarray(table.metric(m), dtype=np.float64) for m in metrics}


def proxy_costs(
    workload: Workload,
    w_bits: Sequence[int],
    a_bits: Sequence[int],
    metrics: Sequence[str] = BUDGET_METRICS,
) -> dict[str, np.ndarray]:
    """The papers' proxies: BitOps (MACs x w x a) for latency and energy, params x w for
    memory. They ignore what the hardware can run (Bit Fusion pads 3 bits to 4)."""
    from quant.costs import bitops_table, size_table

    out = {}
    for m in metrics:
        table = (
            size_table(workload, w_bits, a_bits)
            if m == "memory"
            else bitops_table(workload, w_bits, a_bits)
        )
        out[m] = np.array(table.values, dtype=np.float64)
    return out


def knapsack_policy(space: SearchSpace, budgets: Mapping[str, float]) -> BitPolicy:
    """The policy of least total sensitivity within every budget (exact DP, see knapsack)."""
    check(len(budgets) > 0, "budgets", dict(budgets), "need at least one budget")
    names = list(budgets)
    costs = np.stack([space.flat(space.costs[m]) for m in names])
    sol = solve_mck(space.flat(space.sensitivity), costs, [budgets[m] for m in names])
    return space.policy(sol.choice)


@dataclass(frozen=True)
class KnapsackConfig:
    """The exact knapsack has nothing to tune; fine-tuning runs ``finetune_epochs`` at ``lr``
    on the quantized model."""

    finetune_epochs: int = 4
    lr: float = 5e-4
    seed: int = 0

    def __post_init__(self) -> None:
        check_count("finetune_epochs", self.finetune_epochs, 0)
        check_positive("lr", self.lr)
        check_count("seed", self.seed, 0)


class Knapsack:
    """The exact knapsack behind :class:`quant.methods.SearchMethod`: least total
    sensitivity within every budget of the problem (it needs one: it has no objective of its
    own). The searched model is the float model quantized at the chosen bits."""

    name = "knapsack"
    config_type = KnapsackConfig
    budgeted = True
    codesign_defaults: Mapping[str, Any] = {}

    def search(
        self,
        model,
        data,
        config: KnapsackConfig,
        problem: SearchProblem | None = None,
        *,
        progress: bool | None = None,
    ) -> SearchResult:
        from quant.model import quantize_model

        check(problem is not None, "problem", None, "the knapsack needs costs and budgets")
        policy = knapsack_policy(problem.space, problem.budgets)
        return SearchResult(quantize_model(model, policy, calibration=data), policy)

    def finetune(
        self, result: SearchResult, data, config: KnapsackConfig, *, progress: bool | None = None
    ):
        return finetune_plain(result, data, config, progress=progress)


register_method(Knapsack())


def repair_policy(
    space: SearchSpace, policy: BitPolicy, budgets: Mapping[str, float]
) -> tuple[BitPolicy, RepairResult]:
    """Lower bits of ``policy`` (least sensitivity per cost saved) until it fits ``budgets``."""
    names = list(budgets)
    costs = np.stack([space.flat(space.costs[m]) for m in names])
    res = repair(
        space.choice(policy),
        space.flat(space.sensitivity),
        costs,
        [budgets[m] for m in names],
        space.option_bits,
    )
    return space.policy(res.choice), res


def snap_to_candidates(policy: BitPolicy, space: SearchSpace) -> tuple[BitPolicy, list[str]]:
    """Round each width up to the nearest candidate (BSQ can end at 0, 1 or 7 bits).

    Rounding up never makes a layer less accurate; the notes say which layers moved, and a
    repair afterwards brings the cost back within budget if the rounding broke it.
    """
    bits, notes = {}, []
    for name in space.layer_names:
        w, a = policy[name]
        w2 = _round_up(w, space.w_bits)
        a2 = _round_up(a, space.a_bits)
        if (w2, a2) != (w, a):
            notes.append(f"{name}: w{w}/a{a} rounded up to the candidates as w{w2}/a{a2}")
        bits[name] = (w2, a2)
    return BitPolicy(bits), notes


def _round_up(bits: int, options: tuple[int, ...]) -> int:
    above = [o for o in options if o >= bits]
    return min(above) if above else max(options)


def bsq_marginal_costs(
    layer_names: Sequence[str], cost_by_wbits: np.ndarray, w_bits: Sequence[int]
) -> Callable[[Mapping[str, int]], dict[str, float]]:
    """BSQ's per-layer regularizer weights from the simulated marginal cost of a weight bit.

    ``cost_by_wbits[l, k]`` is the cost of layer ``layer_names[l]`` at ``w_bits[k]`` weight
    bits (activations at BSQ's fixed width). At a layer's current precision n the weight is
    the cost saved per bit on the way down to the next precision that is strictly cheaper: on
    Bit Fusion a 4-bit layer is pushed by (C(4) - C(2)) / 2, since 3 bits would save nothing.
    Returned as a callable of the current precisions, which ``quant.bsq`` re-evaluates as the
    bits move.
    """
    table = np.asarray(cost_by_wbits, dtype=np.float64)
    opts = [int(b) for b in w_bits]
    row = {str(n): i for i, n in enumerate(layer_names)}
    check(
        table.ndim == 2 and table.shape == (len(row), len(opts)),
        "cost_by_wbits",
        table.shape,
        f"must be [{len(row)} layers, {len(opts)}]",
    )
    check(
        opts == sorted(opts) and opts[0] == 1 and opts == list(range(1, len(opts) + 1)),
        "w_bits",
        opts,
        "must be 1..n_max (every precision BSQ can reach)",
    )

    def marginal(layer: int, n: int) -> float:
        n = min(max(n, 2), opts[-1])
        c = table[layer]
        here = c[n - 1]
        for lower in range(n - 1, 0, -1):
            if c[lower - 1] < here:
                return float((here - c[lower - 1]) / (n - lower))
        return 0.0

    def costs(current: Mapping[str, int]) -> dict[str, float]:
        missing = [n for n in current if n not in row]
        check(not missing, "layer_costs", missing[:10], "layers without a simulated cost")
        values = {n: marginal(row[n], int(b)) for n, b in current.items()}
        if not any(v > 0 for v in values.values()):
            return dict.fromkeys(values, 1.0)  # nothing left to save: plain group Lasso
        return values

    return costs
