"""The CPU models against real timings on this machine: the bit-serial kernel, torch int8, fp32.

The models are calibrated in the same run (``hwsim.calibrate`` on its own shapes, torch's
kernels timed by ``sweeps.baselines`` on the calibration's baseline shapes), then predict
held-out GEMM shapes (ResNet-like layers in GEMM form, batch-1 GEMVs, tall-skinny and wide
layers): the bit-serial kernel at several bit widths (uint8 codes packed on first use against
pre-packed weights), ``torch._int_mm`` and ``torch.matmul`` fp32. The shipped ``cpu-*``
presets are scored too when they describe the run's thread count. Every held-out time is the
best over ``--rounds`` passes over all cases, so a burst of load on a shared machine spoils a
case only if it spoils every pass.

Run: ``python benchmarks/bench_cpu_model.py [--threads T] [--quick]``; writes
``benchmarks/results/cpu_model.csv`` (one thread) or ``cpu_model_<T>threads.csv`` (one row
per case) and updates ``benchmarks/results/cpu_model_summary.csv`` (one row per threads,
clock, model and implementation: median and max absolute relative error, target, met).
Targets: median absolute relative error <= 15 % per implementation (fitted model), <= 25 %
for the shipped int8 / fp32 presets.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

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
    parser.add_argument("--rounds", type=int, default=3, help="passes over the held-out cases")
    parser.add_argument("--out", type=Path, default=None, help="per-case CSV (default by threads)")
    parser.add_argument(
        "--summary", type=Path, default=ROOT / "benchmarks/results/cpu_model_summary.csv"
    )
    args = parser.parse_args()

    from _provenance import git_commit, stamp
    from tqdm import tqdm

    from hwsim import BitPolicy, Workload
    from hwsim.calibrate import calibrate, time_bitserial
    from hwsim.hardware import load_hardware, simulate
    from hwsim.hardware.cpu import CpuConfig
    from hwsim.io import atomic_write_text
    from hwsim.timing import best_time, set_clock
    from sweeps.baselines import gemm_call, use_threads
    from sweeps.commands.calibrate import measure_baselines

    if args.clock == "cpu":
        args.threads = 1
        set_clock("cpu")
    # Numba's threads first, torch's last, once: every timing below (calibration and held-out
    # alike) runs in the same state as `hwsim calibrate --threads T --baselines` takes its own.
    use_threads(args.threads)
    load_before = os.getloadavg()[0]
    if load_before > 1.0:
        print(
            f"warning: load average {load_before:.1f}: other processes share the cores, and "
            "wall times (2 threads above all) will scatter; re-run on a quiet machine"
        )
    result = calibrate(
        quick=args.quick,
        progress=False,
        baselines=measure_baselines(args.quick, None),
    )
    shipped = {k: load_hardware(f"cpu-{k}") for k in ("bitserial", "int8", "fp32")}
    shapes = SHAPES[::2] if args.quick else SHAPES
    bits = BITS[:3] if args.quick else BITS
    cases = [("bitserial", s, b) for s in shapes for b in bits]
    cases += [(impl, s, (8, 8)) for impl in ("int8", "fp32") for s in shapes]
    repeats = 10 if args.quick else 20

    def timer(impl: str, m: int, n: int, k: int, w: int, a: int):
        if impl == "bitserial":
            return lambda: time_bitserial(m, n, k, w, a, repeats=repeats)
        call = gemm_call(m, n, k, impl)
        return lambda: best_time(call, repeats)

    calls = [timer(impl, *shape, *b) for impl, shape, b in cases]
    measured = np.full(len(cases), np.inf)
    for _ in tqdm(range(args.rounds), desc="rounds", disable=None):
        for i, call in enumerate(calls):
            measured[i] = min(measured[i], call())
    rows = []
    for (impl, (m, n, k), (w, a)), t in zip(cases, measured, strict=True):
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
            "measured_s": t,
        }
        models_ = [("fitted", fitted)]
        if shipped[impl].cores == args.threads:  # a preset describes that many threads
            models_.append(("shipped", shipped[impl]))
        for label, hw in models_:
            pred = simulate(wl, pol, hw).totals["latency_s"]
            row[f"{label}_s"] = pred
            row[f"{label}_rel_err"] = (pred - t) / t
        rows.append(row)
    df = stamp(pd.DataFrame(rows), load_before)
    out = args.out or ROOT / "benchmarks/results" / (
        "cpu_model.csv" if args.threads == 1 else f"cpu_model_{args.threads}threads.csv"
    )
    atomic_write_text(out, df.to_csv(index=False))
    pd.set_option("display.width", 160)
    print(df.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    summary = []
    for label, target in (("fitted", 0.15), ("shipped", 0.25)):
        if f"{label}_rel_err" not in df:
            continue
        for impl, part in df.groupby("impl", sort=False):
            err = np.abs(part[f"{label}_rel_err"].dropna())
            # The targets name the shipped int8 / fp32 presets only.
            goal = float("nan") if (label, impl) == ("shipped", "bitserial") else target
            med = float(np.median(err))
            summary.append({
                "threads": args.threads, "clock": args.clock, "model": label, "impl": impl,
                "cases": len(err), "median_abs_err": med, "max_abs_err": float(err.max()),
                "target": goal, "met": bool(med <= goal) if goal == goal else "",
                "quick": args.quick, "load_avg_before": load_before,
                "load_avg": os.getloadavg()[0],
                "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                "git_commit": git_commit(),
            })  # fmt: skip
            print(
                f"{label} {impl} model ({args.threads} threads): median |error| {med:.1%}, max "
                f"{err.max():.1%} over {len(err)} held-out cases ("
                + (f"target median <= {goal:.0%})" if goal == goal else "no target)")
            )
    _update_summary(args.summary, pd.DataFrame(summary))
    print(f"wrote {out} and {args.summary}")
    f = result["fields"]
    print(
        f"calibration: {f['binary_words_per_s']:.3g} words/s, pack {f['pack_s_per_elem_bit']:.3g}"
        f" s/elem-bit, overhead {f['call_overhead_s']:.3g} s"
    )


def _update_summary(path: Path, new: pd.DataFrame) -> None:
    """Replace this run's rows (same threads, clock, model, impl) in the summary CSV."""
    from hwsim.io import atomic_write_text

    key = ["threads", "clock", "model", "impl"]
    if path.exists():
        old = pd.read_csv(path)
        keep = ~old.set_index(key).index.isin(new.set_index(key).index)
        new = pd.concat([old[keep], new], ignore_index=True)
    new = new.sort_values(key, kind="stable")
    atomic_write_text(path, new.to_csv(index=False))


if __name__ == "__main__":
    main()
