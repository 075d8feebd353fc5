"""The one method registry: every method implements the protocol, validates its config, and
every caller (quantize_model, codesign, the CLI) reads the same list."""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass, fields
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hwsim import HwsimError
from hwsim.hardware.report import CostTable
from quant.methods import (
    SearchMethod,
    SearchProblem,
    budgeted_methods,
    make_config,
    methods,
    register_method,
    search_method,
)

PAPER_METHODS = {"bottleneck", "bsq", "direct", "ebs", "knapsack"}

# One bad value per validated field kind, with the field the error must name.
BAD_FIELDS = {
    "bsq": [("alpha", -1.0), ("epochs", 0), ("requant_every", 0), ("act_bits", 0), ("lr", 0.0)],
    "ebs": [("lam", -0.5), ("penalty", "square"), ("epochs", 0), ("candidates", (2, 2))],
    "bottleneck": [("psnr_loss_db", -1.0), ("n0", 17), ("qat_epochs", -1), ("lr", -1e-3)],
    "direct": [("w_bits", 0), ("act_range", "tensor"), ("finetune_epochs", -1)],
    "knapsack": [("finetune_epochs", -1), ("lr", float("inf")), ("seed", -2)],
}


def test_every_builtin_method_is_registered_once_and_implements_the_protocol():
    assert PAPER_METHODS <= set(methods())
    for name in PAPER_METHODS:
        method = search_method(name)
        assert isinstance(method, SearchMethod)
        assert method.name == name
        assert search_method(method.config_type()) is method
    types = [search_method(n).config_type for n in methods()]
    assert len(set(types)) == len(types)


@pytest.mark.parametrize(
    ("method", "field", "value"),
    [(m, f, v) for m, bad in BAD_FIELDS.items() for f, v in bad],
)
def test_configs_reject_bad_values_naming_the_field(method, field, value):
    config_type = search_method(method).config_type
    with pytest.raises(HwsimError) as err:
        config_type(**{field: value})
    assert err.value.field == field
    # Booleans are not counts.
    counts = [f.name for f in fields(config_type) if f.name in ("seed", "finetune_epochs")]
    for name in counts:
        with pytest.raises(HwsimError, match=name):
            config_type(**{name: True})


def test_make_config_names_unknown_fields_and_applies_overrides():
    ebs = search_method("ebs")
    with pytest.raises(HwsimError, match="method_params") as err:
        make_config(ebs, {"lambda": 2.0})
    assert "lambda" in str(err.value)
    config = make_config(ebs, {"lam": 2.0}, epochs=3, seed=7, not_a_field=1)
    assert (config.lam, config.epochs, config.seed) == (2.0, 3, 7)
    # A field given explicitly wins over the caller's override.
    assert make_config(ebs, {"epochs": 5}, epochs=3).epochs == 5


def test_codesign_and_the_cli_offer_the_budgeted_methods():
    from quant.codesign import CodesignConfig
    from sweeps.cli import build_parser

    budgeted = budgeted_methods()
    assert {"knapsack", "ebs", "bsq"} <= set(budgeted)
    assert not {"direct", "bottleneck"} & set(budgeted)
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    method = next(a for a in sub.choices["codesign"]._actions if a.dest == "method")
    assert tuple(method.choices) == budgeted
    for name in budgeted:
        assert CodesignConfig(method=name).method_config == make_config(
            search_method(name), dict(search_method(name).codesign_defaults), epochs=4, seed=0
        )
    with pytest.raises(HwsimError, match="method"):
        CodesignConfig(method="direct")


def test_codesign_config_takes_method_params():
    from quant.codesign import CodesignConfig

    cfg = CodesignConfig(method="ebs", epochs=0, seed=3, method_params={"lam": 0.25})
    # Search epochs are at least one; seed and the remaining defaults come from codesign.
    assert (cfg.method_config.lam, cfg.method_config.epochs, cfg.method_config.seed) == (0.25, 1, 3)
    with pytest.raises(HwsimError, match="method_params"):
        CodesignConfig(method="bsq", method_params={"ebs_lambda": 5.0})
    with pytest.raises(HwsimError) as err:
        CodesignConfig(method="bsq", method_params={"alpha": -1.0})
    assert err.value.field == "alpha"
    # BSQ's fixed activation bits must be a candidate: checked before any work is done.
    with pytest.raises(HwsimError) as err:
        CodesignConfig(method="bsq", candidates=(2, 8), method_params={"act_bits": 4})
    assert err.value.field == "act_bits"
    assert CodesignConfig(method="bsq", candidates=(2, 8), method_params={"act_bits": 8})


def test_register_rejects_what_is_not_a_method_and_a_taken_config_type():
    with pytest.raises(HwsimError, match="SearchMethod"):
        register_method(object())

    @dataclass(frozen=True)
    class Cfg:
        pass

    class Impostor:
        name = "_test_impostor"
        config_type = search_method("ebs").config_type
        budgeted = False
        codesign_defaults: dict = {}  # noqa: RUF012

        def search(self, model, data, config, problem=None, *, progress=None): ...

        def finetune(self, result, data, config, *, progress=None): ...

    with pytest.raises(HwsimError, match="config_type"):
        register_method(Impostor())
    assert "_test_impostor" not in methods()


def test_knapsack_needs_a_problem_with_sensitivities():
    knapsack = search_method("knapsack")
    with pytest.raises(HwsimError, match="problem"):
        knapsack.search(torch.nn.Linear(2, 2), None, knapsack.config_type())
    table = CostTable(("0",), (2,), (2,), {"latency_s": np.ones((1, 1, 1))})
    with pytest.raises(HwsimError, match="problem"):
        knapsack.search(
            torch.nn.Linear(2, 2),
            None,
            knapsack.config_type(),
            SearchProblem(table, {"latency_s": 1}),
        )


def test_problem_checks_budgets_and_sensitivity_against_the_table():
    table = CostTable(("0", "1"), (2, 4), (8,), {"latency_s": np.ones((2, 2, 1))})
    with pytest.raises(HwsimError, match="metric"):
        SearchProblem(table, {"energy_j": 1.0})
    with pytest.raises(HwsimError) as err:
        SearchProblem(table, {"latency_s": 0.0})
    assert err.value.field == "budgets[latency_s]"
    with pytest.raises(HwsimError) as err:
        SearchProblem(table, {"latency_s": 1.0}, np.zeros((2, 2, 2)))
    assert err.value.field == "sensitivity.shape"
    assert SearchProblem(table, {"latency": 1.0}).primary == "latency"  # a budget name works


W_BITS, A_BITS = (2, 4), (4, 8)


@settings(max_examples=20, deadline=None)
@given(
    sens=hnp.arrays(np.float64, (3, 2, 2), elements=st.floats(0, 10, allow_nan=False)),
    cost=hnp.arrays(np.float64, (3, 2, 2), elements=st.floats(0.01, 10, allow_nan=False)),
    fraction=st.floats(0.3, 1.0),
)
def test_knapsack_method_is_the_best_policy_within_budget(sens, cost, fraction):
    """Against brute force over every per-layer option of a 3-layer, 2x2-option space."""
    names = ("0", "1", "2")
    table = CostTable(names, W_BITS, A_BITS, {"latency_s": cost})
    budget = fraction * float(cost.max(axis=(1, 2)).sum())
    options = list(itertools.product(range(2), range(2)))
    feasible = [
        combo
        for combo in itertools.product(options, repeat=3)
        if sum(cost[l, i, j] for l, (i, j) in enumerate(combo)) <= budget
    ]
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    data = SimpleNamespace(x_train=torch.randn(8, 4), y_train=torch.randint(0, 2, (8,)))
    knapsack = search_method("knapsack")
    problem = SearchProblem(table, {"latency_s": budget}, sens)
    if not feasible:
        with pytest.raises(HwsimError):
            knapsack.search(model, data, knapsack.config_type(), problem)
        return
    best = min(sum(sens[l, i, j] for l, (i, j) in enumerate(c)) for c in feasible)
    result = knapsack.search(model, data, knapsack.config_type(), problem)
    chosen = [(W_BITS.index(result.policy[n][0]), A_BITS.index(result.policy[n][1])) for n in names]
    assert sum(cost[l, i, j] for l, (i, j) in enumerate(chosen)) <= budget * (1 + 1e-9)
    assert sum(sens[l, i, j] for l, (i, j) in enumerate(chosen)) == pytest.approx(best, abs=1e-9)
    # The searched model runs at exactly those bits.
    from quant.model import current_policy

    assert current_policy(result.model).bits == result.policy.bits
