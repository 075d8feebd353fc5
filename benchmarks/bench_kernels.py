"""Bit-serial matmul on this CPU against torch int8, torch fp32 and numpy int64, in the same run.

For each precision (W1A1, W2A2, W4A4, W8A8) and square size (256, 1024, 2048) it times:

- weight packing (done once in deployment, reported but never charged to the kernel),
- activation packing on its own (uint8 codes, ``pack_operand``),
- the bit-serial kernel on pre-packed operands (``kernel_ms``),
- ``bitserial_linear`` on uint8 activation codes (``total_ms``): packing fused with first use,
  the **headline**, since a real layer must pack its fresh activations on every call,
- ``torch._int_mm`` (int8 x int8 -> int32, oneDNN), ``torch.matmul`` in fp32 and numpy int64
  ``@`` (numpy only up to ``--numpy-max``; its integer matmul has no BLAS),

with the same thread count for torch and Numba, warm-up outside the timed region, and the best
of a few repeats. Every result is checked bit-exact against torch float64 matmul (exact here).
It also measures this machine's AND + popcount peak with a tiny Numba loop, and reports the
kernel's binary multiply-accumulates per second as a fraction of it. Figures go to
``benchmarks/results/kernels.csv``.

Run: ``python benchmarks/bench_kernels.py`` (``--quick`` for 256 and 1024 only).
"""

from __future__ import annotations

import argparse
import io
import os
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from hwsim.io import atomic_write_text
from hwsim.kernels import bitserial_linear, bitserial_matmul_packed, pack_operand
from hwsim.kernels.popcount import popcount_throughput_kernel

RESULTS = Path(__file__).parent / "results" / "kernels.csv"
PRECISIONS = (1, 2, 4, 8)
TARGETS = {1: 1.5, 2: 0.5}  # the project's speedup targets vs torch int8 at 1024^3
IDLE_GAP_S = 0.3
CLOCK = time.perf_counter
"""Wall time; ``--clock cpu`` switches to the calling thread's CPU time (one thread)."""


def best_of(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall time in seconds of each function over ``repeats`` calls, after one untimed
    warm-up call, each function timed in its own block.

    Blocks, not interleaved calls: torch's and Numba's OpenMP workers spin for a while after
    a parallel region, so a call made right after the other library's call shares the cores
    with its spinning threads (measured here: the kernel looked 3-4x slower interleaved with
    torch). A short idle gap before each block lets the other library's workers park.
    """
    best = dict.fromkeys(fns, float("inf"))
    for name, fn in fns.items():
        time.sleep(IDLE_GAP_S)
        fn()
        for _ in range(repeats):
            start = CLOCK()
            fn()
            best[name] = min(best[name], CLOCK() - start)
    return best


def popcount_peak(repeats: int) -> float:
    """AND + popcount words per second this machine sustains on L1-resident data."""
    words = np.random.default_rng(0).integers(0, 2**63, 2048, dtype=np.uint64)
    chunks, passes = 4 * numba.get_num_threads(), 2000
    seconds = best_of({"peak": lambda: popcount_throughput_kernel(words, chunks, passes)}, repeats)[
        "peak"
    ]
    return words.size * chunks * passes / seconds


def bench_one(size: int, bits: int, repeats: int, numpy_max: int, rng: np.random.Generator) -> dict:
    a_codes = rng.integers(0, 1 << bits, (size, size), dtype=np.int64)
    a_u8 = a_codes.astype(np.uint8)
    w_signed = bits > 1  # a 1-bit weight is {0, 1} here; signed 1-bit would be {-1, 0}
    half = 1 << (bits - 1)
    w_lo, w_hi = (-half, half) if w_signed else (0, 2)
    w_codes = rng.integers(w_lo, w_hi, (size, size), dtype=np.int64)

    w_packed = pack_operand(w_codes, bits, signed=w_signed)
    a_packed = pack_operand(a_u8, bits, signed=False)
    exact = (torch.from_numpy(a_codes).double() @ torch.from_numpy(w_codes).double().T).numpy()
    for got in (
        bitserial_matmul_packed(a_packed, w_packed),
        bitserial_linear(a_u8, w_packed, bits),
    ):
        if not np.array_equal(got, exact.astype(np.int64)):
            raise AssertionError(f"W{bits}A{bits} {size}^3: bit-serial result is not exact")
    a_i8 = torch.from_numpy(rng.integers(-128, 128, (size, size), dtype=np.int8))
    w_i8 = torch.from_numpy(rng.integers(-128, 128, (size, size), dtype=np.int8)).T.contiguous()

    a_f = torch.from_numpy(a_codes).float()
    w_t = torch.from_numpy(w_codes).float().T.contiguous()
    t = best_of(
        {
            "pack_w": lambda: pack_operand(w_codes, bits, signed=w_signed),
            "pack_a": lambda: pack_operand(a_u8, bits, signed=False),
            "kernel": lambda: bitserial_matmul_packed(a_packed, w_packed),
            "total": lambda: bitserial_linear(a_u8, w_packed, bits),
            "torch_int8": lambda: torch._int_mm(a_i8, w_i8),
            "torch": lambda: torch.matmul(a_f, w_t),
        },
        repeats,
    )
    pack_w_s, pack_a_s, kernel_s, total_s, int8_s, torch_s = (
        t[k] for k in ("pack_w", "pack_a", "kernel", "total", "torch_int8", "torch")
    )
    numpy_s = float("nan")
    if size <= numpy_max:
        w_t_np = np.ascontiguousarray(w_codes.T)
        numpy_s = best_of({"numpy": lambda: a_codes @ w_t_np}, max(1, repeats // 2))["numpy"]

    bmacs = float(size) ** 3 * bits * bits  # binary multiply-accumulates
    return {
        "size": size,
        "bits": f"W{bits}A{bits}",
        "w_bits": bits,
        "a_bits": bits,
        "threads": numba.get_num_threads(),
        "pack_w_ms": pack_w_s * 1e3,
        "pack_a_ms": pack_a_s * 1e3,
        "kernel_ms": kernel_s * 1e3,
        "total_ms": total_s * 1e3,
        "torch_int8_ms": int8_s * 1e3,
        "torch_fp32_ms": torch_s * 1e3,
        "numpy_int64_ms": numpy_s * 1e3,
        "speedup_vs_numpy": numpy_s / total_s,
        "binary_gmacs_per_s": bmacs / kernel_s / 1e9,
    }


def add_speedups(df: pd.DataFrame) -> pd.DataFrame:
    """Speedups against torch, taken against the **median** of torch's timings at each size:
    torch's int8 and fp32 matmuls do not depend on the codes' bits, so the rows of one size
    time the same thing, and any single one (the slowest, say) would flatter or penalize the
    kernel by the run's noise."""
    df = df.copy()
    df["torch_fp32_median_ms"] = df.groupby("size")["torch_fp32_ms"].transform("median")
    if "torch_int8_ms" in df:
        df["torch_int8_median_ms"] = df.groupby("size")["torch_int8_ms"].transform("median")
        df["speedup_vs_torch_int8"] = df["torch_int8_median_ms"] / df["total_ms"]
    df["speedup_vs_torch"] = df["torch_fp32_median_ms"] / df["total_ms"]
    df["speedup_vs_torch_kernel_only"] = df["torch_fp32_median_ms"] / df["kernel_ms"]
    return df


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes 256 and 1024, fewer repeats")
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and Numba")
    parser.add_argument(
        "--numpy-max",
        type=int,
        default=256,
        help="largest size timed with numpy int64 matmul (slow: no BLAS; seconds at 1024)",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or CPU time of the calling thread (forces one thread): on a crowded "
        "machine the scheduler stretches wall times by whole time slices, CPU time not",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    global CLOCK
    if args.clock == "cpu":
        args.threads, CLOCK = 1, time.thread_time

    # Numba first: numba.set_num_threads after torch's resets the OpenMP runtime they share,
    # and torch's int8 kernels then take a path up to 80x slower (measured here).
    numba.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    sizes = (256, 1024) if args.quick else (256, 1024, 2048)
    # Short calls get many repeats: on a shared VM a single run can be 1.5x off its floor.
    repeats = 3 if args.quick else 5
    short_repeats = 10 if args.quick else 30
    rng = np.random.default_rng(0)

    load_before = os.getloadavg()[0]
    peak_words = popcount_peak(repeats)
    rows = []
    cases = [(s, b) for s in sizes for b in PRECISIONS]
    for size, bits in tqdm(cases, desc="bench_kernels", disable=None):
        reps = short_repeats if size <= 1024 else repeats
        rows.append(bench_one(size, bits, reps, args.numpy_max, rng))
    df = add_speedups(pd.DataFrame(rows))
    # Timings on a shared machine mean little without the load they were taken under.
    df["load_avg_1min"] = max(load_before, os.getloadavg()[0])
    df["clock"] = args.clock
    df["peak_binary_gmacs_per_s"] = peak_words * 64 / 1e9
    df["fraction_of_popcount_peak"] = df["binary_gmacs_per_s"] / df["peak_binary_gmacs_per_s"]

    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.4g")
    atomic_write_text(args.out, buf.getvalue())

    shown = [
        "size",
        "bits",
        "pack_a_ms",
        "kernel_ms",
        "total_ms",
        "torch_int8_ms",
        "torch_fp32_ms",
        "torch_fp32_median_ms",
        "speedup_vs_torch_int8",
        "speedup_vs_torch",
        "speedup_vs_torch_kernel_only",
        "speedup_vs_numpy",
        "fraction_of_popcount_peak",
    ]
    print(
        f"load average before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cpus (timings only mean something on a quiet machine)"
    )
    print(
        f"threads={args.threads} clock={args.clock}  AND+popcount peak: "
        f"{peak_words * 64 / 1e9:.1f} binary GMAC/s ({peak_words / 1e9:.2f} G words/s)"
    )
    print(
        "headline = speedup_vs_torch_int8: bitserial_linear (uint8 codes packed on first use) "
        "vs torch._int_mm (median of its timings at that size); weights pre-packed"
    )
    print(df[shown].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    for bits, target in TARGETS.items():
        hit = df[(df["size"] == 1024) & (df["w_bits"] == bits)]
        if len(hit):
            ratio = float(hit["speedup_vs_torch_int8"].iloc[0])
            verdict = "meets" if ratio >= target else "MISSES"
            print(f"W{bits}A{bits} 1024^3: {ratio:.2f}x torch int8 (target {target:g}x): {verdict}")
    print(f"wrote {args.out}")
    return df


if __name__ == "__main__":
    main()
