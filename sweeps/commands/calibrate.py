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
        help="also write cpu-int8.toml and cpu-fp32.toml beside --out",
    )
    p.add_argument("--quick", action="store_true", help="fewer, smaller measurements")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="kernel threads to measure with (default: all; the preset's cores)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hwsim.calibrate import write_presets

    out: Path = args.out
    paths = {"bitserial": out}
    if args.baselines:
        paths["int8"] = out.with_name("cpu-int8.toml")
        paths["fp32"] = out.with_name("cpu-fp32.toml")
    result = write_presets(paths, quick=args.quick, threads=args.threads)
    f = result["fields"]
    print(
        f"binary words/s {f['binary_words_per_s']:.3g} (peak loop "
        f"{result['peak_popcount_words_per_s']:.3g}), fp32 MAC/s {f['fp32_macs_per_s']:.3g}, "
        f"DRAM {f['dram_bytes_per_s'] / 1e9:.2f} GB/s, overhead {f['call_overhead_s']:.2e} s"
    )
    for path in paths.values():
        print(f"wrote {path}")
    return 0
