"""``hwsim calibrate``: measure this CPU and write ``cpu`` presets from the measurements."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "calibrate",
        help="measure this CPU (popcount rate, bandwidths, the real kernels) into a preset",
        description="Measure this machine and write a cpu-family preset TOML (bit-serial "
        "kernel) whose every number says it was measured here.",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("cpu-bitserial.toml"),
        help="the bit-serial preset to write (default: ./cpu-bitserial.toml)",
    )
    p.add_argument(
        "--baselines",
        action="store_true",
        help="also time torch's int8 and fp32 kernels and write cpu-int8.toml, cpu-fp32.toml "
        "and cpu-best.toml (the fastest of the three per layer) beside --out",
    )
    p.add_argument("--quick", action="store_true", help="fewer, smaller measurements")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="kernel threads to measure with (default: all; the preset's cores)",
    )
    p.set_defaults(func=run)


def measure_baselines(quick: bool, threads: int | None) -> list[dict]:
    """torch's int8 and fp32 timings on the fit shapes, on the preset's threads."""
    import torch

    from hwsim.calibrate import BASELINE_CONV_SHAPES, BASELINE_GEMM_SHAPES, ROUNDS
    from sweeps.baselines import ConvShape, measure

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        gemms = list(BASELINE_GEMM_SHAPES)
        convs = [ConvShape(*s) for s in BASELINE_CONV_SHAPES]
        return measure(gemms, convs, repeats=5 if quick else 20, rounds=1 if quick else ROUNDS)
    finally:
        torch.set_num_threads(before)


def _measure(paths: dict, quick: bool, threads: int | None, baselines: bool) -> dict:
    """Calibrate and write the presets; with ``baselines``, every timing, torch's and
    Numba's, in the thread state ``benchmarks/bench_cpu_model.py`` scores them in
    (:func:`sweeps.baselines.use_threads`), restored afterwards."""
    from hwsim.calibrate import write_presets

    if not baselines:
        return write_presets(paths, quick=quick, threads=threads)
    import numba
    import torch

    from sweeps.baselines import use_threads

    before = (numba.get_num_threads(), torch.get_num_threads())
    use_threads(threads or numba.get_num_threads())
    try:
        rows = measure_baselines(quick, None)
        return write_presets(paths, quick=quick, baselines=rows)
    finally:
        numba.set_num_threads(before[0])
        torch.set_num_threads(before[1])


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    paths = {"bitserial": out}
    if args.baselines:
        for kernel in ("int8", "fp32", "best"):
            paths[kernel] = out.with_name(f"cpu-{kernel}.toml")
    result = _measure(paths, args.quick, args.threads, args.baselines)
    f = result["fields"]
    print(
        f"binary words/s {f['binary_words_per_s']:.3g} (peak loop "
        f"{result['peak_popcount_words_per_s']:.3g}), int8 MAC/s {f['int8_macs_per_s']:.3g}, "
        f"fp32 MAC/s {f['fp32_macs_per_s']:.3g}, "
        f"DRAM {f['dram_bytes_per_s'] / 1e9:.2f} GB/s, overhead {f['call_overhead_s']:.2e} s"
    )
    for path in paths.values():
        print(f"wrote {path}")
    return 0
