"""A cost table prints as one short line, gives a long-format DataFrame that lines up with its
arrays, and labels its per-hardware totals with the configs' names."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hwsim import Workload, cost_table, load_hardware
from hwsim.hardware.report import CostTable
from tests.strategies import small_bits

options = st.lists(small_bits, min_size=1, max_size=4, unique=True)


@st.composite
def tables(draw):
    n_hw = draw(st.integers(0, 3))
    n_layers = draw(st.integers(1, 5))
    w, a = draw(options), draw(options)
    shape = ((n_hw,) if n_hw else ()) + (n_layers, len(w), len(a))
    values = hnp.arrays(np.float64, shape, elements=st.floats(0, 1e6))
    metrics = {k: draw(values) for k in ("cycles", "latency_s", "bitops")}
    names = ("stripes", "loom", "bismo")[:n_hw]
    hardware = tuple(load_hardware(n) for n in names)
    return CostTable(tuple(f"l{i}" for i in range(n_layers)), w, a, metrics, hardware)


@settings(max_examples=40, deadline=None)
@given(tables(), st.data())
def test_to_frame_rows_line_up_with_the_arrays(table, data):
    df = table.to_frame()
    n_h = len(table.hardware)
    n_l, n_w, n_a = len(table.layer_names), len(table.w_bits), len(table.a_bits)
    assert len(df) == max(n_h, 1) * n_l * n_w * n_a
    keys = (["hardware"] if n_h else []) + ["layer", "w_bits", "a_bits"]
    assert list(df.columns) == keys + list(table.metrics)
    assert not df.duplicated(keys).any()
    # Any entry: look its labels up in the frame and compare with plain array indexing.
    h = data.draw(st.integers(0, max(n_h - 1, 0)))
    li, wi, ai = (data.draw(st.integers(0, n - 1)) for n in (n_l, n_w, n_a))
    sel = (df["layer"] == table.layer_names[li]) & (df["w_bits"] == table.w_bits[wi])
    sel &= df["a_bits"] == table.a_bits[ai]
    if n_h:
        sel &= df["hardware"] == table.hardware[h].name
    row = df[sel]
    assert len(row) == 1
    index = ((h,) if n_h else ()) + (li, wi, ai)
    assert row["latency_s"].iloc[0] == table.metrics["latency_s"][index]
    assert row["cycles"].iloc[0] == round(table.metrics["cycles"][index])
    assert df["cycles"].dtype.kind == "i"  # cycle counts are whole numbers


@settings(max_examples=20, deadline=None)
@given(tables())
def test_repr_is_one_short_line(table):
    text = repr(table)
    assert "\n" not in text and len(text) < 400
    assert f"{len(table.layer_names)} layers" in text
    for h in table.hardware:
        assert h.name in text
    for key in table.metrics:
        assert key in text


def test_real_table_repr_and_labelled_totals():
    wl = Workload.from_layers(
        "fcs",
        [
            {"name": f"fc{i}", "kind": "linear", "batch": 1, "in_channels": 256, "out_channels": 64}
            for i in range(40)
        ],
    )
    names = ["cpu-bitserial", "cpu-int8"]
    table = cost_table(wl, names, w_bits=[2, 4, 8], a_bits=[2, 4, 8])
    assert len(repr(table)) < 400  # not 40 x 3 x 3 x 2 numbers per metric
    total = table.uniform_total("latency", 4, 4)
    want = table.metrics["latency_s"][:, :, 1, 1].sum(axis=1)
    np.testing.assert_array_equal(np.asarray(total), want)
    assert total.labels == tuple(names)
    series = total.to_series()
    assert isinstance(series, pd.Series) and list(series.index) == names
    assert series["cpu-int8"] == want[1]
    for n in names:
        assert n in repr(total)
    # Still an array by position: what searches index.
    assert float(total[-1]) == want[-1]
    assert table.total("latency", {n: (4, 4) for n in wl.layer_names}).labels == tuple(names)
    # The frame of a real table: one row per (config, layer, w, a), in the arrays' order.
    df = table.to_frame()
    assert len(df) == 2 * 40 * 3 * 3
    for h, name in enumerate(names):
        for li in (0, 39):
            for wi, w in enumerate((2, 4, 8)):
                for ai, a in enumerate((2, 4, 8)):
                    sel = (df["hardware"] == name) & (df["layer"] == f"fc{li}")
                    row = df[sel & (df["w_bits"] == w) & (df["a_bits"] == a)]
                    assert len(row) == 1
                    want = table.metrics["energy_j"][h, li, wi, ai]
                    assert row["energy_j"].iloc[0] == want
                    assert row["cycles"].iloc[0] == round(table.metrics["cycles"][h, li, wi, ai])
    # One config: a plain number.
    single = cost_table(wl, "cpu-int8", w_bits=[4], a_bits=[4])
    assert np.ndim(single.uniform_total("latency", 4, 4)) == 0
