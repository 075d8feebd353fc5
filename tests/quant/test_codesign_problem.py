"""The codesign problem: priced once, its budgets read in the user's terms against the
simulator's own totals."""

from __future__ import annotations

import pytest

import hwsim
from hwsim import HwsimError
from quant.codesign import CodesignConfig, CodesignProblem
from quant.codesign import problem as problem_module


def _tiny() -> hwsim.Workload:
    return hwsim.Workload.from_layers(
        "tiny",
        [
            {"name": "a", "kind": "linear", "batch": 1, "in_channels": 64, "out_channels": 32},
            {"name": "b", "kind": "linear", "batch": 1, "in_channels": 32, "out_channels": 10},
        ],
    )


def test_budgets_in_the_users_terms_are_the_simulators_totals(monkeypatch):
    wl, hw = _tiny(), hwsim.load_hardware("stripes")
    ref = hwsim.simulate(wl, hwsim.BitPolicy.uniform(wl, 8, 8), hw).totals
    priced = []
    real = problem_module.hardware_costs
    monkeypatch.setattr(
        problem_module, "hardware_costs", lambda *a: priced.append(a[2:]) or real(*a)
    )
    cfg = CodesignConfig(
        candidates=(2, 4, 8),
        budgets={"latency": f"{ref['latency_s'] * 0.6 * 1e6!r}us", "memory": 0.7},
    )
    p = CodesignProblem.build(cfg, wl, hw)
    assert priced == [((2, 4, 8), (2, 4, 8))]  # the hardware is priced once
    assert p.config is cfg and p.hardware is hw and p.candidates == (2, 4, 8)
    assert p.fractions.budgets["latency"] == pytest.approx(0.6)
    assert p.budgets["latency"] == pytest.approx(0.6 * ref["latency_s"])
    assert p.budgets["memory"] == pytest.approx(0.7 * ref["weight_bits"])


def test_an_unreachable_budget_is_refused_in_the_users_terms():
    wl, hw = _tiny(), hwsim.load_hardware("stripes")
    p = CodesignProblem.build(CodesignConfig(candidates=(4, 8), budgets={"latency": 0.01}), wl, hw)
    with pytest.raises(HwsimError) as err:
        p.check("BitOps")
    assert err.value.field == "budget" and err.value.value == "latency=0.01"
