"""Bit Fusion exact model: time per (layer, bits) point of ``cost_table`` against the search
done the reference's way in plain Python, measured in the same run.

Workload: the ten Bit Fusion benchmark networks (``models.bitfusion_nets``), every layer at
every (w, a) in {1, 2, 4, 8}^2, on the exact ``bitfusion`` preset. Three figures:

- ``cost_table`` per point, memoization included (what a bitwidth search pays);
- the Numba search per *distinct* point (no memoization: every row searched);
- the plain-Python transcription of the reference search (``tests/hwsim/hardware/
  test_bitfusion_pyref.py``, all 120 orders, dictionaries, one process) per layer on a few
  layers. The public simulator itself (Python 2, a process pool over the 120 orders) cannot
  run here; docs/models.md (section 3) quotes about 2.3 s per layer, not re-measured.

    python benchmarks/bench_bitfusion.py [--python-layers 3]
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np
import torch
from _provenance import provenance

from hwsim import Workload
from hwsim.hardware import _bitfusion_kernel as kern
from hwsim.hardware import cost_table, load_hardware
from hwsim.hardware.bitfusion import layer_rows
from hwsim.hardware.registry import Points
from hwsim.reference import bitfusion as pyref
from hwsim.timing import best_time
from models import build, extract_workload
from models.zoo import entry

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bitfusion.csv"
NETWORKS = (
    "bitfusion_alexnet",
    "bitfusion_alexnet_wrpn",
    "bitfusion_svhn",
    "bitfusion_cifar10",
    "bitfusion_lenet5",
    "bitfusion_vgg7",
    "bitfusion_resnet18",
    "bitfusion_resnet18_wrpn",
    "bitfusion_rnn",
    "bitfusion_lstm",
)
BITS = [1, 2, 4, 8]
REFERENCE_S_PER_LAYER = 2.3  # docs/models.md section 3: the public simulator; not re-measured
PYTHON_LAYERS = [
    ("LeNet-5", "fc1"),
    ("SVHN", "conv4"),
    ("RNN", "matmul"),
    ("CIFAR10", "conv2"),
    ("RESNET-18", "module5/conv5_1_b"),
]


def workloads() -> list[Workload]:
    out = []
    for name in NETWORKS:
        e = entry(name)
        with torch.device("meta"):
            model = build(name)
            x = torch.zeros((e.batch, *e.input_shape))
        out.append(extract_workload(model, x, name))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--python-layers",
        type=int,
        default=3,
        help="layers timed with the plain-Python search (each takes seconds)",
    )
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    hw = load_hardware("bitfusion")
    wl = Workload.concat("bitfusion_benchmarks", workloads())
    cost_table(wl.select(wl.layer_names[:1]), hw, [2], [2])  # compile / load the Numba cache

    n_points = len(wl) * len(BITS) ** 2
    best = best_time(
        lambda: cost_table(wl, hw, BITS, BITS), args.repeat, budget_s=None, warmup=False
    )
    per_point = best / n_points

    # Every distinct (layer shape, bits) row searched, without the memo.
    layer = np.repeat(np.arange(len(wl)), len(BITS) ** 2)
    wb = np.tile(np.repeat(BITS, len(BITS)), len(wl))
    ab = np.tile(BITS, len(wl) * len(BITS))
    pts = Points(wl, layer, wb, ab)
    geo, _ = layer_rows(pts)
    rows = np.unique(
        np.concatenate([geo, ab[:, None], wb[:, None], 0 * ab[:, None]], axis=1), axis=0
    )
    cfgs = np.array([hw._int_row()])
    energies = np.array([hw._energy_row()])
    t_unique = best_time(
        lambda: kern.run_search(rows, cfgs, energies), args.repeat, budget_s=None, warmup=False
    )
    per_unique = t_unique / len(rows)

    # The plain-Python search and the Numba search on the same layers, one at a time.
    py_times, nb_times = [], []
    for network, lname in PYTHON_LAYERS[: args.python_layers]:
        L = pyref.REFERENCE_LAYERS[network][lname]
        t0 = time.perf_counter()
        pyref.search(pyref.BF_E, L)
        py_times.append(time.perf_counter() - t0)
        row = np.array(
            [
                [
                    L["B"],
                    L["O"],
                    L["O"],
                    L["K"],
                    L["K"],
                    L["S"],
                    L["S"],
                    L["IC"],
                    L["OC"],
                    int(L["im2col"]),
                    L["a"],
                    L["w"],
                    0,
                ]
            ]
        )
        t_nb = best_time(
            lambda row=row: kern.run_search(row, cfgs, energies),
            args.repeat,
            budget_s=None,
            warmup=False,
        )
        nb_times.append(t_nb)
    py_layer = float(np.mean(py_times))
    nb_layer = float(np.mean(nb_times))

    figures = [
        ("layers", len(wl), "layers of the ten benchmark networks"),
        ("points", n_points, "(layer, w, a) points in the cost table"),
        ("distinct_points", len(rows), "distinct (shape, bits) rows searched"),
        ("cost_table_s", best, "cost_table over all points, best of repeats"),
        ("ms_per_point", per_point * 1e3, "cost_table time per point (target <= 2.3 ms)"),
        ("ms_per_distinct_point", per_unique * 1e3, "Numba search per distinct row, no memo"),
        (
            "python_s_per_layer",
            py_layer,
            f"plain-Python transcription, mean of {len(py_times)} layers",
        ),
        ("numba_ms_per_layer_same", nb_layer * 1e3, "Numba search on those same layers, serial"),
        ("speedup_vs_python_same_layers", py_layer / nb_layer, "measured in this run"),
        ("reference_s_per_layer", REFERENCE_S_PER_LAYER, "docs/models.md figure, not re-measured"),
        (
            "speedup_vs_reference_per_point",
            REFERENCE_S_PER_LAYER / per_point,
            "2.3 s per layer / cost_table time per point",
        ),
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["metric", "value", "note"])
        for key, value, note in figures:
            out.writerow([key, f"{value:.6g}", note])
        for key, value in provenance(load_before).items():
            out.writerow([key, value, "the run"])
    for key, value, note in figures:
        print(f"{key:32s} {value:14.6g}  {note}")


if __name__ == "__main__":
    main()
