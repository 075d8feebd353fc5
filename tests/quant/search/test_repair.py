"""Repair lowers bits until the budgets hold, where accuracy is cheapest per cost saved."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hwsim import HwsimError
from quant.search.repair import repair

BITS = (2, 4, 8)
OPTION_BITS = np.array(list(itertools.product(BITS, BITS)))  # option o = (w, a)


def bitops_costs(macs: np.ndarray) -> np.ndarray:
    """[1, L, O] MACs x w x a: monotone in both widths."""
    return (macs[:, None] * OPTION_BITS[:, 0] * OPTION_BITS[:, 1])[None].astype(np.float64)


@given(
    hnp.arrays(np.int64, st.integers(1, 6), elements=st.integers(1, 1000)),
    st.floats(0.05, 1.0),
    st.data(),
)
def test_repair_fits_budget_by_only_lowering_bits(macs, frac, data):
    n_layers, n_opts = len(macs), len(OPTION_BITS)
    costs = bitops_costs(macs)
    values = data.draw(
        hnp.arrays(np.float64, (n_layers, n_opts), elements=st.floats(-1, 10, allow_nan=False))
    )
    start = data.draw(hnp.arrays(np.int64, n_layers, elements=st.integers(0, n_opts - 1)))
    lowest = costs[0, :, 0].sum()  # option 0 is w2/a2, the cheapest
    budget = max(lowest, frac * costs[0].max(axis=1).sum())
    res = repair(start, values, costs, [budget], OPTION_BITS)
    rows = np.arange(n_layers)
    assert costs[0, rows, res.choice].sum() <= budget * (1 + 1e-9)
    assert np.all(OPTION_BITS[res.choice] <= OPTION_BITS[start])
    # It stops at the first fit: replaying the moves, every earlier state was over budget.
    state = start.copy()
    for layer, old, new in res.moves:
        assert state[layer] == old
        assert costs[0, rows, state].sum() > budget * (1 + 1e-9)
        state[layer] = new
    assert np.array_equal(state, res.choice)


def test_within_budget_is_left_alone():
    costs = bitops_costs(np.array([10, 10]))
    start = np.array([8, 8])  # w8/a8
    res = repair(start, np.zeros((2, 9)), costs, [1e9], OPTION_BITS)
    assert res.moves == () and np.array_equal(res.choice, start)


def test_lowers_the_insensitive_layer_first():
    costs = bitops_costs(np.array([100, 100]))
    values = np.zeros((2, 9))
    values[0, :8] = 5.0  # layer 0 hurts to lower at all; layer 1 is free
    start = np.array([8, 8])
    budget = costs[0, 0, 8] + costs[0, 1, 8] - 1  # one notch below uniform 8/8
    res = repair(start, values, costs, [budget], OPTION_BITS)
    assert res.choice[0] == 8 and res.choice[1] != 8


def test_prefers_bigger_savings_per_loss():
    # Same loss for lowering either layer, but layer 1 is 10x bigger: lowering it saves more.
    costs = bitops_costs(np.array([10, 100]))
    values = np.ones((2, 9))
    values[:, 8] = 0.0
    start = np.array([8, 8])
    budget = costs[0, 0, 8] + costs[0, 1, 8] - 50
    res = repair(start, values, costs, [budget], OPTION_BITS)
    assert len(res.moves) == 1 and res.moves[0][0] == 1


def test_unreachable_budget_raises():
    costs = bitops_costs(np.array([10, 10]))
    with pytest.raises(HwsimError, match="lowering bits") as err:
        repair([8, 8], np.zeros((2, 9)), costs, [1.0], OPTION_BITS)
    assert err.value.field == "budgets"


def test_bad_choice_raises():
    costs = bitops_costs(np.array([10, 10]))
    with pytest.raises(HwsimError) as err:
        repair([8, 9], np.zeros((2, 9)), costs, [1.0], OPTION_BITS)
    assert err.value.field == "choice"
