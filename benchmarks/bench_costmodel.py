"""Throughput of the closed-form cost models: ``cost_table`` points per second.

A point is one (layer, w bits, a bits, hardware config). The workload is several zoo networks
stacked; the hardware is a set of skeleton configs (DaDN, Stripes, Loom, Pragmatic, BISMO with
varied buffers and bandwidth); the bits are the full 16 x 16 grid. The baseline is a
plain-Python implementation of the same formulas (``tests/hwsim/hardware/skeleton_ref.py``,
closed-form pipeline) timed in the same run on a random subset of the points.

Run: ``python benchmarks/bench_costmodel.py [--quick]``; writes
``benchmarks/results/costmodel.csv``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NETS = (
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "resnet20",
    "mobilenet_v2_cifar",
    "resnet_digits",
    "mlp_digits",
)


def build_workload(nets=NETS):
    import torch

    import models
    from hwsim import Workload

    parts = []
    for name in nets:
        with torch.device("meta"):
            net = models.build(name)
        x = models.example_input(name, 1).to("meta")
        parts.append(models.extract_workload(net, x, name=name))
    return Workload.concat("zoo", parts)


def build_configs(n_variants: int):
    from hwsim.hardware import load_hardware

    configs = []
    for i in range(n_variants):
        scale = 2.0 ** (i % 6 - 3)
        for name in ("dadiannao", "stripes", "loom", "pragmatic", "bismo"):
            base = load_hardware(name)
            configs.append(
                base.replace(
                    name=f"{name}-{i}",
                    weight_buffer_bytes=base.weight_buffer_bytes * scale,
                    act_buffer_bytes=base.act_buffer_bytes * scale,
                    dram_bytes_per_s=base.dram_bytes_per_s * (1 + i % 3),
                )
            )
    return configs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/costmodel.csv")
    args = parser.parse_args()

    from hwsim.hardware import cost_table
    from hwsim.hardware.registry import Points
    from hwsim.hardware.skeleton import run_kernel
    from tests.hwsim.hardware.skeleton_ref import layer_dict, point

    workload = build_workload()
    configs = build_configs(2 if args.quick else 8)
    bits = list(range(1, 17))
    n_points = len(workload) * len(bits) ** 2 * len(configs)

    cost_table(workload.select(workload.layer_names[:2]), configs, bits, bits)  # compile
    best_api = best_kernel = cpu_api = float("inf")
    for _ in range(3):
        c0, t0 = time.process_time(), time.perf_counter()
        table = cost_table(workload, configs, bits, bits)
        best_api = min(best_api, time.perf_counter() - t0)
        cpu_api = min(cpu_api, time.process_time() - c0)
    # The kernel alone, on the same points (what cost_table adds is building the points).
    layer = np.repeat(np.arange(len(workload), dtype=np.int64), 256)
    wb = np.tile(np.repeat(np.arange(1, 17, dtype=np.int64), 16), len(workload))
    ab = np.tile(np.arange(1, 17, dtype=np.int64), 16 * len(workload))
    pts = Points(workload, layer, wb, ab)
    for _ in range(3):
        t0 = time.perf_counter()
        run_kernel(configs, pts, with_tiles=False)
        best_kernel = min(best_kernel, time.perf_counter() - t0)

    # Plain Python on a random subset of the same points, checked against the table.
    rng = np.random.default_rng(0)
    n_ref = 300 if args.quick else 2000
    picks = [
        (
            int(rng.integers(len(configs))),
            int(rng.integers(len(workload))),
            int(rng.integers(16)),
            int(rng.integers(16)),
        )
        for _ in range(n_ref)
    ]
    layers = [layer_dict(workload, i) for i in range(len(workload))]
    c0, t0 = time.process_time(), time.perf_counter()
    ref = [
        point(configs[h], layers[li], bits[wi], bits[ai], pipeline="closed")["latency_s"]
        for h, li, wi, ai in picks
    ]
    t_ref = time.perf_counter() - t0
    cpu_ref = time.process_time() - c0
    got = [table.metrics["latency_s"][h, li, wi, ai] for h, li, wi, ai in picks]
    np.testing.assert_allclose(got, ref, rtol=1e-9)

    rate_api = n_points / best_api
    rate_kernel = n_points / best_kernel
    rate_ref = n_ref / t_ref
    rows = [
        {
            "what": "cost_table",
            "points": n_points,
            "seconds": best_api,
            "points_per_s": rate_api,
            "ratio_vs_python": rate_api / rate_ref,
            "points_per_cpu_s": n_points / cpu_api,
            "cpu_ratio_vs_python": (n_points / cpu_api) / (n_ref / cpu_ref),
        },
        {
            "what": "skeleton kernel",
            "points": n_points,
            "seconds": best_kernel,
            "points_per_s": rate_kernel,
            "ratio_vs_python": rate_kernel / rate_ref,
        },
        {
            "what": "plain python (same formulas)",
            "points": n_ref,
            "seconds": t_ref,
            "points_per_s": rate_ref,
            "ratio_vs_python": 1.0,
            "points_per_cpu_s": n_ref / cpu_ref,
            "cpu_ratio_vs_python": 1.0,
        },
    ]
    df = pd.DataFrame(rows)
    df["layers"] = len(workload)
    df["configs"] = len(configs)
    df["load_average_1min"] = os.getloadavg()[0]
    df["cpus"] = os.cpu_count()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    print(df.to_string(index=False))
    cpu_ratio = (n_points / cpu_api) / (n_ref / cpu_ref)
    print(
        f"cost_table: {rate_api:.3g} points/s (target 2e7), {rate_api / rate_ref:.0f}x plain "
        f"Python (target 1000x); per CPU-second {n_points / cpu_api:.3g} points, "
        f"{cpu_ratio:.0f}x; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus"
    )


if __name__ == "__main__":
    main()
