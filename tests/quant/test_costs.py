"""The papers' proxy tables: BitOps and size against plain loops, in hwsim's CostTable."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwsim import Workload
from quant.costs import bitops_table, size_table, weight_compression
from tests.strategies import small_bits, workloads

bit_options = st.lists(small_bits, min_size=1, max_size=4, unique=True)


@given(workloads(), bit_options, bit_options)
def test_bitops_is_macs_times_bits(workload: Workload, w_bits, a_bits) -> None:
    table = bitops_table(workload, w_bits, a_bits)
    for l in range(len(workload)):
        macs = int(workload.M[l]) * int(workload.N[l]) * int(workload.K[l])
        for i, w in enumerate(w_bits):
            for j, a in enumerate(a_bits):
                assert table.metrics["bitops"][l, i, j] == macs * w * a
    assert table.layer_names == workload.layer_names


@given(workloads(), bit_options)
def test_size_is_params_times_bits(workload: Workload, w_bits) -> None:
    table = size_table(workload, w_bits, (4, 8))
    for l in range(len(workload)):
        params = int(workload.N[l]) * int(workload.K[l])  # out channels x reduction length
        for i, w in enumerate(w_bits):
            assert np.all(table.metric("memory")[l, i, :] == params * w)


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
    assert table.total("bitops", bits) == pytest.approx(expect)
    order = list(reversed(workload.layer_names))
    picked = table.select(order)
    assert picked.layer_names == tuple(order)
    assert np.array_equal(picked.metrics["bitops"], table.metrics["bitops"][::-1])


@given(st.lists(st.tuples(st.integers(1, 10**6), small_bits), min_size=1, max_size=8))
def test_weight_compression_formula(layers) -> None:
    params = [p for p, _ in layers]
    bits = [b for _, b in layers]
    assert weight_compression(params, bits) == pytest.approx(
        32 * sum(params) / sum(p * b for p, b in layers)
    )


def test_products_store_no_weights() -> None:
    """On a transformer the attention products (act x act rows) add no model size: size table,
    compression and mean weight bits count the rows that store weights, at any product bits."""
    import models
    from hwsim import BitPolicy
    from quant.costs import policy_metrics

    wl = models.extract_workload(models.build("vit_digits"), models.example_input("vit_digits"))
    act = wl.is_act_matmul
    assert act.sum() == 4
    table = size_table(wl, (2, 8))
    assert np.all(table.metric("memory")[act] == 0)
    np.testing.assert_array_equal(table.metric("memory")[~act, 1, 0], 8 * wl.N[~act] * wl.K[~act])
    for product_bits in (2, 16):
        bits = {
            n: ((product_bits, 4) if a else (4, 8))
            for n, a in zip(wl.layer_names, act, strict=True)
        }
        m = policy_metrics(wl, BitPolicy(bits))
        assert m["compression"] == pytest.approx(8.0)
        assert m["mean_w_bits"] == 4.0
