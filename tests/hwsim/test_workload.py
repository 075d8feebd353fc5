"""hwsim.Workload: derived GEMM dimensions, validation at the boundary, files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwsim import KINDS, HwsimError, Workload
from hwsim.workload import INT_COLUMNS
from tests.strategies import layer_dicts, workloads


def conv(name: str = "c", **geometry) -> dict:
    row = {
        "name": name,
        "kind": "conv",
        "batch": 2,
        "in_channels": 4,
        "out_channels": 6,
        "in_h": 5,
        "in_w": 5,
        "out_h": 5,
        "out_w": 5,
        "kernel_h": 3,
        "kernel_w": 3,
        "pad_h": 1,
        "pad_w": 1,
    }
    return {**row, **geometry}


@given(st.lists(layer_dicts(), min_size=1, max_size=5))
def test_gemm_dimensions_and_macs_from_geometry(rows):
    rows = [{**r, "name": f"l{i}"} for i, r in enumerate(rows)]
    w = Workload.from_layers("net", rows)
    for i, r in enumerate(rows):
        g = r.get("groups", 1)
        kh, kw = r.get("kernel_h", 1), r.get("kernel_w", 1)
        pixels = r["batch"] * r.get("out_h", 1) * r.get("out_w", 1)
        reduction = r["in_channels"] // g * kh * kw
        assert (w.M[i], w.N[i], w.K[i]) == (pixels, r["out_channels"], reduction)
        # MACs counted per output element over its group's inputs
        assert w.macs[i] == pixels * r["out_channels"] * reduction
        assert w.weight_elems[i] == r["out_channels"] * r["in_channels"] // g * kh * kw
        assert w.input_elems[i] == (
            r["batch"] * r["in_channels"] * r.get("in_h", 1) * r.get("in_w", 1)
        )
        assert w.output_elems[i] == pixels * r["out_channels"]
    assert w.total_macs == sum(int(m) for m in w.macs)
    assert w.kinds == tuple(r["kind"] for r in rows)


@given(workloads())
def test_save_load_round_trip(w):
    with tempfile.TemporaryDirectory() as tmp:
        path = w.save(Path(tmp) / "sub" / "w.npz")
        back = Workload.load(path)
    assert back == w
    assert back.layer_names == w.layer_names
    assert all(back.columns[k].dtype == np.int64 for k in INT_COLUMNS)


def test_load_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(HwsimError) as err:
        Workload.load(tmp_path / "nope.npz")
    assert err.value.field == "workload path"
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(HwsimError, match="not a saved workload"):
        Workload.load(tmp_path / "other.npz")


def test_columns_are_read_only_int64():
    w = Workload.from_layers("n", [conv()])
    assert w.M.dtype == np.int64
    with pytest.raises(ValueError, match="read-only"):
        w.M[0] = 1


def test_duplicate_names_are_named():
    with pytest.raises(HwsimError) as err:
        Workload.from_layers("n", [conv("a"), conv("b"), conv("a")])
    assert (err.value.field, err.value.value) == ("workload.layer_names", "a")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"K": 35}, "workload.K[bad]"),
        ({"M": 49}, "workload.M[bad]"),
        ({"N": 7}, "workload.N[bad]"),
        ({"groups": 3}, "workload.in_channels[bad]"),
        ({"groups": 4, "out_channels": 6}, "workload.out_channels[bad]"),
        ({"pad_h": -1}, "workload.pad_h[bad]"),
        ({"stride_w": 0}, "workload.stride_w[bad]"),
        ({"first": 2}, "workload.first[bad]"),
        ({"dilation_h": 0}, "workload.dilation_h[bad]"),
        ({"groups": 0}, "workload.groups[bad]"),
    ],
)
def test_inconsistent_geometry_names_layer_and_field(change, field):
    with pytest.raises(HwsimError) as err:
        Workload.from_layers("n", [conv("ok"), conv("bad", **change)])
    assert err.value.field == field


def test_bad_kind_index_and_columns():
    good = Workload.from_layers("n", [conv()])
    cols = dict(good.columns)
    with pytest.raises(HwsimError, match="kind index"):
        Workload("n", ("c",), {**cols, "kind": np.array([len(KINDS)])})
    with pytest.raises(HwsimError) as err:
        Workload("n", ("c",), {k: v for k, v in cols.items() if k != "dilation_w"})
    assert err.value.field == "workload.dilation_w"
    with pytest.raises(HwsimError, match=r"expected shape \(1,\)"):
        Workload("n", ("c",), {**cols, "M": np.array([50, 50])})
    with pytest.raises(HwsimError, match="at least one layer"):
        Workload.from_layers("n", [])


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"kind": "pooling"}, "layers[0].kind"),
        ({"in_channels": None}, "layers[0].in_channels"),
        ({"kernel_h": 3.0}, "layers[0].kernel_h"),
        ({"stride_h": True}, "layers[0].stride_h"),
    ],
)
def test_from_layers_rejects_bad_rows(row, field):
    r = {k: v for k, v in {**conv(), **row}.items() if v is not None}
    with pytest.raises(HwsimError) as err:
        Workload.from_layers("n", [r])
    assert err.value.field == field
    with pytest.raises(HwsimError, match="needs a name"):
        Workload.from_layers("n", [{k: v for k, v in conv().items() if k != "name"}])


def test_linear_defaults_to_a_one_by_one_layer():
    w = Workload.from_layers(
        "n", [{"name": "fc", "kind": "linear", "batch": 3, "in_channels": 7, "out_channels": 5}]
    )
    assert (w.M[0], w.N[0], w.K[0], w.kernel_h[0], w.stride_w[0], w.first[0]) == (3, 5, 7, 1, 1, 0)


def test_concat_select_index_and_dataframe():
    a = Workload.from_layers("a", [conv("x"), conv("y", out_channels=2)])
    b = Workload.from_layers("b", [conv("x", batch=1)])
    both = Workload.concat("ab", [a, b])
    assert both.layer_names == ("a/x", "a/y", "b/x")
    assert both.M.tolist() == [50, 50, 25]
    with pytest.raises(HwsimError, match="unique"):
        Workload.concat("ab", [a, b], prefix=False)
    picked = both.select(["b/x", "a/x"])
    assert picked.layer_names == ("b/x", "a/x") and picked.M.tolist() == [25, 50]
    with pytest.raises(HwsimError) as err:
        both.index("x")
    assert err.value.value == "x"
    df = both.to_dataframe()
    assert df["name"].tolist() == list(both.layer_names)
    assert df["kind"].tolist() == ["conv"] * 3
    assert df["macs"].tolist() == [50 * 6 * 36, 50 * 2 * 36, 25 * 6 * 36]


def test_equality_looks_at_every_column():
    a = Workload.from_layers("n", [conv()])
    assert a == Workload.from_layers("n", [conv()])
    assert a != Workload.from_layers("n", [conv(first=1)])
    assert a != Workload.from_layers("m", [conv()])
