"""The one per-(layer, bits) cost table: validation names the field, lookups by bits agree
with plain indexing, budget names mean one metric each."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hwsim import HwsimError, load_hardware
from hwsim.hardware.report import COST_ALIASES, CostTable
from tests.strategies import small_bits

options = st.lists(small_bits, min_size=1, max_size=4, unique=True)


@st.composite
def tables(draw, n_hardware: int = 0):
    n_layers = draw(st.integers(1, 4))
    w, a = draw(options), draw(options)
    shape = ((n_hardware,) if n_hardware else ()) + (n_layers, len(w), len(a))
    values = hnp.arrays(np.float64, shape, elements=st.floats(0, 1e6))
    metrics = {k: draw(values) for k in ("latency_s", "weight_bits", "bitops")}
    hardware = tuple(load_hardware("stripes") for _ in range(n_hardware))
    return CostTable(tuple(f"l{i}" for i in range(n_layers)), w, a, metrics, hardware)


@given(tables(), st.data())
def test_total_choice_and_bits_agree_with_plain_indexing(table, data):
    bits = {
        n: (data.draw(st.sampled_from(table.w_bits)), data.draw(st.sampled_from(table.a_bits)))
        for n in table.layer_names
    }
    want = sum(
        table.metrics["latency_s"][l, table.w_bits.index(w), table.a_bits.index(a)]
        for l, (w, a) in enumerate(bits[n] for n in table.layer_names)
    )
    assert table.total("latency", bits) == pytest.approx(want)
    choice = table.choice(bits)
    assert table.bits(choice) == bits
    assert [tuple(table.option_bits[c]) for c in choice] == [bits[n] for n in table.layer_names]
    w, a = table.w_bits[-1], table.a_bits[0]
    uniform = {n: (w, a) for n in table.layer_names}
    assert table.uniform_total("bitops", w, a) == pytest.approx(table.total("bitops", uniform))


@given(tables(n_hardware=2), st.data())
def test_several_configs_give_one_total_each(table, data):
    bits = {n: (table.w_bits[0], table.a_bits[-1]) for n in table.layer_names}
    got = table.total("weight_bits", bits)
    for h in range(2):
        single = CostTable(
            table.layer_names, table.w_bits, table.a_bits, {"m": table.metrics["weight_bits"][h]}
        )
        assert got[h] == pytest.approx(single.total("m", bits))
    order = list(reversed(table.layer_names))
    picked = table.select(order)
    assert np.array_equal(picked.metrics["bitops"], table.metrics["bitops"][:, ::-1])


def test_budget_names_mean_one_metric():
    assert COST_ALIASES == {"latency": "latency_s", "energy": "energy_j", "memory": "weight_bits"}
    t = CostTable(("l0",), (2,), (8,), {"weight_bits": np.ones((1, 1, 1))})
    assert t.metric("memory") is t.metrics["weight_bits"]
    with pytest.raises(HwsimError, match="metric"):
        t.metric("latency")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"metrics": {"x": np.ones((2, 2, 1))}}, "metrics[x].shape"),
        ({"metrics": {"x": -np.ones((1, 2, 1))}}, "metrics[x]"),
        ({"metrics": {"x": np.full((1, 2, 1), np.nan)}}, "metrics[x]"),
        ({"metrics": {"x": np.full((1, 2, 1), np.inf)}}, "metrics[x]"),
        ({"metrics": {}}, "metrics"),
        ({"w_bits": (4, 4)}, "w_bits"),
        ({"w_bits": (0, 4)}, "w_bits"),
        ({"a_bits": ()}, "a_bits"),
        ({"layer_names": ()}, "layer_names"),
        ({"layer_names": ("l0", "l0")}, "layer_names"),
    ],
)
def test_validation_names_the_field(kwargs, field):
    args = {
        "layer_names": ("l0",),
        "w_bits": (2, 4),
        "a_bits": (8,),
        "metrics": {"x": np.ones((1, 2, 1))},
    }
    args.update(kwargs)
    with pytest.raises(HwsimError) as err:
        CostTable(**args)
    assert err.value.field == field


def test_several_configs_need_one_row_each():
    hw = (load_hardware("stripes"),) * 3
    with pytest.raises(HwsimError) as err:
        CostTable(("l0",), (2,), (8,), {"x": np.ones((2, 1, 1, 1))}, hw)
    assert err.value.field == "metrics[x].shape"


def test_lookups_reject_unknown_options():
    t = CostTable(("l0",), (2, 4), (8,), {"x": np.ones((1, 2, 1))})
    with pytest.raises(HwsimError, match="w_bits"):
        t.uniform_total("x", 3, 8)
    with pytest.raises(HwsimError, match="bits"):
        t.total("x", {"other": (2, 8)})
    with pytest.raises(HwsimError, match="layer_names"):
        t.select(["nope"])
