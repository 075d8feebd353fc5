"""The CPU roofline model against a plain-Python reference; calibration's fit."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import BitPolicy, HwsimError, Workload
from hwsim.calibrate import fit_bitserial
from hwsim.hardware import load_hardware, simulate
from tests.strategies import bits, workloads


def reference_seconds(cfg, m: int, n: int, k: int, w: int, a: int) -> float:
    """The model's time written out for one GEMM, from the module docstring."""
    if cfg.kernel == "bitserial":
        words = math.ceil(k / 64)
        # Rows pad to the kernel's register tile: 8 activation rows x 16 weight rows.
        mp, np_ = 8 * math.ceil(m / 8), 16 * math.ceil(n / 16)
        comp = w * a * mp * np_ * (words / cfg.binary_words_per_s + cfg.writeback_s_per_output_pair)
        touched = (mp * a + np_ * w) * words * 8 + 8 * m * n
        extra = m * k * (cfg.pack_s_per_elem + a * cfg.pack_s_per_elem_bit)
    elif cfg.kernel == "int8":
        # Each operand runs at 8 bits, or 16 beyond that; one 16-bit operand halves the rate.
        w_run, a_run = (8 if b <= 8 else 16 for b in (w, a))
        rate = cfg.int8_macs_per_s if max(w_run, a_run) == 8 else cfg.int8_macs_per_s / 2
        comp = m * n * k / rate
        touched = (m * k * a_run + n * k * w_run) / 8 + 4 * m * n
        extra = 0.0
    else:
        comp = m * n * k / cfg.fp32_macs_per_s
        touched = 4 * (m * k + n * k + m * n)
        extra = 0.0
    levels = [
        (cfg.l1_bytes * cfg.cores, cfg.l1_bytes_per_s),
        (cfg.l2_bytes * cfg.cores, cfg.l2_bytes_per_s),
        (cfg.l3_bytes, cfg.l3_bytes_per_s),
    ]
    bw = next((b for cap, b in levels if touched <= cap), cfg.dram_bytes_per_s)
    return max(comp, touched / bw) + extra + cfg.call_overhead_s


@given(
    workloads(max_layers=3), st.sampled_from(["cpu-bitserial", "cpu-int8", "cpu-fp32"]), bits, bits
)
@settings(max_examples=30)
def test_cpu_model_matches_reference(workload, preset, w, a):
    cfg = load_hardware(preset)
    rep = simulate(workload, BitPolicy.uniform(workload, w, a), cfg)
    c = workload.columns
    for i in range(len(workload)):
        want = reference_seconds(cfg, int(c["M"][i]), int(c["N"][i]), int(c["K"][i]), w, a)
        assert rep.layers["latency_s"].iloc[i] == pytest.approx(want, rel=1e-9)
    assert (rep.layers["energy_j"] > 0).all()


def test_int8_refuses_float_and_fp32_runs_everything_as_float():
    wl = Workload.from_layers(
        "w", [{"name": "fc", "kind": "linear", "batch": 2, "in_channels": 64, "out_channels": 8}]
    )
    with pytest.raises(HwsimError) as err:
        simulate(wl, BitPolicy.uniform(wl, 32, 8), "cpu-int8")
    assert err.value.field == "w_bits"
    with pytest.raises(HwsimError):
        simulate(wl, BitPolicy.uniform(wl, 4, 32), "cpu-bitserial")
    rep = simulate(wl, BitPolicy.uniform(wl, 3, 32), "cpu-fp32")
    assert rep.layers["w_bits_run"].iloc[0] == 32 and rep.layers["a_bits_run"].iloc[0] == 32
    rep = simulate(wl, BitPolicy.uniform(wl, 3, 12), "cpu-int8")
    assert (rep.layers["w_bits_run"].iloc[0], rep.layers["a_bits_run"].iloc[0]) == (8, 16)


def test_bitserial_time_grows_with_plane_pairs():
    wl = Workload.from_layers(
        "w",
        [{"name": "fc", "kind": "linear", "batch": 256, "in_channels": 4096, "out_channels": 1024}],
    )
    times = [
        simulate(wl, BitPolicy.uniform(wl, b, b), "cpu-bitserial").totals["latency_s"]
        for b in range(1, 9)
    ]
    assert all(x < y for x, y in itertools.pairwise(times))


@given(
    st.floats(1e8, 1e11),
    st.floats(0, 1e-9),
    st.floats(0, 1e-8),
    st.floats(0, 1e-8),
    st.floats(0, 1e-3),
)
def test_calibration_fit_recovers_a_known_machine(rate, writeback, read_s, pack_s, overhead):
    shapes = [
        (1024, 1024, 4096, 1, 1),
        (1024, 512, 2048, 2, 2),
        (2048, 512, 1024, 1, 2),
        (512, 512, 4096, 2, 1),
        (512, 256, 1024, 4, 4),
        (256, 256, 256, 1, 1),
        (4096, 64, 128, 1, 1),
    ]

    def seconds(m, n, k, w, a, rate, writeback, read_s, pack_s, overhead):
        pairs = w * a * m * n  # every shape here fills whole 8x16 register tiles
        packing = m * k * (read_s + a * pack_s)
        return overhead + pairs * (math.ceil(k / 64) / rate + writeback) + packing

    timings = [(s, seconds(*s, rate, writeback, read_s, pack_s, overhead)) for s in shapes]
    for known_overhead in (None, overhead):  # fitted, or measured apart and held fixed
        fit = fit_bitserial(timings, known_overhead)
        got = [
            fit[k]
            for k in (
                "binary_words_per_s",
                "writeback_s_per_output_pair",
                "pack_s_per_elem",
                "pack_s_per_elem_bit",
                "call_overhead_s",
            )
        ]
        assert got[0] == pytest.approx(rate, rel=1e-3)
        predicted = [seconds(*s, *got) for s, _ in timings]
        np.testing.assert_allclose(predicted, [t for _, t in timings], rtol=1e-3)


def test_calibration_preset_round_trips_through_toml(tmp_path):
    from hwsim.calibrate import preset_toml

    base = load_hardware("cpu-bitserial").to_dict()
    fields = {k: v for k, v in base.items() if k not in ("family", "name")}
    fields["binary_words_per_s"] = 1.234e9
    result = {
        "fields": fields,
        "peak_popcount_words_per_s": 2e9,
        "timings": [],
        "machine": 'x86 "test"',
    }
    for kernel in ("bitserial", "int8", "fp32"):
        path = tmp_path / f"cpu-{kernel}.toml"
        path.write_text(preset_toml(result, path.stem, kernel))
        hw = load_hardware(path)
        assert hw.kernel == kernel and hw.name == path.stem
        assert hw.binary_words_per_s == 1.234e9
        assert set(hw.sources) >= set(fields)


@pytest.mark.slow
def test_calibrate_command_writes_loadable_presets(tmp_path):
    from sweeps.cli import main

    out = tmp_path / "mine.toml"
    assert main(["calibrate", "--quick", "--threads", "1", "--out", str(out), "--baselines"]) == 0
    for name in ("mine.toml", "cpu-int8.toml", "cpu-fp32.toml"):
        hw = load_hardware(tmp_path / name)
        assert hw.binary_words_per_s > 0 and "[MEASURED]" in hw.sources["binary_words_per_s"]
