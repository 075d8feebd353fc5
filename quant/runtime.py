"""Run-time settings of the quantization front end: where tensors live, how many threads
torch uses, how many processes load batches and scan sensitivities. How a job runs, never what
it computes; :class:`Runtime` holds them as one value.

A leaf module: it imports torch, ``hwsim.errors`` and ``quant.options`` only, so every layer of
``quant`` (the training loop, the quantized model, the methods) can read it without importing
each other.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hwsim.errors import HwsimError, check
from quant.options import option

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


RUNTIME_PARAMS: dict[str, str] = {
    "device": "device",
    "threads": "threads",
    "workers": "loader_workers",
    "processes": "scan_processes",
}
"""The user's names of the run-time settings (``hwsim codesign``'s ``--device``, ``--threads``,
``--workers``, ``--processes``; the same keys of a sweep's ``[[train]]`` params) and the
:class:`Runtime` field each sets. Errors name the user's."""


@dataclass(frozen=True)
class Runtime:
    """How a job runs, never what it computes: the same results come out of any of them.

    ``device`` runs training, sensitivity and fine-tuning (``auto``: CUDA when there is one,
    :func:`resolve_device`); ``threads`` is torch's intra-op threads for the CPU work (one by
    default, the fastest on a shared machine; the cores on a dedicated one);
    ``loader_workers`` loads batches in that many DataLoader worker processes (0: in the main
    process); ``scan_processes`` splits the loss sensitivity's layers over that many worker
    processes (``None``: the cores, when the scan is long enough to pay; the table is the same
    bit for bit)."""

    device: str = option(
        "auto",
        help="auto | cpu | cuda | cuda:N: where training, sensitivity and fine-tuning run; "
        "auto takes CUDA when there is one (default: %(default)s)",
    )
    threads: int = option(
        1,
        help="torch threads for training and sensitivity on the CPU (default: %(default)s, the "
        "fastest on a shared machine; the number of cores when they are yours)",
        cli={"type": int},
    )
    loader_workers: int = option(
        0,
        flag="--workers",
        help="data-loading worker processes (default: %(default)s: in the main process)",
        cli={"type": int},
    )
    scan_processes: int | None = option(
        None,
        flag="--processes",
        help="worker processes for the loss sensitivity's layers (default: the cores, when the "
        "scan would take over 30 s on one; the table is the same bit for bit)",
        cli={"type": int},
    )

    def __post_init__(self) -> None:
        check(
            isinstance(self.device, str)
            and (self.device in ("auto", "cpu") or self.device.split(":")[0] == "cuda"),
            "device",
            self.device,
            "must be 'auto', 'cpu', 'cuda' or 'cuda:N'",
        )
        check(
            self.scan_processes is None
            or (
                isinstance(self.scan_processes, int)
                and not isinstance(self.scan_processes, bool)
                and self.scan_processes >= 1
            ),
            "processes",
            self.scan_processes,
            "must be an integer >= 1 (or None: the cores, when the scan is long)",
        )
        for name, value, low in (
            ("workers", self.loader_workers, 0),
            ("threads", self.threads, 1),
        ):
            check(
                isinstance(value, int) and not isinstance(value, bool) and value >= low,
                name,
                value,
                f"must be an integer >= {low}",
            )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> tuple[Runtime, dict[str, Any]]:
        """The run-time settings among ``params`` (by the user's names,
        :data:`RUNTIME_PARAMS`) as a :class:`Runtime`, and the rest of ``params``."""
        rest = dict(params)
        given = {field: rest.pop(name) for name, field in RUNTIME_PARAMS.items() if name in rest}
        return cls(**given), rest

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """:func:`set_torch_threads` at :attr:`threads` inside the block, restored after."""
        before = default_torch_threads()
        set_torch_threads(self.threads)
        try:
            yield
        finally:
            set_torch_threads(before)

    def as_params(self) -> dict[str, Any]:
        """The settings by the user's names (:data:`RUNTIME_PARAMS`)."""
        return {name: getattr(self, field) for name, field in RUNTIME_PARAMS.items()}
