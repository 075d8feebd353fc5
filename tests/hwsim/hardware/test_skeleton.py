"""The skeleton kernel against the plain-Python reference, and the model's properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hwsim import BitPolicy, HwsimError, Workload
from hwsim.hardware import METRICS, cost_table, load_hardware, simulate
from hwsim.hardware.registry import Points
from hwsim.hardware.skeleton import run_kernel
from hwsim.reference.skeleton import layer_dict, point
from tests.strategies import bits, layer_dicts, skeleton_configs, workloads

request_bits = st.one_of(bits, st.just(32))


def _points(workload, w, a):
    n = len(workload)
    return Points(
        workload, np.arange(n, dtype=np.int64), np.full(n, w, np.int64), np.full(n, a, np.int64)
    )


@given(workloads(max_layers=3), skeleton_configs(), bits, bits)
def test_kernel_matches_reference(workload, cfg, w, a):
    assume(max(w, a) <= max(max(cfg.w_precisions()), max(cfg.a_precisions())))
    res = run_kernel([cfg], _points(workload, w, a))
    for i in range(len(workload)):
        ref = point(cfg, layer_dict(workload, i), w, a)
        for key, value in ref.items():
            # stall = total - compute: rounding of the total (summed period by period in the
            # reference) is the scale of its error.
            tol = 1e-9 * ref["cycles"] if key == "stall_cycles" else 1e-12
            assert res[key][0, i] == pytest.approx(value, rel=1e-9, abs=tol), key


@given(workloads(max_layers=2), st.lists(skeleton_configs(), min_size=2, max_size=4))
def test_many_configs_in_one_call_equal_one_at_a_time(workload, configs):
    pts = _points(workload, 5, 3)
    together = run_kernel(configs, pts)
    for h, cfg in enumerate(configs):
        alone = run_kernel([cfg], pts)
        for key in METRICS:
            np.testing.assert_array_equal(together[key][h], alone[key][0])


@given(workloads(max_layers=3), skeleton_configs(), bits, bits)
@settings(max_examples=25)
def test_energy_positive_and_totals_add_up(workload, cfg, w, a):
    report = simulate(workload, BitPolicy.uniform(workload, w, a), cfg)
    df = report.layers
    assert (df["energy_j"] > 0).all()
    parts = df["compute_energy_j"] + df["sram_energy_j"] + df["dram_energy_j"]
    np.testing.assert_allclose(df["energy_j"], parts, rtol=1e-12)
    np.testing.assert_allclose(df["dram_bytes"], df["dram_read_bytes"] + df["dram_write_bytes"])
    for key in ("cycles", "latency_s", "energy_j", "dram_bytes", "weight_bits"):
        assert report.totals[key] == pytest.approx(float(df[key].sum()), rel=1e-12)
    assert ((df["utilization"] > 0) & (df["utilization"] <= 1 + 1e-9)).all()


@given(workloads(max_layers=3), skeleton_configs(), bits, bits, st.integers(1, 8))
def test_larger_buffers_never_increase_dram_traffic(workload, cfg, w, a, factor):
    pts = _points(workload, w, a)
    small = run_kernel([cfg], pts)["dram_bytes"][0]
    big_cfg = cfg.replace(
        weight_buffer_bytes=cfg.weight_buffer_bytes * factor,
        act_buffer_bytes=cfg.act_buffer_bytes * (9 - factor),
    )
    if big_cfg.act_buffer_bytes < cfg.act_buffer_bytes:
        big_cfg = big_cfg.replace(act_buffer_bytes=cfg.act_buffer_bytes)
    big = run_kernel([big_cfg], pts)["dram_bytes"][0]
    assert (big <= small * (1 + 1e-12)).all()


@given(
    workloads(max_layers=2),
    st.lists(request_bits, min_size=1, max_size=4),
    st.lists(request_bits, min_size=1, max_size=4),
    st.lists(
        st.sampled_from(["dadiannao", "stripes", "loom", "pragmatic"]), min_size=1, max_size=3
    ),
)
@settings(max_examples=20)
def test_cost_table_equals_simulate_of_uniform_policies(workload, wopts, aopts, presets):
    table = cost_table(workload, presets, wopts, aopts)
    for h, name in enumerate(presets):
        for i, w in enumerate(wopts):
            for j, a in enumerate(aopts):
                rep = simulate(workload, BitPolicy.uniform(workload, w, a), name)
                np.testing.assert_array_equal(
                    table.metrics["latency_s"][h, :, i, j], rep.layers["latency_s"].to_numpy()
                )
                np.testing.assert_array_equal(
                    table.metrics["energy_j"][h, :, i, j], rep.layers["energy_j"].to_numpy()
                )
                np.testing.assert_array_equal(
                    table.metrics["weight_bits"][h, :, i, j], rep.layers["weight_bits"].to_numpy()
                )


def test_rounded_precision_is_reported_in_notes():
    wl = Workload.from_layers(
        "n", [{"name": "fc", "kind": "linear", "batch": 1, "in_channels": 64, "out_channels": 32}]
    )
    rep = simulate(wl, BitPolicy.uniform(wl, 4, 3), "stripes")
    assert rep.layers["w_bits_run"].iloc[0] == 16
    assert rep.layers["a_bits_run"].iloc[0] == 3
    assert len(rep.notes) == 1 and "weights bit-parallel at 16 bits" in rep.notes[0]
    assert "1 of 1 layers" in rep.notes[0]
    assert simulate(wl, BitPolicy.uniform(wl, 16, 3), "stripes").notes == []


def test_float_requests_map_to_widest_or_are_refused():
    wl = Workload.from_layers(
        "n", [{"name": "fc", "kind": "linear", "batch": 1, "in_channels": 64, "out_channels": 32}]
    )
    for name in ("dadiannao", "stripes", "loom", "pragmatic"):
        rep = simulate(wl, BitPolicy.uniform(wl, 32, 32), name)
        assert rep.layers["w_bits_run"].iloc[0] == 16
        assert rep.layers["a_bits_run"].iloc[0] == 16
    with pytest.raises(HwsimError) as err:
        simulate(wl, BitPolicy.uniform(wl, 32, 8), "bismo")
    assert err.value.field == "w_bits" and err.value.value == 32


def test_bad_points_are_refused_before_the_kernel():
    wl = Workload.from_layers(
        "n", [{"name": "fc", "kind": "linear", "batch": 1, "in_channels": 4, "out_channels": 4}]
    )
    cfg = load_hardware("stripes")
    for bad in ([0], [17], [-3]):
        with pytest.raises(HwsimError) as err:
            run_kernel([cfg], Points(wl, np.zeros(1, np.int64), np.array(bad), np.array([4])))
        assert err.value.field == "points.w_bits"
    with pytest.raises(HwsimError):
        run_kernel([cfg], Points(wl, np.array([1]), np.array([4]), np.array([4])))
    narrow = load_hardware("dadiannao", precision=8)
    with pytest.raises(HwsimError) as err:
        run_kernel([narrow], Points(wl, np.zeros(1, np.int64), np.array([4]), np.array([9])))
    assert err.value.field == "a_bits" and err.value.value == 9


@given(layer_dicts(), st.sampled_from(["stripes", "loom", "bismo", "pragmatic"]), bits, bits)
def test_serial_family_never_faster_with_more_bits(layer, family, w, a):
    wl = Workload.from_layers("one", [layer])
    cfg = load_hardware(
        family,
        weight_buffer_bytes=4096.0,
        act_buffer_bytes=8192.0,
        weight_buffer_banks=1,  # small buffers: one bank each (a bank holds >= 4 words)
        act_buffer_banks=1,
    )
    lat = cost_table(wl, cfg, list(range(1, 17)), list(range(1, 17))).metrics["latency_s"][0]
    assert (np.diff(lat, axis=0) >= -1e-18).all()
    assert (np.diff(lat, axis=1) >= -1e-18).all()


@settings(max_examples=15)
@given(
    workloads(max_layers=3),
    st.lists(skeleton_configs(), min_size=1, max_size=3),
    st.integers(1, 3000),
    st.data(),
)
def test_threaded_and_single_thread_kernels_agree_bit_for_bit(workload, configs, n_points, data):
    """run_kernel picks one thread for small calls and the thread pool for large ones; both
    paths (stage one and stage two) give the same bits."""
    import hwsim.hardware.skeleton as sk

    widest = min(max(*c.w_precisions(), *c.a_precisions()) for c in configs)
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    layer = rng.integers(0, len(workload), n_points)
    layer.sort()  # points come grouped by layer from cost_table, but need not be
    layer[: n_points // 3] = rng.permutation(layer[: n_points // 3])
    w = rng.integers(1, widest + 1, n_points)
    a = rng.integers(1, widest + 1, n_points)
    pts = Points(workload, layer.astype(np.int64), w.astype(np.int64), a.astype(np.int64))
    results = []
    for threshold in (0, 10**12):  # everything threaded, then everything on one thread
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(sk, "_SERIAL_PAIRS", threshold)
            mp.setattr(sk, "_SERIAL_POINTS", threshold)
            results.append(run_kernel(configs, pts))
    for key in results[0]:
        np.testing.assert_array_equal(results[0][key], results[1][key], err_msg=key)
    # ... and each point alone (its own call) gives the same bits as the batch.
    for p in rng.choice(n_points, size=min(n_points, 5), replace=False):
        one = run_kernel(configs, Points(workload, layer[p : p + 1], w[p : p + 1], a[p : p + 1]))
        for key in one:
            np.testing.assert_array_equal(one[key][:, 0], results[0][key][:, p], err_msg=key)


def test_points_of_other_integer_types_are_checked_and_run():
    wl = Workload.from_layers("w", [{"name": "fc", "kind": "linear", "batch": 2,
                                     "in_channels": 64, "out_channels": 32}])  # fmt: skip
    cfg = load_hardware("stripes")
    want = run_kernel([cfg], Points(wl, np.zeros(2, np.int64), np.array([4, 8]), np.array([3, 5])))
    got = run_kernel(
        [cfg],
        Points(wl, np.zeros(2, np.int32), np.array([4, 8], np.int16), np.array([3, 5], np.int8)),
    )
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    bad = Points(wl, np.zeros(1, np.int32), np.array([17], np.int32), np.array([4]))
    with pytest.raises(HwsimError, match=r"points\.w_bits"):
        run_kernel([cfg], bad)
