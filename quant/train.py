"""A small, deterministic training loop shared by every quantization method.

Training and evaluation run where the model is: move the model to a device (see
:func:`quant.runtime.resolve_device`) and every batch follows it; the data loaders stay on the CPU.

Hooks let a method shape training without its own loop: ``regularizer(model)`` is added to the
task loss, ``after_step(model)`` runs after each optimizer step (clamping bits, snapping
weights), ``after_epoch(model, epoch)`` runs after each epoch and returns True when parameters
changed shape and the optimizer must be rebuilt (BSQ's re-quantization).
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from hwsim.errors import HwsimError, check
from models.data import loader
from quant.runtime import default_torch_threads, model_device, resolve_device  # noqa: F401

OptimizerSpec = str | Callable[[nn.Module], torch.optim.Optimizer]
OPTIMIZERS = ("adam", "sgd")


def set_seed(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 - seeds code that uses the global RNG
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic(threads: int | None = 0) -> Iterator[None]:
    """Deterministic torch kernels inside the block (restoring the previous settings).

    ``threads`` caps torch's intra-op threads (``0``: :func:`quant.runtime.default_torch_threads`,
    one unless set; ``None``: left as it is): the digits networks are so small that thread
    synchronisation costs more than it saves, badly so on a shared CPU (one thread was ~30x
    faster than two per step on the 2-core machine under load).
    """
    if threads == 0:
        threads = default_torch_threads()
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    n_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)
        torch.set_num_threads(n_threads)


def make_optimizer(
    model: nn.Module, optimizer: OptimizerSpec, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """``"adam"``, ``"sgd"`` (momentum 0.9) or a factory ``f(model) -> Optimizer``."""
    if callable(optimizer):
        return optimizer(model)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise HwsimError("optimizer", optimizer, f"must be one of {OPTIMIZERS} or a factory")


def train(
    model: nn.Module,
    data: Any,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    optimizer: OptimizerSpec = "adam",
    weight_decay: float = 0.0,
    regularizer: Callable[[nn.Module], Tensor] | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
    after_epoch: Callable[[nn.Module, int], bool | None] | None = None,
    progress: bool | None = None,
    steps: int | None = None,
    workers: int = 0,
) -> list[float]:
    """Train ``model`` in place, on its device, on ``data``'s training split (augmented where
    the dataset has an augmentation) with cross entropy.

    ``steps``, if given, replaces ``epochs``: training stops after that many optimizer steps
    (the last epoch may be partial). ``workers`` loads batches in that many processes.
    Returns the mean loss (task loss plus regularizer) of each epoch. The same seed gives the
    same weights on one device: the shuffling has its own seeded generator and torch runs
    deterministic kernels. ``progress=None`` shows a tqdm bar only on a terminal.
    """
    check(isinstance(epochs, int) and epochs >= 0, "epochs", epochs, "must be an integer >= 0")
    check(
        steps is None or (isinstance(steps, int) and steps >= 0),
        "steps",
        steps,
        "must be an integer >= 0 (or None for whole epochs)",
    )
    check(lr > 0, "lr", lr, "must be > 0")
    set_seed(seed)
    batches = loader(data, "train", batch_size=batch_size, seed=seed, workers=workers)
    if steps is not None:
        epochs = math.ceil(steps / max(len(batches), 1))
    device = model_device(model)
    losses: list[float] = []
    done = 0
    with deterministic():
        opt = make_optimizer(model, optimizer, lr, weight_decay)
        bar = tqdm(
            range(epochs),
            desc="train",
            disable=None if progress is None else not progress,
            leave=False,
        )
        for epoch in bar:
            model.train()
            total, count = 0.0, 0
            for xb, yb in batches:
                if steps is not None and done >= steps:
                    break
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xb), yb)
                if regularizer is not None:
                    loss = loss + regularizer(model)
                loss.backward()
                opt.step()
                if after_step is not None:
                    after_step(model)
                total += float(loss.detach()) * len(xb)
                count += len(xb)
                done += 1
            losses.append(total / max(count, 1))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
            if after_epoch is not None and after_epoch(model, epoch):
                opt = make_optimizer(model, optimizer, lr, weight_decay)
    model.eval()
    return losses


@contextlib.contextmanager
def _inference(model: nn.Module) -> Iterator[torch.device]:
    """Eval mode and deterministic kernels inside the block; yields the model's device."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), deterministic():
            yield model_device(model)
    finally:
        model.train(was_training)


def predict_logits(model: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """Logits of ``model`` (in eval mode, on its device) on ``x``, computed in batches and
    returned on the CPU."""
    with _inference(model) as device:
        out = [model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def evaluate(
    model: nn.Module, data: Any, split: str = "test", *, batch_size: int = 1024, workers: int = 0
) -> float:
    """Top-1 accuracy of ``model`` (on its device) on ``data``'s ``split``, unaugmented."""
    batches = loader(data, split, batch_size=batch_size, augment=False, workers=workers)
    if len(batches.dataset) == 0:
        raise HwsimError(f"data.y_{split}", 0, "is empty")
    correct = 0
    with _inference(model) as device:
        for xb, yb in batches:
            correct += int((model(xb.to(device)).argmax(dim=1).cpu() == yb).sum())
    return correct / len(batches.dataset)
