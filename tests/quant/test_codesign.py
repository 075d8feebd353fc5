"""Codesign drives every budgeted method through the registry; what each returns fits the
budget when the simulator prices it (the CLI test covers the knapsack)."""

from __future__ import annotations

import pytest

import hwsim
from hwsim import BitPolicy
from quant.codesign import CodesignConfig, run_codesign


@pytest.mark.slow
@pytest.mark.parametrize("method", ["ebs", "bsq"])
def test_trained_searches_fit_the_simulated_budget(method):
    import models

    cfg = CodesignConfig(
        model="mlp_digits",
        hardware="bitfusion",
        budgets={"latency": 0.6},
        method=method,
        epochs=0,
        candidates=(2, 4, 8),
        uniform=(),
        samples=32,
    )
    result = run_codesign(cfg, progress=False)
    wl = models.extract_workload(
        models.build("mlp_digits"), models.example_input("mlp_digits", batch=None)
    )
    ref = hwsim.simulate(wl, BitPolicy.uniform(wl, 8, 8), "bitfusion").totals["latency_s"]
    for label in (result.chosen, f"{result.chosen.split(' ')[0]} (proxy: bitops) + repair"):
        policy = result.policies[label]
        policy.check_matches(wl)
        assert all(w in (2, 4, 8) and a in (2, 4, 8) for w, a in policy.bits.values())
        latency = hwsim.simulate(wl, policy, "bitfusion").totals["latency_s"]
        assert latency <= 0.6 * ref * (1 + 1e-9), label
    assert list(result.results["method"]) == list(result.policies)
