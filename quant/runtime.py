"""Run-time settings of the quantization front end: where tensors live and how many threads
torch uses. How a job runs, never what it computes.

A leaf module: it imports torch and ``hwsim.errors`` only, so every layer of ``quant`` (the
training loop, the quantized model, the methods) can read it without importing each other.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
from torch import nn

from hwsim.errors import HwsimError, check

_torch_threads = 1


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (CUDA when there is one, else the CPU), ``"cpu"``, ``"cuda"`` or
    ``"cuda:N"``, checked against what this machine has."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    if spec is None or spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    check(
        isinstance(spec, str) and (spec == "cpu" or spec.split(":")[0] == "cuda"),
        "device",
        spec,
        "must be 'auto', 'cpu', 'cuda' or 'cuda:N'",
    )
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise HwsimError("device", spec, str(exc)) from None
    if device.type == "cuda":
        check(torch.cuda.is_available(), "device", spec, "CUDA is not available here")
        count = torch.cuda.device_count()
        check(
            device.index is None or device.index < count,
            "device",
            spec,
            f"this machine has {count} CUDA device(s)",
        )
        # cuBLAS is only deterministic with a fixed workspace; it reads this on first use.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return device


def model_device(model: nn.Module) -> torch.device:
    """Where ``model``'s parameters (or buffers) live; the CPU for a model with neither."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def set_torch_threads(threads: int) -> None:
    """The intra-op threads torch's quantization work uses (training, sensitivity, calibration;
    :func:`torch_threads` and :func:`quant.train.deterministic`). One by default: on a shared
    CPU a small network's passes ran up to 30x slower on two threads; on dedicated cores a
    CIFAR-size network gains (ResNet-20, batch 256: 1.6-2x on two quiet cores, measured)."""
    check(
        isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1,
        "threads",
        threads,
        "must be an integer >= 1",
    )
    global _torch_threads
    _torch_threads = threads


def default_torch_threads() -> int:
    """The thread count :func:`set_torch_threads` chose (1 unless set)."""
    return _torch_threads


@contextlib.contextmanager
def torch_threads(threads: int | None = None) -> Iterator[None]:
    """torch's intra-op threads set to ``threads`` (default: :func:`default_torch_threads`)
    inside the block, restored after.

    Set on entry, not once per process: a parallel Numba kernel (every ``hwsim`` cost model)
    shares the OpenMP runtime with torch and leaves it at Numba's thread count, and torch's
    elementwise ops then ran 12x slower on the shared 2-core machine (measured: ``mse_scale``
    and conv2d after ``hardware_costs``).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads or _torch_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
