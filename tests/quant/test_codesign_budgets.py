"""Budgets as users write them: fractions of uniform 8-bit, or amounts with a unit."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwsim.errors import HwsimError
from quant.codesign import CodesignConfig, parse_budgets
from quant.codesign.budgets import (
    BudgetWarning,
    absolute_budgets,
    parse_budget,
    relative_budgets,
)

# Unit sizes written out by hand (SI prefixes; memory in bits, KiB = 1024 bytes).
CASES = [
    ("latency", "2ms", 2e-3),
    ("latency", "2 ms", 2e-3),
    ("latency", "250us", 250e-6),
    ("latency", "250µs", 250e-6),
    ("latency", "1.5e-3s", 1.5e-3),
    ("latency", "40ns", 40e-9),
    ("energy", "50uJ", 50e-6),
    ("energy", "3mJ", 3e-3),
    ("energy", "7pJ", 7e-12),
    ("energy", "1J", 1.0),
    ("memory", "96KiB", 96 * 1024 * 8),
    ("memory", "2MiB", 2 * 1024 * 1024 * 8),
    ("memory", "100B", 800),
    ("memory", "1000bits", 1000),
    ("memory", "3kB", 24000),
]


@pytest.mark.parametrize(("metric", "text", "base"), CASES)
def test_absolute_amounts_in_base_units(metric, text, base):
    amount, absolute = parse_budget(metric, text)
    assert absolute
    assert amount == pytest.approx(base, rel=1e-12)


@given(st.floats(1e-3, 0.999), st.sampled_from(["latency", "energy", "memory"]))
def test_fractions_stay_fractions(value, metric):
    for given_as in (value, repr(value)):
        amount, absolute = parse_budget(metric, given_as)
        assert not absolute and amount == pytest.approx(value)


@pytest.mark.parametrize(
    ("metric", "text", "says"),
    [
        ("latency", "2uJ", "unknown unit"),  # an energy unit on a latency
        ("energy", "2ms", "unknown unit"),
        ("memory", "3 parsecs", "unknown unit"),
        ("latency", "fast", "expected a fraction"),
        ("latency", "-2ms", "> 0"),
        ("latency", "0", "> 0"),
        ("area", "0.5", "metrics are"),
    ],
)
def test_bad_budgets_name_the_field(metric, text, says):
    with pytest.raises(HwsimError, match=says):
        parse_budget(metric, text)


def test_cli_parsing_keeps_amounts_with_their_units():
    got = parse_budgets(["latency=2ms,energy=0.5", "memory=96KiB"])
    assert got == {"latency": "2ms", "energy": 0.5, "memory": "96KiB"}
    with pytest.raises(HwsimError, match="--budget"):
        parse_budgets(["speed=2ms"])


def test_reference_turns_amounts_and_fractions_into_each_other():
    ref = {"latency": 4e-3, "energy": 1e-4}
    budgets = {"latency": "2ms", "energy": 0.25}
    assert absolute_budgets(budgets, ref) == pytest.approx({"latency": 2e-3, "energy": 2.5e-5})
    assert relative_budgets(budgets, ref) == pytest.approx({"latency": 0.5, "energy": 0.25})


def test_a_fraction_of_one_or_more_warns_and_an_amount_does_not():
    with pytest.warns(BudgetWarning, match="latency=1.5"):
        CodesignConfig(budgets={"latency": 1.5})
    with pytest.warns(BudgetWarning, match="energy=1 "):  # the CLI's path: parsed, then checked
        CodesignConfig(budgets=parse_budgets(["energy=1"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", BudgetWarning)
        CodesignConfig(budgets={"latency": 0.99})
        CodesignConfig(budgets={"latency": "2ms", "energy": "5J"})


def test_the_config_accepts_absolute_budgets():
    cfg = CodesignConfig(budgets={"latency": "2ms", "memory": 0.5})
    assert cfg.budgets == {"latency": "2ms", "memory": 0.5}
    with pytest.raises(HwsimError, match="unknown unit"):
        CodesignConfig(budgets={"latency": "2 furlongs"})


def test_budgets_read_on_the_hardware_convert_amounts_to_fractions():
    """An absolute budget becomes its fraction of uniform 8-bit in the simulated table, and
    stays the amount as written in absolute terms."""
    import hwsim
    from quant.codesign.budgets import Budgets

    wl = hwsim.Workload.from_layers(
        "tiny",
        [{"name": "a", "kind": "linear", "batch": 1, "in_channels": 64, "out_channels": 32}],
    )
    table = hwsim.cost_table(wl, "stripes", [2, 4, 8], [2, 4, 8])
    ref = hwsim.simulate(wl, hwsim.BitPolicy.uniform(wl, 8, 8), "stripes").totals
    amount = f"{ref['latency_s'] * 0.5 * 1e6!r}us"
    cfg = CodesignConfig(budgets={"latency": amount, "memory": 0.25})
    terms = Budgets.read(cfg.budgets, table, cfg.reference)
    assert terms.reference_totals == pytest.approx(
        {"latency": ref["latency_s"], "energy": ref["energy_j"], "memory": ref["weight_bits"]}
    )
    fractions = terms.config_in_fractions(cfg).budgets
    assert fractions == pytest.approx({"latency": 0.5, "memory": 0.25})
    assert terms.absolute["latency"] == float(amount[:-2]) * 1e-6
    assert terms.absolute["memory"] == pytest.approx(0.25 * ref["weight_bits"])
    plain = CodesignConfig(budgets={"latency": 0.5})
    assert Budgets.read(plain.budgets, table).config_in_fractions(plain) is plain


def test_a_codesign_run_keeps_an_absolute_budget(tmp_path, monkeypatch):
    """The plain codesign run with ``latency=<amount>``: the chosen policy's simulated latency
    is within that amount, and the result states it as its fraction of 8-bit."""
    import hwsim
    import models
    from quant.codesign import run_codesign

    monkeypatch.setenv("HWSIM_CACHE", str(tmp_path))
    wl = models.extract_workload(
        models.build("mlp_digits"), models.example_input("mlp_digits", batch=None)
    )
    ref = hwsim.simulate(wl, hwsim.BitPolicy.uniform(wl, 8, 8), "bitfusion").totals["latency_s"]
    amount = 0.7 * ref
    cfg = CodesignConfig(
        model="mlp_digits",
        hardware="bitfusion",
        budgets={"latency": f"{amount * 1e9!r}ns"},
        epochs=0,
        baseline_epochs=1,
        candidates=(2, 4, 8),
        uniform=(),
        samples=32,
    )
    result = run_codesign(cfg, progress=False)
    assert result.config.budgets["latency"] == pytest.approx(0.7)
    assert result.budgets["latency"] == pytest.approx(amount)
    latency = hwsim.simulate(wl, result.policies[result.chosen], "bitfusion").totals["latency_s"]
    assert latency <= amount * (1 + 1e-9)
