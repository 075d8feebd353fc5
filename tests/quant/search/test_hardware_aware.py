"""Search spaces on simulated hardware: policies re-simulate within every budget."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import hwsim
from hwsim import BitPolicy, HwsimError
from quant.search.hardware_aware import (
    PROXY_KEYS,
    REPORT_KEYS,
    bsq_marginal_costs,
    hardware_costs,
    knapsack_policy,
    lowest_reachable,
    proxy_costs,
    repair_policy,
    snap_to_candidates,
    table_budgets,
)
from tests.strategies import workloads
from tests.tally import Tally

CANDS = (2, 3, 4, 6, 8)


def test_knapsack_policy_fits_every_budget_when_simulated():
    tally = Tally()

    @settings(max_examples=15)
    @given(
        workloads(max_layers=4),
        st.sampled_from(["stripes", "cpu-bitserial", "loom"]),
        st.dictionaries(
            st.sampled_from(["latency", "energy", "memory"]),
            st.floats(0.0, 1.0),
            min_size=1,
            max_size=3,
        ),
        st.data(),
    )
    def check(workload, hardware, fractions, data):
        _check_fits_every_budget(workload, hardware, fractions, data, tally)

    check()
    tally.assert_mostly_checked()


def _check_fits_every_budget(workload, hardware, fractions, data, tally: Tally) -> None:
    """``fractions`` place each budget between the lowest total any policy reaches (0) and
    the uniform 8/8 total (1): each budget alone is feasible, several may still clash."""
    sens = data.draw(
        hnp.arrays(
            np.float64,
            (len(workload), len(CANDS), len(CANDS)),
            elements=st.floats(0, 5, allow_nan=False),
        )
    )
    table = hardware_costs(workload, hardware, CANDS, CANDS)
    relative = {}
    for m, f in fractions.items():
        low = lowest_reachable(table, REPORT_KEYS[m])
        relative[m] = low + f * (1.0 - low)
    budgets = table_budgets(table, relative, REPORT_KEYS)
    try:
        policy = knapsack_policy(table, sens, budgets)
    except HwsimError as err:
        # Only when even the cheapest option of every layer breaks a budget, or budgets clash.
        assert "infeasible" in str(err)
        return tally.vacuous()
    tally.checked()
    totals = hwsim.simulate(workload, policy, hardware).totals
    assert budgets.keys() == {REPORT_KEYS[m] for m in relative}
    for key, budget in budgets.items():
        assert totals[key] <= budget * (1 + 1e-9)


def test_table_totals_equal_simulate():
    # The search prices policies from the table; the simulator must agree for the loop to hold.
    wl = hwsim.Workload.from_layers(
        "t",
        [
            {
                "name": "a",
                "kind": "conv",
                "batch": 1,
                "in_channels": 8,
                "out_channels": 16,
                "in_h": 8,
                "in_w": 8,
                "out_h": 8,
                "out_w": 8,
                "kernel_h": 3,
                "kernel_w": 3,
                "pad_h": 1,
                "pad_w": 1,
            },
            {"name": "b", "kind": "linear", "batch": 1, "in_channels": 64, "out_channels": 10},
        ],
    )
    table = hardware_costs(wl, "bitfusion", CANDS, CANDS)
    policy = BitPolicy({"a": (3, 6), "b": (8, 2)})
    totals = hwsim.simulate(wl, policy, "bitfusion").totals
    for metric in ("latency", "energy", "memory"):
        value = table.total(metric, policy)  # by budget name: the metric it means
        assert value == pytest.approx(totals[REPORT_KEYS[metric]], rel=1e-9)


def test_proxy_bitops_is_macs_times_bits():
    wl = hwsim.Workload.from_layers(
        "t", [{"name": "b", "kind": "linear", "batch": 2, "in_channels": 64, "out_channels": 10}]
    )
    costs = proxy_costs(wl, CANDS, CANDS)
    macs = 2 * 64 * 10
    latency, memory = costs.metric(PROXY_KEYS["latency"]), costs.metric(PROXY_KEYS["memory"])
    assert latency[0, CANDS.index(3), CANDS.index(6)] == macs * 3 * 6
    assert memory[0, CANDS.index(3), CANDS.index(6)] == 64 * 10 * 3


def test_repair_policy_meets_a_simulated_budget():
    wl = hwsim.Workload.from_layers(
        "t",
        [
            {"name": f"l{i}", "kind": "linear", "batch": 4, "in_channels": 256, "out_channels": 256}
            for i in range(3)
        ],
    )
    table = hardware_costs(wl, "stripes", CANDS, CANDS)
    lowest = table.uniform_total("latency_s", 2, 2)
    budgets = {"latency_s": (lowest + table.uniform_total("latency_s", 8, 8)) / 2}
    sens = np.zeros((3, len(CANDS), len(CANDS)))
    fixed, res = repair_policy(table, sens, BitPolicy.uniform(wl, 8, 8), budgets)
    assert len(res.moves) > 0
    assert hwsim.simulate(wl, fixed, "stripes").totals["latency_s"] <= budgets["latency_s"] * (
        1 + 1e-9
    )


def test_snap_rounds_up_to_candidates():
    wl = hwsim.Workload.from_layers(
        "t",
        [
            {"name": n, "kind": "linear", "batch": 1, "in_channels": 4, "out_channels": 4}
            for n in ("a", "b")
        ],
    )
    table = proxy_costs(wl, CANDS, CANDS)
    snapped, notes = snap_to_candidates(BitPolicy({"a": (1, 4), "b": (7, 5)}), table)
    assert snapped.bits == {"a": (2, 4), "b": (8, 6)}
    assert len(notes) == 2


def test_bsq_marginal_cost_skips_precisions_that_save_nothing():
    # Costs by weight bits 1..8 as on a 2/4/8 padding machine: 1,2 -> 2; 3,4 -> 4; 5..8 -> 8.
    padded = np.array([[2, 2, 4, 4, 8, 8, 8, 8], [1, 2, 3, 4, 5, 6, 7, 8]], dtype=float)
    costs = bsq_marginal_costs(["pad", "lin"], padded, range(1, 9))
    at4 = costs({"pad": 4, "lin": 4})
    assert at4["pad"] == pytest.approx((4 - 2) / 2)  # down to 2 bits, 2 bits saved
    assert at4["lin"] == pytest.approx(1.0)
    assert costs({"pad": 8, "lin": 8})["pad"] == pytest.approx((8 - 4) / 4)


def test_table_rejects_bits_outside_candidates():
    wl = hwsim.Workload.from_layers(
        "t", [{"name": "a", "kind": "linear", "batch": 1, "in_channels": 4, "out_channels": 4}]
    )
    table = proxy_costs(wl, CANDS, CANDS)
    with pytest.raises(HwsimError) as err:
        table.choice(BitPolicy({"a": (5, 4)}))
    assert err.value.field == "w_bits"
    with pytest.raises(HwsimError) as err:
        table.choice(BitPolicy({"a": (4, 7)}))
    assert err.value.field == "a_bits"


def test_proxy_budgets_on_one_metric_keep_the_tighter():
    wl = hwsim.Workload.from_layers(
        "t", [{"name": "a", "kind": "linear", "batch": 1, "in_channels": 4, "out_channels": 4}]
    )
    table = proxy_costs(wl, CANDS, CANDS)
    budgets = table_budgets(table, {"latency": 0.7, "energy": 0.4, "memory": 0.9}, PROXY_KEYS)
    w8a8 = 4 * 4 * 8 * 8
    assert budgets == pytest.approx({"bitops": 0.4 * w8a8, "weight_bits": 0.9 * 4 * 4 * 8})
    assert list(budgets) == ["bitops", "weight_bits"]
