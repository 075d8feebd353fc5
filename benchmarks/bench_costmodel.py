"""Throughput of the cost models: ``cost_table`` points per second.

A point is one (layer, w bits, a bits, hardware config). The workload is several zoo networks
stacked; the hardware is a set of skeleton configs (DaDN, Stripes, Loom, Pragmatic, BISMO with
varied buffers and bandwidth); the bits are the full 16 x 16 grid. Without statistics every
one of them is closed form (the data-dependent ones fall back to their stated defaults). The
baseline is a plain-Python implementation of the same formulas
(``hwsim/reference/skeleton.py``, closed-form pipeline) timed in the same run on a
random subset of the points. Target: 2e7 points/s and 1000x plain Python.

The data-dependent families (ShapeShifter, Dynamic Stripes, Loom with dynamic precision,
Pragmatic, Laconic) are timed apart, with statistics measured on real codes: the two trained
digits networks of the DNNsim suite, stacked 15 times (210 layers, about the zoo's 216) with
their measured ``LayerStats`` through ``BitPolicy.with_stats``. Reported, no target. Each
family is also timed alone (its rows ``cost_table <family>``).

The ratio to plain Python is given per wall second (``ratio_vs_python``: the Numba kernels
run on every thread Numba has, the Python baseline on one) and per CPU-second
(``cpu_ratio_vs_python``: the same work per unit of processor time, threads counted).

A last set of rows (``cost_table resnet50 <preset>``) times one preset at a time on
ResNet-50 (54 layers) x 16 x 16 bit options, one config: the size of one search's table.

Run: ``python benchmarks/bench_costmodel.py [--quick]``; writes
``benchmarks/results/costmodel.csv`` (with the commit and the load average of the run).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _provenance import stamp

ROOT = Path(__file__).resolve().parents[1]

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


CLOSED_FORM = ("dadiannao", "stripes", "loom", "pragmatic", "bismo")
DATA_DEPENDENT = ("shapeshifter", "dynamic-stripes", "loom", "pragmatic", "laconic")


def build_configs(n_variants: int, names=CLOSED_FORM):
    from hwsim.hardware import load_hardware

    configs = []
    for i in range(n_variants):
        scale = 2.0 ** (i % 6 - 3)
        for name in names:
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


def measured_digits(copies: int = 15):
    """The DNNsim suite's two trained digits networks, ``copies`` times, with the statistics
    measured from their codes (``layer_stats(..., conv=...)``)."""
    from hwsim import BitPolicy, Workload
    from hwsim.reference import dnnsim as ref

    parts, bits, stats = [], {}, {}
    for c in range(copies):
        for net in ref.NETWORKS:
            wl = ref.network(net)[0]
            policy = ref.policy_for(net)
            part = Workload(name=f"{net}{c}", layer_names=wl.layer_names, columns=wl.columns)
            parts.append(part)
            for layer in wl.layer_names:
                bits[f"{part.name}/{layer}"] = policy.bits[layer]
                stats[f"{part.name}/{layer}"] = policy.stats[layer]
    return Workload.concat("digits", parts), BitPolicy(bits).with_stats(stats)


WALL_AND_CPU = (time.perf_counter, time.process_time)
"""What each timing reports: wall seconds, and CPU seconds of this process (its best each)."""


def family_rows(label, workload, configs, bits, policy=None) -> list[dict]:
    """One row per preset family in ``configs`` (each timed alone), then all together."""
    from hwsim.hardware import cost_table
    from hwsim.timing import best_times

    groups: dict[str, list] = {}
    for c in configs:
        groups.setdefault(c.name.rsplit("-", 1)[0], []).append(c)
    rows = []
    for name, group in [*groups.items(), ("all", configs)]:
        cost_table(workload, group[:1], bits, bits, policy=policy)  # compile, warm
        wall, cpu = best_times(
            lambda g=group: cost_table(workload, g, bits, bits, policy=policy), 3, WALL_AND_CPU
        )
        n = len(workload) * len(bits) ** 2 * len(group)
        rows.append(
            {
                "what": f"cost_table {label} {name}",
                "points": n,
                "seconds": wall,
                "points_per_s": n / wall,
                "points_per_cpu_s": n / cpu,
                "layers": len(workload),
                "configs": len(group),
            }
        )
    return rows


RESNET50_PRESETS = ("stripes", "loom", "bismo", "dadiannao", "pragmatic", "cpu-bitserial")


def resnet50_rows(bits) -> list[dict]:
    """``cost_table`` of ResNet-50 at every (w, a) option on one preset at a time."""
    from hwsim.hardware import cost_table, load_hardware
    from hwsim.timing import best_times

    wl = build_workload(("resnet50",))
    rows = []
    for name in RESNET50_PRESETS:
        hw = load_hardware(name)
        cost_table(wl, hw, bits, bits)  # compile, warm
        wall, cpu = best_times(lambda hw=hw: cost_table(wl, hw, bits, bits), 20, WALL_AND_CPU)
        n = len(wl) * len(bits) ** 2
        rows.append(
            {
                "what": f"cost_table resnet50 {name}",
                "points": n,
                "seconds": wall,
                "points_per_s": n / wall,
                "points_per_cpu_s": n / cpu,
                "layers": len(wl),
                "configs": 1,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/costmodel.csv")
    args = parser.parse_args()

    from hwsim.hardware import cost_table
    from hwsim.hardware.registry import Points
    from hwsim.hardware.skeleton import run_kernel
    from hwsim.reference.skeleton import layer_dict, point
    from hwsim.timing import best_time, best_times

    load_before = os.getloadavg()[0]
    workload = build_workload()
    configs = build_configs(2 if args.quick else 8)  # closed form: no statistics
    bits = list(range(1, 17))
    n_points = len(workload) * len(bits) ** 2 * len(configs)

    cost_table(workload.select(workload.layer_names[:2]), configs, bits, bits)  # compile
    best_api, cpu_api = best_times(
        lambda: cost_table(workload, configs, bits, bits), 3, WALL_AND_CPU
    )
    table = cost_table(workload, configs, bits, bits)
    # The kernel alone, on the same points (what cost_table adds is building the points).
    layer = np.repeat(np.arange(len(workload), dtype=np.int64), 256)
    wb = np.tile(np.repeat(np.arange(1, 17, dtype=np.int64), 16), len(workload))
    ab = np.tile(np.arange(1, 17, dtype=np.int64), 16 * len(workload))
    pts = Points(workload, layer, wb, ab)
    best_kernel = best_time(
        lambda: run_kernel(configs, pts, with_tiles=False), 3, budget_s=None, warmup=False
    )

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
    for r in rows:
        r.update(layers=len(workload), configs=len(configs))
    n_variants = 2 if args.quick else 8
    rows += family_rows("closed-form", workload, configs, bits)
    digits, measured = measured_digits()
    dd_configs = build_configs(n_variants, DATA_DEPENDENT)
    rows += family_rows("measured", digits, dd_configs, bits, measured)
    rows += resnet50_rows(bits)
    df = stamp(pd.DataFrame(rows), load_before)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    print(df.to_string(index=False))
    cpu_ratio = (n_points / cpu_api) / (n_ref / cpu_ref)
    print(
        f"cost_table: {rate_api:.3g} points/s (target 2e7), {rate_api / rate_ref:.0f}x plain "
        f"Python (target 1000x); per CPU-second {n_points / cpu_api:.3g} points, "
        f"{cpu_ratio:.0f}x; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus"
    )
    for r in rows[3:]:
        print(
            f"{r['what']}: {r['points_per_s']:.3g} points/s ({r['points_per_cpu_s']:.3g} per CPU-s)"
        )


if __name__ == "__main__":
    main()
