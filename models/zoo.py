"""The model zoo: networks registered by name with the input shape they expect."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from hwsim.errors import HwsimError


@dataclass(frozen=True)
class ZooEntry:
    name: str
    factory: Callable[..., nn.Module]
    input_shape: tuple[int, ...]  # without the batch dimension
    description: str = ""
    batch: int = 1  # the batch the network is usually simulated at
    default_bits: Mapping[str, tuple[int, int]] | None = None  # published per-layer (w, a)
    input_dtype: torch.dtype = torch.float32  # torch.long for token ids
    device: str | None = None  # where build() puts it by default ("meta": shapes only)


_ZOO: dict[str, ZooEntry] = {}


def register(
    name: str,
    input_shape: tuple[int, ...],
    description: str = "",
    batch: int = 1,
    default_bits: Mapping[str, tuple[int, int]] | None = None,
    input_dtype: torch.dtype = torch.float32,
    device: str | None = None,
):
    """Decorator: add a network factory to the zoo under ``name``.

    ``default_bits`` maps layer names to the (w_bits, a_bits) the network is published at,
    for networks that come with one (the Bit Fusion benchmarks). ``device="meta"`` builds a
    network too big to instantiate casually without storage: its workload needs only shapes."""

    def deco(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _ZOO[name] = ZooEntry(
            name,
            factory,
            tuple(input_shape),
            description,
            batch,
            default_bits,
            input_dtype,
            device,
        )
        return factory

    return deco


def entry(name: str) -> ZooEntry:
    if name not in _ZOO:
        raise HwsimError("model", name, f"unknown model; the zoo has {sorted(_ZOO)}")
    return _ZOO[name]


def names() -> list[str]:
    return sorted(_ZOO)


def build(name: str, device: str | None = None, **kwargs) -> nn.Module:
    """A fresh, randomly initialised instance of zoo model ``name``, on ``device`` (default:
    the entry's, else torch's current default)."""
    e = entry(name)
    device = device or e.device
    if device is None:
        return e.factory(**kwargs)
    with torch.device(device):
        return e.factory(**kwargs)


def example_input(name: str, batch: int | None = 1, device: str | None = None) -> torch.Tensor:
    """A zero tensor of the shape and dtype model ``name`` expects, with ``batch`` samples
    (``None``: the entry's usual batch), on ``device`` (default: the entry's)."""
    e = entry(name)
    if batch is None:
        batch = e.batch
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise HwsimError("batch", batch, "must be an integer >= 1")
    return torch.zeros((batch, *e.input_shape), dtype=e.input_dtype, device=device or e.device)
