"""Codesign at CIFAR scale: ``hwsim codesign --model resnet20 --data cifar10:DIR`` end to end.

Writes a CIFAR-10-format folder of synthetic images (the real pickled batches' layout: uint8
``N x 3072`` channel-major rows, ``b"labels"``; each class a smooth random colour pattern plus
noise, so the network has something to learn), then times the CLI on it in a fresh process
with an empty baseline cache, so the float baseline is trained inside the timed run.

- CPU target (default): 1,200 images (1,000 train in 5 batches, 200 test), ``--epochs 1
  --baseline-epochs 1``, under 3 minutes on 2 cores.
- GPU target (``--gpu``): 50,000 train + 10,000 test images, ``--baseline-epochs 30
  --epochs 5 --device cuda``, under 15 minutes end to end.

The ratio printed is the target over the measured time (above 1: met). So that a loaded machine
can be told from a slow program, the run also times one float ResNet-20 training epoch on the
same folder in the same process (``unit_s``) and reports the codesign run in those units.

    python benchmarks/bench_codesign_cifar.py [--gpu] [--keep DIR] [--extra ARGS...]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CPU = {"train": 1000, "test": 200, "epochs": 1, "baseline_epochs": 1, "target_s": 180.0}
GPU = {"train": 50000, "test": 10000, "epochs": 5, "baseline_epochs": 30, "target_s": 900.0}


def write_cifar_folder(folder: str | Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """A CIFAR-10 python-format folder (``data_batch_1..5``, ``test_batch``) of synthetic
    images: class ``c``'s images are its own 4x4 colour pattern, upsampled to 32x32, plus
    Gaussian noise, as uint8."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(40, 215, (10, 3, 4, 4))
    patterns = patterns.repeat(8, axis=2).repeat(8, axis=3)  # 4x4 -> 32x32 blocks

    def images(n: int) -> tuple[np.ndarray, list[int]]:
        labels = rng.integers(0, 10, n)
        x = patterns[labels] + rng.normal(0, 40, (n, 3, 32, 32))
        return np.clip(x, 0, 255).astype(np.uint8).reshape(n, 3072), [int(v) for v in labels]

    per_batch = [n_train // 5 + (i < n_train % 5) for i in range(5)]
    for i, n in enumerate(per_batch, start=1):
        _write_batch(folder / f"data_batch_{i}", f"training batch {i} of 5", *images(n))
    _write_batch(folder / "test_batch", "testing batch 1 of 1", *images(n_test))
    return folder


def _write_batch(path: Path, label: str, data: np.ndarray, labels: list[int]) -> None:
    batch = {
        b"batch_label": label.encode(),
        b"labels": labels,
        b"data": data,
        b"filenames": [f"synthetic_{i}.png".encode() for i in range(len(labels))],
    }
    with path.open("wb") as f:
        pickle.dump(batch, f, protocol=2)  # the protocol the real batches were written with


def unit_epoch_seconds(folder: Path, device: str) -> float:
    """One float ResNet-20 training epoch on ``folder`` (the load-independent yardstick)."""
    import torch

    import models
    from models.data import load_dataset
    from quant.train import resolve_device, train

    data = load_dataset(f"cifar10:{folder}")
    torch.manual_seed(0)
    model = models.build("resnet20").to(resolve_device(device))
    start = time.perf_counter()
    train(model, data, epochs=1, progress=False)
    return time.perf_counter() - start


def codesign_seconds(
    folder: Path, sizes: dict, device: str, out: Path, extra: list[str]
) -> tuple[float, float, list[str]]:
    """Wall and CPU time (user + system) of the CLI in a fresh process with an empty baseline
    cache, and its stage log lines (echoed as they come): where the time went."""
    cmd = [
        sys.executable,
        "-m",
        "sweeps.cli",
        "codesign",
        "--model",
        "resnet20",
        "--data",
        f"cifar10:{folder}",
        "--epochs",
        str(sizes["epochs"]),
        "--baseline-epochs",
        str(sizes["baseline_epochs"]),
        "--device",
        device,
        "--out",
        str(out),
        *extra,
    ]
    env = dict(os.environ, HWSIM_CACHE=str(out.parent / "cache"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    stages = []
    with subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True) as proc:
        for line in proc.stderr:
            sys.stderr.write(line)
            if "] codesign: " in line:
                stages.append(line.rstrip())
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, stages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--gpu", action="store_true", help="the GPU target (50,000 images, CUDA)")
    ap.add_argument("--keep", default=None, help="work folder to keep (default: a temp folder)")
    ap.add_argument(
        "--tag", default="", help="suffix of the results file (a run with --extra arguments)"
    )
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more codesign args")
    args = ap.parse_args()
    sizes, device = (GPU, "cuda") if args.gpu else (CPU, "cpu")
    from _provenance import provenance

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        folder = write_cifar_folder(work / "cifar", sizes["train"], sizes["test"])
        load_before = os.getloadavg()
        unit = unit_epoch_seconds(folder, device)
        wall, cpu, stages = codesign_seconds(folder, sizes, device, work / "run", list(args.extra))
        load_after = os.getloadavg()
        results = (work / "run" / "results.csv").read_text()
    gpu_name = None
    if args.gpu:
        import torch

        gpu_name = torch.cuda.get_device_name()
    record = {
        "target": "gpu" if args.gpu else "cpu",
        "command": f"hwsim codesign --model resnet20 --data cifar10:DIR --epochs "
        f"{sizes['epochs']} --baseline-epochs {sizes['baseline_epochs']} --device {device} "
        + " ".join(args.extra),
        "images": sizes["train"] + sizes["test"],
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "target_s": sizes["target_s"],
        "ratio_target_over_wall": round(sizes["target_s"] / wall, 3),
        "unit_epoch_s": round(unit, 2),
        "wall_in_float_epochs": round(wall / unit, 1),
        "loadavg_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "machine": platform.processor() or platform.machine(),
        "gpu": gpu_name,
        **provenance(load_before[0]),
        "stage_log": stages,
        "results_csv": results,
    }
    path = RESULTS / f"codesign_cifar_{record['target']}{'_' + args.tag if args.tag else ''}.json"
    from hwsim.io import atomic_write_text

    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    print(
        f"{record['command']}: {wall:.1f} s, {cpu:.1f} s CPU "
        f"(target {sizes['target_s']:.0f} s, ratio "
        f"{record['ratio_target_over_wall']:.2f}); one float epoch {unit:.1f} s, so the run is "
        f"{record['wall_in_float_epochs']} float epochs; load {record['loadavg_1min_before_after']}"
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
