"""Operand encodings in the cost models: every family says how it runs unsigned, signed and
bipolar (+-1) operands, with a source, and both entry points price them as it says."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import BitPolicy, HwsimError
from hwsim.encoding import ENCODINGS
from hwsim.hardware import FAMILY_MODULES, cost_table, families, load_hardware, simulate
from hwsim.hardware.encodings import FAMILY_ENCODINGS, encoding_support, support_rows
from tests.strategies import workloads

PRESETS = (
    "dadiannao",
    "stripes",
    "dynamic-stripes",
    "loom",
    "bismo",
    "bitfusion",
    "pragmatic",
    "laconic",
    "cpu-bitserial",
    "cpu-best",
)
# What the papers' datapaths do with a +-1 weight: Loom's serial weights and BISMO's AND /
# popcount units have no way to form each window's activation sum, so they run it as the
# 2-bit two's complement code it also is; every other family runs it in one bit (a fixed-
# width one: at its fixed width).
TWO_BIT_BIPOLAR_WEIGHTS = {"loom", "bismo"}
METRICS = ("latency_s", "energy_j", "dram_bytes")


def _shipped() -> dict:
    return {n: f for n, f in families().items() if n in FAMILY_MODULES}


def test_every_shipped_family_states_every_encoding_with_a_source():
    shipped = _shipped()
    assert set(shipped) == set(FAMILY_MODULES)
    for name, fam in shipped.items():
        assert name in FAMILY_ENCODINGS, name
        support = encoding_support(fam.config_type)
        assert set(support) == {(o, e) for o in ("w", "a") for e in ENCODINGS}
        for run in support.values():
            assert run.how and run.source and run.extra_bits in (0, 1)
        # The same statement by name, by class and by config.
        assert encoding_support(name) == support
    rows = support_rows(shipped)
    assert len(rows) == len(shipped) * 6
    assert {r["family"] for r in rows if r["extra_bits"]} == TWO_BIT_BIPOLAR_WEIGHTS


def test_a_family_that_states_nothing_is_priced_at_the_code_width_and_says_so():
    support = encoding_support("no-such-family")
    assert all(r.extra_bits == 0 and "not stated" in r.how for r in support.values())


def _totals(report) -> np.ndarray:
    return report.layers[list(METRICS)].to_numpy(dtype=np.float64)


@settings(max_examples=15, deadline=None)
@given(
    w=workloads(max_layers=3),
    preset=st.sampled_from(PRESETS),
    w_bits=st.integers(1, 8),
    a_bits=st.integers(1, 8),
)
def test_signed_operands_cost_what_unsigned_ones_do(w, preset, w_bits, a_bits):
    """Sign handling is free in every family (a negated MSB plane, signed bricks, Booth)."""
    plain = simulate(w, BitPolicy.uniform(w, w_bits, a_bits, "unsigned", "unsigned"), preset)
    signed = simulate(w, BitPolicy.uniform(w, w_bits, a_bits, "signed", "signed"), preset)
    np.testing.assert_array_equal(_totals(plain), _totals(signed))


@settings(max_examples=15, deadline=None)
@given(w=workloads(max_layers=3), preset=st.sampled_from(PRESETS), a_bits=st.integers(1, 8))
def test_bipolar_costs_one_bit_or_two_as_the_family_says(w, preset, a_bits):
    family = load_hardware(preset).family
    bipolar_w = simulate(w, BitPolicy.uniform(w, 1, a_bits, "bipolar", None), preset)
    width = 2 if family in TWO_BIT_BIPOLAR_WEIGHTS else 1
    as_code = simulate(w, BitPolicy.uniform(w, width, a_bits), preset)
    np.testing.assert_array_equal(_totals(bipolar_w), _totals(as_code))
    if width == 2:
        assert any("bipolar weights" in n for n in bipolar_w.notes)
    # +-1 activations run in one bit everywhere: the filter's weight sum is a constant.
    bipolar_a = simulate(w, BitPolicy.uniform(w, a_bits, 1, None, "bipolar"), preset)
    one_bit = simulate(w, BitPolicy.uniform(w, a_bits, 1), preset)
    np.testing.assert_array_equal(_totals(bipolar_a), _totals(one_bit))


@settings(max_examples=10, deadline=None)
@given(
    w=workloads(max_layers=3),
    presets=st.lists(st.sampled_from(PRESETS), min_size=1, max_size=3, unique=True),
    a_enc=st.sampled_from([None, "bipolar", "signed"]),
)
def test_cost_table_with_encodings_equals_simulate_per_policy(w, presets, a_enc):
    """Each option's encoding prices as a uniform policy of that encoding does, for several
    families in one call (those that run the encodings differently are split apart)."""
    w_opts, a_opts = [1, 2, 4], [1, 3]
    w_encs = ["bipolar", None, "unsigned"]
    a_encs = [a_enc, "signed"] if a_enc != "signed" else [None, "signed"]
    table = cost_table(w, presets, w_opts, a_opts, w_encodings=w_encs, a_encodings=a_encs)
    lat = table.metric("latency_s")
    for h, preset in enumerate(presets):
        for i, (wb, we) in enumerate(zip(w_opts, w_encs, strict=True)):
            for j, (ab, ae) in enumerate(zip(a_opts, a_encs, strict=True)):
                report = simulate(w, BitPolicy.uniform(w, wb, ab, we, ae), preset)
                np.testing.assert_array_equal(lat[h, :, i, j], report.layers["latency_s"])


def test_cost_table_takes_each_layers_encoding_from_the_policy():
    w = next_workload()
    names = list(w.layer_names)
    policy = BitPolicy.uniform(w, 1, 1).with_encodings({names[0]: ("bipolar", None)})
    table = cost_table(w, "loom", [1, 2], [1], policy=policy)
    plain = cost_table(w, "loom", [1, 2], [1])
    lat, ref = table.metric("latency_s"), plain.metric("latency_s")
    # The bipolar layer's 1-bit option costs the 2-bit one on Loom; the others are unchanged.
    assert lat[0, 0, 0] == ref[0, 1, 0] > ref[0, 0, 0]
    np.testing.assert_array_equal(lat[1:], ref[1:])
    np.testing.assert_array_equal(lat[:, 1], ref[:, 1])


def next_workload():
    from hwsim import Workload

    return Workload.from_layers(
        "two",
        [
            {"name": "a", "kind": "linear", "batch": 4, "in_channels": 300, "out_channels": 64},
            {"name": "b", "kind": "linear", "batch": 4, "in_channels": 64, "out_channels": 10},
        ],
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"w_encodings": ["bipolar"]}, "w_encodings"),
        ({"w_encodings": "bipolar"}, "w_encodings"),
        ({"w_encodings": [None, "bipolar"]}, "w_encodings"),
        ({"a_encodings": ["ternary", None]}, "a_encodings"),
    ],
)
def test_bad_option_encodings_name_the_field(kwargs, field):
    with pytest.raises(HwsimError) as err:
        cost_table(next_workload(), "stripes", [1, 2], [1, 2], **kwargs)
    assert err.value.field == field


def test_the_docs_table_is_what_the_families_state():
    from pathlib import Path

    doc = Path(__file__).parents[3] / "docs" / "encodings.md"
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in doc.read_text().splitlines()
        if line.startswith("| ") and line.count("|") == 7
    ]
    header, body = rows[0], rows[1:]
    assert header[:4] == ["family", "operand", "encoding", "extra bits"]
    want = [
        [r["family"], r["operand"], r["encoding"], str(r["extra_bits"]), r["how"], r["source"]]
        for r in support_rows({n: families()[n] for n in FAMILY_MODULES})
    ]
    assert body == want


def test_a_widened_encoding_is_explained_by_its_own_note_only():
    w = next_workload()
    report = simulate(w, BitPolicy.uniform(w, 1, 1, "bipolar", "bipolar"), "loom")
    assert report.layers["w_bits_run"].tolist() == [2, 2]
    assert report.layers["w_bits"].tolist() == [1, 1]  # the policy's bits, as asked
    widened = [n for n in report.notes if "2 bits" in n or "w2" in n or "2-bit" in n]
    assert len(widened) == 1 and "bipolar weights of 2 layer(s)" in widened[0]
    # A 1-bit code Bit Fusion pads to its 2-bit bricks keeps its precision note.
    fusion = simulate(w, BitPolicy.uniform(w, 1, 1, "bipolar", "bipolar"), "bitfusion")
    assert any("nearest precision" in n for n in fusion.notes)
