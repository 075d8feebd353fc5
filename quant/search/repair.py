"""Repair: lower bits until a policy fits its budgets, cheapest in accuracy per cost saved.

A search that optimizes an expected or proxy cost (EBS's soft strengths, BSQ's regularizer)
can end slightly over budget once its argmax policy is simulated. Repair walks downhill: at
each step it takes the one layer move to lower bits (neither width rises) with the least
value increase (sensitivity: loss increase) per unit of over-budget cost saved, and stops as
soon as every budget holds. Greedy, so not optimal; the knapsack allocator is the exact tool,
this one keeps a method's own choice and changes it as little as the budgets need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hwsim.errors import HwsimError, check

_REL_TOL = 1e-9  # totals within float rounding of the budget count as fitting


@dataclass(frozen=True)
class RepairResult:
    """The repaired choice, its totals, and the moves made as ``(layer, old, new)`` options."""

    choice: np.ndarray  # int64 [L]
    totals: np.ndarray  # float64 [R]
    moves: tuple[tuple[int, int, int], ...]


def repair(
    choice: Sequence[int] | np.ndarray,
    values: np.ndarray,
    costs: np.ndarray,
    budgets: Sequence[float] | np.ndarray,
    option_bits: np.ndarray,
) -> RepairResult:
    """Lower bits of ``choice`` (option index per layer) until ``costs`` fit ``budgets``.

    ``values`` ``[L, O]`` is what a move costs in accuracy (e.g. calibration-loss increase);
    ``costs`` ``[R, L, O]`` (or ``[L, O]``) the resources; ``option_bits`` ``[O, 2]`` the
    (w_bits, a_bits) of each option, which defines "lower". A move may not raise any resource.
    Raises :class:`HwsimError` when lowering bits cannot meet the budgets.
    """
    values = np.asarray(values, dtype=np.float64)
    costs = np.asarray(costs, dtype=np.float64)
    if costs.ndim == 2:
        costs = costs[None]
    budgets = np.atleast_1d(np.asarray(budgets, dtype=np.float64))
    option_bits = np.asarray(option_bits)
    n_layers, n_opts = values.shape
    check(
        costs.shape[1:] == values.shape,
        "costs.shape",
        costs.shape,
        f"must be [resources, {n_layers}, {n_opts}]",
    )
    check(
        budgets.shape == (costs.shape[0],),
        "budgets",
        budgets.tolist(),
        "need one budget per resource",
    )
    check(bool(np.all(budgets > 0)), "budgets", budgets.tolist(), "must be > 0")
    check(
        option_bits.shape == (n_opts, 2), "option_bits", option_bits.shape, f"must be [{n_opts}, 2]"
    )
    choice = np.array(choice, dtype=np.int64)
    check(
        choice.shape == (n_layers,) and bool(np.all((choice >= 0) & (choice < n_opts))),
        "choice",
        choice.tolist(),
        f"need one option index in 0..{n_opts - 1} per layer",
    )

    # lower[o, p]: option p has no wider weight or activation than o, and differs from it.
    w, a = option_bits[:, 0], option_bits[:, 1]
    lower = (w[None, :] <= w[:, None]) & (a[None, :] <= a[:, None])
    np.fill_diagonal(lower, False)
    layers = np.arange(n_layers)
    moves: list[tuple[int, int, int]] = []
    while True:
        totals = costs[:, layers, choice].sum(axis=1)
        over = totals > budgets * (1 + _REL_TOL)
        if not over.any():
            return RepairResult(choice, totals, tuple(moves))
        current = costs[:, layers, choice]  # [R, L]
        saved = current[:, :, None] - costs  # [R, L, O]: what moving (l -> o) saves
        allowed = lower[choice] & np.all(saved >= 0, axis=0) & np.isfinite(values)
        # Savings count only on the violated resources, each relative to its budget.
        gain = (saved[over] / budgets[over, None, None]).sum(axis=0)
        allowed &= gain > 0
        if not allowed.any():
            raise HwsimError(
                "budgets",
                budgets.tolist(),
                f"cannot be met by lowering bits: totals {totals.tolist()} and no lower "
                "option saves cost on the violated resources",
            )
        loss = values - values[layers, choice][:, None]
        score = np.where(allowed, loss / np.where(allowed, gain, 1.0), np.inf)
        layer, option = np.unravel_index(int(np.argmin(score)), score.shape)
        moves.append((int(layer), int(choice[layer]), int(option)))
        choice[layer] = option
