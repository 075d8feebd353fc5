"""Full-precision baselines: the user's own checkpoint, or trained once per (model, dataset,
seed, epochs) and cached.

Every quantization method starts from the same float checkpoint, so comparisons between
methods are not comparisons between lucky initialisations. The cache lives in
``$HWSIM_CACHE`` (default ``~/.cache/hwsim``) under ``baselines/``; files are written
atomically and keyed by the package version, so a new release retrains.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

import hwsim
from hwsim.errors import HwsimError, check
from hwsim.io import atomic_write_bytes
from quant.train import evaluate, train

DEFAULT_EPOCHS = 40
"""Epochs of a baseline when the caller gives none (digits: a few seconds per model)."""
LOG_EVERY_S = 30.0


def cache_dir() -> Path:
    """Where baselines are cached: ``$HWSIM_CACHE/baselines``."""
    root = os.environ.get("HWSIM_CACHE") or Path.home() / ".cache" / "hwsim"
    return Path(root) / "baselines"


def cache_path(model_name: str, data: str, seed: int, epochs: int) -> Path:
    # A folder spec ("cifar10:/data/x") is not a file name: keep its kind, hash the rest.
    slug = data
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", data):
        kind = re.sub(r"[^A-Za-z0-9_.-]+", "_", data.partition(":")[0])
        slug = f"{kind}-{hashlib.sha1(data.encode()).hexdigest()[:12]}"
    return cache_dir() / f"{model_name}-{slug}-seed{seed}-ep{epochs}-v{hwsim.__version__}.pt"


def load_data(data: str, seed: int = 0, input_shape: Sequence[int] | None = None):
    """The dataset ``data`` from ``models.data`` (imported lazily)."""
    from models.data import load_dataset

    return load_dataset(data, seed=seed, input_shape=input_shape)


def pretrained(
    model_name: str,
    data: str = "digits",
    seed: int = 0,
    epochs: int | None = None,
    *,
    dataset: Any = None,
    device: torch.device | str | None = None,
    workers: int = 0,
    log: Callable[[str], None] | None = None,
) -> nn.Module:
    """The float baseline of zoo model ``model_name`` trained on ``data`` (cached, eval mode,
    on ``device``: the CPU by default). ``dataset`` is ``data`` already loaded, if the caller
    has it; the model gets its class count. ``log``, if given, gets a line when training
    starts and then, at most every :data:`LOG_EVERY_S` seconds, the epochs done and an
    estimate of the time left (so a long baseline is not silent)."""
    import models

    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    check(isinstance(epochs, int) and epochs >= 1, "epochs", epochs, "must be an integer >= 1")
    device = torch.device("cpu") if device is None else torch.device(device)
    model = models.build(model_name, **_classes(dataset))
    path = cache_path(model_name, data, seed, epochs)
    if path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
            return model.to(device).eval()
        except (RuntimeError, OSError, EOFError, KeyError, pickle.UnpicklingError):
            pass  # a damaged or stale file: retrain and overwrite it
    dataset = load_data(data, seed) if dataset is None else dataset
    torch.manual_seed(seed)
    model = models.build(model_name, **_classes(dataset)).to(device)
    after_epoch = None
    if log is not None:
        log(f"training the float baseline: {epochs} epoch(s) on {device}")
        after_epoch = _epoch_logger(log, epochs)
    train(
        model, dataset, epochs=epochs, lr=1e-3, seed=seed, workers=workers, after_epoch=after_epoch
    )
    buffer = io.BytesIO()
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return model.eval()


def _epoch_logger(log: Callable[[str], None], epochs: int) -> Callable[[nn.Module, int], bool]:
    """An ``after_epoch`` hook that logs progress at most every :data:`LOG_EVERY_S` s."""
    began = last = time.perf_counter()

    def after_epoch(model: nn.Module, epoch: int) -> bool:
        nonlocal last
        now, done = time.perf_counter(), epoch + 1
        if now - last >= LOG_EVERY_S and done < epochs:
            left = (now - began) / done * (epochs - done)
            log(f"float baseline: {done}/{epochs} epochs, about {left:.0f} s left")
            last = now
        return False  # the parameters keep their shapes: the optimizer stays

    return after_epoch


def _classes(dataset: Any) -> dict[str, int]:
    """The class count to build a zoo model with: the dataset's, where it says."""
    n = getattr(dataset, "num_classes", None)
    return {} if n is None else {"num_classes": n}


# Where training scripts commonly nest the weights inside a saved dict.
_STATE_KEYS = ("state_dict", "model_state_dict", "model", "net")


def load_checkpoint(path: str | Path, model_name: str, num_classes: int | None = None) -> nn.Module:
    """The user's float baseline from ``path`` (in eval mode, on the CPU): a ``state_dict`` for
    zoo model ``model_name`` (also nested under ``"state_dict"``/``"model"``..., with
    ``DataParallel``'s ``module.`` prefix or not), or a whole saved ``nn.Module``.

    A state dict is read with ``weights_only`` (no code runs). A whole module can only be
    unpickled, which runs code from the file: load only checkpoints you trust."""
    import models

    path = Path(path)
    check(path.is_file(), "checkpoint", str(path), "no such file")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise HwsimError("checkpoint", str(path), f"cannot be loaded: {exc}") from exc
    except (RuntimeError, OSError, EOFError) as exc:
        raise HwsimError("checkpoint", str(path), f"not a torch checkpoint: {exc}") from exc
    if isinstance(loaded, nn.Module):
        return loaded.cpu().float().eval()
    state = _state_dict(loaded, path)
    classes = {} if num_classes is None else {"num_classes": num_classes}
    model = models.build(model_name, **classes)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    check(
        not missing and not unexpected,
        "checkpoint",
        str(path),
        f"does not fit zoo model {model_name!r}: missing {missing[:5]}"
        f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
        f"{'...' if len(unexpected) > 5 else ''}",
    )
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if tuple(state[k].shape) != tuple(v.shape)
    ]
    check(
        not wrong,
        "checkpoint",
        str(path),
        f"shapes differ from zoo model {model_name!r}"
        f"{f' with {num_classes} classes' if num_classes else ''}: {wrong[:3]}",
    )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    return model.eval()


def _state_dict(loaded: Any, path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a saved state dict, unwrapped from a training script's dict."""
    for key in _STATE_KEYS:
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
            break
    check(
        isinstance(loaded, Mapping)
        and len(loaded) > 0
        and all(isinstance(v, torch.Tensor) for v in loaded.values()),
        "checkpoint",
        str(path),
        f"expected a state_dict (names to tensors) or an nn.Module, got {type(loaded).__name__}",
    )
    if all(k.startswith("module.") for k in loaded):
        loaded = {k.removeprefix("module."): v for k, v in loaded.items()}
    return dict(loaded)


def baseline_accuracy(
    model_name: str, data: str = "digits", seed: int = 0, epochs: int | None = None
) -> float:
    """Test accuracy of the cached baseline."""
    return evaluate(pretrained(model_name, data, seed, epochs), load_data(data, seed))
