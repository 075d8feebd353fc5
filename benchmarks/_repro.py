"""Shared plumbing of the digits reproductions: seeds, the float start point, result tables."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path

import torch

from hwsim.io import atomic_write_text
from hwsim.policy import bits_label

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = (0, 1, 2)
MODEL = "mlp_digits"


def device() -> torch.device:
    """The ``--device auto | cpu | cuda[:N]`` every reproduction script takes (auto: CUDA
    when there is one): where the float model, and so every method on it, runs."""
    from quant.train import resolve_device

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--device", default="auto")
    return resolve_device(parser.parse_known_args()[0].device)


def setup(seed: int):
    """``(data, float model, workload)`` of one seed: its data split and its cached baseline,
    on :func:`device`."""
    from models import extract_workload
    from models.data import load_dataset
    from quant.baseline import pretrained

    torch.set_num_threads(1)  # the machine is shared; one thread per run is the fair unit
    data = load_dataset("digits", seed=seed)
    fp = pretrained(MODEL, seed=seed, device=device())
    return data, fp, extract_workload(fp, data.x_train[:1].to(device()))


def mean_spread(values: Sequence[float], scale: float = 100.0, digits: int = 1) -> str:
    """``mean ± sample std`` (times ``scale``) of several seeds."""
    v = [x * scale for x in values]
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{statistics.mean(v):.{digits}f} ± {sd:.{digits}f}"


def bits_text(policies: Sequence) -> str:
    """Per-layer bits of each seed (``fc1:w4a8``), ``/``-separated when seeds differ."""
    names = list(policies[0].bits)
    cells = []
    for n in names:
        seen = []
        for p in policies:
            if p.bits[n] not in seen:
                seen.append(p.bits[n])
        cells.append(f"{n}:" + "/".join(bits_label(w, a) for w, a in seen))
    return " ".join(cells)


def write(name: str, text: str) -> Path:
    from _provenance import provenance_line

    text = text.rstrip("\n") + "\n\n" + provenance_line() + "\n"
    path = atomic_write_text(RESULTS / f"{name}.md", text)
    print(text)
    print(f"wrote {path}")
    return path
