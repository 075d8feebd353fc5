"""The codesign problem: priced once, its budgets read in the user's terms against the
simulator's own totals."""

from __future__ import annotations

import numpy as np
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


# ------------------------------------------------------------------------------ joint problem
def _space():
    base = hwsim.load_hardware("stripes")
    return (base.replace(cols=8), base.replace(cols=16), hwsim.load_hardware("bitfusion"))


def test_the_joint_problem_reads_budgets_as_the_single_hardware_one():
    """The same budgets on the same reference hardware give the same absolute amounts: the
    fraction of the simulator's uniform 8-bit totals there, the amount as written."""
    from quant.codesign import JointConfig
    from quant.codesign.problem import JointProblem

    wl, space, ref_hw = _tiny(), _space(), hwsim.load_hardware("stripes")
    ref = hwsim.simulate(wl, hwsim.BitPolicy.uniform(wl, 8, 8), ref_hw).totals
    budgets = {"latency": 0.6, "energy": "3.5uJ", "memory": 0.7}
    area = [1.0, 2.0, 3.0]
    p = JointProblem.build(
        JointConfig(candidates=(2, 4, 8), budgets=budgets),
        wl,
        space,
        ref_hw,
        lambda hw: area[space.index(hw)],
    )
    single = CodesignProblem.build(
        CodesignConfig(candidates=(2, 4, 8), budgets=budgets), wl, ref_hw
    )
    assert p.budgets == single.budgets
    assert p.budgets == pytest.approx(
        {"latency": 0.6 * ref["latency_s"], "energy": 3.5e-6, "memory": 0.7 * ref["weight_bits"]}
    )
    assert p.reference_totals == pytest.approx(
        {"latency": ref["latency_s"], "energy": ref["energy_j"], "memory": ref["weight_bits"]}
    )
    assert p.hardware == space and p.reference is ref_hw and p.candidates == (2, 4, 8)
    assert list(p.areas) == [1.0, 2.0, 3.0]
    # The table holds the space's configurations, each as its own cost table prices it; the
    # reference is priced with them but left out.
    assert [h.name for h in p.table.hardware] == [h.name for h in space]
    for h, hw in enumerate(space):
        alone = hwsim.cost_table(wl, hw, (2, 4, 8), (2, 4, 8))
        np.testing.assert_allclose(p.table.flat("latency_s")[h], alone.flat("latency_s"))


def test_the_joint_problem_refuses_what_no_configuration_reaches():
    from quant.codesign import JointConfig
    from quant.codesign.problem import JointProblem

    wl, ref_hw = _tiny(), hwsim.load_hardware("stripes")
    space = _space()[2:] + _space()[:2]  # Bit Fusion first: the slowest here
    areas = [3.0, 9.0, float("nan")]  # the third: no area model

    def area(hw) -> float:
        return areas[space.index(hw)]

    def build(**fields) -> JointProblem:
        return JointProblem.build(JointConfig(candidates=(4, 8), **fields), wl, space, ref_hw, area)

    build(budgets={"latency": 0.9}).check()  # reachable: no error
    with pytest.raises(HwsimError) as err:
        build(budgets={"latency": 0.9}, max_area=2.0).check()
    assert err.value.field == "max_area" and err.value.value == 2.0
    assert "no configuration of the space fits (the smallest is 3 mm^2)" in str(err.value)
    # Below the fastest policy (each layer at its fastest option, priced on the configuration
    # alone) of the one configuration within the area: the two faster ones are left out, one
    # over the area, one without an area model.
    ref = hwsim.simulate(wl, hwsim.BitPolicy.uniform(wl, 8, 8), ref_hw).totals["latency_s"]
    fastest = hwsim.cost_table(wl, space[0], (4, 8), (4, 8)).flat("latency_s").min(axis=1).sum()
    with pytest.raises(HwsimError) as err:
        build(budgets={"latency": "1ns"}, max_area=6.0).check()
    assert err.value.field == "budgets" and err.value.value == {"latency": "1ns"}
    assert f"the lowest reachable is {fastest / ref:.3g}x uniform 8-bit on stripes" in str(
        err.value
    )
