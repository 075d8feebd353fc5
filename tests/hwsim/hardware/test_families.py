"""Family rules and presets: the published per-step cycle laws, configs, validation."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from importlib import resources

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwsim import BitPolicy, HwsimError, LayerStats, Workload
from hwsim.hardware import cost_table, load_hardware, simulate
from tests.strategies import bits

MY_PRESETS = (
    "dadiannao",
    "stripes",
    "loom",
    "bismo",
    "pragmatic",
    "cpu-bitserial",
    "cpu-int8",
    "cpu-fp32",
)
COMPUTE_BOUND = {
    "dram_bytes_per_s": 1e20,
    "e_sram_pj_per_bit": 1.5625,  # pinned: these tests are about cycles, not buffer energy
    "weight_buffer_bytes": 2.0**40,
    "act_buffer_bytes": 2.0**40,
    "out_buffer_bytes": 2.0**40,
}


def _fc(m: int, n: int, k: int) -> Workload:
    return Workload.from_layers(
        "fc", [{"name": "fc", "kind": "linear", "batch": m, "in_channels": k, "out_channels": n}]
    )


@pytest.mark.parametrize("name", MY_PRESETS)
def test_presets_load_and_every_number_has_a_source(name):
    hw = load_hardware(name)
    data = tomllib.loads(
        resources.files("hwsim.hardware.presets").joinpath(f"{name}.toml").read_text()
    )
    fields = {f.name for f in dataclasses.fields(hw)} - {"sources", "name"}
    assert set(data) - {"family", "name", "sources"} <= fields
    for key in set(data) - {"family", "name", "sources"}:
        assert key in data["sources"], f"{name}: {key} has no source"
        assert any(
            tag in data["sources"][key] for tag in ("[PAPER]", "[CODE]", "[INFER]", "[MEASURED]")
        )


@given(st.integers(1, 8), st.integers(1, 8), st.integers(1, 8), bits, bits)
def test_bitparallel_cycles_are_macs_over_array_on_exact_tilings(mi, ni, ki, w, a):
    hw = load_hardware("dadiannao", **COMPUTE_BOUND)
    m, n, k = mi * hw.cols, ni * hw.rows, ki * hw.lanes
    rep = simulate(_fc(m, n, k), BitPolicy.uniform(_fc(m, n, k), w, a), hw)
    macs = m * n * k
    assert rep.totals["cycles"] == pytest.approx(macs / (hw.rows * hw.cols * hw.lanes), rel=1e-6)
    assert rep.totals["utilization"] == pytest.approx(1.0, rel=1e-6)


@given(st.integers(1, 4), st.integers(1, 4), bits)
def test_stripes_speedup_is_16_over_a_on_compute_bound_layers(mi, ni, a):
    base = load_hardware("dadiannao", **COMPUTE_BOUND)
    stripes = load_hardware("stripes", **COMPUTE_BOUND)
    wl = _fc(16 * mi, 256 * ni, 16 * 64)
    pol = BitPolicy.uniform(wl, 8, a)
    speedup = simulate(wl, pol, base).totals["cycles"] / simulate(wl, pol, stripes).totals["cycles"]
    assert speedup == pytest.approx(16 / a, rel=1e-6)


@given(bits, bits, st.sampled_from([1, 2, 4]))
def test_loom_step_is_w_times_ceil_a_over_b(w, a, b):
    hw = load_hardware("loom", a_bits_per_cycle=b, **COMPUTE_BOUND)
    wl = _fc(hw.cols, hw.rows, hw.lanes)  # exactly one step
    rep = simulate(wl, BitPolicy.uniform(wl, w, a), hw)
    assert rep.totals["cycles"] == pytest.approx(w * math.ceil(a / b), rel=1e-6)


@given(bits, bits, st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))
def test_bismo_runs_w_times_a_binary_matmuls(w, a, tm, tn, tk):
    hw = load_hardware("bismo", **COMPUTE_BOUND)
    wl = _fc(tm * hw.cols, tn * hw.rows, tk * hw.lanes)
    rep = simulate(wl, BitPolicy.uniform(wl, w, a), hw)
    assert rep.totals["cycles"] == pytest.approx(w * a * tm * tn * tk, rel=1e-6)
    # At full utilization the binary op rate is the published peak 2*Dm*Dn*Dk per cycle.
    binops = 2 * rep.totals["total_macs"] * w * a
    assert binops / rep.totals["cycles"] == pytest.approx(hw.peak_binary_ops_per_cycle, rel=1e-6)


def _stats(a_bits: int, group: int, dist: list[float]) -> LayerStats:
    return LayerStats(
        group_size=group,
        w_plane_density=(0.5,) * 4,
        a_plane_density=(0.5,) * a_bits,
        a_group_max_essential=tuple(dist),
        a_group_max_precision=tuple(dist),
        a_mean_essential=1.0,
    )


@given(st.integers(2, 8), st.data())
def test_pragmatic_uses_measured_essential_bits(a, data):
    hw = load_hardware("pragmatic", **COMPUTE_BOUND)
    wl = _fc(hw.cols, hw.rows, hw.lanes)
    raw = data.draw(
        st.lists(st.floats(0.0, 1.0), min_size=a + 1, max_size=a + 1).filter(lambda v: sum(v) > 0.1)
    )
    dist = [x / sum(raw) for x in raw]
    pol = BitPolicy.uniform(wl, 16, a).with_stats({"fc": _stats(a, hw.sync_lanes, dist)})
    # A step takes at least one cycle: the hardware pays E[max(1, group max)], not max(1, E).
    expected = sum(max(1, k) * p for k, p in enumerate(dist))
    assert simulate(wl, pol, hw).totals["cycles"] == pytest.approx(expected, rel=1e-6)


def test_pragmatic_without_stats_assumes_half_density_bits():
    hw = load_hardware("pragmatic", sync_lanes=1, **COMPUTE_BOUND)
    wl = _fc(hw.cols, hw.rows, hw.lanes)
    # One lane per group: E[max(1, Binomial(a, 1/2))] = a/2 + P(no bit set) = a/2 + 2^-a.
    for a in (2, 4, 8, 16):
        rep = simulate(wl, BitPolicy.uniform(wl, 16, a), hw)
        assert rep.totals["cycles"] == pytest.approx(a / 2 + 0.5**a, rel=1e-6)
    # Larger groups wait for their slowest lane: never fewer cycles.
    wide = load_hardware("pragmatic", sync_lanes=16, **COMPUTE_BOUND)
    for a in (2, 4, 8):
        assert simulate(wl, BitPolicy.uniform(wl, 16, a), wide).totals["cycles"] > a / 2


def test_pragmatic_is_never_slower_than_stripes():
    wl = _fc(64, 512, 1024)
    for a in (1, 4, 8, 16):
        pol = BitPolicy.uniform(wl, 16, a)
        assert (
            simulate(wl, pol, "pragmatic").totals["cycles"]
            <= simulate(wl, pol, "stripes").totals["cycles"]
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("weight_buffer_bytes", -1.0),
        ("frequency_hz", 0.0),
        ("rows", 0),
        ("lanes", 2.5),
        ("dram_bytes_per_s", 0),
        ("e_dram_pj_per_bit", -1.0),
        ("out_bits", 40),
    ],
)
@pytest.mark.parametrize("family", ["dadiannao", "stripes", "loom", "bismo", "pragmatic"])
def test_bad_fields_raise_with_the_field_name(family, field, value):
    with pytest.raises(HwsimError) as err:
        load_hardware(family, **{field: value})
    assert err.value.field.endswith(field)
    assert err.value.value == value


@pytest.mark.parametrize("name", MY_PRESETS)
def test_unknown_field_is_refused(name):
    with pytest.raises(HwsimError) as err:
        load_hardware(name, bogus_width=3)
    assert err.value.field.endswith("bogus_width")


def test_cpu_config_validation():
    with pytest.raises(HwsimError) as err:
        load_hardware("cpu-bitserial", kernel="avx9000")
    assert err.value.field == "cpu.kernel"
    with pytest.raises(HwsimError) as err:
        load_hardware("cpu-bitserial", dram_bytes_per_s=0.0)
    assert err.value.field == "cpu.dram_bytes_per_s"
    with pytest.raises(HwsimError) as err:
        load_hardware("cpu-int8", cores=0)
    assert err.value.field == "cpu.cores"


def test_cost_table_mixes_families_in_one_call():
    wl = _fc(8, 64, 256)
    table = cost_table(wl, ["dadiannao", "stripes", "cpu-fp32"], [2, 8], [2, 8])
    assert table.metrics["latency_s"].shape == (3, 1, 2, 2)
    assert np.isfinite(table.metrics["latency_s"]).all()
    # Bit-parallel and fp32 CPU do not care about the bits; Stripes does.
    assert np.ptp(table.metrics["latency_s"][0]) == 0 and np.ptp(table.metrics["latency_s"][2]) == 0
    assert table.metrics["latency_s"][1, 0, 0, 0] < table.metrics["latency_s"][1, 0, 0, 1]


def test_mixed_families_with_stats_in_one_call_equal_separate_calls():
    wl = _fc(32, 64, 256)
    dist = [0.1, 0.2, 0.3, 0.4]
    pol = BitPolicy.uniform(wl, 8, 3).with_stats({"fc": _stats(3, 16, dist)})
    hws = [
        load_hardware("pragmatic"),
        load_hardware("pragmatic", sync_lanes=1),
        load_hardware("stripes"),
        load_hardware("cpu-int8"),
    ]
    together = cost_table(wl, hws, [8], [3, 4], policy=pol)
    for h, hw in enumerate(hws):
        alone = cost_table(wl, hw, [8], [3, 4], policy=pol)
        np.testing.assert_array_equal(together.metrics["latency_s"][h], alone.metrics["latency_s"])
