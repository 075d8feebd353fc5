"""Full-precision baselines: trained once per (model, dataset, seed, epochs), then cached.

Every quantization method starts from the same float checkpoint, so comparisons between
methods are not comparisons between lucky initialisations. The cache lives in
``$HWSIM_CACHE`` (default ``~/.cache/hwsim``) under ``baselines/``; files are written
atomically and keyed by the package version, so a new release retrains.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import torch
from torch import nn

import hwsim
from hwsim.errors import check
from hwsim.io import atomic_write_bytes
from quant.train import evaluate, train

DEFAULT_EPOCHS = 40
"""Epochs of a baseline when the caller gives none (digits: a few seconds per model)."""


def cache_dir() -> Path:
    """Where baselines are cached: ``$HWSIM_CACHE/baselines``."""
    root = os.environ.get("HWSIM_CACHE") or Path.home() / ".cache" / "hwsim"
    return Path(root) / "baselines"


def cache_path(model_name: str, data: str, seed: int, epochs: int) -> Path:
    return cache_dir() / f"{model_name}-{data}-seed{seed}-ep{epochs}-v{hwsim.__version__}.pt"


def load_data(data: str, seed: int = 0):
    """The dataset ``data`` from ``models.data`` (imported lazily)."""
    from models.data import load_dataset

    return load_dataset(data, seed=seed)


def pretrained(
    model_name: str, data: str = "digits", seed: int = 0, epochs: int | None = None
) -> nn.Module:
    """The float baseline of zoo model ``model_name`` trained on ``data`` (cached, eval mode)."""
    import models

    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    check(isinstance(epochs, int) and epochs >= 1, "epochs", epochs, "must be an integer >= 1")
    model = models.build(model_name)
    path = cache_path(model_name, data, seed, epochs)
    if path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
            return model.eval()
        except (RuntimeError, OSError, EOFError, KeyError, pickle.UnpicklingError):
            pass  # a damaged or stale file: retrain and overwrite it
    dataset = load_data(data, seed)
    torch.manual_seed(seed)
    model = models.build(model_name)
    train(model, dataset, epochs=epochs, lr=1e-3, seed=seed)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return model.eval()


def baseline_accuracy(
    model_name: str, data: str = "digits", seed: int = 0, epochs: int | None = None
) -> float:
    """Test accuracy of the cached baseline."""
    return evaluate(pretrained(model_name, data, seed, epochs), load_data(data, seed))
