"""Area, leakage, power and node scaling: against the CACTI CSV read independently with numpy,
the published Stillmaker-Baas factors, and the papers' own figures."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hwsim
from hwsim.errors import HwsimError
from hwsim.hardware import cacti, cost_table, load_hardware, preset_names, pricing, simulate, sram
from hwsim.hardware.skeleton import SkeletonConfig
from hwsim.policy import BitPolicy
from hwsim.reference import pricing as pricing_ref
from hwsim.workload import Workload

SKELETON_PRESETS = (
    "dadiannao",
    "stripes",
    "dynamic-stripes",
    "shapeshifter",
    "loom",
    "pragmatic",
    "laconic",
    "bismo",
)
TABLE = pricing_ref.load()


def _wl() -> Workload:
    return Workload.from_layers(
        "tiny",
        [
            {"name": "c1", "kind": "conv", "batch": 1, "in_channels": 16, "out_channels": 32,
             "in_h": 8, "in_w": 8, "kernel": 3, "padding": 1},
            {"name": "fc", "kind": "linear", "batch": 1, "in_channels": 128, "out_channels": 10},
        ],
    )  # fmt: skip


# Technology node ---------------------------------------------------------------------------
@pytest.mark.parametrize("nm", sorted(pricing_ref.AREA_VS_45))
def test_area_factor_is_the_published_table(nm):
    assert pricing.area_factor(nm) == pricing_ref.AREA_VS_45[nm]


@pytest.mark.parametrize("nm", sorted(pricing_ref.ENERGY_FIT))
def test_energy_factor_is_the_published_fit_at_nominal_supply(nm):
    assert pricing.energy_factor(nm) == pytest.approx(pricing_ref.energy_factor(nm), rel=1e-12)


@pytest.mark.parametrize("bad", [28, 45.0, "45", True, 0])
def test_unknown_node_is_refused_naming_the_field(bad):
    with pytest.raises(HwsimError, match="technology_nm"):
        load_hardware("stripes", technology_nm=bad)


def test_node_scales_area_and_on_chip_energy_but_not_dram():
    wl, pol = _wl(), BitPolicy.uniform(_wl(), 8, 8)
    base = simulate(wl, pol, load_hardware("stripes"))
    small = simulate(wl, pol, load_hardware("stripes", technology_nm=14))
    fe, fa = pricing_ref.energy_factor(14), pricing_ref.AREA_VS_45[14]
    for key in ("compute_energy_j", "sram_energy_j"):
        assert small.totals[key] == pytest.approx(base.totals[key] * fe, rel=1e-9)
    assert small.totals["dram_energy_j"] == pytest.approx(base.totals["dram_energy_j"], rel=1e-12)
    assert small.totals["cycles"] == base.totals["cycles"]
    a45, a14 = hwsim.area("stripes"), hwsim.area(load_hardware("stripes", technology_nm=14))
    for k, v in a45.components.items():
        assert a14.components[k] == pytest.approx(v * fa, rel=1e-12)
    assert a14.technology_nm == 14


# CACTI table --------------------------------------------------------------------------------
def test_every_table_row_is_returned_exactly():
    for (word, ports), rows in TABLE.items():
        for r in rows:
            got = sram.bank_row(r[0], word, ports, "buffer")
            np.testing.assert_array_equal(got, r[1:])


@settings(max_examples=60)
@given(st.floats(0.0, 1.0), st.sampled_from(sorted(TABLE)))
def test_between_rows_is_log_log_interpolation(frac, key):
    rows = TABLE[key]
    lo, hi = np.log(rows[0, 0]), np.log(rows[-1, 0])
    cap = float(np.exp(lo + frac * (hi - lo)))
    cap = min(max(cap, rows[0, 0]), rows[-1, 0])
    got = sram.bank_row(cap, key[0], key[1], "buffer")
    want = pricing_ref.bank(TABLE, cap, *key)
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_outside_the_table_raises_naming_field_and_range():
    rows = TABLE[(64, "1r1w")]
    with pytest.raises(HwsimError, match=r"weight_buffer.*bank_bytes.*outside the CACTI table"):
        sram.sram_cost(rows[-1, 0] * 2, 64, "1r1w", 1, 45, "weight_buffer")
    with pytest.raises(HwsimError, match="outside the CACTI table"):
        sram.sram_cost(rows[0, 0] / 2, 64, "1r1w", 1, 45, "weight_buffer")
    with pytest.raises(HwsimError, match="word_bits"):
        sram.sram_cost(4096, 24, "1r1w", 1, 45, "weight_buffer")
    with pytest.raises(HwsimError, match="ports"):
        load_hardware("stripes", sram_ports="2rw")
    with pytest.raises(HwsimError, match=r"weight_buffer"):
        simulate(_wl(), BitPolicy.uniform(_wl(), 8, 8), load_hardware(
            "stripes", weight_buffer_bytes=2.0**36, weight_buffer_banks=1))  # fmt: skip


CACTI_BIN = Path(os.environ.get("HWSIM_CACTI", "/work/tools/cacti/cacti"))
needs_cacti = pytest.mark.skipif(not CACTI_BIN.is_file(), reason="no built CACTI binary here")


@pytest.fixture(autouse=True)
def _no_cacti_unless_asked(monkeypatch):
    monkeypatch.delenv("HWSIM_CACTI", raising=False)


@needs_cacti
def test_cacti_reruns_a_table_row_and_prices_banks_outside_the_table(monkeypatch):
    row = TABLE[(32, "1r1w")]
    i = int(np.searchsorted(row[:, 0], 4096))
    out = cacti.run(CACTI_BIN.resolve(), 4096, 32, "1r1w")
    np.testing.assert_allclose(
        [out["read_nj"], out["write_nj"], out["leak_mw"], out["height_mm"] * out["width_mm"]],
        row[i, 1:],
        rtol=1e-6,
    )
    with pytest.raises(HwsimError, match="word_bits"):
        sram.bank_row(4096, 24, "1r1w", "buffer")
    monkeypatch.setenv("HWSIM_CACTI", str(CACTI_BIN))
    got = sram.bank_row(4096, 24, "1r1w", "buffer")
    direct = cacti.run(CACTI_BIN.resolve(), 4096, 24, "1r1w")
    assert got[0] == direct["read_nj"] and got[3] == direct["height_mm"] * direct["width_mm"]


def test_bit_fusion_authors_rows_are_rows_of_the_table():
    """The authors' sram/cacti_sweep.csv rows (45 nm, 4-byte block) with their ports."""
    # (bank bytes, their read-write port flag, read nJ, write nJ, area mm^2)
    authors = [
        (128, 0, 0.000683701, 0.000925317, 0.00149898),
        (1024, 0, 0.00113324, 0.00329596, 0.00882362),
        (16384, 0, 0.00998170, 0.00842090, 0.108577),
        (512, 1, 0.00106097, 0.00233869, 0.00760331),
        (4096, 1, 0.00398324, 0.00505131, 0.0485739),
    ]
    for size, flag, rd, wr, area in authors:
        got = sram.bank_row(size, 32, "1rw1r1w" if flag else "1r1w", "buffer")
        np.testing.assert_allclose(got[[0, 1]], [rd, wr], rtol=1e-5)
        assert got[3] == pytest.approx(area, rel=1e-4)


# Area ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SKELETON_PRESETS)
def test_area_is_the_hand_sum_of_table_rows(name):
    hw = load_hardware(name)
    a = hwsim.area(hw)
    rows, cols, lanes = hw.array()
    unit = hw.unit_area_um2 if hw.unit_area_um2 is not None else hw.default_unit_area_um2()
    assert a.components["compute"] == pytest.approx(rows * cols * lanes * unit * 1e-6, rel=1e-12)
    ref = pricing_ref.buffer_costs(hw, TABLE)
    for buf in ("weight_buffer", "act_buffer", "out_buffer"):
        assert a.components[buf] == pytest.approx(ref[buf][3], rel=1e-9)
    assert a.total_mm2 == pytest.approx(sum(a.components.values()), rel=1e-12)
    frame = a.to_frame()
    assert frame.loc["total", "mm2"] == pytest.approx(a.total_mm2)
    assert "mm^2" in repr(a)


def test_dadiannao_array_is_the_synthesized_16_bit_mac():
    """The Bit Fusion authors' 45 nm synthesis: a fixed 16x16-bit MAC is 2203.236034 um^2."""
    hw = load_hardware("dadiannao")
    assert hwsim.area(hw).components["compute"] == pytest.approx(256 * 16 * 2203.236034e-6)
    assert load_hardware("dadiannao", precision=8).compute_area_mm2() == pytest.approx(
        256 * 16 * 687.6072e-6
    )


def _synth_mac_um2() -> dict[int, float]:
    """The fixed p x p MAC rows (1 x 1 array, max = min precision) of the Bit Fusion authors'
    45 nm synthesis CSV, read here with the csv module."""
    import csv

    path = Path(pricing.__file__).parent / "data" / "bitfusion_systolic_array_synth.csv"
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    out = {}
    for r in csv.DictReader(lines):
        if r["N"] == r["M"] == "1" and r["Max Precision (bits)"] == r["Min Precision (bits)"]:
            out[int(r["Max Precision (bits)"])] = float(r["Area (um^2)"])
    return out


def test_serial_lane_is_the_same_product_count_mac_over_16():
    """A 16-lane serial inner-product unit priced as the synthesized MAC with as many one-bit
    partial products (p^2 = 16 x bits per lane), over its 16 lanes: Stripes (1 x 16 bits per
    lane) is the 16 x 16-bit MAC / 16, Loom at 1 and 4 activation bits per cycle the 4 x 4 and
    8 x 8-bit MACs / 16, Loom at 2 bits the geometric mean of those two rows (log-log at
    p = sqrt(32), halfway between 4 and 8 on a log scale) / 16."""
    mac = _synth_mac_um2()
    assert pricing.SERIAL_LANE_UM2 == pytest.approx(mac[16] / 16, rel=1e-12)
    assert pricing.serial_lane_area_um2(1) == pytest.approx(mac[4] / 16, rel=1e-12)
    assert pricing.serial_lane_area_um2(4) == pytest.approx(mac[8] / 16, rel=1e-12)
    assert pricing.serial_lane_area_um2(2) == pytest.approx(
        math.sqrt(mac[4] * mac[8]) / 16, rel=1e-12
    )
    for bad in (0, 17, 2.0, True):
        with pytest.raises(HwsimError, match="bits_per_lane"):
            pricing.serial_lane_area_um2(bad)


@pytest.mark.parametrize(
    "name", ["stripes", "dynamic-stripes", "shapeshifter", "pragmatic", "laconic"]
)
def test_serial_families_price_the_stripes_lane(name):
    """Independent of the buffers: the compute array is 256 x 16 x 16 lanes of the 16 x 16-bit
    MAC / 16, i.e. the same compute area as DaDianNao's 256 x 16 synthesized 16-bit MACs."""
    mac16 = _synth_mac_um2()[16]
    a = hwsim.area(name)
    assert a.components["compute"] == pytest.approx(256 * 16 * 16 * mac16 / 16 * 1e-6, rel=1e-12)
    assert a.components["compute"] == pytest.approx(
        hwsim.area("dadiannao").components["compute"], rel=1e-12
    )


@pytest.mark.parametrize("bits, row", [(1, 4), (4, 8)])
def test_loom_lane_follows_its_activation_bits_per_cycle(bits, row):
    mac = _synth_mac_um2()
    hw = load_hardware("loom", a_bits_per_cycle=bits)
    r, c, ln = hw.array()
    assert hwsim.area(hw).components["compute"] == pytest.approx(
        r * c * ln * mac[row] / 16 * 1e-6, rel=1e-12
    )


def test_serial_lane_area_does_not_depend_on_the_buffers():
    """The old rule solved the lane from the whole chip's area, buffers included; the lane must
    not move when DaDianNao's buffers are priced differently."""
    small = load_hardware("stripes", weight_buffer_bytes=2**20)
    assert small.compute_area_mm2() == pytest.approx(
        load_hardware("stripes").compute_area_mm2(), rel=1e-12
    )


@settings(max_examples=40)
@given(
    st.sampled_from(["stripes", "loom", "pragmatic", "laconic", "bismo", "dadiannao"]),
    st.sampled_from(["rows", "cols", "lanes"]),
    st.integers(2, 4),
)
def test_area_grows_with_the_array(name, dim, factor):
    hw = load_hardware(name)
    big = hw.replace(**{dim: getattr(hw, dim) * factor})
    assert hwsim.area(big).components["compute"] == pytest.approx(
        hwsim.area(hw).components["compute"] * factor, rel=1e-12
    )
    assert hwsim.area(big).total_mm2 > hwsim.area(hw).total_mm2


@settings(max_examples=40)
@given(st.sampled_from(["weight", "act", "out"]), st.integers(10, 20), st.integers(1, 4))
def test_area_grows_with_a_buffer(which, log2_bytes, more):
    hw = load_hardware("loom", weight_buffer_banks=1)
    small = hw.replace(**{f"{which}_buffer_bytes": float(2**log2_bytes)})
    big = hw.replace(**{f"{which}_buffer_bytes": float(2 ** (log2_bytes + more))})
    assert hwsim.area(big).total_mm2 > hwsim.area(small).total_mm2
    assert big.leakage_w() > small.leakage_w()


def test_cpu_presets_have_no_area():
    for name in ("cpu-int8", "cpu-fp32", "cpu-bitserial", "cpu-best"):
        with pytest.raises(HwsimError, match="CPU has no area model"):
            hwsim.area(name)
        rep = simulate(_wl(), BitPolicy.uniform(_wl(), 8, 8), name)
        assert math.isnan(rep.totals["area_mm2"])
        assert rep.totals["power_w"] == pytest.approx(
            rep.totals["energy_j"] / rep.totals["latency_s"] + rep.totals["leakage_w"]
        )


# Totals and cost tables ---------------------------------------------------------------------
@pytest.mark.parametrize("name", preset_names())
def test_every_preset_reports_area_and_power(name):
    hw = load_hardware(name)
    rep = simulate(_wl(), BitPolicy.uniform(_wl(), 8, 8), hw)
    for key in ("area_mm2", "power_w", "leakage_w"):
        assert key in rep.totals
    assert rep.totals["power_w"] == pytest.approx(
        rep.totals["energy_j"] / rep.totals["latency_s"] + hw.leakage_w(), rel=1e-12
    )
    if hw.area_breakdown() is not None:
        assert rep.totals["area_mm2"] == pytest.approx(hwsim.area(hw).total_mm2, rel=1e-12)
        assert rep.totals["area_mm2"] > 0
    if isinstance(hw, SkeletonConfig):
        assert hw.leakage_w() > 0


def test_cost_table_area_per_config_and_power_metric():
    names = ["stripes", "loom", "cpu-int8"]
    tab = cost_table(_wl(), names, [4, 8], [4, 8])
    assert tab.area_mm2.shape == (3,)
    assert tab.area_mm2[0] == pytest.approx(hwsim.area("stripes").total_mm2)
    assert math.isnan(tab.area_mm2[2])
    power = tab.metric("power_w")
    want = tab.metric("energy_j") / tab.metric("latency_s") + tab.leakage_w.reshape(-1, 1, 1, 1)
    np.testing.assert_allclose(power, want, rtol=1e-12)
    one = cost_table(_wl(), "stripes", [8], [8])
    assert isinstance(one.area_mm2, float)
    bits = {n: (8, 8) for n in one.layer_names}
    assert one.power_total(bits) == pytest.approx(
        one.total("energy_j", bits) / one.total("latency_s", bits) + one.leakage_w
    )


def test_a_larger_array_costs_the_same_energy_per_mac():
    wl, pol = _wl(), BitPolicy.uniform(_wl(), 4, 4)
    small = simulate(wl, pol, load_hardware("stripes", rows=16, cols=4))
    large = simulate(wl, pol, load_hardware("stripes", rows=256, cols=16))
    per_mac = [r.totals["compute_energy_j"] / r.totals["total_macs"] for r in (small, large)]
    assert per_mac[0] == pytest.approx(per_mac[1], rel=1e-12)
    assert (
        hwsim.area(load_hardware("stripes", rows=256, cols=16)).components["compute"]
        > hwsim.area(load_hardware("stripes", rows=16, cols=4)).components["compute"]
    )


def test_pinned_sram_energy_overrides_the_table():
    wl, pol = _wl(), BitPolicy.uniform(_wl(), 8, 8)
    rep = simulate(wl, pol, load_hardware("stripes", e_sram_pj_per_bit=1.5625))
    assert rep.totals["sram_energy_j"] == pytest.approx(rep.totals["sram_bits"] * 1.5625e-12)


def test_bigger_buffer_costs_more_energy_per_bit():
    small = load_hardware("stripes", act_buffer_bytes=2.0**14)
    big = load_hardware("stripes", act_buffer_bytes=2.0**22)
    assert big.sram_pj_per_bit()[2] > small.sram_pj_per_bit()[2]
    assert big.sram_pj_per_bit()[3] > small.sram_pj_per_bit()[3]
