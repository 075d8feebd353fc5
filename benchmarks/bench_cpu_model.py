"""The CPU models against real timings on this machine: the bit-serial kernel, torch int8, fp32.

The models are calibrated in the same run (``hwsim.calibrate`` on its own shapes, torch's
kernels timed by ``sweeps.baselines`` on the calibration's baseline shapes), then predict
held-out GEMM shapes (ResNet-like layers in GEMM form, batch-1 GEMVs, tall-skinny and wide
layers): the bit-serial kernel at several bit widths (uint8 codes packed on first use against
pre-packed weights), ``torch._int_mm`` and ``torch.matmul`` fp32. The shipped ``cpu-*`` presets
are scored too.

Run: ``python benchmarks/bench_cpu_model.py [--quick]``; writes
``benchmarks/results/cpu_model.csv``. Targets: median absolute relative error <= 15 % per
implementation (fitted model), <= 25 % for the shipped int8 / fp32 presets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPES = (  # (M, N, K): conv layers as GEMMs (M = output pixels, K = cin*kh*kw) and FCs
    (3136, 64, 576),
    (784, 128, 1152),
    (196, 256, 2304),
    (49, 512, 4608),
    (256, 1024, 4096),
    (64, 1000, 512),
    (1024, 256, 300),
    (1, 1000, 512),
    (1, 2048, 2048),
    (4, 768, 3072),
)
BITS = ((1, 1), (2, 2), (1, 2), (3, 3), (4, 4), (2, 8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="kernel threads for calibration and measurement (default 1: a "
        "shared machine disturbs one thread least)",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or CPU time of the calling thread (forces one thread) for every "
        "measurement, calibration included: on a crowded machine the scheduler stretches wall "
        "times by whole time slices, CPU time not",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/cpu_model.csv")
    args = parser.parse_args()

    import torch
    from numba import set_num_threads
    from tqdm import tqdm

    from hwsim import BitPolicy, Workload
    from hwsim.calibrate import best_time, calibrate, time_bitserial
    from hwsim.hardware import load_hardware, simulate
    from hwsim.hardware.cpu import CpuConfig
    from sweeps.baselines import gemm_call
    from sweeps.commands.calibrate import measure_baselines

    if args.clock == "cpu":
        import time

        import hwsim.calibrate

        args.threads, hwsim.calibrate.CLOCK = 1, time.thread_time
    torch.set_num_threads(args.threads)
    result = calibrate(
        quick=args.quick,
        progress=False,
        threads=args.threads,
        baselines=measure_baselines(args.quick, args.threads),
    )
    set_num_threads(args.threads)
    # After Numba's: numba.set_num_threads resets the OpenMP runtime torch shares, and torch's
    # int8 kernels then take a path up to 80x slower (measured here).
    torch.set_num_threads(args.threads)
    shipped = {k: load_hardware(f"cpu-{k}") for k in ("bitserial", "int8", "fp32")}
    shapes = SHAPES[::2] if args.quick else SHAPES
    bits = BITS[:3] if args.quick else BITS
    cases = [("bitserial", s, b) for s in shapes for b in bits]
    cases += [(impl, s, (8, 8)) for impl in ("int8", "fp32") for s in shapes]
    rows = []
    for impl, (m, n, k), (w, a) in tqdm(cases, disable=None):
        if impl == "bitserial":
            measured = time_bitserial(m, n, k, w, a, repeats=10 if args.quick else 20)
        else:
            measured = best_time(gemm_call(m, n, k, impl), 10 if args.quick else 20)
        wl = Workload.from_layers(
            "g",
            [{"name": "gemm", "kind": "linear", "batch": m, "in_channels": k, "out_channels": n}],
        )
        pol = BitPolicy.uniform(wl, w, a) if impl != "fp32" else BitPolicy.uniform(wl, 32, 32)
        fitted = CpuConfig(name="fitted", **{**result["fields"], "kernel": impl})
        row = {
            "impl": impl,
            "threads": args.threads,
            "clock": args.clock,
            "M": m,
            "N": n,
            "K": k,
            "w_bits": w,
            "a_bits": a,
            "measured_s": measured,
        }
        models_ = [("fitted", fitted)]
        if shipped[impl].cores == args.threads:  # a preset describes that many threads
            models_.append(("shipped", shipped[impl]))
        for label, hw in models_:
            pred = simulate(wl, pol, hw).totals["latency_s"]
            row[f"{label}_s"] = pred
            row[f"{label}_rel_err"] = (pred - measured) / measured
        rows.append(row)
    df = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    pd.set_option("display.width", 160)
    print(df.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    for label, target in (("fitted", 0.15), ("shipped", 0.25)):
        if f"{label}_rel_err" not in df:
            continue
        for impl, part in df.groupby("impl", sort=False):
            err = np.abs(part[f"{label}_rel_err"].dropna())
            if len(err):
                print(
                    f"{label} {impl} model: median |error| {np.median(err):.1%}, max "
                    f"{err.max():.1%} over {len(err)} held-out cases (target median <= "
                    f"{target:.0%})"
                )
    f = result["fields"]
    print(
        f"calibration: {f['binary_words_per_s']:.3g} words/s, pack {f['pack_s_per_elem_bit']:.3g}"
        f" s/elem-bit, overhead {f['call_overhead_s']:.3g} s"
    )


if __name__ == "__main__":
    main()
