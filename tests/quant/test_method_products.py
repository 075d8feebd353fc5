"""Every method searches the activation x activation products (attention scores and values):
on vit_digits the policy names every workload row, products included, each product's bits
follow the method's rule for two activation operands, and the searched model keeps the float
model's workload. Codesign prices the products: its tables and totals count every captured MAC.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import hwsim
import models
from hwsim import BitPolicy, HwsimError
from hwsim.hardware.report import CostTable
from quant.bottleneck import SECOND
from quant.costs import bitops_table
from quant.methods import SearchProblem, check_covers, make_config, search_method
from tests.models.test_transformer_nets import analytic_macs

CANDS = (2, 4, 8)


@functools.cache
def _setup():
    from dataclasses import replace

    from models.data import load_digits

    torch.manual_seed(0)
    full = load_digits(seed=0)
    # A few batches are enough to run every method's search end to end.
    data = replace(
        full,
        x_train=full.x_train[:256],
        y_train=full.y_train[:256],
        x_test=full.x_test[:64],
        y_test=full.y_test[:64],
    )
    base = models.build("vit_digits").eval()
    wl = models.extract_workload(base, models.example_input("vit_digits"))
    return data, base, wl


def _products(wl) -> list[str]:
    return [n for n, a in zip(wl.layer_names, wl.is_act_matmul, strict=True) if a]


def _problem(wl, budget: float = 0.9) -> SearchProblem:
    table = bitops_table(wl, CANDS, CANDS)
    budgets = {"bitops": budget * float(table.uniform_total("bitops", 8, 8))}
    sens = np.random.default_rng(0).random((len(wl), len(CANDS), len(CANDS)))
    return SearchProblem(table, budgets, sens)


@pytest.mark.parametrize("method", ["ebs", "bsq", "knapsack", "direct", "bottleneck"])
def test_every_method_searches_the_products(method):
    data, base, wl = _setup()
    products = _products(wl)
    assert len(products) == 4
    m = search_method(method)
    config = make_config(m, None, epochs=1, finetune_epochs=0, qat_epochs=0)
    result = m.search(base, data, config, _problem(wl) if m.budgeted else None, progress=False)
    assert set(result.policy.bits) == set(wl.layer_names)
    bits = {n: result.policy[n] for n in products}
    if method == "bsq":  # activations held at act_bits: both product operands too
        assert set(bits.values()) == {(config.act_bits, config.act_bits)}
    elif method == "direct":
        assert set(bits.values()) == {(config.a_bits, config.a_bits)}
    elif method in ("ebs", "knapsack"):
        assert all(w in CANDS and a in CANDS for w, a in bits.values())
    # The searching modules are transparent: the searched model has the float model's rows.
    with torch.no_grad():
        again = models.extract_workload(result.model, models.example_input("vit_digits"))
    assert again.layer_names == wl.layer_names
    for key in ("kind", "M", "N", "K", "batch"):  # ("first" moves: inputs pass a quantizer)
        np.testing.assert_array_equal(again.columns[key], wl.columns[key])
    if method == "bottleneck":  # each operand coded and rated on its own
        fits = result.extras["fits"]
        for n in products:
            assert (fits[n + SECOND].rate, fits[n].rate) == bits[n]


def test_ebs_prices_the_products():
    """A table where only the products cost (w x a), under a budget that only all-2-bit
    products meet: EBS pushes every product to 2 bits on both operands, which it can only do
    if the products' strengths are in its expected cost."""
    data, base, wl = _setup()
    act = wl.is_act_matmul
    # Widest first: with no pressure the argmax of equal logits stays at 8 bits.
    cands = CANDS[::-1]
    w = np.array(cands, float)
    cost = np.where(act[:, None, None], w[None, :, None] * w[None, None, :], 0.0)
    table = CostTable(wl.layer_names, cands, cands, {"cost": cost})
    problem = SearchProblem(table, {"cost": 4.0 * act.sum()})
    config = make_config(search_method("ebs"), {"lam": 50.0, "epochs": 2})
    result = search_method("ebs").search(base, data, config, problem, progress=False)
    assert {result.policy[n] for n in _products(wl)} == {(2, 2)}
    # Without the penalty nothing pushes them: the same search leaves them wide.
    config = make_config(search_method("ebs"), {"lam": 0.0, "epochs": 2})
    result = search_method("ebs").search(base, data, config, problem, progress=False)
    assert all(max(result.policy[n]) > 2 for n in _products(wl))


def test_a_row_no_method_could_search_is_refused():
    _, _, wl = _setup()
    policy = BitPolicy({n: (8, 8) for n in wl.layer_names if n not in _products(wl)})
    with pytest.raises(HwsimError, match="could not search 4 row") as err:
        check_covers(policy, wl.layer_names, "EBS")
    assert err.value.field == "policy.layers"


def test_codesign_tables_count_every_captured_mac():
    """Codesign's workload (traced at the data's sample shape) holds the products; its
    simulated table prices them at both operands' bits, and the totals of any policy over the
    table count every MAC the capture found (the analytic count, products included)."""
    from models.data import load_dataset
    from quant.codesign.run import data_workload
    from quant.search.hardware_aware import (
        REPORT_KEYS,
        hardware_costs,
        knapsack_policy,
        lowest_reachable,
        table_budgets,
    )

    wl = data_workload("vit_digits", load_dataset("digits", seed=0), "digits")
    batch = models.zoo.entry("vit_digits").batch
    assert wl.total_macs == batch * analytic_macs("vit_digits")
    products = _products(wl)
    assert len(products) == 4
    hw = hwsim.load_hardware("loom")  # serial in both operands
    table = hardware_costs(wl, hw, CANDS, CANDS)
    assert table.layer_names == wl.layer_names
    lat = table.metric("latency")
    for n in products:
        i = wl.index(n)
        assert lat[i, 0, 0] < lat[i, 2, 0] and lat[i, 0, 0] < lat[i, 0, 2]  # both operands
        assert np.all(table.metric("memory")[i] == 0)  # nothing stored
    assert bitops_table(wl, (1,), (1,)).uniform_total("bitops", 1, 1) == wl.total_macs
    sens = np.random.default_rng(1).random((len(wl), len(CANDS), len(CANDS)))
    assert lowest_reachable(table, "latency_s") < 0.6
    policy = knapsack_policy(table, sens, table_budgets(table, {"latency": 0.6}, REPORT_KEYS))
    assert set(products) <= set(policy.bits)
    report = hwsim.simulate(wl, policy, hw)
    assert report.totals["total_macs"] == wl.total_macs
    assert report.totals["latency_s"] == pytest.approx(table.total("latency", policy), rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["knapsack", "ebs", "bsq"])
def test_codesign_on_vit_digits_searches_the_products(method):
    from quant.codesign import CodesignConfig, run_codesign

    cfg = CodesignConfig(
        model="vit_digits",
        hardware="loom",
        budgets={"latency": 0.6},
        method=method,
        epochs=0,
        baseline_epochs=2,
        candidates=CANDS,
        uniform=(),
        samples=32,
        method_params={"act_bits": 4} if method == "bsq" else {},
    )
    result = run_codesign(cfg, progress=False)
    _, _, wl = _setup()
    for label, policy in result.policies.items():
        policy.check_matches(wl)
        assert set(_products(wl)) <= set(policy.bits), label
    assert bool(result.results["within_budget"].iloc[0])
    from quant.codesign.report import report_markdown

    assert result.products == tuple(_products(wl))
    assert "4 row(s) are activation x activation products" in report_markdown(result)


def test_hessian_sensitivity_probes_both_operands_of_the_products():
    """HAWQ-style sensitivity on vit_digits: each product's two operands get their own
    Hutchinson trace (the second in the weight's place), the slots are given back untouched,
    and the table covers every row with the reference option at 0."""
    from quant.search.sensitivity import _traces, calibration_batches, hessian_sensitivity

    data, base, wl = _setup()
    batches = calibration_batches(base, data, 64, 64)
    w_tr, a_tr, _ = _traces(base, batches, wl.layer_names, 2, 0)
    for n in _products(wl):
        i = wl.index(n)
        assert w_tr[i] != 0 and a_tr[i] != 0
    assert all(m.scores_product is None for m in base.modules() if hasattr(m, "scores_product"))
    table = hessian_sensitivity(base, data, wl.layer_names, CANDS, CANDS, probes=2, samples=64)
    assert table.shape == (len(wl), 3, 3) and np.all(np.isfinite(table))
    np.testing.assert_array_equal(table[:, 2, 2], 0.0)  # (8, 8) is the reference
