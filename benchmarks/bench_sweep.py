"""Sweep fast path: ~10^6 analytic design points to Parquet, against a per-point loop.

A point is one (hardware config, workload, policy) row with network totals; each point
evaluates every layer, so layer rows = points x layers (both are printed). The baseline is
the naive loop ``hwsim.simulate`` per point, timed on a subset in the same run.

    python benchmarks/bench_sweep.py [--points 1000000] [--hardware stripes]
    python benchmarks/bench_sweep.py --examples   # run sweeps/examples/*.toml, save figures
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _provenance import provenance

import hwsim
from sweeps.run import run_sweep
from sweeps.spec import parse_spec
from sweeps.store import load_results

RESULTS = Path(__file__).parent / "results" / "sweep.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--hardware", default="stripes")
    ap.add_argument("--workload", default="resnet18")
    ap.add_argument("--baseline-points", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=1, help="fast-path processes")
    ap.add_argument(
        "--examples",
        action="store_true",
        help="run every example spec and save its Pareto plot instead",
    )
    args = ap.parse_args()
    if args.examples:
        run_examples()
        return
    load_before = os.getloadavg()[0]

    bits = list(range(1, 9))  # 64 uniform policies
    grid = {"rows": [64, 128, 256, 512], "cols": [8, 16, 32, 64]}
    n_grid = 16
    samples = max(1, round(args.points / (len(bits) ** 2 * n_grid)))
    spec = parse_spec(
        {
            "name": "bench",
            "seed": 0,
            "workloads": [args.workload],
            "hardware": [
                {
                    "base": args.hardware,
                    "grid": grid,
                    "random": {
                        "samples": samples,
                        "frequency_hz": {"low": 2e8, "high": 1.5e9, "log": True},
                        "dram_bytes_per_s": {"low": 2e9, "high": 1.5e12, "log": True},
                    },
                }
            ],
            "policies": {"w_bits": bits, "a_bits": bits},
        }
    )
    out = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        # Warm up Numba and the workload extraction outside the timed run.
        warm = parse_spec(
            {
                **spec.source,
                "hardware": [{"base": args.hardware}],
                "policies": {"w_bits": [4], "a_bits": [4]},
            }
        )
        run_sweep(warm, out / "warm")
        before = _cpu_seconds()
        base_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        summary = run_sweep(spec, out / "run", jobs=args.jobs)
        fast_s = time.perf_counter() - t0
        # CPU seconds (all threads, and worker processes with --jobs) tell a busy machine's
        # numbers apart from an idle one's.
        cpu_s = _cpu_seconds() - before
        worker_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        df = load_results(out / "run")
        assert len(df) == summary.written and df["point_hash"].is_unique

        # Naive baseline: one hwsim.simulate per point, on an evenly spread subset.
        wl = spec.workloads[0].load()
        pick = np.linspace(0, len(df) - 1, args.baseline_points).astype(int)
        rows = df.iloc[pick]
        t0 = time.perf_counter()
        for row in rows.itertuples(index=False):
            hw = spec.hardware.config(int(row.hw_index))
            policy = hwsim.BitPolicy({n: (row.w_bits, row.a_bits) for n in wl.layer_names})
            lat = hwsim.simulate(wl, policy, hw).totals["latency_s"]
            assert np.isclose(lat, row.latency_s, rtol=1e-9)
        naive_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(out, ignore_errors=True)

    fast_pps = summary.written / fast_s
    naive_pps = args.baseline_points / naive_s
    figures = {
        "hardware": args.hardware,
        "workload": args.workload,
        "jobs": args.jobs,
        "points": summary.written,
        "layer_rows": summary.layer_rows,
        "seconds": round(fast_s, 2),
        "cpu_seconds": round(cpu_s, 2),
        "points_per_s": round(fast_pps),
        "layer_rows_per_s": round(summary.layer_rows / fast_s),
        "peak_rss_mib": round(peak_mib),
        "peak_rss_before_sweep_mib": round(base_mib),
        "peak_rss_worker_mib": round(worker_mib),  # torch, the model, Numba: not the sweep
        "naive_points_per_s": round(naive_pps, 1),
        "speedup_vs_naive": round(fast_pps / naive_pps, 1),
        "target_seconds": 60,
        # Busy machines stretch the wall clock: cpu_seconds is the figure to compare then.
        **provenance(load_before),
    }
    for k, v in figures.items():
        print(f"{k:>20}: {v}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(figures))
        w.writeheader()
        w.writerow(figures)


def _cpu_seconds() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def run_examples() -> None:
    """Run each example spec once and save the plot of its first two objectives as
    results/sweep_<name>[_<workload>].png, one per workload, as ``hwsim pareto`` draws it."""
    from importlib import resources

    from sweeps.pareto import pareto_fronts
    from sweeps.plots import plot_front
    from sweeps.spec import load_spec

    examples = sorted(
        p
        for p in resources.files("sweeps").joinpath("examples").iterdir()
        if p.name.endswith(".toml")
    )
    for path in examples:
        spec = load_spec(path)
        if spec.train:
            continue  # training examples take minutes per point
        out = Path(tempfile.mkdtemp(prefix=f"sweep_{spec.name}_"))
        try:
            summary = run_sweep(spec, out)
            df = load_results(out)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        ok = df[df["status"] == "ok"]
        x, y = list(spec.objectives)[:2]
        senses = (spec.objectives[x], spec.objectives[y])
        for wl, part in ok.groupby("workload"):
            suffix = f"_{wl}" if ok["workload"].nunique() > 1 else ""
            png = RESULTS.parent / f"sweep_{spec.name}{suffix}.png"
            plot_front(part, x, y, png, senses=senses)
            front = pareto_fronts(part, {x: senses[0], y: senses[1]}, by=None)
            print(
                f"{spec.name}/{wl}: {len(part)} ok points ({summary.failed} failed in the sweep, "
                f"{summary.seconds:.1f} s), {len(front)} designs on the {x} / {y} front -> {png}"
            )
            cols = ["policy", "hw_name", x, y, "ties"]
            print(front[[c for c in cols if c in front]].head(12).to_string(index=False))


if __name__ == "__main__":
    main()
