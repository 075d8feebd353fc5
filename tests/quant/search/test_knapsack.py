"""The knapsack DP against brute-force enumeration of every assignment."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hwsim import HwsimError
from quant.search.knapsack import solve_mck
from tests.tally import Tally


def brute_force(values: np.ndarray, costs: np.ndarray, budgets: np.ndarray) -> float:
    """Least total value over all assignments that fit every budget (inf if none).

    Costs are summed exactly (as fractions): a float sum absorbs a tiny cost into a large one
    (1 + 1e-309 == 1.0), which would let the reference accept an assignment that is over budget.
    """
    n_layers, n_opts = values.shape
    best = np.inf
    for combo in itertools.product(range(n_opts), repeat=n_layers):
        idx = np.array(combo)
        rows = np.arange(n_layers)
        fits = all(
            sum(Fraction(float(c)) for c in costs[r, rows, idx]) <= Fraction(float(budgets[r]))
            for r in range(costs.shape[0])
        )
        if fits:
            best = min(best, values[rows, idx].sum())
    return best


@st.composite
def instances(draw, integer_costs: bool):
    n_res = draw(st.integers(1, 2))
    n_layers = draw(st.integers(1, 4))
    n_opts = draw(st.integers(1, 4))
    values = draw(
        hnp.arrays(np.float64, (n_layers, n_opts), elements=st.floats(-5, 20, allow_nan=False))
    )
    if integer_costs:
        costs = draw(
            hnp.arrays(np.int64, (n_res, n_layers, n_opts), elements=st.integers(0, 12))
        ).astype(np.float64)
    else:
        costs = draw(
            hnp.arrays(
                np.float64, (n_res, n_layers, n_opts), elements=st.floats(0, 10, allow_nan=False)
            )
        )
    lo = costs.min(axis=2).sum(axis=1)
    hi = costs.max(axis=2).sum(axis=1)
    frac = draw(hnp.arrays(np.float64, n_res, elements=st.floats(0, 1)))
    budgets = lo + frac * (hi - lo)
    if integer_costs:
        budgets = np.floor(budgets)
    return values, costs, budgets


@given(instances(integer_costs=True))
def test_dp_equals_brute_force_on_integer_costs(inst):
    values, costs, budgets = inst
    # One step per cost unit: the discretization is exact, so the DP must hit the optimum.
    slack = (budgets - costs.min(axis=2).sum(axis=1)).astype(np.int64)
    expected = brute_force(values, costs, budgets)
    if expected == np.inf:  # two budgets can conflict although each alone is feasible
        with pytest.raises(HwsimError, match="infeasible"):
            solve_mck(values, costs, budgets, bins=np.maximum(slack, 1))
        return
    sol = solve_mck(values, costs, budgets, bins=np.maximum(slack, 1))
    assert sol.value == pytest.approx(expected, abs=1e-9)
    rows = np.arange(values.shape[0])
    assert np.all(costs[:, rows, sol.choice].sum(axis=1) <= budgets)
    assert sol.value == pytest.approx(values[rows, sol.choice].sum())


def test_dp_within_discretization_bound_on_real_costs():
    tally = Tally()

    @given(instances(integer_costs=False), st.integers(1, 64))
    def check(inst, n_bins):
        _check_within_discretization_bound(inst, n_bins, tally)

    check()
    tally.assert_mostly_checked()


def _check_within_discretization_bound(inst, n_bins: int, tally: Tally) -> None:
    values, costs, budgets = inst
    if brute_force(values, costs, budgets) == np.inf:
        return tally.vacuous()  # conflicting budgets: covered by the integer test
    tally.checked()
    try:
        sol = solve_mck(values, costs, budgets, bins=[n_bins] * len(budgets))
    except HwsimError:
        # Rounding up may lose a feasible point, but only one within L steps of a budget.
        slack = budgets - costs.min(axis=2).sum(axis=1)
        step = slack / n_bins
        assert brute_force(values, costs, budgets - values.shape[0] * step) == np.inf
        return
    rows = np.arange(values.shape[0])
    # Feasible for the real budgets, hence no better than the real optimum...
    assert np.all(costs[:, rows, sol.choice].sum(axis=1) <= budgets * (1 + 1e-9) + 1e-12)
    assert sol.value >= brute_force(values, costs, budgets) - 1e-9
    # ...and at least as good as the optimum at budgets tightened by L steps.
    tightened = budgets - sol.error_bound
    assert sol.value <= brute_force(values, costs, tightened) + 1e-9


def test_default_resolution_is_feasible_and_near_optimal():
    tally = Tally()

    @given(instances(integer_costs=False))
    # A subnormal cost beside a budget with no slack: a float reference would call it free.
    @example(
        (
            np.array([[0.0, 1.0], [0.0, 0.0]]),
            np.array([[[2.2250738585072014e-309, 0.0], [1.0, 1.0]]]),
            np.array([1.0]),
        )
    )
    # Float slack 0, exact slack one ulp: only the error bound's rounding term covers it.
    @example(
        (
            np.array([[0.0, 0.0, 20.0], [0.0, 0.0, 0.0], [6.31876673, 0.0, 0.0], [6.31876673] * 3]),
            np.array(
                [
                    [
                        [4.18760745e-59, 5.59063838, 9.22062499e-64],
                        [6.88528637, 6.88528637, 6.88528637],
                        [0.0, 6.88528637, 6.88528637],
                        [6.88528637, 6.88528637, 0.2],
                    ]
                ]
            ),
            np.array([9.22062499e-64 + 6.88528637 + 0.0 + 0.2]),
        )
    )
    def check(inst):
        _check_default_resolution(inst, tally)

    check()
    tally.assert_mostly_checked()


def _check_default_resolution(inst, tally: Tally) -> None:
    values, costs, budgets = inst
    if brute_force(values, costs, budgets) == np.inf:
        return tally.vacuous()
    tally.checked()
    try:
        sol = solve_mck(values, costs, budgets)
    except HwsimError:
        step = (budgets - costs.min(axis=2).sum(axis=1)) / 511
        assert brute_force(values, costs, budgets - values.shape[0] * step) == np.inf
        return
    assert sol.value >= brute_force(values, costs, budgets) - 1e-9
    assert sol.value <= brute_force(values, costs, budgets - sol.error_bound) + 1e-9


def test_forbidden_options_are_never_chosen():
    values = np.array([[np.inf, 1.0, 2.0], [0.0, np.inf, 5.0]])
    costs = np.array([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    sol = solve_mck(values, costs, [10.0])
    assert sol.choice.tolist() == [1, 0]


@pytest.mark.parametrize("budget", [-1.0, 2.9])
def test_infeasible_budget_raises(budget):
    costs = np.array([[1.0, 2.0], [2.0, 3.0]])  # cheapest total is 3
    with pytest.raises(HwsimError) as err:
        solve_mck(np.zeros((2, 2)), costs, [budget])
    assert err.value.field.startswith("budgets")


def test_second_budget_infeasible_raises():
    costs = np.stack([np.ones((2, 2)), np.array([[4.0, 5.0], [4.0, 6.0]])])
    with pytest.raises(HwsimError, match="infeasible"):
        solve_mck(np.zeros((2, 2)), costs, [10.0, 7.0])


def test_forbidden_cheap_options_make_budget_infeasible():
    values = np.array([[np.inf, 0.0], [np.inf, 0.0]])
    costs = np.array([[0.0, 5.0], [0.0, 5.0]])
    with pytest.raises(HwsimError, match="infeasible"):
        solve_mck(values, costs, [6.0])


@pytest.mark.parametrize(
    ("values", "costs", "budgets", "field"),
    [
        (np.zeros((2, 2)), -np.ones((2, 2)), [1.0], "costs"),
        (np.zeros((2, 2)), np.full((2, 2), np.nan), [1.0], "costs"),
        (np.full((2, 2), np.nan), np.ones((2, 2)), [5.0], "values"),
        (np.zeros((2, 2)), np.ones((2, 3)), [5.0], "costs.shape"),
        (np.zeros((2, 2)), np.ones((2, 2)), [5.0, 5.0], "budgets"),
        (np.zeros((2, 2)), np.ones((2, 2)), [np.inf], "budgets"),
        (np.full((2, 2), np.inf), np.ones((2, 2)), [5.0], "values"),
    ],
)
def test_bad_input_raises_naming_the_field(values, costs, budgets, field):
    with pytest.raises(HwsimError) as err:
        solve_mck(values, costs, budgets)
    assert err.value.field == field


def test_state_space_cap_is_enforced():
    with pytest.raises(HwsimError) as err:
        solve_mck(np.zeros((2, 2)), np.ones((2, 2)), [5.0], bins=[100], max_states=50)
    assert err.value.field == "bins"
