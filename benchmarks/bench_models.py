"""Models: digits training speed and extract_workload speed.

- One training epoch (SGD, batch 64) of ``mlp_digits`` and ``resnet_digits`` on the digits
  train split; the target is "well under a second", so the ratio is 1 s / epoch time.
- ``extract_workload`` of ImageNet networks with shape-only (meta) tensors against the same
  call on real CPU tensors, which also does the arithmetic: the ratio is the speedup.

    python benchmarks/bench_models.py [--epochs 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import torch

from models import build, example_input, extract_workload
from models.data import load_digits

RESULTS = Path(__file__).parent / "results" / "models.csv"


def epoch_seconds(name: str, epochs: int) -> float:
    data = load_digits()
    torch.manual_seed(0)
    model = build(name)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    times = []
    for _ in range(epochs + 1):  # the first epoch warms up allocators and kernels
        start = time.perf_counter()
        perm = torch.randperm(len(data.x_train))
        for i in range(0, len(perm), 64):
            idx = perm[i : i + 64]
            loss = torch.nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def extract_seconds(name: str, device: str) -> float:
    with torch.device(device):
        model, x = build(name), example_input(name)
    extract_workload(model, x)  # warm-up: lazy imports, first-call kernels
    start = time.perf_counter()
    extract_workload(model, x)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    for name in ("mlp_digits", "resnet_digits"):
        t = epoch_seconds(name, args.epochs)
        rows.append(
            {
                "name": name,
                "metric": "digits_epoch_s",
                "value": t,
                "baseline": 1.0,
                "ratio": 1.0 / t,
            }
        )
    for name in ("resnet18", "mobilenet_v2"):
        meta, cpu = extract_seconds(name, "meta"), extract_seconds(name, "cpu")
        rows.append(
            {
                "name": name,
                "metric": "extract_meta_s",
                "value": meta,
                "baseline": cpu,
                "ratio": cpu / meta,
            }
        )

    for r in rows:
        print(
            f"{r['name']:>14} {r['metric']:>15} {r['value']:9.4f} s   baseline "
            f"{r['baseline']:8.4f} s   ratio {r['ratio']:7.1f}x"
        )
    from _provenance import provenance

    prov = provenance()
    rows = [{**r, **prov} for r in rows]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
