"""Exact multiple-choice knapsack over a cost table: one option per layer, several budgets.

Each layer ``l`` picks one option ``o`` (a (w_bits, a_bits) pair) with a value ``v[l, o]`` to
minimize (the loss increase the option causes) and costs ``c[r, l, o]`` on resources ``r``
(simulated latency, energy, memory...). The total of every resource must stay within its
budget. The problem is NP-hard in general; it is solved by dynamic programming over
discretized costs, exactly with respect to the discretization:

* Each layer's costs are shifted by the layer's cheapest option (``c' = c - min_o c``); the
  budget left after every layer's cheapest option is the *slack* ``S_r``. Shifting changes no
  decision and spends the resolution only on the part of the cost the choice controls.
* The slack is cut into ``bins_r`` steps ``d_r = S_r / bins_r``; option costs are rounded **up**
  to whole steps. Rounding up makes every assignment the DP accepts truly feasible (its real
  totals are within the budgets, up to float rounding).
* The DP runs over all resources at once (the state is the vector of steps used, one axis per
  resource, flattened), so several budgets are handled exactly, not by a Lagrangian relaxation.

Error bound: rounding up adds less than one step per layer, so every assignment whose real
totals satisfy ``total_r <= budget_r - L * d_r`` for all ``r`` is in the DP's feasible set. The
value returned is therefore at most the optimum at those tightened budgets, and at least the
optimum at the real budgets. Costs that are whole multiples of the step (integer costs with
``bins = slack``) make it exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from hwsim.errors import HwsimError, check

DEFAULT_MAX_STATES = 1 << 18
"""Default size of the DP state space (product of ``bins_r + 1`` over resources)."""

MAX_CHOICE_CELLS = 1 << 28
"""Cap on layers x states: the back-pointer table is int16, so this is 512 MiB at most."""

MAX_OPTIONS = np.iinfo(np.int16).max


@dataclass(frozen=True)
class KnapsackSolution:
    """The chosen option per layer and what it costs.

    ``value`` is the sum of the chosen values; ``totals[r]`` the real (not discretized) total
    of resource ``r``; ``step[r]`` the discretization step, so ``len(choice) * step[r]`` bounds
    how much budget the rounding may have left unused.
    """

    choice: np.ndarray  # int64 [L]
    value: float
    totals: np.ndarray  # float64 [R]
    budgets: np.ndarray  # float64 [R]
    bins: np.ndarray  # int64 [R]
    step: np.ndarray  # float64 [R]

    @property
    def error_bound(self) -> np.ndarray:
        """Per resource: budget the rounding may have left unused.

        ``L * step`` from rounding costs up to whole steps, plus the float rounding of the slack
        itself (a cost below one ulp of the budget is absorbed when the slack is summed, so the
        DP may see no room where exact arithmetic has a sliver).
        """
        n_layers = len(self.choice)
        return n_layers * self.step + (n_layers + 1) * np.spacing(np.abs(self.budgets))


def solve_mck(
    values: np.ndarray,
    costs: np.ndarray,
    budgets: Sequence[float] | np.ndarray,
    *,
    bins: Sequence[int] | np.ndarray | None = None,
    max_states: int = DEFAULT_MAX_STATES,
) -> KnapsackSolution:
    """Minimize ``sum_l values[l, choice[l]]`` subject to ``sum_l costs[r, l, choice[l]] <=
    budgets[r]`` for every resource ``r``.

    ``values`` is ``[L, O]`` (``+inf`` forbids an option), ``costs`` is ``[R, L, O]`` (or
    ``[L, O]`` for one resource), non-negative and finite. ``bins`` sets the resolution per
    resource; by default the state space gets ``max_states`` cells split evenly across the
    resources. Raises :class:`HwsimError` when no assignment fits the budgets.
    """
    values, costs, budgets = _validate(values, costs, budgets)
    n_res, n_layers, _ = costs.shape
    floor = costs.min(axis=2)  # [R, L]: each layer's cheapest option per resource
    slack = budgets - floor.sum(axis=1)
    for r in range(n_res):
        if slack[r] < 0:
            raise HwsimError(
                f"budgets[{r}]",
                float(budgets[r]),
                f"infeasible: even the cheapest option of every layer costs "
                f"{float(floor[r].sum()):.6g} on this resource",
            )
    bins_arr = _resolve_bins(bins, n_res, max_states)
    n_states = int(np.prod(bins_arr + 1))
    check(
        n_states <= max_states,
        "bins",
        bins_arr.tolist(),
        f"state space {n_states} exceeds max_states={max_states}",
    )
    check(
        n_layers * n_states <= MAX_CHOICE_CELLS,
        "bins",
        bins_arr.tolist(),
        f"layers x states = {n_layers * n_states} exceeds {MAX_CHOICE_CELLS}",
    )

    step = np.where(slack > 0, slack / np.maximum(bins_arr, 1), 0.0)
    shifted = costs - floor[:, :, None]
    units = np.empty(costs.shape, dtype=np.int64)
    for r in range(n_res):
        if step[r] > 0:
            # Clip in float before the cast so huge costs cannot overflow int64.
            u = np.minimum(np.ceil(shifted[r] / step[r]), bins_arr[r] + 1)
        else:
            u = np.where(shifted[r] > 0, bins_arr[r] + 1, 0)
        units[r] = u.astype(np.int64)
    strides = np.ones(n_res, dtype=np.int64)
    for r in range(1, n_res):
        strides[r] = strides[r - 1] * (bins_arr[r - 1] + 1)

    best, back = _mck_dp(values, units, bins_arr + 1, strides, n_states)
    if not np.isfinite(best):
        raise HwsimError(
            "budgets",
            budgets.tolist(),
            "infeasible: no assignment of the allowed options fits every budget "
            f"at resolution bins={bins_arr.tolist()}",
        )
    choice = _backtrack(back, units, strides, n_states - 1)
    layers = np.arange(n_layers)
    totals = costs[:, layers, choice].sum(axis=1)
    return KnapsackSolution(
        choice=choice,
        value=float(values[layers, choice].sum()),
        totals=totals,
        budgets=budgets,
        bins=bins_arr,
        step=step,
    )


def _validate(values, costs, budgets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=np.float64)
    costs = np.asarray(costs, dtype=np.float64)
    budgets = np.atleast_1d(np.asarray(budgets, dtype=np.float64))
    check(
        values.ndim == 2 and values.shape[0] >= 1 and values.shape[1] >= 1,
        "values.shape",
        values.shape,
        "must be [layers, options], both >= 1",
    )
    check(
        values.shape[1] <= MAX_OPTIONS,
        "values.shape",
        values.shape,
        f"at most {MAX_OPTIONS} options per layer",
    )
    check(
        not np.any(np.isnan(values)) and not np.any(values == -np.inf),
        "values",
        "NaN or -inf",
        "values must be finite or +inf (a forbidden option)",
    )
    if costs.ndim == 2:
        costs = costs[None]
    check(
        costs.ndim == 3 and costs.shape[1:] == values.shape,
        "costs.shape",
        costs.shape,
        f"must be [resources, {values.shape[0]}, {values.shape[1]}]",
    )
    check(costs.shape[0] >= 1, "costs.shape", costs.shape, "need at least one resource")
    check(bool(np.all(np.isfinite(costs))), "costs", "non-finite", "costs must be finite")
    check(bool(np.all(costs >= 0)), "costs", float(costs.min()), "costs must be >= 0")
    check(
        budgets.shape == (costs.shape[0],),
        "budgets",
        budgets.tolist(),
        f"need one budget per resource ({costs.shape[0]})",
    )
    check(bool(np.all(np.isfinite(budgets))), "budgets", budgets.tolist(), "must be finite")
    check(
        bool(np.all(np.isfinite(values).any(axis=1))),
        "values",
        "a row of +inf",
        "every layer needs at least one allowed option",
    )
    return values, costs, budgets


def _resolve_bins(bins, n_res: int, max_states: int) -> np.ndarray:
    check(
        isinstance(max_states, int) and max_states >= 2,
        "max_states",
        max_states,
        "must be an integer >= 2",
    )
    if bins is None:
        per = int(np.floor(max_states ** (1.0 / n_res) + 1e-9)) - 1
        while (per + 1) ** n_res > max_states:
            per -= 1
        check(per >= 1, "max_states", max_states, f"too small for {n_res} resources")
        return np.full(n_res, per, dtype=np.int64)
    arr = np.atleast_1d(np.asarray(bins))
    check(arr.shape == (n_res,), "bins", arr.tolist(), f"need one per resource ({n_res})")
    check(
        np.issubdtype(arr.dtype, np.integer) and bool(np.all(arr >= 1)),
        "bins",
        arr.tolist(),
        "must be integers >= 1",
    )
    return arr.astype(np.int64)


@njit(cache=True, parallel=True)
def _mck_dp(values, units, radix, strides, n_states):
    """``best[s]``: least value of the layers so far using at most the steps encoded by ``s``.

    Returns the final row's value at the full budget and the back-pointers ``[L, states]``.
    """
    n_layers, n_opts = values.shape
    n_res = units.shape[0]
    prev = np.zeros(n_states)  # no layer placed: value 0 at every capacity
    back = np.empty((n_layers, n_states), dtype=np.int16)
    for layer in range(n_layers):
        cur = np.empty(n_states)
        for s in prange(n_states):
            best = np.inf
            arg = -1
            for o in range(n_opts):
                v = values[layer, o]
                if v == np.inf:
                    continue
                offset = 0
                fits = True
                for r in range(n_res):
                    u = units[r, layer, o]
                    if u > (s // strides[r]) % radix[r]:
                        fits = False
                        break
                    offset += u * strides[r]
                if fits:
                    cand = prev[s - offset] + v
                    if cand < best:
                        best = cand
                        arg = o
            cur[s] = best
            back[layer, s] = arg
        prev = cur
    return prev[n_states - 1], back


def _backtrack(back: np.ndarray, units: np.ndarray, strides: np.ndarray, state: int) -> np.ndarray:
    n_layers = back.shape[0]
    choice = np.empty(n_layers, dtype=np.int64)
    for layer in range(n_layers - 1, -1, -1):
        o = int(back[layer, state])
        choice[layer] = o
        state -= int((units[:, layer, o] * strides).sum())
    return choice
