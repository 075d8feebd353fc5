"""The calibration's fits: the ``cpu`` config fields of the bit-serial kernel, the
table-lookup kernel and torch's int8 / fp32 baselines from measured timings, each a
non-negative fit minimising the summed absolute relative error (the error the models are
judged by)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hwsim.calibrate.harness import KIB
from hwsim.errors import check

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


def fit_stream(
    kind: str,
    timings: list[tuple[tuple[int, int, int, int], float]],
    overhead: float,
    parallel_call_s: float,
    threads: int = 1,
    l2_bytes: float = 1024 * KIB,
) -> dict[str, float]:
    """The ``cpu`` fields ``<kind>_bytes_per_s``, ``<kind>_s_per_code`` and
    ``<kind>_stream_s_per_byte`` of a weight-stream kernel (``kind``: ``lut`` or ``vnni``): a
    non-negative fit (summed absolute relative error) of
    :func:`hwsim.hardware.cpu.stream_time`'s terms ``t = overhead + stretch * (bytes/rate +
    M*K*code_s + [weights beyond L2] stored*stream_s) + parallel``, ``bytes`` the kernel's
    work bytes and ``stored`` the weight bytes it reads (:func:`hwsim.hardware.cpu.stream_bytes`),
    with the call overhead and the
    threaded-call cost held at the bit-serial fit's."""
    from hwsim.hardware.cpu import (
        K_LUT,
        K_VNNI,
        LUT_PARALLEL_MIN_BYTES,
        STREAM_KERNELS,
        VNNI_PARALLEL_MIN_BYTES,
        stream_bytes,
        stream_speedup,
    )

    check(kind in STREAM_KERNELS, "kind", kind, f"must be one of {STREAM_KERNELS}")
    impl = K_LUT if kind == "lut" else K_VNNI
    min_bytes = LUT_PARALLEL_MIN_BYTES if kind == "lut" else VNNI_PARALLEL_MIN_BYTES
    rows, times = [], []
    for (m, n, k, w), t in timings:
        work, packed, tiles, _ = stream_bytes(impl, float(n), float(k), float(w))
        speedup = stream_speedup(float(threads), tiles, m * packed, min_bytes)
        s = threads / speedup
        stream = m * packed if packed / speedup > l2_bytes else 0.0
        rows.append([1.0, m * work * s, m * k * s, stream * s])
        times.append(t - (parallel_call_s if speedup > 1.0 else 0.0))
    x = np.array(rows, dtype=np.float64)
    y = np.maximum(np.array(times, dtype=np.float64), 1e-9)
    coef = _relative_fit(x, y, overhead)
    per_byte = float(coef[1])
    return {
        f"{kind}_bytes_per_s": 1.0 / per_byte if per_byte > 0 else float(np.max(x[:, 1] / y)),
        f"{kind}_s_per_code": float(coef[2]),
        f"{kind}_stream_s_per_byte": float(coef[3]),
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
        parallel_split,
        row_block_for,
    )
    from hwsim.kernels.operand import padded_rows

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
