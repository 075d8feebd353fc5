"""The CPU bit-serial model against the real ``hwsim.kernels`` timings on this machine.

The model is calibrated in the same run (``hwsim.calibrate``, on its own shapes), then predicts
held-out GEMM shapes (ResNet-like layers in GEMM form) at several bit widths; each prediction is
compared with the measured best-of time of packing the activations and running the bit-serial
GEMM against pre-packed weights. The shipped ``cpu-bitserial`` preset is scored too.

Run: ``python benchmarks/bench_cpu_model.py [--quick]``; writes
``benchmarks/results/cpu_model.csv``. Target: median absolute relative error < 25 %.
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
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/cpu_model.csv")
    args = parser.parse_args()

    from numba import set_num_threads
    from tqdm import tqdm

    from hwsim import BitPolicy, Workload
    from hwsim.calibrate import calibrate, time_bitserial
    from hwsim.hardware import load_hardware, simulate
    from hwsim.hardware.cpu import CpuConfig

    result = calibrate(quick=args.quick, progress=False, threads=args.threads)
    fitted = CpuConfig(name="fitted", **result["fields"])
    set_num_threads(args.threads)
    shipped = load_hardware("cpu-bitserial")
    models_ = [("fitted", fitted)]
    if shipped.cores == args.threads:  # the shipped preset describes that many threads
        models_.append(("shipped", shipped))
    shapes = SHAPES[:4] if args.quick else SHAPES
    bits = BITS[:3] if args.quick else BITS
    rows = []
    for (m, n, k), (w, a) in tqdm([(s, b) for s in shapes for b in bits], disable=None):
        measured = time_bitserial(m, n, k, w, a, repeats=10 if args.quick else 20)
        wl = Workload.from_layers(
            "g",
            [{"name": "gemm", "kind": "linear", "batch": m, "in_channels": k, "out_channels": n}],
        )
        pol = BitPolicy.uniform(wl, w, a)
        row = {
            "threads": args.threads,
            "M": m,
            "N": n,
            "K": k,
            "w_bits": w,
            "a_bits": a,
            "measured_s": measured,
        }
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
    for label, _ in models_:
        err = np.abs(df[f"{label}_rel_err"])
        print(
            f"{label} model: median |error| {np.median(err):.1%}, max {err.max():.1%} "
            f"(target median < 25%)"
        )
    f = result["fields"]
    print(
        f"calibration: {f['binary_words_per_s']:.3g} words/s, pack {f['pack_s_per_elem_bit']:.3g}"
        f" s/elem-bit, overhead {f['call_overhead_s']:.3g} s"
    )


if __name__ == "__main__":
    main()
