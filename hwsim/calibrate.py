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
- the fp32 GEMM rate of numpy's BLAS (the fp32 baseline).

The int8 rate cannot be measured without an int8 GEMM library in ``hwsim`` (no torch here); it
is set to twice the fp32 rate, the AVX2 ratio of 8-bit multiply-add (``vpmaddubsw``) to fp32
FMA throughput at practical efficiency, and marked [INFER].
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from hwsim.io import atomic_write_text

KIB = 1024


def _best_time(fn: Callable[[], Any], repeats: int, budget_s: float = 2.0) -> float:
    """Best-of wall time of ``fn`` over up to ``repeats`` runs within ``budget_s`` (at least
    three): the least disturbed run on a shared machine."""
    fn()  # warm-up: compilation, caches, waking the thread pool
    best = float("inf")
    start = time.perf_counter()
    for i in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        if i >= 2 and time.perf_counter() - start > budget_s:
            break
    return best


def measure_popcount_rate(quick: bool = False) -> float:
    """AND + POPCNT words per second on all threads (L1-resident words)."""
    from numba import get_num_threads

    from hwsim.kernels.popcount import popcount_throughput_kernel

    words = np.random.default_rng(0).integers(0, 2**63, 2048, dtype=np.uint64)
    chunks = get_num_threads()
    passes = 2000 if quick else 8000
    t = _best_time(lambda: popcount_throughput_kernel(words, chunks, passes), 3 if quick else 5)
    return words.size * chunks * passes / t


@njit(cache=True)
def _read_words(a: np.ndarray, reps: int) -> float:
    """Sum of every element of ``a``, ``reps`` times: a pure streaming read."""
    total = 0.0
    for _ in range(reps):
        s0 = s1 = s2 = s3 = 0.0
        for i in range(0, a.shape[0] - 3, 4):
            s0 += a[i]
            s1 += a[i + 1]
            s2 += a[i + 2]
            s3 += a[i + 3]
        total += s0 + s1 + s2 + s3
    return total


def measure_bandwidths(quick: bool = False) -> dict[str, float]:
    """Read bandwidth (bytes/s, one thread) at array sizes inside L1, L2, L3 and DRAM."""
    sizes = {
        "l1": 16 * KIB,
        "l2": 256 * KIB,
        "l3": 4 * 1024 * KIB,
        "dram": (64 if quick else 256) * 1024 * KIB,
    }
    out = {}
    for level, nbytes in sizes.items():
        a = np.ones(nbytes // 8, dtype=np.float64)
        reps = max(1, (512 * 1024 * KIB) // nbytes // (8 if quick else 1))
        out[level] = nbytes * reps / _best_time(lambda a=a, reps=reps: _read_words(a, reps), 3)
    return out


def measure_fp32_rate(quick: bool = False) -> float:
    n = 256 if quick else 512
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return n**3 / _best_time(lambda: a @ b, 20)


CALIBRATION_SHAPES: tuple[tuple[int, int, int, int, int], ...] = (
    # (M, N, K, w_bits, a_bits): a spread of words, plane pairs and packing, each a few ms so
    # that a best-of finds undisturbed runs on a shared machine
    (512, 128, 1024, 1, 1),
    (512, 128, 1024, 2, 2),
    (256, 256, 2048, 1, 2),
    (1024, 64, 576, 2, 1),
    (128, 512, 4096, 1, 1),
    (256, 128, 1152, 3, 3),
    (64, 256, 2304, 2, 2),
    (2048, 64, 256, 1, 1),
    (4096, 16, 1024, 1, 1),  # packing-dominated: many activation rows, few outputs
    (8192, 32, 576, 1, 2),
    # conv-like layers (none of them the benchmark's held-out shapes), so that the word rate
    # is fitted where real layers spend their time
    (1568, 96, 864, 1, 1),
    (392, 192, 1728, 2, 2),
    (98, 384, 3456, 1, 2),
    (128, 768, 3072, 3, 3),
)


def time_bitserial(m: int, n: int, k: int, w_bits: int, a_bits: int, repeats: int = 20) -> float:
    """Wall time of one deployed bit-serial GEMM: uint8 activation codes packed on first use
    against pre-packed weights (``hwsim.kernels.bitserial_linear``)."""
    from hwsim.kernels import bitserial_linear, pack_operand

    rng = np.random.default_rng(m * 7 + n * 13 + k + w_bits * 101 + a_bits)
    a = rng.integers(0, 2**a_bits, (m, k)).astype(np.uint8 if a_bits <= 8 else np.int64)
    w = rng.integers(-(2 ** (w_bits - 1)), 2 ** (w_bits - 1), (n, k))
    wp = pack_operand(w, w_bits, signed=True)
    return _best_time(lambda: bitserial_linear(a, wp, a_bits), repeats)


def fit_bitserial(
    timings: list[tuple[tuple[int, int, int, int, int], float]],
    overhead: float | None = None,
) -> dict[str, float]:
    """The ``cpu`` config fields ``binary_words_per_s``, ``writeback_s_per_output_pair``,
    ``pack_s_per_elem``, ``pack_s_per_elem_bit`` and ``call_overhead_s`` minimising the
    relative error of
    ``t = overhead + words/rate + pairs*writeback + codes*read_s + codes*a*pack_s`` (all
    non-negative), where ``pairs = w * a * Mp * Np`` counts the register tile's write-backs
    and ``codes = M * K`` the activation codes packed.

    Pass the measured ``overhead`` of a near-empty call to hold it fixed: an intercept fitted
    to millisecond-scale timings is poorly determined, and it is what tiny layers pay."""
    from hwsim.kernels.gemm import COL_TILE, ROW_TILE

    rows, times = [], []
    for (m, n, k, w, a), t in timings:
        mp = -(-m // ROW_TILE) * ROW_TILE
        np_ = -(-n // COL_TILE) * COL_TILE
        pairs = w * a * mp * np_
        rows.append([1.0, pairs * (-(-k // 64)), pairs, m * k, m * k * a])
        times.append(t)
    x = np.array(rows, dtype=np.float64)
    y = np.array(times, dtype=np.float64)
    if overhead is None:
        coef = _nonnegative_fit(x / y[:, None], np.ones_like(y))
    else:
        rest = _nonnegative_fit(x[:, 1:] / y[:, None], 1.0 - overhead / y)
        coef = np.concatenate([[overhead], rest])
    overhead, per_word, per_pair, per_code, per_bit = (float(c) for c in coef)
    return {
        "binary_words_per_s": 1.0 / per_word if per_word > 0 else float(np.max(x[:, 1] / y)),
        "writeback_s_per_output_pair": per_pair,
        "pack_s_per_elem": per_code,
        "pack_s_per_elem_bit": per_bit,
        "call_overhead_s": overhead,
    }


def _nonnegative_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares ``x @ c ~ y`` with ``c >= 0``: a term that comes out negative is lost in
    the noise, so it is dropped and the rest refitted, until none is negative."""
    keep = np.ones(x.shape[1], dtype=bool)
    coef = np.zeros(x.shape[1])
    while keep.any():
        sub, *_ = np.linalg.lstsq(x[:, keep], y, rcond=None)
        if (sub >= 0).all():
            coef[keep] = sub
            break
        idx = np.flatnonzero(keep)
        keep[idx[np.argmin(sub)]] = False
    return coef


def calibrate(
    quick: bool = False, progress: bool | None = None, threads: int | None = None
) -> dict[str, Any]:
    """Measure this machine; returns the ``cpu`` config fields and what they came from.

    ``threads`` limits the kernels to that many threads (the config's ``cores``): on a
    shared machine one thread is far less disturbed than a parallel region that waits for
    its slowest thread."""
    from numba import get_num_threads, set_num_threads

    if threads is None:
        return _calibrate(quick, progress)
    before = get_num_threads()
    set_num_threads(threads)
    try:
        return _calibrate(quick, progress)
    finally:
        set_num_threads(before)


def _calibrate(quick: bool, progress: bool | None) -> dict[str, Any]:
    from numba import get_num_threads
    from tqdm import tqdm

    from hwsim.kernels.gemm import COL_TILE

    steps = tqdm(total=5, desc="calibrate", disable=None if progress is None else not progress)
    pop = measure_popcount_rate(quick)
    steps.update()
    bw = measure_bandwidths(quick)
    steps.update()
    fp32 = measure_fp32_rate(quick)
    steps.update()
    shapes = CALIBRATION_SHAPES
    timings = [(s, time_bitserial(*s, repeats=5 if quick else 20)) for s in shapes]
    # One word against one register tile: what a call costs before any work.
    overhead = time_bitserial(1, COL_TILE, 64, 1, 1, repeats=20 if quick else 100)
    steps.update()
    fitted = fit_bitserial(timings, overhead)
    steps.update()
    steps.close()
    cores = get_num_threads()
    return {
        "fields": {
            "kernel": "bitserial",
            "cores": cores,
            "frequency_hz": _cpu_frequency_hz(),
            "l1_bytes": 32 * KIB,
            "l2_bytes": 512 * KIB,
            "l3_bytes": 32 * 1024 * KIB,
            # One thread measured; streaming reads scale with cores up to the DRAM limit.
            "l1_bytes_per_s": bw["l1"] * cores,
            "l2_bytes_per_s": bw["l2"] * cores,
            "l3_bytes_per_s": bw["l3"] * cores,
            "dram_bytes_per_s": bw["dram"],
            **fitted,
            "int8_macs_per_s": 2.0 * fp32,
            "fp32_macs_per_s": fp32,
            "power_w": 15.0 * cores,
            "e_dram_pj_per_bit": 20.0,
        },
        "peak_popcount_words_per_s": pop,
        "timings": timings,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
    }


def _cpu_frequency_hz() -> float:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) * 1e6
    except OSError:
        pass
    return 2.5e9


def preset_toml(
    result: dict[str, Any], name: str = "cpu-bitserial", kernel: str = "bitserial"
) -> str:
    """The calibration as a ``cpu`` preset TOML running ``kernel``, every field with its
    source."""
    f = {**result["fields"], "kernel": kernel}
    when = time.strftime("%Y-%m-%d", time.gmtime())
    meas = f"[MEASURED] hwsim calibrate on this machine ({result['machine']}, {when})"
    src = {
        "kernel": {
            "bitserial": "[INFER] the hwsim.kernels AND+popcount GEMM",
            "int8": "[INFER] an int8 SIMD GEMM (AVX2), the quantized baseline",
            "fp32": "[INFER] an fp32 FMA GEMM (BLAS), the float baseline",
        }[kernel],
        "cores": f"{meas}: numba threads",
        "frequency_hz": f"{meas}: /proc/cpuinfo",
        "l1_bytes": "[INFER] lscpu: 64 KiB L1d over 2 instances = 32 KiB per core",
        "l2_bytes": "[INFER] lscpu: 1 MiB L2 over 2 instances = 512 KiB per core",
        "l3_bytes": "[INFER] lscpu: 32 MiB L3, shared",
        "l1_bytes_per_s": f"{meas}: one-thread sum over 16 KiB, times cores",
        "l2_bytes_per_s": f"{meas}: one-thread sum over 256 KiB, times cores",
        "l3_bytes_per_s": f"{meas}: one-thread sum over 4 MiB, times cores",
        "dram_bytes_per_s": f"{meas}: one-thread sum over 64-256 MiB",
        "binary_words_per_s": f"{meas}: fit of hwsim.kernels timings (peak AND+POPCNT loop "
        f"{result['peak_popcount_words_per_s']:.3g} words/s)",
        "pack_s_per_elem": f"{meas}: fit of hwsim.kernels timings (reading each code to pack)",
        "pack_s_per_elem_bit": f"{meas}: fit of hwsim.kernels timings (activation packing)",
        "writeback_s_per_output_pair": f"{meas}: fit of hwsim.kernels timings "
        "(register tile write-back per output and plane pair)",
        "int8_macs_per_s": "[INFER] 2x the measured fp32 rate (AVX2 vpmaddubsw vs FMA)",
        "fp32_macs_per_s": f"{meas}: numpy float32 matmul (BLAS)",
        "call_overhead_s": f"{meas}: hwsim.kernels time of a one-word GEMM (per-call overhead)",
        "power_w": "[INFER] about 15 W per busy server core (package power / cores)",
        "e_dram_pj_per_bit": "[PAPER] Horowitz/Han et al.: 32-bit DRAM read 640 pJ = 20 pJ/bit",
    }
    lines = [
        f"# {name}: calibrated with `hwsim calibrate` ({when}).",
        'family = "cpu"',
        f'name = "{name}"',
    ]
    for key, value in f.items():
        if isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        else:
            lines.append(f"{key} = {int(value) if isinstance(value, int) else float(value)!r}")
    lines.append("")
    lines.append("[sources]")
    for key in f:
        lines.append(f"{key} = {_toml_str(src[key])}")
    return "\n".join(lines) + "\n"


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_presets(
    paths: dict[str, str | Path],
    quick: bool = False,
    progress: bool | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Calibrate once and write one preset TOML per ``{kernel: path}``, atomically.

    Returns the calibration result (fields, peak popcount rate, kernel timings)."""
    from hwsim.errors import HwsimError
    from hwsim.hardware.cpu import KERNELS

    for kernel in paths:
        if kernel not in KERNELS:
            raise HwsimError("kernel", kernel, f"must be one of {KERNELS}")
    result = calibrate(quick, progress, threads)
    for kernel, path in paths.items():
        atomic_write_text(path, preset_toml(result, Path(path).stem, kernel))
    return result
