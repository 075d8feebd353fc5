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

from hwsim.errors import check
from hwsim.io import atomic_write_text, toml_text

KIB = 1024


CLOCK: Callable[[], float] = time.perf_counter
"""What :func:`best_time` measures by default: wall time. ``time.thread_time`` (CPU time of
the calling thread) is immune to the scheduler taking the core away, so it measures a
single-threaded call on a crowded machine; a caller running one thread may set it."""


def best_time(
    fn: Callable[[], Any],
    repeats: int,
    budget_s: float = 2.0,
    clock: Callable[[], float] | None = None,
) -> float:
    """Best-of time of ``fn`` over up to ``repeats`` runs within ``budget_s`` of wall time (at
    least three): the least disturbed run on a shared machine, on ``clock`` (default
    :data:`CLOCK`)."""
    clock = clock or CLOCK
    fn()  # warm-up: compilation, caches, waking the thread pool
    best = float("inf")
    start = time.perf_counter()
    for i in range(repeats):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
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
    t = best_time(lambda: popcount_throughput_kernel(words, chunks, passes), 3 if quick else 5)
    return words.size * chunks * passes / t


@njit(cache=True, fastmath=True)
def _read_words(a: np.ndarray, reps: int) -> float:
    """Sum of every element of ``a``, ``reps`` times: a pure streaming read. ``fastmath`` lets
    the reduction reorder, so it runs on vector loads and measures the cache level, not the
    adder: a scalar loop read 21-25 GB/s at every level here, the vector one 209 GB/s from L1,
    110 from L2, 88 from L3, 27 from DRAM (one thread)."""
    total = 0.0
    for _ in range(reps):
        s = 0.0
        for i in range(a.shape[0]):
            s += a[i]
        total += s
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
        out[level] = nbytes * reps / best_time(lambda a=a, reps=reps: _read_words(a, reps), 3)
    return out


def measure_fp32_rate(quick: bool = False) -> float:
    n = 256 if quick else 512
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return n**3 / best_time(lambda: a @ b, 20)


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
    # small calls that the kernel runs on one thread (below PARALLEL_MIN_WORDS), and a GEMV
    # it splits along N, so that the thread split is fitted, not assumed
    (1, 2048, 1024, 2, 2),
    (8, 512, 1024, 1, 2),
    (1, 4096, 4096, 1, 2),
    # GEMVs whose packed weights (1.5-2 MiB) outgrow a core's L2
    (1, 1024, 4096, 4, 4),
    (2, 1536, 3072, 3, 2),
)

ROUNDS = 3
"""Passes over the fit shapes (each keeps its best time): a burst of load on a shared
machine spoils a pass, rarely all of them."""


BASELINE_GEMM_SHAPES: tuple[tuple[int, int, int], ...] = (
    # (M, N, K) timed on torch's int8 and fp32 GEMMs: square, tall-skinny, batch-1 GEMVs and
    # conv-like shapes (none of them a benchmark's held-out shape)
    (512, 512, 512),
    (1024, 1024, 1024),
    (2048, 128, 1024),
    (128, 2048, 1024),
    (4096, 64, 576),
    (1, 1024, 1024),
    (1, 4096, 4096),
    (8, 512, 2048),
    (64, 1024, 4096),
    (1568, 96, 864),
    (392, 192, 1728),
    (98, 384, 3456),
    (16, 16, 64),
    # weight streams from cache-resident to well beyond the L3 (the DRAM term and the cache
    # size it starts at), and small layers around the size where a library stops splitting a
    # call across threads
    (1, 512, 512),
    (1, 3072, 1024),
    (1, 1024, 5120),
    (1, 1536, 4096),
    (1, 2048, 4096),
    (1, 4096, 8192),
    (2, 1024, 2048),
    (16, 256, 512),
    (32, 128, 256),
)

BASELINE_CONV_SHAPES: tuple[tuple[int, int, int, int, int, int], ...] = (
    # (batch, in channels, height = width, out channels, kernel, stride) timed on torch's
    # quantized (int8) and fp32 convolutions
    (1, 32, 64, 32, 3, 1),
    (1, 96, 32, 96, 3, 1),
    (1, 192, 16, 192, 3, 1),
    (1, 384, 8, 384, 3, 1),
    (1, 48, 64, 96, 3, 2),
    (1, 256, 16, 512, 1, 1),
    (4, 64, 32, 64, 3, 1),
)

BASELINE_TERMS: tuple[str, ...] = (
    "macs_per_s",
    "s_per_input",
    "s_per_weight",
    "s_per_output",
    "s_per_dram_byte",
    "s_per_gemm_weight",
)
"""The shape-aware baseline model, per implementation (``int8`` / ``fp32``):
``t = call_s + stretch * (M*N*K / macs_per_s + M*K*s_per_input + N*K*s_per_weight +
[M > 1] N*K*s_per_gemm_weight + M*N*s_per_output) + max(0, weight bytes - cache_bytes) *
s_per_dram_byte``. The MAC term is the kernel's arithmetic; the input term its packing /
reordering of the activations (and, for a convolution, its im2col); the weight term what a
GEMV pays to read the weights from cache, and a GEMM (M > 1) more to pack them on every call
(measured here: torch's fp32 4 x 768 x 3072 takes as long as 1 x 2048 x 2048, with half the
weights);
the output term the write-back (int32 / fp32); the DRAM term the weight bytes that no longer
fit the cache, streamed at DRAM bandwidth (which threads share, so it is not stretched).
``stretch`` is the thread count for a call under ``parallel_macs`` MACs (the library runs it
on one thread), else 1. ``cache_bytes`` and ``parallel_macs`` are chosen from
:data:`CACHE_CANDIDATES` and :data:`PARALLEL_CANDIDATES` by the fit."""

CACHE_CANDIDATES: tuple[float, ...] = tuple(2.0**20 * c for c in (0.5, 1, 2, 4, 8, 16, 24, 32))
"""Cache sizes (bytes) the baseline fit tries for where the weight stream leaves the cache."""

PARALLEL_CANDIDATES: tuple[float, ...] = (0.0, *(4.0**i for i in range(7, 13)))
"""MAC counts the baseline fit tries for where a library starts splitting a call (0: always)."""


def fit_baseline(
    rows: list[dict[str, Any]], impl: str, call_s: float | None = None, threads: int = 1
) -> dict[str, float]:
    """The ``cpu`` config fields of torch's ``impl`` (``int8`` / ``fp32``) from measured rows
    (``impl``, ``M``, ``N``, ``K``, ``seconds``; see ``sweeps.baselines.measure``) taken on
    ``threads`` threads: a non-negative fit of :data:`BASELINE_TERMS` minimising the summed
    absolute relative error, for every pair of candidate ``cache_bytes`` and (on more than one
    thread) ``parallel_macs``; the pair with the least error wins. The per-call cost
    ``call_s`` is fitted too unless given (measured apart); the fit shapes include a tiny
    GEMM, which pins it."""
    mine = [r for r in rows if r["impl"] == impl]
    check(len(mine) > len(BASELINE_TERMS) + 1, "rows", len(mine), f"too few {impl} timings")
    check(threads >= 1, "threads", threads, "must be at least 1")
    m, n, k = (np.array([r[d] for r in mine], dtype=np.float64) for d in "MNK")
    y = np.array([r["seconds"] for r in mine], dtype=np.float64)
    macs = m * n * k
    w_bytes = n * k * (1.0 if impl == "int8" else 4.0)
    best: tuple[float, float, float, np.ndarray] | None = None
    for par in PARALLEL_CANDIDATES if threads > 1 else (0.0,):
        stretch = np.where(macs < par, float(threads), 1.0)
        for cache in CACHE_CANDIDATES:
            x = np.stack(
                [np.ones_like(y), macs * stretch, m * k * stretch, n * k * stretch,
                 m * n * stretch, np.maximum(0.0, w_bytes - cache),
                 np.where(m > 1, n * k * stretch, 0.0)],
                axis=1,
            )  # fmt: skip
            coef = _relative_fit(x, y, call_s)
            err = float(np.abs(x @ coef / y - 1.0).sum())
            if best is None or err < best[0] * (1.0 - 1e-9):
                best = (err, cache, par, coef)
    _, cache, par, coef = best
    per_mac = coef[1]
    return {
        f"{impl}_macs_per_s": 1.0 / per_mac if per_mac > 0 else float(np.max(macs / y)),
        f"{impl}_s_per_input": float(coef[2]),
        f"{impl}_s_per_weight": float(coef[3]),
        f"{impl}_s_per_output": float(coef[4]),
        f"{impl}_s_per_dram_byte": float(coef[5]),
        f"{impl}_s_per_gemm_weight": float(coef[6]),
        f"{impl}_call_s": float(coef[0]),
        f"{impl}_cache_bytes": float(cache),
        f"{impl}_parallel_macs": float(par),
    }


def _relative_fit(
    x: np.ndarray, y: np.ndarray, fixed0: float | None, floor: np.ndarray | None = None
) -> np.ndarray:
    """``c >= floor`` (default 0) minimising ``sum |x @ c / y - 1|`` (the median-like error
    the models are judged by; iteratively reweighted least squares), with ``c[0]`` held at
    ``fixed0`` when given. A floor is a physical bound: a term's excess over it is fitted."""
    floor = np.zeros(x.shape[1]) if floor is None else np.asarray(floor, dtype=np.float64)
    a = x / y[:, None]
    target = 1.0 - a @ floor
    if fixed0 is None:
        return floor + _robust_nonnegative_fit(a, target)
    rest = _robust_nonnegative_fit(a[:, 1:], target - a[:, 0] * (fixed0 - floor[0]))
    return np.concatenate([[fixed0], floor[1:] + rest])


def time_bitserial(m: int, n: int, k: int, w_bits: int, a_bits: int, repeats: int = 20) -> float:
    """Wall time of one deployed bit-serial GEMM: uint8 activation codes packed on first use
    against pre-packed weights (``hwsim.kernels.bitserial_linear``)."""
    from hwsim.kernels import bitserial_linear, pack_operand

    rng = np.random.default_rng(m * 7 + n * 13 + k + w_bits * 101 + a_bits)
    a = rng.integers(0, 2**a_bits, (m, k)).astype(np.uint8 if a_bits <= 8 else np.int64)
    w = rng.integers(-(2 ** (w_bits - 1)), 2 ** (w_bits - 1), (n, k))
    wp = pack_operand(w, w_bits, signed=True)
    return best_time(lambda: bitserial_linear(a, wp, a_bits), repeats)


LUT_SHAPES: tuple[tuple[int, int, int, int], ...] = (
    (1, 64, 256, 1),
    (1, 1024, 1024, 2),
    (1, 4096, 4096, 1),
    (1, 4096, 4096, 2),
    (1, 4096, 4096, 4),
    (1, 11008, 4096, 2),
    (4, 4096, 4096, 2),
    (16, 1024, 4096, 4),
    (8, 2048, 2048, 3),
    (1, 512, 8192, 4),
)
"""``(M, N, K, w_bits)`` timed for the table-lookup kernel (8-bit signed activations): GEMVs
from cache-resident to weight-streaming, and small-M GEMMs."""


def time_lut(m: int, n: int, k: int, w_bits: int, repeats: int = 20) -> float:
    """Time of one table-lookup call: int8 activation codes against packed weights whose table
    view is built once (``hwsim.kernels.lut.lut_linear``)."""
    from hwsim.kernels import lut_linear, lut_weights, pack_operand

    rng = np.random.default_rng(m * 7 + n * 13 + k + w_bits * 101)
    a = rng.integers(-128, 128, (m, k)).astype(np.int8)
    half = 2 ** (w_bits - 1)
    w = rng.integers(-half, half, (n, k))
    lw = lut_weights(pack_operand(w, w_bits, signed=True))
    return best_time(lambda: lut_linear(a, lw, 8, a_signed=True), repeats)


def fit_lut(
    timings: list[tuple[tuple[int, int, int, int], float]],
    overhead: float,
    parallel_call_s: float,
    threads: int = 1,
    l2_bytes: float = 1024 * KIB,
) -> dict[str, float]:
    """The ``cpu`` fields ``lut_bytes_per_s``, ``lut_s_per_code`` and
    ``lut_stream_s_per_byte``: a non-negative fit (summed absolute relative error) of
    :func:`hwsim.hardware.cpu._lut_time`'s terms ``t = overhead + stretch * (bytes/rate +
    M*K*code_s + [weights beyond L2] bytes*stream_s) + parallel``, ``bytes`` the index bytes
    the kernel reads (``M * ceil(N/64)*64 * w * 8*ceil(K/64)``), with the call overhead and the
    threaded-call cost held at the bit-serial fit's."""
    from hwsim.kernels.lut import PARALLEL_MIN_LOOKUPS, TILE_N

    rows, times = [], []
    for (m, n, k, w), t in timings:
        tiles = -(-n // TILE_N)
        w_bytes = tiles * TILE_N * w * 8 * -(-k // 64)
        idx = m * w_bytes
        speedup = 1.0
        if threads > 1 and tiles > 1 and 2 * idx / 32 >= PARALLEL_MIN_LOOKUPS:
            chunks = min(tiles, 4 * threads)
            per = -(-tiles // chunks)
            used = -(-tiles // per)
            speedup = tiles / (-(-used // threads) * per)
        s = threads / speedup
        stream = idx if w_bytes / speedup > l2_bytes else 0.0
        rows.append([1.0, idx * s, m * k * s, stream * s])
        times.append(t - (parallel_call_s if speedup > 1.0 else 0.0))
    x = np.array(rows, dtype=np.float64)
    y = np.maximum(np.array(times, dtype=np.float64), 1e-9)
    coef = _relative_fit(x, y, overhead)
    per_byte = float(coef[1])
    return {
        "lut_bytes_per_s": 1.0 / per_byte if per_byte > 0 else float(np.max(x[:, 1] / y)),
        "lut_s_per_code": float(coef[2]),
        "lut_stream_s_per_byte": float(coef[3]),
    }


def fit_bitserial(
    timings: list[tuple[tuple[int, int, int, int, int], float]],
    overhead: float | None = None,
    threads: int = 1,
    l2_bytes: float = 1024 * KIB,
    peak_words_per_s: float | None = None,
) -> dict[str, float]:
    """The ``cpu`` config fields ``binary_words_per_s``, ``writeback_s_per_output_pair``,
    ``pack_s_per_elem``, ``pack_s_per_elem_bit``, ``call_overhead_s`` and
    ``parallel_call_s``, ``row_tile_s_per_word`` minimising the summed absolute relative error
    of ``t = overhead + stretch * (words/rate + tile_words*tile_s + pairs*writeback +
    chunks*codes*(read_s + a*pack_s) + stream*stream_s) + parallel``
    (all non-negative), the :mod:`hwsim.hardware.cpu` bit-serial model on ``threads`` threads:
    ``words = w * a * Np * (M + row tiles) * ceil(K/64)`` (each row tile costs about one row
    more, and ``tile_s`` per word of ``tile_words = w * a * Np * (row tiles) * ceil(K/64)``
    beyond that), ``pairs = w * a * M * Np`` the register tile's write-backs, ``codes = M * K`` the
    activation codes packed (once per column chunk of the kernel's thread grid), ``stretch =
    threads / speedup`` of the kernel's split (:func:`hwsim.kernels.gemm.parallel_split`;
    ``threads`` for a call it runs on one thread), ``stream`` the packed weight bytes read
    per call when they outgrow each thread's ``l2_bytes`` (the weights once per sweep) and
    ``parallel`` the cost of a threaded call.

    ``peak_words_per_s`` (the measured AND + POPCNT loop) bounds the fitted word rate: the
    other terms then carry what the kernel spends beyond the loop's pace.

    Pass the measured ``overhead`` of a near-empty call to hold it fixed: an intercept fitted
    to millisecond-scale timings is poorly determined, and it is what tiny layers pay."""
    from hwsim.kernels.gemm import (
        COL_TILE,
        ROW_TILE,
        padded_rows,
        parallel_split,
        row_block_for,
    )

    check(threads >= 1, "threads", threads, "must be at least 1")
    rows, times = [], []
    for (m, n, k, w, a), t in timings:
        tiles = -(-m // ROW_TILE)
        np_ = padded_rows(n)
        kw = -(-k // 64)
        words = w * a * np_ * (m + tiles) * kw
        speedup, chunks, sweeps = parallel_split(
            m, np_ // COL_TILE, m * np_ * kw * w * a, threads, row_block_for(a, kw)
        )
        s = threads / speedup
        tile_words = w * a * np_ * tiles * kw
        w_bytes = w * np_ * kw * 8
        stream = sweeps * w_bytes if w_bytes / speedup > l2_bytes else 0.0
        rows.append([1.0, words * s, w * a * m * np_ * s, m * k * chunks * s,
                     m * k * a * chunks * s, float(speedup > 1.0), tile_words * s,
                     stream * s])  # fmt: skip
        times.append(t)
    x = np.array(rows, dtype=np.float64)
    y = np.array(times, dtype=np.float64)
    floor = np.zeros(x.shape[1])
    if peak_words_per_s:
        floor[1] = 1.0 / peak_words_per_s  # no kernel word beats the AND + POPCNT loop
    coef = _relative_fit(x, y, overhead, floor)
    overhead, per_word, per_pair, per_code, per_bit, parallel, per_tile, per_byte = (
        float(c) for c in coef
    )
    return {
        "binary_words_per_s": 1.0 / per_word if per_word > 0 else float(np.max(x[:, 1] / y)),
        "writeback_s_per_output_pair": per_pair,
        "pack_s_per_elem": per_code,
        "pack_s_per_elem_bit": per_bit,
        "call_overhead_s": overhead,
        "parallel_call_s": parallel,
        "row_tile_s_per_word": per_tile,
        "weight_stream_s_per_byte": per_byte,
    }


def _robust_nonnegative_fit(x: np.ndarray, y: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Non-negative ``c`` minimising ``sum |x @ c - y|``: least squares reweighted by the
    inverse absolute residuals, so that a few disturbed timings (a shared machine's) pull
    the fit far less than under squared error."""
    coef = _nonnegative_fit(x, y)
    for _ in range(iterations):
        r = np.abs(x @ coef - y)
        w = 1.0 / np.sqrt(np.maximum(r, 1e-4))
        new = _nonnegative_fit(x * w[:, None], y * w)
        if np.abs(x @ new - y).sum() > r.sum():
            break
        coef = new
    return coef


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

    from hwsim.kernels.gemm import COL_TILE

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
    lut_times = np.full(len(LUT_SHAPES), np.inf)
    for _ in range(1 if quick else ROUNDS):
        for i, s in enumerate(LUT_SHAPES):
            lut_times[i] = min(lut_times[i], time_lut(*s, repeats=5 if quick else 20))
    lut_timings = list(zip(LUT_SHAPES, lut_times.tolist(), strict=True))
    fitted.update(
        fit_lut(
            lut_timings,
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
        "lut_timings": lut_timings,
        "baselines": baselines or [],
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
    }


def cache_sizes(cpu: int = 0) -> dict[int, int]:
    """Data / unified cache bytes per level of ``cpu`` as the kernel reports them (sysfs), the
    L3 whole and L1 / L2 per core; empty where sysfs says nothing (then the presets' defaults
    stand)."""
    sizes: dict[int, int] = {}
    root = Path(f"/sys/devices/system/cpu/cpu{cpu}/cache")
    units = {"K": KIB, "M": KIB * KIB, "G": KIB**3}
    for index in sorted(root.glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction" or not text:
            continue
        scale = units.get(text[-1], 1)
        try:
            sizes[level] = int(text.rstrip("KMG")) * scale
        except ValueError:
            continue
    return sizes


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
    timed = bool(result.get("baselines"))
    torch_src = {
        "int8": "torch._int_mm and torch's quantized conv2d",
        "fp32": "torch.matmul and torch conv2d",
    }
    baseline_src = {}
    for impl, what in torch_src.items():
        for term, meaning in (
            ("macs_per_s", "MAC rate"),
            ("s_per_input", "cost per input element"),
            ("s_per_weight", "cost per weight element"),
            ("s_per_output", "cost per output element"),
            ("call_s", "per-call cost"),
            ("s_per_dram_byte", "cost per weight byte beyond the cache"),
            ("s_per_gemm_weight", "cost per weight element of a GEMM (M > 1) beyond a GEMV's"),
            ("cache_bytes", "weight bytes a call keeps in cache"),
            ("parallel_macs", "MACs below which a call runs on one thread"),
        ):
            baseline_src[f"{impl}_{term}"] = (
                f"{meas}: fit of {what} timings ({meaning})"
                if timed
                else "[INFER] not timed: "
                + {
                    "int8_macs_per_s": "2x the measured fp32 rate (AVX2 vpmaddubsw vs FMA)",
                    "fp32_macs_per_s": "numpy float32 matmul (BLAS), measured here",
                }.get(f"{impl}_{term}", "no shape term without torch timings")
            )
    src = {
        "kernel": {
            "bitserial": "[INFER] the hwsim.kernels AND+popcount GEMM",
            "int8": "[INFER] torch's int8 kernels (oneDNN / fbgemm), the quantized baseline",
            "fp32": "[INFER] torch's fp32 kernels, the float baseline",
            "best": "[INFER] the fastest of bitserial, int8 and fp32 for each layer",
        }[kernel],
        **baseline_src,
        "cores": f"{meas}: numba threads",
        "frequency_hz": f"{meas}: /proc/cpuinfo",
        "l1_bytes": f"{meas}: sysfs cache/index*/size, level-1 data cache of one core",
        "l2_bytes": f"{meas}: sysfs cache/index*/size, level-2 cache of one core",
        "l3_bytes": f"{meas}: sysfs cache/index*/size, level-3 cache (shared)",
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
        "row_tile_s_per_word": f"{meas}: fit of hwsim.kernels timings (a row tile's cost per "
        "word beyond one row's)",
        "weight_stream_s_per_byte": f"{meas}: fit of hwsim.kernels timings (packed weight bytes "
        "re-read from beyond L2)",
        "call_overhead_s": f"{meas}: hwsim.kernels time of a one-word GEMM (per-call overhead)",
        "lut_bytes_per_s": f"{meas}: fit of hwsim.kernels.lut timings (table-index bytes per "
        "second, two lookups of 32 outputs each)",
        "lut_s_per_code": f"{meas}: fit of hwsim.kernels.lut timings (building the tables, per "
        "activation code)",
        "lut_stream_s_per_byte": f"{meas}: fit of hwsim.kernels.lut timings (index bytes read "
        "from beyond L2, per row)",
        "parallel_call_s": f"{meas}: fit of hwsim.kernels timings (extra cost of a threaded call)",
        "power_w": "[INFER] about 15 W per busy server core (package power / cores)",
        "e_dram_pj_per_bit": "[PAPER] Horowitz/Han et al.: 32-bit DRAM read 640 pJ = 20 pJ/bit",
    }
    values = {
        key: v if isinstance(v, str) else int(v) if isinstance(v, int) else float(v)
        for key, v in f.items()
    }
    return toml_text(
        {"family": "cpu", "name": name, **values},
        {key: src[key] for key in f},
        comment=f"{name}: calibrated with `hwsim calibrate` ({when}).",
    )


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
