"""The Bit Fusion family: the reference simulator's published numbers, an independent Python
transcription of its search, and the invariants one can derive by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from hwsim import BitPolicy, HwsimError, Workload
from hwsim.hardware import cost_table, load_hardware, simulate
from hwsim.hardware.bitfusion import DERIVED_ENERGIES, EXTRA_KEYS, BitFusionConfig
from hwsim.reference import bitfusion as ref

EXACT = load_hardware("bitfusion")
CORRECTED = load_hardware("bitfusion-corrected")
# The default energy table pinned: for buffers and arrays whose banks no CACTI row prices
# (the cycle model runs at any size; the derived energies only where the table holds a bank).
PINNED = EXACT.replace(**{k: getattr(EXACT, k) for k in DERIVED_ENERGIES})


def _workload(layers: dict[str, dict], name: str = "net") -> tuple[Workload, BitPolicy]:
    rows, bits = [], {}
    for lname, L in layers.items():
        if L["K"] == 1 and L["O"] == 1 and not L["im2col"]:
            rows.append(
                {
                    "name": lname,
                    "kind": "linear",
                    "batch": L["B"],
                    "in_channels": L["IC"],
                    "out_channels": L["OC"],
                }
            )
        else:
            pad = L["K"] // 2
            in_hw = (L["O"] - 1) * L["S"] + L["K"] - 2 * pad
            rows.append(
                {
                    "name": lname,
                    "kind": "conv",
                    "batch": L["B"],
                    "in_channels": L["IC"],
                    "out_channels": L["OC"],
                    "in_h": max(in_hw, 1),
                    "in_w": max(in_hw, 1),
                    "out_h": L["O"],
                    "out_w": L["O"],
                    "kernel_h": L["K"],
                    "kernel_w": L["K"],
                    "stride_h": L["S"],
                    "stride_w": L["S"],
                    "pad_h": pad,
                    "pad_w": pad,
                    "first": int(L["im2col"]),
                }
            )
        bits[lname] = (L["w"], L["a"])
    wl = Workload.from_layers(name, rows)
    return wl, BitPolicy(bits)


def _acc(cfg: BitFusionConfig) -> dict:
    """The transcription's accelerator dict for a config."""
    return {
        "N": cfg.rows,
        "M": cfg.cols,
        "pmax": cfg.max_bits,
        "pmin": cfg.min_bits,
        "sram": {"wgt": cfg.wbuf_bytes, "act": cfg.ibuf_bytes, "out": cfg.obuf_bytes},
        "bw": cfg.dram_bits_per_cycle,
        "core": cfg.core_pj_per_cycle,
        "rd": {
            "wgt": cfg.wbuf_read_pj_per_bit,
            "act": cfg.ibuf_read_pj_per_bit,
            "out": cfg.obuf_read_pj_per_bit,
        },
        "wr": {
            "wgt": cfg.wbuf_write_pj_per_bit,
            "act": cfg.ibuf_write_pj_per_bit,
            "out": cfg.obuf_write_pj_per_bit,
        },
        "dram": cfg.dram_pj_per_bit,
    }


COLUMNS = {  # published column -> our per-layer output
    "cycles": "cycles",
    "stall_cycles": "stall_cycles",
    "wbuf_read": "wbuf_read_bits",
    "wbuf_write": "wbuf_write_bits",
    "ibuf_read": "ibuf_read_bits",
    "ibuf_write": "ibuf_write_bits",
    "obuf_read": "obuf_read_bits",
    "obuf_write": "obuf_write_bits",
    "dram_read": "dram_read_bits",
    "dram_write": "dram_write_bits",
}


@pytest.mark.parametrize("network", sorted(ref.REFERENCE_LAYERS))
def test_published_reference_layers_exactly(network: str) -> None:
    """Integer-equal cycles, stalls, buffer and DRAM bits; energy to 1e-6 relative
    (docs/models.md, section 7)."""
    wl, policy = _workload(ref.REFERENCE_LAYERS[network], network)
    layers = simulate(wl, policy, EXACT).layers.set_index("name")
    rows = [r for r in ref.reference_rows() if r["network"] == network]
    assert len(rows) == len(wl)
    for row in rows:
        got = layers.loc[row["layer"]]
        for theirs, ours in COLUMNS.items():
            assert int(got[ours]) == row[theirs], (row["layer"], theirs)
        assert got["energy_j"] * 1e12 == pytest.approx(ref.reference_energy_pj(row), rel=1e-6)
        assert got["dram_read_bytes"] * 8 == row["dram_read"]


def test_preset_energy_table_matches_its_sources() -> None:
    # The CACTI and synthesis numbers the simulator reads, divided as it divides them.
    assert EXACT.core_pj_per_cycle == pytest.approx(3673500 * (16 * 32 / 16) / 500e6 * 1e3)
    assert EXACT.wbuf_read_pj_per_bit == pytest.approx(0.000683701 / 32 * 1e3)
    assert EXACT.ibuf_write_pj_per_bit == pytest.approx(0.00363853 / 32 * 1e3)
    assert EXACT.obuf_read_pj_per_bit == pytest.approx(0.00106097 / 32 * 1e3)
    assert EXACT.dram_pj_per_bit == 15.0


@pytest.mark.parametrize(
    "a,w,pf",
    [
        (8, 8, 1),
        (4, 4, 4),
        (8, 2, 4),
        (2, 8, 4),
        (2, 2, 16),
        (1, 1, 16),
        (1, 8, 4),
        (3, 3, 4),
        (3, 8, 2),
        (5, 5, 1),
        (16, 8, 0),
    ],
)
def test_fusion_factor(a: int, w: int, pf: int) -> None:
    assert EXACT.fusion_factor(a, w) == pf


small_cfgs = st.sampled_from(
    [
        EXACT,
        PINNED.replace(wbuf_bytes=2048, ibuf_bytes=1024, obuf_bytes=4096, dram_bytes_per_s=4e9),
        PINNED.replace(
            rows=4, cols=8, wbuf_bytes=512, ibuf_bytes=512, obuf_bytes=1024, dram_bytes_per_s=2e9
        ),
    ]
)


@st.composite
def small_layers(draw) -> dict:
    k = draw(st.sampled_from([1, 3]))
    return {
        "B": draw(st.integers(1, 4)),
        "O": draw(st.integers(1, 6)),
        "K": k,
        "S": draw(st.sampled_from([1, 2])),
        "IC": draw(st.integers(1, 40)),
        "OC": draw(st.integers(1, 70)),
        "a": draw(st.integers(1, 8)),
        "w": draw(st.integers(1, 8)),
        "im2col": draw(st.booleans()),
    }


@settings(max_examples=20)
@given(layer=small_layers(), cfg=small_cfgs)
def test_matches_python_transcription(layer: dict, cfg: BitFusionConfig) -> None:
    try:
        want = ref.search(_acc(cfg), layer)
    except AssertionError:  # nothing fits: the model must say so
        wl, policy = _workload({"l": layer})
        with pytest.raises(HwsimError, match="fits half the buffers"):
            simulate(wl, policy, cfg)
        return
    wl, policy = _workload({"l": layer})
    got = simulate(wl, policy, cfg).layers.iloc[0]
    assert int(got["cycles"]) == want["cycles"]
    assert int(got["stall_cycles"]) == want["stall"]
    for t, key in (("wgt", "wbuf"), ("act", "ibuf"), ("out", "obuf")):
        assert int(got[f"{key}_read_bits"]) == want["reads"][t]
        assert int(got[f"{key}_write_bits"]) == want["writes"][t]
    assert int(got["dram_read_bits"]) == want["reads"]["dram"]
    assert int(got["dram_write_bits"]) == want["writes"]["dram"]
    assert got["energy_j"] * 1e12 == pytest.approx(want["energy"], rel=1e-9)


@settings(max_examples=20)
@given(layer=small_layers(), cfg=small_cfgs)
def test_compute_bound_cycles_are_the_untiled_formula(layer: dict, cfg: BitFusionConfig) -> None:
    """With a DRAM interface wide enough that no tiling stalls, every tiling costs its compute
    plus a one-cycle prologue and epilogue, so the search finds the fewest compute cycles:
    B*ceil(OC/M)*O^2*K^2*ceil(IC/(N*pf)), or B*O^2*ceil(OC/M)*ceil(K^2*IC/(N*pf)) with im2col."""
    cfg = cfg.replace(
        dram_bytes_per_s=(1 << 20) / 8 * cfg.frequency_hz,
        wbuf_bytes=65536,
        ibuf_bytes=32768,
        obuf_bytes=16384,
    )
    wl, policy = _workload({"l": layer})
    got = simulate(wl, policy, cfg).layers.iloc[0]
    B, O, K, IC, OC = layer["B"], layer["O"], layer["K"], layer["IC"], layer["OC"]
    npf = cfg.rows * cfg.fusion_factor(layer["a"], layer["w"])
    if layer["im2col"]:
        expected = B * O * O * math.ceil(OC / cfg.cols) * math.ceil(K * K * IC / npf)
    else:
        expected = B * math.ceil(OC / cfg.cols) * O * O * K * K * math.ceil(IC / npf)
    assert int(got["compute_cycles"]) == expected
    assert int(got["stall_cycles"]) == 2
    assert int(got["cycles"]) == expected + 2


class _Tally:
    """Counts the examples a property ran on and those it rejected as infeasible (a layer
    no tiling fits), so a test can prove most of its examples were real checks."""

    def __init__(self) -> None:
        self.ran = 0
        self.rejected = 0

    def simulate(self, wl: Workload, policy: BitPolicy, cfg: BitFusionConfig):
        """``simulate``, rejecting the example (``hypothesis.reject``) when nothing fits;
        any other error fails the test."""
        try:
            rep = simulate(wl, policy, cfg)
        except HwsimError as exc:
            if "fits half the buffers" not in str(exc):
                raise
            self.rejected += 1
            reject()
        self.ran += 1
        return rep

    def assert_mostly_ran(self, share: float = 0.8) -> None:
        total = self.ran + self.rejected
        assert total > 0 and self.ran >= share * total, (self.ran, self.rejected)


def test_chosen_tiles_fit_half_buffers_and_totals_add_up() -> None:
    tally = _Tally()

    @settings(max_examples=20)
    @given(layer=small_layers(), cfg=small_cfgs)
    def check(layer: dict, cfg: BitFusionConfig) -> None:
        wl, policy = _workload({"l": layer})
        _check_tiles_and_totals(layer, cfg, tally.simulate(wl, policy, cfg))

    check()
    tally.assert_mostly_ran()


def _check_tiles_and_totals(layer: dict, cfg: BitFusionConfig, rep) -> None:
    g = rep.layers.iloc[0]
    b, oh, ow, ic, oc = (int(g[f"tile_{k}"]) for k in ("b", "oh", "ow", "ic", "oc"))
    a, w, K, S = layer["a"], layer["w"], layer["K"], layer["S"]
    npf = cfg.rows * cfg.fusion_factor(a, w)
    assert math.ceil(K * K * ic / npf) * npf * oc * w <= cfg.wbuf_bytes * 4
    act = (
        ow * oh * K * K * ic * b * a
        if layer["im2col"]
        else (K + (ow - 1) * S) * (K + (oh - 1) * S) * ic * b * a
    )
    assert act <= cfg.ibuf_bytes * 4
    assert ow * oh * math.ceil(oc / cfg.cols) * cfg.cols * b * 32 <= cfg.obuf_bytes * 4
    # Lower bounds: compute of the untiled layer, and DRAM traffic at the interface width.
    assert g["cycles"] >= g["compute_cycles"]
    assert g["cycles"] >= math.ceil(
        (g["dram_read_bits"] + g["dram_write_bits"]) / cfg.dram_bits_per_cycle
    )
    assert g["cycles"] == g["compute_cycles"] + g["stall_cycles"]
    assert g["energy_j"] == pytest.approx(
        g["compute_energy_j"] + g["sram_energy_j"] + g["dram_energy_j"], rel=1e-12
    )
    assert g["compute_energy_j"] == pytest.approx(
        g["compute_cycles"] * cfg.core_pj_per_cycle * 1e-12, rel=1e-12
    )
    assert g["dram_energy_j"] == pytest.approx(
        (g["dram_read_bits"] + g["dram_write_bits"]) * cfg.dram_pj_per_bit * 1e-12, rel=1e-12
    )
    assert g["dram_bytes"] == g["dram_read_bytes"] + g["dram_write_bytes"]
    assert g["latency_s"] == pytest.approx(g["cycles"] / cfg.frequency_hz)
    assert 0 < g["utilization"] <= 1


def test_bigger_buffers_can_cost_cycles_in_the_reference_model() -> None:
    """Not monotone, and the transcription agrees: with twice the buffers more of each tensor
    fits, so more of it moves in the prologue, which the model does not overlap with compute.
    (Likewise fewer bits can cost cycles.) Found by a random search against the transcription."""
    layer = {"B": 4, "O": 3, "K": 3, "S": 1, "IC": 154, "OC": 2, "a": 3, "w": 1, "im2col": False}
    big = PINNED.replace(wbuf_bytes=2 * 65536, ibuf_bytes=2 * 32768, obuf_bytes=2 * 16384)
    wl, policy = _workload({"l": layer})
    small_c = simulate(wl, policy, EXACT).layers["cycles"].iloc[0]
    big_c = simulate(wl, policy, big).layers["cycles"].iloc[0]
    assert small_c == ref.search(_acc(EXACT), layer)["cycles"]
    assert big_c == ref.search(_acc(big), layer)["cycles"]
    assert big_c > small_c


def test_bigger_buffers_can_move_more_dram_bytes_in_the_reference_model() -> None:
    """The search minimises cycles, not traffic, and with 4x the buffers its best tiling here
    both takes longer (the un-overlapped prologue, as above) and moves more DRAM bytes. Found by
    a Hypothesis search over small layers; the transcription agrees on the cycles."""
    layer = {"B": 4, "O": 5, "K": 3, "S": 2, "IC": 20, "OC": 40, "a": 5, "w": 6, "im2col": True}
    big = PINNED.replace(wbuf_bytes=4 * 65536, ibuf_bytes=4 * 32768, obuf_bytes=4 * 16384)
    wl, policy = _workload({"l": layer})
    small_row = simulate(wl, policy, EXACT).layers.iloc[0]
    big_row = simulate(wl, policy, big).layers.iloc[0]
    assert small_row["cycles"] == ref.search(_acc(EXACT), layer)["cycles"]
    assert big_row["cycles"] == ref.search(_acc(big), layer)["cycles"]
    assert big_row["dram_bytes"] > small_row["dram_bytes"]


def test_one_more_activation_bit_can_save_cycles_in_the_reference_model() -> None:
    """At 5 activation bits the fusion units run 8-bit activations. For this first (im2col)
    layer the tiling and the compute cycles stay the same, but the reference model counts fewer
    DRAM read bits at the 8-bit run width than at 4, so the layer stalls less and its total
    cycles fall; compute cycles alone never do (next test). The transcription agrees."""
    four = {"B": 2, "O": 4, "K": 1, "S": 2, "IC": 19, "OC": 15, "a": 4, "w": 4, "im2col": True}
    five = {**four, "a": 5}
    cycles = []
    for layer in (four, five):
        wl, policy = _workload({"l": layer})
        got = simulate(wl, policy, EXACT).layers["cycles"].iloc[0]
        assert got == ref.search(_acc(EXACT), layer)["cycles"]
        cycles.append(got)
    assert cycles[1] < cycles[0]


def test_more_bits_can_pick_a_tiling_with_fewer_compute_cycles() -> None:
    """Compute cycles are not monotone in the bits, in the reference model too. The search
    minimises *total* cycles (compute + stalls), and a tile's compute counts its full size even
    where it overhangs the layer. At 6 activation bits the best tiling cuts the 5x5 output into
    2x2 tiles (3x3 of them cover 6x6 outputs: 648 compute cycles) because its short,
    un-overlapped prologue saves more stall than the overhang costs; at 7 bits (the same fusion
    factor) that trade no longer pays and the whole 5x5 tile (450 compute cycles) wins, with
    more total cycles. The independent transcription of the authors' search agrees."""
    fewer = {"B": 1, "O": 5, "K": 3, "S": 2, "IC": 21, "OC": 35, "a": 6, "w": 2, "im2col": False}
    more = {**fewer, "a": 7}
    wl, policy = _workload({"fewer": fewer, "more": more})
    got = simulate(wl, policy, EXACT).layers.set_index("name")
    for name, layer in (("fewer", fewer), ("more", more)):
        want = ref.search(_acc(EXACT), layer)
        assert got.loc[name, "cycles"] == want["cycles"]
        assert got.loc[name, "compute_cycles"] == want["cycles"] - want["stall"]
    assert got.loc["more", "compute_cycles"] < got.loc["fewer", "compute_cycles"]
    assert got.loc["more", "cycles"] > got.loc["fewer", "cycles"]


def test_compute_cycles_follow_the_chosen_tiles_and_never_beat_the_untiled_layer() -> None:
    """What does hold at any bits: the compute cycles are the chosen tiling's tile count times
    one tile's cycles (each tile counted at its full size), so they never fall below the
    untiled layer's ``B * ceil(OC/M) * O^2 * K^2 * ceil(IC/(N*pf))`` (``ceil(K^2*IC/(N*pf))``
    for the first, im2col layer), a bound that only grows as the fusion factor shrinks with
    more bits. (The search may still trade compute for stalls: previous test.)"""
    tally = _Tally()

    @settings(max_examples=40)
    @given(layer=small_layers(), cfg=small_cfgs, corrected=st.booleans())
    def check(layer: dict, cfg: BitFusionConfig, corrected: bool) -> None:
        if corrected:
            cfg = cfg.replace(temporal_high_bits=True)
        wl, policy = _workload({"l": layer})
        g = tally.simulate(wl, policy, cfg).layers.iloc[0]
        B, O, K, IC, OC = (layer[k] for k in ("B", "O", "K", "IC", "OC"))
        b, o, ic, oc = (int(g[f"tile_{k}"]) for k in ("b", "ow", "ic", "oc"))
        assert int(g["tile_oh"]) == o
        npf = cfg.rows * cfg.fusion_factor(layer["a"], layer["w"])
        cdiv = lambda x, y: -(-x // y)  # noqa: E731
        if layer["im2col"]:
            per_tile = b * o * o * cdiv(oc, cfg.cols) * cdiv(K * K * ic, npf)
            untiled = B * O * O * cdiv(OC, cfg.cols) * cdiv(K * K * IC, npf)
        else:
            per_tile = b * cdiv(oc, cfg.cols) * o * o * K * K * cdiv(ic, npf)
            untiled = B * cdiv(OC, cfg.cols) * O * O * K * K * cdiv(IC, npf)
        tiles = cdiv(B, b) * cdiv(O, o) ** 2 * cdiv(IC, ic) * cdiv(OC, oc)
        assert int(g["compute_cycles"]) == tiles * per_tile
        assert int(g["compute_cycles"]) >= untiled

    check()
    tally.assert_mostly_ran()


def test_groups_run_as_independent_layers() -> None:
    one = {
        "name": "g1",
        "kind": "conv",
        "batch": 2,
        "in_channels": 8,
        "out_channels": 8,
        "in_h": 8,
        "in_w": 8,
        "out_h": 8,
        "out_w": 8,
        "kernel_h": 3,
        "kernel_w": 3,
        "pad_h": 1,
        "pad_w": 1,
    }
    dw = {
        **one,
        "name": "dw",
        "kind": "depthwise",
        "in_channels": 32,
        "out_channels": 32,
        "groups": 4,
    }
    wl = Workload.from_layers("g", [one, dw])
    rep = simulate(wl, BitPolicy.uniform(wl, 4, 4), EXACT).layers.set_index("name")
    for key in ("cycles", "stall_cycles", "dram_read_bits", "obuf_write_bits"):
        assert rep.loc["dw", key] == 4 * rep.loc["g1", key]
    assert rep.loc["dw", "energy_j"] == pytest.approx(4 * rep.loc["g1", "energy_j"])


def test_bits_above_eight_raise_in_the_exact_preset_and_run_temporally_when_corrected() -> None:
    layer = {"B": 2, "O": 4, "K": 3, "S": 1, "IC": 16, "OC": 32, "a": 16, "w": 16, "im2col": False}
    wl, policy = _workload({"l": layer})
    with pytest.raises(HwsimError, match="w_bits"):
        simulate(wl, policy, EXACT)
    at16 = simulate(wl, policy, CORRECTED).layers.iloc[0]
    wl8, policy8 = _workload({"l": {**layer, "a": 8, "w": 8}})
    at8 = simulate(
        wl8, policy8, CORRECTED.replace(dram_bytes_per_s=(1 << 20) / 8 * CORRECTED.frequency_hz)
    ).layers.iloc[0]
    fast16 = simulate(
        wl, policy, CORRECTED.replace(dram_bytes_per_s=(1 << 20) / 8 * CORRECTED.frequency_hz)
    ).layers.iloc[0]
    # 16x16 is four passes of the fused 8x8 unit (compute-bound, so compare compute).
    assert fast16["compute_cycles"] == 4 * at8["compute_cycles"]
    assert at16["w_bits_run"] == 16 and at16["a_bits_run"] == 16


def test_run_precision_rounds_up_to_the_fusion_grid() -> None:
    wl, policy = _workload(
        {"l": {"B": 1, "O": 1, "K": 1, "S": 1, "IC": 64, "OC": 64, "a": 3, "w": 1, "im2col": False}}
    )
    rep = simulate(wl, policy, EXACT)
    assert rep.layers["a_bits_run"].iloc[0] == 4
    assert rep.layers["w_bits_run"].iloc[0] == 2
    assert rep.notes  # the rounding is reported


def test_cost_table_memoizes_and_agrees_with_simulate() -> None:
    wl, _ = _workload(ref.REFERENCE_LAYERS["LeNet-5"], "lenet")
    table = cost_table(wl, [EXACT, CORRECTED], [2, 4, 8], [2, 4, 8])
    assert table.metrics["cycles"].shape == (2, len(wl), 3, 3)
    rep = simulate(wl, BitPolicy.uniform(wl, 4, 2), EXACT)
    np.testing.assert_array_equal(
        table.metrics["cycles"][0, :, 1, 0], rep.layers["cycles"].to_numpy()
    )
    # The corrected preset only differs above 8 bits.
    np.testing.assert_array_equal(table.metrics["cycles"][0], table.metrics["cycles"][1])
    assert set(EXTRA_KEYS) <= set(table.metrics)


def test_bad_configs_and_layers_raise() -> None:
    with pytest.raises(HwsimError, match="max_bits"):
        EXACT.replace(min_bits=4, max_bits=2)
    with pytest.raises(HwsimError, match="wbuf_bytes"):
        EXACT.replace(wbuf_bytes=0)
    wl = Workload.from_layers(
        "d",
        [
            {
                "name": "d",
                "kind": "conv",
                "batch": 1,
                "in_channels": 4,
                "out_channels": 4,
                "in_h": 8,
                "in_w": 8,
                "out_h": 4,
                "out_w": 4,
                "kernel_h": 3,
                "kernel_w": 3,
                "dilation_h": 2,
                "dilation_w": 2,
            }
        ],
    )
    with pytest.raises(HwsimError, match="dilat"):
        simulate(wl, BitPolicy.uniform(wl, 4, 4), EXACT)
    wl2, policy = _workload(
        {"l": {"B": 1, "O": 1, "K": 1, "S": 1, "IC": 8, "OC": 8, "a": 4, "w": 4, "im2col": False}}
    )
    with pytest.raises(HwsimError, match="fits half the buffers"):
        simulate(wl2, policy, PINNED.replace(obuf_bytes=16))
    huge, policy = _workload(
        {
            "l": {
                "B": 1 << 20,
                "O": 1 << 12,
                "K": 11,
                "S": 1,
                "IC": 1 << 14,
                "OC": 1 << 14,
                "a": 4,
                "w": 4,
                "im2col": False,
            }
        }
    )
    with pytest.raises(HwsimError, match="too large"):
        simulate(huge, policy, EXACT)


def test_parallel_and_serial_searches_agree() -> None:
    from hwsim.hardware import _bitfusion_kernel as kern

    rows = np.array(
        [
            [
                L["B"],
                L["O"],
                L["O"],
                L["K"],
                L["K"],
                L["S"],
                L["S"],
                L["IC"],
                L["OC"],
                int(L["im2col"]),
                L["a"],
                L["w"],
                0,
            ]
            for net in ("SVHN", "LeNet-5", "CIFAR10")
            for L in ref.REFERENCE_LAYERS[net].values()
        ]
    )
    assert len(rows) >= kern.PARALLEL_MIN_ROWS
    args = (np.array([EXACT._int_row()]), np.array([EXACT._energy_row()]))
    together = kern.run_search(rows, *args)
    one_by_one = np.concatenate([kern.run_search(r[None, :], *args) for r in rows])
    np.testing.assert_array_equal(together, one_by_one)


def test_non_square_layers_are_symmetric_under_transpose() -> None:
    """The generalisation to non-square layers treats the two axes alike: transposing the
    layer (heights <-> widths) changes nothing, feasibility included."""
    tally = _Tally()

    @settings(max_examples=15)
    @given(
        h=st.integers(1, 9),
        w=st.integers(1, 9),
        kh=st.sampled_from([1, 3]),
        kw=st.sampled_from([1, 5]),
        sh=st.sampled_from([1, 2]),
        ic=st.integers(1, 48),
        oc=st.integers(1, 70),
        cfg=small_cfgs,
    )
    def check(h, w, kh, kw, sh, ic, oc, cfg) -> None:
        _check_transpose_symmetry(h, w, kh, kw, sh, ic, oc, cfg, tally)

    check()
    tally.assert_mostly_ran()


def _check_transpose_symmetry(h, w, kh, kw, sh, ic, oc, cfg, tally: _Tally) -> None:

    def layer(name, oh, ow, kh_, kw_, sh_, sw_):
        return {
            "name": name,
            "kind": "conv",
            "batch": 2,
            "in_channels": ic,
            "out_channels": oc,
            "in_h": oh * sh_,
            "in_w": ow * sw_,
            "out_h": oh,
            "out_w": ow,
            "kernel_h": kh_,
            "kernel_w": kw_,
            "stride_h": sh_,
            "stride_w": sw_,
        }

    wl = Workload.from_layers(
        "t", [layer("hw", h, w, kh, kw, sh, 1), layer("wh", w, h, kw, kh, 1, sh)]
    )
    fits = []
    for name in ("hw", "wh"):  # each orientation alone: both fit, or neither does
        alone = wl.select([name])
        try:
            simulate(alone, BitPolicy.uniform(alone, 4, 4), cfg)
            fits.append(True)
        except HwsimError as exc:
            assert "fits half the buffers" in str(exc), exc
            fits.append(False)
    assert fits[0] == fits[1]
    rep = tally.simulate(wl, BitPolicy.uniform(wl, 4, 4), cfg).layers
    for key in (
        "cycles",
        "stall_cycles",
        "dram_read_bits",
        "dram_write_bits",
        "obuf_read_bits",
        "ibuf_read_bits",
        "energy_j",
    ):
        assert rep[key].iloc[0] == rep[key].iloc[1], key


# Rows of the same published sweep for the notebook's scaled designs (more columns, bigger
# buffers, a 4096-bit interface): (M, WBUF, OBUF, IBUF bytes, network, layer, then cycles,
# stalls, WBUF rd/wr, OBUF rd/wr, IBUF rd/wr, DRAM rd/wr in bits).
SCALED = [
    (
        64,
        131072,
        32768,
        65536,
        "SVHN",
        "fc8",
        (87, 23, 163840, 10240, 37888, 37888, 163840, 16384, 59392, 32768),
    ),
    (
        64,
        131072,
        32768,
        65536,
        "LeNet-5",
        "conv0",
        (16588, 204, 26214400, 16384, 50331648, 50331648, 26214400, 819200, 34390016, 33554432),
    ),
    (
        32,
        65536,
        16384,
        32768,
        "RESNET-18",
        "module5/conv5_1_b",
        (
            3612695,
            23,
            29595009024,
            7398752256,
            822083584,
            822083584,
            29595009024,
            28901376,
            7838695424,
            411041792,
        ),
    ),
    (
        128,
        262144,
        65536,
        131072,
        "LSTM",
        "matmul",
        (
            26545,
            97,
            866648064,
            54165504,
            110231552,
            110231552,
            866648064,
            233472,
            56299520,
            1900544,
        ),
    ),
    (
        256,
        524288,
        131072,
        262144,
        "AlexNet",
        "conv1_a",
        (
            1113307,
            107,
            13493145600,
            282624,
            545177600,
            545177600,
            13493145600,
            140553600,
            537329024,
            396492800,
        ),
    ),
]


@pytest.mark.parametrize("m,wbuf,obuf,ibuf,network,layer,published", SCALED)
def test_published_scaled_designs(m, wbuf, obuf, ibuf, network, layer, published) -> None:
    cfg = EXACT.replace(
        cols=m, wbuf_bytes=wbuf, obuf_bytes=obuf, ibuf_bytes=ibuf, dram_bytes_per_s=4096 / 8 * 500e6
    )
    wl, policy = _workload({layer: ref.REFERENCE_LAYERS[network][layer]})
    g = simulate(wl, policy, cfg).layers.iloc[0]
    keys = (
        "cycles",
        "stall_cycles",
        "wbuf_read_bits",
        "wbuf_write_bits",
        "obuf_read_bits",
        "obuf_write_bits",
        "ibuf_read_bits",
        "ibuf_write_bits",
        "dram_read_bits",
        "dram_write_bits",
    )
    assert tuple(int(g[k]) for k in keys) == published
