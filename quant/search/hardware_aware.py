"""Bitwidth search against what the hardware does, or against a proxy, through one table.

Every search reads a :class:`hwsim.CostTable` (per layer and candidate (w_bits, a_bits)
option, one array per cost metric) and, where it trades accuracy, a sensitivity array of the
same ``[layer, w option, a option]`` shape (loss increase). The table comes either from the
simulator (:func:`hardware_costs`: ``hwsim.cost_table``, at the bits the hardware really runs)
or from the papers' proxies (:func:`proxy_costs`: ``bitops`` and ``weight_bits`` at the
requested bits). A budget names what it constrains (``latency``, ``energy``, ``memory``);
:data:`REPORT_KEYS` and :data:`PROXY_KEYS` say which metric of each table that is. Budgets are
relative to the uniform reference (8/8) in the same table, so the proxy and the simulator are
compared with everything else equal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwsim.errors import HwsimError, check, check_bits
from hwsim.hardware.report import COST_ALIASES, CostTable
from hwsim.policy import BitPolicy, bits_label
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
"""What a budget may constrain; "memory" is the weight footprint in bits."""

REPORT_KEYS: Mapping[str, str] = COST_ALIASES
"""The simulated metric of each budget: a ``CostTable`` and ``CostReport.totals`` key."""

PROXY_KEYS: Mapping[str, str] = {"latency": "bitops", "energy": "bitops", "memory": "weight_bits"}
"""The proxy metric of each budget (BitOps stand for time and energy alike)."""

PROXY_NAMES = {"latency": "bitops", "energy": "bitops", "memory": "params x w_bits"}


def table_budgets(
    table: CostTable,
    relative: Mapping[str, float],
    keys: Mapping[str, str],
    reference: tuple[int, int] = (8, 8),
) -> dict[str, float]:
    """Absolute budgets by table metric: ``relative[m]`` x the uniform ``reference`` total of
    metric ``keys[m]``. Two budgets on one metric (a proxy's latency and energy) keep the
    tighter; the order of ``relative`` is kept (the first is a single-objective search's)."""
    out: dict[str, float] = {}
    for m, r in relative.items():
        check(m in keys, "budget", m, f"metrics are {tuple(keys)}")
        key = keys[m]
        value = float(r) * float(table.uniform_total(key, *reference))
        out[key] = min(out.get(key, value), value)
    return out


def lowest_reachable(table: CostTable, key: str, reference: tuple[int, int] = (8, 8)) -> float:
    """The least network total of metric ``key`` any policy over the table's options reaches,
    as a fraction of the uniform ``reference`` total (costs add over layers, so it is the sum
    of each layer's cheapest option)."""
    return float(table.flat(key).min(axis=-1).sum() / table.uniform_total(key, *reference))


def check_feasible(
    table: CostTable,
    relative: Mapping[str, float],
    keys: Mapping[str, str],
    where: str,
    reference: tuple[int, int] = (8, 8),
) -> None:
    """Raise ``HwsimError`` in the user's terms when no policy over the table's options meets
    the ``relative`` budgets (fractions of uniform ``reference``), e.g. "latency=0.5 x uniform
    8-bit is infeasible on stripes for mlp_digits; the lowest reachable is 0.92x". ``where``
    completes the sentence ("on stripes for mlp_digits"). Cheap: no training, no sensitivity."""
    ref = f"uniform {reference[0]}-bit" if reference[0] == reference[1] else bits_label(*reference)
    for m, r in relative.items():
        check(m in keys, "budget", m, f"metrics are {tuple(keys)}")
        low = lowest_reachable(table, keys[m], reference)
        if low > r:
            shown = f"{low:.2f}" if round(low, 2) > r else f"{low:.4g}"
            raise HwsimError(
                "budget",
                f"{m}={r:g}",
                f"{m}={r:g} x {ref} is infeasible {where}; the lowest reachable is {shown}x",
            )
    budgets = table_budgets(table, relative, keys, reference)
    if len(budgets) > 1:  # each alone is reachable; together perhaps not
        zeros = np.zeros((len(table.layer_names), len(table.option_bits)))
        try:
            solve_mck(zeros, np.stack([table.flat(k) for k in budgets]), list(budgets.values()))
        except HwsimError:
            together = " and ".join(f"{m}={r:g}" for m, r in relative.items())
            raise HwsimError(
                "budget",
                together,
                f"{together} x {ref} are each reachable {where} but not together",
            ) from None


def candidates(name: str, bits: Sequence[int]) -> tuple[int, ...]:
    """Validated, sorted, distinct candidate bit widths."""
    opts = tuple(sorted({check_bits(name, b) for b in bits}))
    check(len(opts) > 0, name, list(bits), "need at least one candidate")
    return opts


def hardware_costs(
    workload: Workload, hardware, w_bits: Sequence[int], a_bits: Sequence[int]
) -> CostTable:
    """The simulated table of one hardware config (``hwsim.cost_table``: one Numba call). A
    1-bit weight option is binary (+-1), as every quantizer here makes it
    (:func:`weight_encodings`), and priced so."""
    from hwsim import cost_table

    w_bits = list(w_bits)
    return cost_table(
        workload, hardware, w_bits, list(a_bits), w_encodings=weight_encodings(w_bits)
    )


def binary_policy(bits: Mapping[str, tuple[int, int]]) -> BitPolicy:
    """A policy of ``bits`` whose 1-bit weights are binary (+-1), as the quantizers code them
    and :func:`hardware_costs` prices them."""
    return BitPolicy(
        dict(bits), encodings={n: ("bipolar", None) for n, b in bits.items() if b[0] == 1}
    )


def weight_encodings(w_bits: Sequence[int]) -> list[str | None]:
    """The encoding of each weight option as the quantizers code it: weights are signed, so
    1 bit is binary (``bipolar``); None (signed, the default) at every other width."""
    return ["bipolar" if int(b) == 1 else None for b in w_bits]


def proxy_costs(workload: Workload, w_bits: Sequence[int], a_bits: Sequence[int]) -> CostTable:
    """The papers' proxies in one table: ``bitops`` (MACs x w x a) and ``weight_bits``
    (params x w). They ignore what the hardware can run (Bit Fusion pads 3 bits to 4)."""
    from quant.costs import bitops_table, size_table

    bitops = bitops_table(workload, w_bits, a_bits)
    size = size_table(workload, w_bits, a_bits)
    return CostTable(
        bitops.layer_names, bitops.w_bits, bitops.a_bits, {**bitops.metrics, **size.metrics}
    )


def knapsack_policy(
    table: CostTable, sensitivity: np.ndarray, budgets: Mapping[str, float]
) -> BitPolicy:
    """The policy of least total sensitivity within every budget (exact DP, see knapsack)."""
    check(len(budgets) > 0, "budgets", dict(budgets), "need at least one budget")
    costs = np.stack([table.flat(m) for m in budgets])
    flat = np.asarray(sensitivity, dtype=np.float64).reshape(len(table.layer_names), -1)
    sol = solve_mck(flat, costs, list(budgets.values()))
    return binary_policy(table.bits(sol.choice))


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

        check(
            problem is not None and problem.sensitivity is not None,
            "problem",
            problem,
            "the knapsack needs costs, sensitivities and budgets",
        )
        policy = knapsack_policy(problem.table, problem.sensitivity, problem.budgets)
        return SearchResult(quantize_model(model, policy, calibration=data), policy)

    def finetune(
        self, result: SearchResult, data, config: KnapsackConfig, *, progress: bool | None = None
    ):
        return finetune_plain(result, data, config, progress=progress)


register_method(Knapsack())


def repair_policy(
    table: CostTable, sensitivity: np.ndarray, policy: BitPolicy, budgets: Mapping[str, float]
) -> tuple[BitPolicy, RepairResult]:
    """Lower bits of ``policy`` (least sensitivity per cost saved) until it fits ``budgets``."""
    costs = np.stack([table.flat(m) for m in budgets])
    res = repair(
        table.choice(policy),
        np.asarray(sensitivity, dtype=np.float64).reshape(len(table.layer_names), -1),
        costs,
        list(budgets.values()),
        table.option_bits,
    )
    return binary_policy(table.bits(res.choice)), res


def snap_to_candidates(policy: BitPolicy, table: CostTable) -> tuple[BitPolicy, list[str]]:
    """Round each width up to the nearest option of ``table`` (BSQ can end at 0, 1 or 7 bits).

    Rounding up never makes a layer less accurate; the notes say which layers moved, and a
    repair afterwards brings the cost back within budget if the rounding broke it.
    """
    bits, notes = {}, []
    for name in table.layer_names:
        w, a = policy[name]
        w2 = _round_up(w, table.w_bits)
        a2 = _round_up(a, table.a_bits)
        if (w2, a2) != (w, a):
            notes.append(
                f"{name}: {bits_label(w, a)} rounded up to the candidates as {bits_label(w2, a2)}"
            )
        bits[name] = (w2, a2)
    return binary_policy(bits), notes


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
