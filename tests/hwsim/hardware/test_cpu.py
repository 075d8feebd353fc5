"""The CPU roofline model against a plain-Python reference; calibration's fit."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import BitPolicy, HwsimError, Workload
from hwsim.calibrate import CACHE_CANDIDATES, PARALLEL_CANDIDATES, fit_baseline, fit_bitserial
from hwsim.hardware import cost_table, load_hardware, simulate
from hwsim.hardware.cpu import IMPLEMENTATIONS
from tests.strategies import bits, workloads


def reference_padded_rows(n: int) -> int:
    """Outputs the kernel computes: N rounded up to 16, and 16 more from 512 on where that is a
    multiple of 128 (a row stride of a multiple of 1 KiB aliases in the caches)."""
    np_ = 16 * math.ceil(n / 16)
    return np_ + 16 if np_ >= 512 and np_ % 128 == 0 else np_


def reference_row_block(a: int, words: int) -> int:
    """Rows per packed block: a 96 KiB buffer, whole 8-row tiles, 8 to 512 rows."""
    return min(512, max(8, 96 * 1024 // (a * words * 8) // 8 * 8))


def reference_split(
    m: int, c_tiles: int, work: int, threads: int, row_block: int
) -> tuple[float, int, float]:
    """The bit-serial kernel's thread split, from ``hwsim.kernels.gemm``'s docstrings: no split
    under 2^18 words or on one thread; up to 4 chunks per thread of whole 8-row tiles, N split
    when M has too few; prange gives each thread an equal run of consecutive chunks. Each block
    of ``row_block`` rows in a chunk sweeps the chunk's weight columns once."""
    if threads == 1 or work < 2**18:
        return 1.0, 1, math.ceil(m / row_block)
    m_tiles = math.ceil(m / 8)
    m_chunks = min(m_tiles, 4 * threads)
    rows = math.ceil(m_tiles / m_chunks) * 8
    m_chunks = math.ceil(m / rows)
    n_chunks = max(1, min(c_tiles, (4 * threads) // m_chunks))
    cols = math.ceil(c_tiles / n_chunks)
    n_chunks = math.ceil(c_tiles / cols)
    if m_chunks * n_chunks < 2:
        return 1.0, 1, math.ceil(m / row_block)
    loads, sweeps = [], 0.0
    for i in range(m_chunks):
        for j in range(n_chunks):
            r = min(rows, m - i * rows)
            c = min(cols, c_tiles - j * cols)
            loads.append((r + math.ceil(r / 8)) * c)
            sweeps += math.ceil(r / row_block) * c / c_tiles
    run = math.ceil(len(loads) / threads)
    busiest = max(sum(loads[t * run : (t + 1) * run]) for t in range(threads))
    return sum(loads) / busiest, n_chunks, sweeps


def reference_stream_seconds(cfg, kind: str, m: int, n: int, k: int, w: int) -> float:
    """A weight-stream kernel's time from the module docstring: its work bytes at its byte
    rate (the table kernel: ``2 * ceil(K/12)`` index bytes per output and weight plane, also
    what it stores; the VNNI kernel: one unpacked byte per weight over K rounded up to its block
    of 32/s activations, stored in ``s``-bit slots, s = 1, 2 or 4), code preparation per
    activation, the stored weights re-read per row beyond L2, 64-output tiles split over the
    threads (up to 4 chunks each) from 2 MiB (table) or 512 KiB (VNNI) stored bytes read per
    call on."""
    outputs = math.ceil(n / 64) * 64
    if kind == "lut":
        work = stored = outputs * w * 2 * math.ceil(k / 12)
        min_bytes = 2**21
    else:
        slot = {1: 1, 2: 2, 3: 4, 4: 4}[w]
        block = 32 // slot
        work = outputs * block * math.ceil(k / block)
        stored = work * slot // 8
        min_bytes = 2**19
    tiles = outputs // 64
    speedup = 1.0
    if cfg.cores > 1 and tiles > 1 and m * stored >= min_bytes:
        per = math.ceil(tiles / min(tiles, 4 * cfg.cores))
        speedup = tiles / (math.ceil(math.ceil(tiles / per) / cfg.cores) * per)
    field = {t: getattr(cfg, f"{kind}_{t}") for t in ("bytes_per_s", "s_per_code",
             "stream_s_per_byte")}  # fmt: skip
    t = m * work / field["bytes_per_s"] + m * k * field["s_per_code"]
    if stored / speedup > cfg.l2_bytes:
        t += m * stored * field["stream_s_per_byte"]
    t = t * cfg.cores / speedup + cfg.call_overhead_s
    return t + (cfg.parallel_call_s if speedup > 1 else 0.0)


def stream_taken(cfg, m: int, w: int, a: int) -> str | None:
    """Which weight-stream kernel ``bitserial_linear`` runs these rows with, if any
    (``hwsim.kernels.vnni.use_vnni``, then ``hwsim.kernels.lut.use_lut``)."""
    if w > 4 or a > 8 or m > 16:
        return None
    if cfg.vnni_bytes_per_s > 0 and w >= 2 and w * a >= (6 if m == 1 else 8):
        return "vnni"
    if cfg.lut_bytes_per_s > 0 and (4 if m == 1 else 6) <= a:
        return "lut"
    return None


def reference_seconds(cfg, m: int, n: int, k: int, w: int, a: int, kernel: str | None = None):
    """The model's time written out for one GEMM, from the module docstring. The bitserial
    config runs what ``bitserial_linear`` takes (the table kernel where it applies); an
    explicit ``kernel`` is that implementation alone (``cpu-best``'s candidates)."""
    if kernel is None and cfg.kernel == "bitserial":
        kernel = stream_taken(cfg, m, w, a)
    if kernel in ("lut", "vnni"):
        return reference_stream_seconds(cfg, kernel, m, n, k, w)
    kernel = kernel or cfg.kernel
    if kernel == "bitserial":
        words = math.ceil(k / 64)
        # Row tiles of up to 8 rows cost about one row more each; outputs pad to 16.
        tiles, np_ = math.ceil(m / 8), reference_padded_rows(n)
        speedup, chunks, sweeps = reference_split(
            m, np_ // 16, m * np_ * words * w * a, cfg.cores, reference_row_block(a, words)
        )
        stretch = cfg.cores / speedup
        comp = w * a * np_ * ((m + tiles) * words / cfg.binary_words_per_s)
        comp += w * a * np_ * tiles * words * cfg.row_tile_s_per_word
        w_bytes = w * np_ * words * 8  # packed weights, re-read per sweep beyond each L2
        if w_bytes / speedup > cfg.l2_bytes:
            comp += sweeps * w_bytes * cfg.weight_stream_s_per_byte
        comp += w * a * np_ * m * cfg.writeback_s_per_output_pair
        touched = (m * a + np_ * w) * words * 8 + 8 * m * n
        levels = [
            (cfg.l1_bytes * cfg.cores, cfg.l1_bytes_per_s),
            (cfg.l2_bytes * cfg.cores, cfg.l2_bytes_per_s),
            (cfg.l3_bytes, cfg.l3_bytes_per_s),
        ]
        bw = next((b for cap, b in levels if touched <= cap), cfg.dram_bytes_per_s)
        pack = m * k * (cfg.pack_s_per_elem + a * cfg.pack_s_per_elem_bit) * chunks * stretch
        parallel = cfg.parallel_call_s if speedup > 1 else 0.0
        return max(comp * stretch, touched / bw) + pack + cfg.call_overhead_s + parallel
    if kernel == "int8":
        # Each operand runs at 8 bits, or 16 beyond that; one 16-bit operand halves the rate.
        w_run, a_run = (8 if b <= 8 else 16 for b in (w, a))
        rate = cfg.int8_macs_per_s if max(w_run, a_run) == 8 else cfg.int8_macs_per_s / 2
        w_bytes = n * k * w_run / 8
    else:
        rate = cfg.fp32_macs_per_s
        w_bytes = n * k * 4
    f = {t: getattr(cfg, f"{kernel}_{t}") for t in ("s_per_input", "s_per_weight", "s_per_output",
         "call_s", "s_per_dram_byte", "cache_bytes", "parallel_macs",
         "s_per_gemm_weight")}  # fmt: skip
    work = m * n * k / rate + m * k * f["s_per_input"] + n * k * f["s_per_weight"]
    if m > 1:  # a GEMM packs its weights
        work += n * k * f["s_per_gemm_weight"]
    work += m * n * f["s_per_output"]
    if m * n * k < f["parallel_macs"]:  # one thread runs it
        work *= cfg.cores
    dram = max(0.0, w_bytes - f["cache_bytes"]) * f["s_per_dram_byte"]
    return f["call_s"] + work + dram


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


@given(workloads(max_layers=4), st.integers(1, 16), st.integers(1, 16))
@settings(max_examples=30)
def test_best_picks_the_fastest_implementation_per_layer(workload, w, a):
    cfg = load_hardware("cpu-best")
    rep = simulate(workload, BitPolicy.uniform(workload, w, a), cfg)
    c = workload.columns
    for i in range(len(workload)):
        shape = (int(c["M"][i]), int(c["N"][i]), int(c["K"][i]))
        impls = ["bitserial", "int8", "fp32"]
        for kind in ("lut", "vnni"):
            if w <= 4 and a <= 8 and getattr(cfg, f"{kind}_bytes_per_s") > 0:
                impls.append(kind)
        times = {impl: reference_seconds(cfg, *shape, w, a, kernel=impl) for impl in impls}
        fastest = min(times, key=times.get)
        picked = IMPLEMENTATIONS[int(rep.layers["implementation"].iloc[i])]
        assert times[picked] == pytest.approx(times[fastest], rel=1e-9)
        assert rep.layers["latency_s"].iloc[i] == pytest.approx(times[fastest], rel=1e-9)
        want_run = {
            "bitserial": (w, a),
            "lut": (w, a),
            "vnni": (w, a),
            "int8": (8 if w <= 8 else 16, 8 if a <= 8 else 16),
        }
        run = (rep.layers["w_bits_run"].iloc[i], rep.layers["a_bits_run"].iloc[i])
        assert run == want_run.get(picked, (32, 32))
    # The search sees the same choice in its cost table.
    table = cost_table(workload, cfg, w_bits=[w], a_bits=[a])
    np.testing.assert_array_equal(
        table.metrics["implementation"][:, 0, 0], rep.layers["implementation"].to_numpy()
    )


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
    st.floats(0, 1e-4),
    st.floats(0, 1e-9),
    st.floats(0, 1e-10),
    st.sampled_from([1, 2, 3]),
)
@settings(deadline=None)
def test_calibration_fit_recovers_a_known_machine(
    rate, writeback, read_s, pack_s, overhead, parallel, tile_s, stream_s, threads
):
    shapes = [
        (1024, 1024, 4096, 1, 1),
        (1024, 512, 2048, 2, 2),
        (2048, 512, 1024, 1, 2),
        (512, 512, 4096, 2, 1),
        (512, 256, 1024, 4, 4),
        (256, 256, 256, 1, 1),
        (4096, 64, 128, 1, 1),
        (1, 2048, 1024, 2, 2),  # one thread
        (1, 4096, 4096, 1, 2),  # split along N
        (40, 1024, 1024, 1, 1),  # five row tiles: an uneven split
        (1, 1024, 4096, 4, 4),  # 2 MiB of packed weights: streamed beyond L2
        (2, 1536, 3072, 3, 2),
        (2048, 1024, 2048, 4, 1),  # 1 MiB: several sweeps
    ]

    l2 = 1 << 20

    def seconds(m, n, k, w, a, rate, writeback, read_s, pack_s, overhead, parallel, tile_s,
                stream_s):  # fmt: skip
        words = math.ceil(k / 64)
        n = reference_padded_rows(n)
        speedup, chunks, sweeps = reference_split(
            m, n // 16, m * n * words * w * a, threads, reference_row_block(a, words)
        )
        stretch = threads / speedup
        pairs = w * a * m * n  # every N here fills whole 16-column register tiles, padded
        packing = m * k * (read_s + a * pack_s) * chunks
        tiles = math.ceil(m / 8)
        tiled = w * a * n * (m + tiles) * words  # a row tile costs one row more
        busy = tiled / rate + w * a * n * tiles * words * tile_s + pairs * writeback + packing
        w_bytes = w * n * words * 8
        busy += sweeps * w_bytes * stream_s if w_bytes / speedup > l2 else 0.0
        return overhead + stretch * busy + (parallel if speedup > 1 else 0.0)

    truth = (rate, writeback, read_s, pack_s, overhead, parallel, tile_s, stream_s)
    timings = [(s, seconds(*s, *truth)) for s in shapes]
    # Fitted or measured apart and held fixed; with and without the peak loop's bound (above
    # the true rate: it must not bind).
    for known_overhead, peak in ((None, None), (overhead, None), (overhead, 1.5 * rate)):
        fit = fit_bitserial(timings, known_overhead, threads, l2, peak)
        assert peak is None or fit["binary_words_per_s"] <= peak * (1 + 1e-9)
        got = [
            fit[k]
            for k in (
                "binary_words_per_s",
                "writeback_s_per_output_pair",
                "pack_s_per_elem",
                "pack_s_per_elem_bit",
                "call_overhead_s",
                "parallel_call_s",
                "row_tile_s_per_word",
                "weight_stream_s_per_byte",
            )
        ]
        predicted = [seconds(*s, *got) for s, _ in timings]
        np.testing.assert_allclose(predicted, [t for _, t in timings], rtol=1e-3)


def test_parallel_split_matches_the_kernel_grid():
    from hwsim.kernels.gemm import grid_for, parallel_split

    for m, c_tiles, work, threads in [
        (1, 64, 2**20, 2),
        (40, 64, 2**20, 2),
        (3136, 4, 2**22, 2),
        (1, 64, 2**10, 2),
        (512, 8, 2**20, 1),
        (17, 3, 2**20, 4),
    ]:
        assert parallel_split(m, c_tiles, work, threads, 24) == pytest.approx(
            reference_split(m, c_tiles, work, threads, 24)
        )
        grid = grid_for(m, c_tiles, work, threads)
        # The grid covers every row tile and column tile once.
        if grid[1]:
            rows, m_chunks, cols, n_chunks = grid
            assert (m_chunks - 1) * rows < m <= m_chunks * rows
            assert (n_chunks - 1) * cols < c_tiles <= n_chunks * cols


@given(
    st.floats(1e9, 1e12),
    st.floats(0, 1e-9),
    st.floats(0, 1e-9),
    st.floats(0, 1e-9),
    st.floats(0, 1e-9),
    st.floats(1e-6, 1e-4),
    st.floats(0, 1e-9),
    st.sampled_from(CACHE_CANDIDATES),
    st.sampled_from(PARALLEL_CANDIDATES),
    st.sampled_from([1, 2, 4]),
)
@settings(max_examples=40, deadline=None)
def test_baseline_fit_recovers_a_known_machine(
    rate, s_in, s_w, s_out, s_dram, call, s_gw, cache, par, threads
):
    if threads == 1:
        par = 0.0  # nothing to tell apart on one thread
    shapes = [(16, 16, 64), (1024, 1024, 1024), (1, 4096, 4096), (4096, 64, 576), (8, 512, 2048),
              (128, 2048, 1024), (2048, 128, 1024), (392, 192, 1728), (1, 512, 512),
              (1, 1536, 4096), (1, 2048, 4096), (1, 4096, 8192), (2, 1024, 2048), (16, 256, 512),
              (32, 128, 256), (1, 1024, 1024), (64, 1024, 4096)]  # fmt: skip

    def seconds(m, n, k, wb, rate, s_in, s_w, s_out, s_dram, call, s_gw, cache, par):
        work = m * n * k / rate + m * k * s_in + n * k * s_w + m * n * s_out
        work += n * k * s_gw if m > 1 else 0.0
        stretch = threads if m * n * k < par else 1
        return call + stretch * work + max(0.0, n * k * wb - cache) * s_dram

    for impl, wb in (("int8", 1), ("fp32", 4)):
        truth = (rate, s_in, s_w, s_out, s_dram, call, s_gw, cache, par)
        rows = [{"impl": impl, "M": m, "N": n, "K": k, "seconds": seconds(m, n, k, wb, *truth)}
                for m, n, k in shapes]  # fmt: skip
        for known_call in (None, call):  # fitted, or measured apart and held fixed
            fit = fit_baseline(rows, impl, known_call, threads=threads)
            got = [fit[f"{impl}_{t}"] for t in ("macs_per_s", "s_per_input", "s_per_weight",
                   "s_per_output", "s_per_dram_byte", "call_s", "s_per_gemm_weight",
                   "cache_bytes", "parallel_macs")]  # fmt: skip
            predicted = [seconds(r["M"], r["N"], r["K"], wb, *got) for r in rows]
            np.testing.assert_allclose(predicted, [r["seconds"] for r in rows], rtol=1e-3)


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
    for kernel in IMPLEMENTATIONS[:4]:
        path = tmp_path / f"cpu-{kernel}.toml"
        path.write_text(preset_toml(result, path.stem, kernel))
        hw = load_hardware(path)
        assert hw.kernel == kernel and hw.name == path.stem
        assert hw.binary_words_per_s == 1.234e9
        assert set(hw.sources) >= set(fields)
    # Neither weight-stream kernel was timed here: their sources say so, not "fit of".
    for kind in ("lut", "vnni"):
        note = hw.sources[f"{kind}_bytes_per_s"]
        assert "not timed" in note and "fit of" not in note
    # One timed: its source names the fit, the other still says it was not timed.
    result["stream_timings"] = {"vnni": []}
    path.write_text(preset_toml(result, path.stem, "best"))
    hw = load_hardware(path)
    assert "fit of hwsim.kernels.vnni" in hw.sources["vnni_bytes_per_s"]
    assert "not timed" in hw.sources["lut_bytes_per_s"]


@pytest.mark.slow
def test_calibrate_command_writes_loadable_presets(tmp_path):
    from sweeps.cli import main

    out = tmp_path / "mine.toml"
    assert main(["calibrate", "--quick", "--threads", "1", "--out", str(out), "--baselines"]) == 0
    for name in ("mine.toml", "cpu-int8.toml", "cpu-fp32.toml", "cpu-best.toml"):
        hw = load_hardware(tmp_path / name)
        assert hw.binary_words_per_s > 0 and "[MEASURED]" in hw.sources["binary_words_per_s"]
        assert "[MEASURED]" in hw.sources["int8_macs_per_s"]
        assert "torch._int_mm" in hw.sources["int8_macs_per_s"]


def test_bitserial_fit_never_beats_the_measured_peak():
    # Timings faster than the AND + POPCNT loop allows (a disturbed peak measurement, or
    # another term standing in): the fitted word rate stops at the peak.
    shapes = [(512, 512, 1024, 1, 1), (256, 256, 2048, 2, 2), (1024, 128, 512, 1, 2),
              (128, 1024, 4096, 2, 1), (64, 256, 1024, 3, 3), (2048, 64, 256, 1, 1),
              (1, 2048, 1024, 2, 2), (8, 512, 1024, 1, 2), (1, 1024, 4096, 4, 4)]  # fmt: skip
    timings = [((m, n, k, w, a), 2e-6 + w * a * m * n * math.ceil(k / 64) / 4e10)
               for m, n, k, w, a in shapes]  # fmt: skip
    fit = fit_bitserial(timings, 2e-6, 1, 1 << 20, peak_words_per_s=1e10)
    assert fit["binary_words_per_s"] == pytest.approx(1e10)


@pytest.mark.parametrize("name", ["cpu-bitserial", "cpu-int8", "cpu-fp32", "cpu-best"])
def test_shipped_word_rate_is_not_above_the_peak_its_note_quotes(name):
    # A note that calls the AND+POPCNT loop a peak must not sit beside a faster fitted rate.
    hw = load_hardware(name)
    note = hw.sources["binary_words_per_s"]
    if "peak AND+POPCNT loop" in note:
        peak = float(note.split("peak AND+POPCNT loop ")[1].split(" words/s")[0])
        assert hw.binary_words_per_s <= peak * 1.001
    else:
        assert "x the loop timed in the same run" in note and "not a rate" in note


@pytest.mark.parametrize("kind", ["lut", "vnni"])
def test_stream_fit_recovers_a_known_machine(kind):
    # Timings written from the model's own docstring terms for a known machine, one thread.
    from hwsim.calibrate import STREAM_SHAPES, fit_stream
    from hwsim.hardware.cpu import CpuConfig

    cfg = CpuConfig(name="t", cores=1, call_overhead_s=2e-6, **{f"{kind}_bytes_per_s": 3e10,
                    f"{kind}_s_per_code": 4e-9, f"{kind}_stream_s_per_byte": 1e-11})  # fmt: skip
    timings = [
        ((m, n, k, w), reference_stream_seconds(cfg, kind, m, n, k, w))
        for m, n, k, w in STREAM_SHAPES
    ]
    fit = fit_stream(kind, timings, 2e-6, 0.0, 1, cfg.l2_bytes)
    assert fit[f"{kind}_bytes_per_s"] == pytest.approx(3e10, rel=1e-6)
    assert fit[f"{kind}_s_per_code"] == pytest.approx(4e-9, rel=1e-6)
    assert fit[f"{kind}_stream_s_per_byte"] == pytest.approx(1e-11, rel=1e-6)


def test_gemv_low_bit_weights_run_by_a_weight_stream_kernel():
    # 1 x 4096 x 4096 at w2a8: the bit-serial config prices what bitserial_linear runs (a
    # weight-stream kernel), and cpu-best names the one it takes.
    wl = Workload.from_layers(
        "gemv",
        [{"name": "fc", "kind": "linear", "batch": 1, "in_channels": 4096, "out_channels": 4096}],
    )
    cfg = load_hardware("cpu-bitserial")
    kind = stream_taken(cfg, 1, 2, 8)
    assert kind in ("lut", "vnni")
    for preset in ("cpu-bitserial", "cpu-best"):
        cfg = load_hardware(preset)
        rep = simulate(wl, BitPolicy.uniform(wl, 2, 8), cfg)
        picked = IMPLEMENTATIONS[int(rep.layers["implementation"].iloc[0])]
        assert picked in ("lut", "vnni")
        if preset == "cpu-bitserial":
            assert picked == kind
        want = reference_stream_seconds(cfg, picked, 1, 4096, 4096, 2)
        assert rep.layers["latency_s"].iloc[0] == pytest.approx(want, rel=1e-9)
