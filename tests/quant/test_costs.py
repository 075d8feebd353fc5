"""Per-layer cost tables: BitOps and size against plain loops, the hwsim adapter, validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hwsim import HwsimError, Workload
from hwsim.hardware.report import CostTable
from quant.costs import (
    LayerCostTable,
    as_cost_table,
    bitops_table,
    from_hwsim,
    size_table,
    weight_compression,
)
from tests.strategies import small_bits, workloads

bit_options = st.lists(small_bits, min_size=1, max_size=4, unique=True)


@given(workloads(), bit_options, bit_options)
def test_bitops_is_macs_times_bits(workload: Workload, w_bits, a_bits) -> None:
    table = bitops_table(workload, w_bits, a_bits)
    for l in range(len(workload)):
        macs = int(workload.M[l]) * int(workload.N[l]) * int(workload.K[l])
        for i, w in enumerate(w_bits):
            for j, a in enumerate(a_bits):
                assert table.values[l, i, j] == macs * w * a
    assert table.layer_names == workload.layer_names


@given(workloads(), bit_options)
def test_size_is_params_times_bits(workload: Workload, w_bits) -> None:
    table = size_table(workload, w_bits, (4, 8))
    for l in range(len(workload)):
        params = int(workload.N[l]) * int(workload.K[l])  # out channels x reduction length
        for i, w in enumerate(w_bits):
            assert np.all(table.values[l, i, :] == params * w)


@given(workloads(min_layers=2), st.data())
def test_total_and_select(workload: Workload, data) -> None:
    table = bitops_table(workload, (2, 4, 8), (2, 4, 8))
    bits = {
        n: (data.draw(st.sampled_from([2, 4, 8])), data.draw(st.sampled_from([2, 4, 8])))
        for n in workload.layer_names
    }
    expect = sum(
        int(workload.macs[l]) * bits[n][0] * bits[n][1] for l, n in enumerate(workload.layer_names)
    )
    assert table.total(bits) == pytest.approx(expect)
    order = list(reversed(workload.layer_names))
    picked = table.select(order)
    assert picked.layer_names == tuple(order)
    assert np.array_equal(picked.values, table.values[::-1])
    assert torch.equal(picked.tensor(torch.float64), torch.tensor(table.values[::-1].copy()))


def _hwsim_table(rng: np.random.Generator, names: tuple[str, ...]) -> CostTable:
    shape = (len(names), 2, 3)
    arrays = {
        k: rng.random(shape)
        for k in ("latency_s", "energy_j", "memory_bits", "cycles", "dram_bytes")
    }
    return CostTable(
        layer_names=names,
        w_bits=np.array([2, 8]),
        a_bits=np.array([2, 4, 8]),
        hardware=(),
        extra={"sram_bits": rng.random(shape)},
        **arrays,
    )


@given(st.integers(0, 2**32 - 1))
def test_hwsim_adapter_takes_metric_by_name(seed: int) -> None:
    hw = _hwsim_table(np.random.default_rng(seed), ("a", "b"))
    for metric, key in (
        ("latency", "latency_s"),
        ("energy", "energy_j"),
        ("memory", "memory_bits"),
        ("sram_bits", "sram_bits"),
    ):
        t = from_hwsim(hw, metric)
        want = hw.extra[key] if key in hw.extra else getattr(hw, key)
        assert np.array_equal(t.values, want)
        assert (t.w_bits, t.a_bits, t.layer_names) == ((2, 8), (2, 4, 8), ("a", "b"))
    assert as_cost_table(hw).values is not hw.latency_s  # a validated read-only copy
    with pytest.raises(HwsimError, match="metric"):
        from_hwsim(hw, "speed")


def test_hwsim_adapter_rejects_several_configs() -> None:
    hw = _hwsim_table(np.random.default_rng(0), ("a",))
    hw.latency_s = np.stack([hw.latency_s, hw.latency_s])
    with pytest.raises(HwsimError, match="several hardware"):
        from_hwsim(hw)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"values": np.ones((2, 2, 1))}, "values.shape"),
        ({"values": -np.ones((1, 2, 1))}, "values"),
        ({"values": np.full((1, 2, 1), np.nan)}, "values"),
        ({"w_bits": (4, 4)}, "w_bits"),
        ({"w_bits": (0, 4)}, "w_bits"),
        ({"a_bits": ()}, "a_bits"),
        ({"layer_names": ()}, "layer_names"),
    ],
)
def test_validation_names_the_field(kwargs, field) -> None:
    args = {"layer_names": ("l0",), "w_bits": (2, 4), "a_bits": (8,), "values": np.ones((1, 2, 1))}
    args.update(kwargs)
    with pytest.raises(HwsimError) as err:
        LayerCostTable(**args)
    assert err.value.field == field


def test_lookups_reject_unknown_options() -> None:
    t = LayerCostTable(("l0",), (2, 4), (8,), np.ones((1, 2, 1)))
    with pytest.raises(HwsimError, match="w_bits"):
        t.uniform_total(3, 8)
    with pytest.raises(HwsimError, match="bits"):
        t.total({"other": (2, 8)})
    with pytest.raises(HwsimError, match="layer_names"):
        t.select(["nope"])


@given(st.lists(st.tuples(st.integers(1, 10**6), small_bits), min_size=1, max_size=8))
def test_weight_compression_formula(layers) -> None:
    params = [p for p, _ in layers]
    bits = [b for _, b in layers]
    assert weight_compression(params, bits) == pytest.approx(
        32 * sum(params) / sum(p * b for p, b in layers)
    )
