"""hwsim.BitPolicy and LayerStats: validation, workload matching, JSON round trips."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwsim import BitPolicy, HwsimError, LayerStats, Workload
from tests.strategies import bits, workloads


def distributions(n: int):
    """Non-negative vectors of length ``n`` that sum to one."""
    return (
        st.lists(st.integers(0, 20), min_size=n, max_size=n)
        .filter(any)
        .map(lambda v: tuple(x / sum(v) for x in v))
    )


@st.composite
def layer_stats(draw, w_bits: int, a_bits: int) -> LayerStats:
    density = st.floats(0, 1, allow_nan=False)
    return LayerStats(
        group_size=draw(st.integers(1, 64)),
        w_plane_density=tuple(draw(density) for _ in range(w_bits)),
        a_plane_density=tuple(draw(density) for _ in range(a_bits)),
        a_group_max_essential=draw(distributions(a_bits + 1)),
        a_group_max_precision=draw(distributions(a_bits + 1)),
        a_mean_essential=draw(st.floats(0, a_bits)),
    )


@st.composite
def policies(draw):
    """A workload and a policy for it, with statistics on some layers."""
    w = draw(workloads())
    pairs = {n: (draw(st.one_of(bits, st.just(32))), draw(bits)) for n in w.layer_names}
    stats = {
        n: draw(layer_stats(min(wb, 16), ab))
        for n, (wb, ab) in pairs.items()
        if draw(st.booleans())
    }
    encodings = {}
    for n, (wb, ab) in pairs.items():
        if draw(st.booleans()):
            encodings[n] = (draw(operand_encodings(wb)), draw(operand_encodings(ab)))
    return w, BitPolicy(pairs, stats, encodings)


def operand_encodings(b: int):
    """An encoding a ``b``-bit operand can have (None: the default; float keeps the default)."""
    if b == 32:
        return st.none()
    choices = ["unsigned", "signed"] + (["bipolar"] if b == 1 else [])
    return st.one_of(st.none(), st.sampled_from(choices))


@given(policies())
def test_json_round_trip_with_stats(wp):
    w, policy = wp
    text = json.dumps(policy.to_dict())
    back = BitPolicy.from_dict(json.loads(text))
    assert back == policy
    with tempfile.TemporaryDirectory() as tmp:
        assert BitPolicy.load(policy.save(Path(tmp) / "p.json")) == policy
    w_bits, a_bits = back.arrays(w)
    assert w_bits.tolist() == [policy[n][0] for n in w.layer_names]
    assert a_bits.tolist() == [policy[n][1] for n in w.layer_names]


@given(workloads(), bits, bits)
def test_uniform_covers_every_layer(w, wb, ab):
    policy = BitPolicy.uniform(w, wb, ab)
    policy.check_matches(w)
    assert list(policy) == list(w.layer_names)
    assert all(policy[n] == (wb, ab) for n in w.layer_names)
    w_bits, a_bits = policy.arrays(w)
    assert w_bits.dtype == np.int64 and set(w_bits.tolist()) == {wb}
    assert set(a_bits.tolist()) == {ab}


def small_workload() -> Workload:
    return Workload.from_layers(
        "net",
        [
            {"name": n, "kind": "linear", "batch": 1, "in_channels": 4, "out_channels": 4}
            for n in ("a", "b", "c")
        ],
    )


def test_mismatch_names_both_sides():
    policy = BitPolicy({"a": (4, 4), "b": (4, 4), "zz": (2, 2)})
    with pytest.raises(HwsimError) as err:
        policy.check_matches(small_workload())
    assert err.value.field == "policy.layers"
    assert err.value.value == {"missing from policy": ["c"], "not in workload": ["zz"]}
    assert "'net'" in str(err.value)
    with pytest.raises(HwsimError):
        policy.arrays(small_workload())


@pytest.mark.parametrize("bad", [0, 17, 31, 33, -1, 2.5, True, "8"])
def test_bits_out_of_range_name_the_layer(bad):
    with pytest.raises(HwsimError) as err:
        BitPolicy({"a": (4, 4), "b": (4, bad)})
    assert err.value.field == "policy[b].a_bits"
    assert err.value.value == bad


def test_float_bits_and_numpy_integers_are_accepted():
    policy = BitPolicy({"a": (np.int64(3), 32)})
    assert policy["a"] == (3, 32) and type(policy["a"][0]) is int


@pytest.mark.parametrize("pair", [(4,), (4, 4, 4), 4, {"w": 4}])
def test_bits_must_be_pairs(pair):
    with pytest.raises(HwsimError, match="pair"):
        BitPolicy({"a": pair})


def test_from_arrays_needs_one_entry_per_layer():
    w = small_workload()
    assert BitPolicy.from_arrays(w, [1, 2, 3], [4, 5, 6])["c"] == (3, 6)
    with pytest.raises(HwsimError) as err:
        BitPolicy.from_arrays(w, [1, 2], [4, 5, 6])
    assert (err.value.field, err.value.value) == ("w_bits", 2)


def valid_stats(**change) -> LayerStats:
    fields = {
        "group_size": 16,
        "w_plane_density": (0.5, 0.25),
        "a_plane_density": (0.1, 0.2),
        "a_group_max_essential": (0.25, 0.25, 0.5),
        "a_group_max_precision": (0.0, 0.5, 0.5),
        "a_mean_essential": 0.3,
    }
    return LayerStats(**{**fields, **change})


def test_stats_expectations():
    s = valid_stats()
    assert s.expected_group_max_essential() == pytest.approx(0 * 0.25 + 1 * 0.25 + 2 * 0.5)
    assert s.expected_group_max_precision() == pytest.approx(1 * 0.5 + 2 * 0.5)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"group_size": 0}, "stats.group_size"),
        ({"w_plane_density": (0.5, 1.5)}, "stats.w_plane_density"),
        ({"a_plane_density": (-0.1,)}, "stats.a_plane_density"),
        ({"a_group_max_essential": (0.5, 0.4)}, "stats.a_group_max_essential"),
        ({"a_group_max_precision": ()}, "stats.a_group_max_precision"),
        ({"a_group_max_precision": (1.5, -0.5)}, "stats.a_group_max_precision"),
        ({"a_mean_essential": -1.0}, "stats.a_mean_essential"),
    ],
)
def test_bad_stats(change, field):
    with pytest.raises(HwsimError) as err:
        valid_stats(**change)
    assert err.value.field == field


def test_stats_only_for_layers_with_bits_and_with_stats_merges():
    with pytest.raises(HwsimError) as err:
        BitPolicy({"a": (4, 4)}, {"b": valid_stats()})
    assert (err.value.field, err.value.value) == ("policy.stats", "b")
    policy = BitPolicy({"a": (4, 4), "b": (2, 2)}, {"a": valid_stats()})
    merged = policy.with_stats({"b": valid_stats(group_size=4)})
    assert merged.stats["a"] == valid_stats() and merged.stats["b"].group_size == 4
    assert policy.stats.keys() == {"a"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "policy.layers"),
        ([], "policy.layers"),
        ({"layers": {"a": {"w_bits": 4}}}, "policy.layers[a]"),
        (
            {"layers": {"a": {"w_bits": 4, "a_bits": 4, "stats": {"bogus": 1}}}},
            "policy.layers[a].stats",
        ),
        ({"layers": {"a": {"w_bits": 40, "a_bits": 4}}}, "policy[a].w_bits"),
    ],
)
def test_from_dict_rejects_bad_documents(data, field):
    with pytest.raises(HwsimError) as err:
        BitPolicy.from_dict(data)
    assert err.value.field == field


def test_load_missing_and_invalid_json(tmp_path):
    with pytest.raises(HwsimError, match="no such file"):
        BitPolicy.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(HwsimError, match="not valid JSON"):
        BitPolicy.load(tmp_path / "bad.json")


# ---------------------------------------------------------------- encodings
def test_default_encodings_are_signed_weights_unsigned_activations():
    policy = BitPolicy({"a": (4, 4)})
    assert policy.encoding("a") == ("signed", "unsigned")
    with pytest.raises(HwsimError):
        policy.encoding("zz")


def test_old_files_read_with_default_encodings_and_write_unchanged():
    # A document as every earlier release wrote it: bits only.
    old = {"format": "hwsim.BitPolicy/1", "layers": {"a": {"w_bits": 1, "a_bits": 1}}}
    policy = BitPolicy.from_dict(old)
    assert policy.encoding("a") == ("signed", "unsigned")
    assert policy.to_dict() == old


def test_encodings_round_trip_and_keep_through_with_stats(tmp_path):
    policy = BitPolicy(
        {"a": (1, 1), "b": (4, 8), "c": (2, 2)},
        encodings={"a": ("bipolar", "bipolar"), "b": ("unsigned", "signed"), "c": (None, None)},
    )
    assert policy.encoding("a") == ("bipolar", "bipolar")
    assert policy.encoding("b") == ("unsigned", "signed")
    assert policy.encoding("c") == ("signed", "unsigned")
    layers = policy.to_dict()["layers"]
    assert layers["a"]["w_encoding"] == "bipolar" and layers["a"]["a_encoding"] == "bipolar"
    assert "w_encoding" not in layers["c"] and "a_encoding" not in layers["c"]
    assert BitPolicy.load(policy.save(tmp_path / "p.json")) == policy
    merged = policy.with_stats({"b": valid_stats()})
    assert merged.encoding("a") == ("bipolar", "bipolar")
    with pytest.raises(HwsimError):
        policy.with_encodings({"c": ("bipolar", None)})  # c is 2-bit
    assert policy.with_encodings({"a": (None, "unsigned")}).encoding("a") == (
        "signed",
        "unsigned",
    )


def test_encoding_arrays_follow_the_workload_order():
    w = small_workload()
    policy = BitPolicy.uniform(w, 1, 1, "bipolar", "bipolar")
    assert policy.encoding_arrays(w) == (["bipolar"] * 3, ["bipolar"] * 3)
    mixed = BitPolicy.uniform(w, 4, 4).with_encodings({"b": ("unsigned", "signed")})
    assert mixed.encoding_arrays(w) == (
        ["signed", "unsigned", "signed"],
        ["unsigned", "signed", "unsigned"],
    )


@pytest.mark.parametrize(
    ("bits", "pair", "field"),
    [
        ((2, 4), ("bipolar", None), "policy[a].w_encoding"),
        ((4, 2), (None, "bipolar"), "policy[a].a_encoding"),
        ((4, 4), ("twos", None), "policy[a].w_encoding"),
        ((32, 4), ("unsigned", None), "policy[a].w_encoding"),
        ((4, 4), "signed", "policy[a].encoding"),
    ],
)
def test_bad_encodings_name_the_layer_and_operand(bits, pair, field):
    with pytest.raises(HwsimError) as err:
        BitPolicy({"a": bits}, encodings={"a": pair})
    assert err.value.field == field


def test_encoding_for_unknown_layer_and_from_dict_errors():
    with pytest.raises(HwsimError) as err:
        BitPolicy({"a": (1, 1)}, encodings={"b": ("bipolar", "bipolar")})
    assert err.value.field == "policy.encodings"
    doc = {"layers": {"a": {"w_bits": 2, "a_bits": 2, "w_encoding": "bipolar"}}}
    with pytest.raises(HwsimError) as err:
        BitPolicy.from_dict(doc)
    assert err.value.field == "policy[a].w_encoding"
