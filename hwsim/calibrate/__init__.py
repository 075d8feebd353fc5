"""Measure this CPU and write a ``cpu`` preset (bit-serial kernel) whose numbers come from it.

What is measured:

- the AND + POPCNT word rate of a register-resident loop on all cores (the machine's peak);
- read bandwidth of each level of the memory hierarchy (a sum over arrays sized to sit in L1,
  L2, L3 and DRAM);
- the real ``hwsim.kernels`` bit-serial GEMM: a one-word call (the per-call overhead), then
  a spread of shapes and bit widths fitted (non-negative least squares on relative error) to
  ``t = overhead + words/rate + pairs*writeback + codes*read_s + codes*a*pack_s``: the
  effective word rate, the register tile's write-back cost and the packing costs that the
  :mod:`hwsim.hardware.cpu` model uses;
- the int8 and fp32 baselines: torch's own kernels (``_int_mm``, its quantized conv,
  ``matmul``, ``conv2d``) timed by ``sweeps.baselines`` on :data:`BASELINE_GEMM_SHAPES` and
  :data:`BASELINE_CONV_SHAPES` (``hwsim`` never imports torch; the timings are passed in) and
  fitted by :func:`fit_baseline`. Without them (``hwsim.calibrate`` used on its own) the int8
  and fp32 fields keep a numpy BLAS fp32 rate and twice it for int8, marked [INFER].

The package is split by role: :mod:`hwsim.calibrate.harness` measures (micro-benchmarks,
timed kernel calls, sysfs probing), :mod:`hwsim.calibrate.fit` fits the ``cpu`` fields to the
timings and :mod:`hwsim.calibrate.writer` writes a preset; :func:`calibrate` and
:func:`write_presets` run them in turn.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.calibrate.fit import (
    BASELINE_TERMS,
    CACHE_CANDIDATES,
    PARALLEL_CANDIDATES,
    fit_baseline,
    fit_bitserial,
    fit_stream,
)
from hwsim.calibrate.harness import (
    BASELINE_CONV_SHAPES,
    BASELINE_GEMM_SHAPES,
    CALIBRATION_SHAPES,
    KIB,
    ROUNDS,
    STREAM_SHAPES,
    _cpu_frequency_hz,
    cache_sizes,
    measure_bandwidths,
    measure_fp32_rate,
    measure_popcount_rate,
    time_bitserial,
    time_stream,
)
from hwsim.calibrate.writer import preset_toml
from hwsim.io import atomic_write_text

__all__ = [
    "BASELINE_CONV_SHAPES",
    "BASELINE_GEMM_SHAPES",
    "BASELINE_TERMS",
    "CACHE_CANDIDATES",
    "CALIBRATION_SHAPES",
    "KIB",
    "PARALLEL_CANDIDATES",
    "ROUNDS",
    "STREAM_SHAPES",
    "cache_sizes",
    "calibrate",
    "fit_baseline",
    "fit_bitserial",
    "fit_stream",
    "measure_bandwidths",
    "measure_fp32_rate",
    "measure_popcount_rate",
    "preset_toml",
    "time_bitserial",
    "time_stream",
    "write_presets",
]


def calibrate(
    quick: bool = False,
    progress: bool | None = None,
    threads: int | None = None,
    baselines: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Measure this machine; returns the ``cpu`` config fields and what they came from.

    ``threads`` limits the kernels to that many threads (the config's ``cores``): on a
    shared machine one thread is far less disturbed than a parallel region that waits for
    its slowest thread. ``baselines`` are torch's int8 / fp32 timings on the same threads
    (``sweeps.baselines.measure``); the int8 and fp32 fields are fitted to them."""
    from numba import get_num_threads, set_num_threads

    if threads is None:
        return _calibrate(quick, progress, baselines)
    before = get_num_threads()
    set_num_threads(threads)
    try:
        return _calibrate(quick, progress, baselines)
    finally:
        set_num_threads(before)


def _baseline_fields(
    baselines: list[dict[str, Any]] | None, fp32_blas: float, threads: int
) -> dict:
    if not baselines:
        guess = {f"{impl}_{t}": 0.0 for impl in ("int8", "fp32") for t in BASELINE_TERMS[1:]}
        return {
            **guess,
            "int8_cache_bytes": 32.0 * 2**20,
            "fp32_cache_bytes": 32.0 * 2**20,
            "int8_parallel_macs": 0.0,
            "fp32_parallel_macs": 0.0,
            "int8_macs_per_s": 2.0 * fp32_blas,
            "fp32_macs_per_s": fp32_blas,
            "int8_call_s": 5e-6,
            "fp32_call_s": 5e-6,
        }
    return {
        **fit_baseline(baselines, "int8", threads=threads),
        **fit_baseline(baselines, "fp32", threads=threads),
    }


def _calibrate(
    quick: bool, progress: bool | None, baselines: list[dict[str, Any]] | None
) -> dict[str, Any]:
    from numba import get_num_threads
    from tqdm import tqdm

    from hwsim.hardware.cpu import STREAM_FIELDS
    from hwsim.kernels.gemm import COL_TILE
    from hwsim.kernels.lut import HAS_VPERMW
    from hwsim.kernels.vnni import HAS_VNNI

    steps = tqdm(total=6, desc="calibrate", disable=None if progress is None else not progress)
    pop = measure_popcount_rate(quick)
    steps.update()
    bw = measure_bandwidths(quick)
    steps.update()
    fp32 = measure_fp32_rate(quick)
    steps.update()
    shapes = CALIBRATION_SHAPES
    # Several rounds, the best of each shape's: a shared machine's bursts of load pass.
    times = np.full(len(shapes), np.inf)
    for _ in range(1 if quick else ROUNDS):
        for i, s in enumerate(shapes):
            times[i] = min(times[i], time_bitserial(*s, repeats=5 if quick else 20))
    timings = list(zip(shapes, times.tolist(), strict=True))
    # One word against one register tile: what a call costs before any work.
    overhead = time_bitserial(1, COL_TILE, 64, 1, 1, repeats=20 if quick else 100)
    steps.update()
    cores = get_num_threads()
    caches = cache_sizes()
    fitted = fit_bitserial(timings, overhead, cores, caches.get(2, 512 * KIB), pop)
    steps.update()
    stream_timings = {}
    for kind, available in (("lut", HAS_VPERMW), ("vnni", HAS_VNNI)):
        if not available:  # the portable loop is no kernel to price: leave it out (rate 0)
            fitted.update({f"{kind}_{term}": 0.0 for term in STREAM_FIELDS})
            continue
        kind_times = np.full(len(STREAM_SHAPES), np.inf)
        for _ in range(1 if quick else ROUNDS):
            for i, s in enumerate(STREAM_SHAPES):
                kind_times[i] = min(
                    kind_times[i], time_stream(kind, *s, repeats=5 if quick else 20)
                )
        stream_timings[kind] = list(zip(STREAM_SHAPES, kind_times.tolist(), strict=True))
        fitted.update(
            fit_stream(
                kind,
                stream_timings[kind],
                fitted["call_overhead_s"],
                fitted["parallel_call_s"],
                cores,
                caches.get(2, 512 * KIB),
            )
        )
    steps.update()
    steps.close()
    return {
        "fields": {
            "kernel": "bitserial",
            "cores": cores,
            "frequency_hz": _cpu_frequency_hz(),
            "l1_bytes": caches.get(1, 32 * KIB),
            "l2_bytes": caches.get(2, 512 * KIB),
            "l3_bytes": caches.get(3, 32 * 1024 * KIB),
            # One thread measured; streaming reads scale with cores up to the DRAM limit.
            "l1_bytes_per_s": bw["l1"] * cores,
            "l2_bytes_per_s": bw["l2"] * cores,
            "l3_bytes_per_s": bw["l3"] * cores,
            "dram_bytes_per_s": bw["dram"],
            **fitted,
            **_baseline_fields(baselines, fp32, cores),
            "power_w": 15.0 * cores,
            "e_dram_pj_per_bit": 20.0,
        },
        "peak_popcount_words_per_s": pop,
        "timings": timings,
        "stream_timings": stream_timings,
        "baselines": baselines or [],
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
    }


def write_presets(
    paths: dict[str, str | Path],
    quick: bool = False,
    progress: bool | None = None,
    threads: int | None = None,
    baselines: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Calibrate once and write one preset TOML per ``{kernel: path}``, atomically.

    Returns the calibration result (fields, peak popcount rate, kernel and torch timings)."""
    from hwsim.errors import HwsimError
    from hwsim.hardware.cpu import KERNELS

    for kernel in paths:
        if kernel not in KERNELS:
            raise HwsimError("kernel", kernel, f"must be one of {KERNELS}")
    result = calibrate(quick, progress, threads, baselines)
    for kernel, path in paths.items():
        atomic_write_text(path, preset_toml(result, Path(path).stem, kernel))
    return result
