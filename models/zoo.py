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


_ZOO: dict[str, ZooEntry] = {}


def register(
    name: str,
    input_shape: tuple[int, ...],
    description: str = "",
    batch: int = 1,
    default_bits: Mapping[str, tuple[int, int]] | None = None,
):
    """Decorator: add a network factory to the zoo under ``name``.

    ``default_bits`` maps layer names to the (w_bits, a_bits) the network is published at,
    for networks that come with one (the Bit Fusion benchmarks)."""

    def deco(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _ZOO[name] = ZooEntry(name, factory, tuple(input_shape), description, batch, default_bits)
        return factory

    return deco


def entry(name: str) -> ZooEntry:
    if name not in _ZOO:
        raise HwsimError("model", name, f"unknown model; the zoo has {sorted(_ZOO)}")
    return _ZOO[name]


def names() -> list[str]:
    return sorted(_ZOO)


def build(name: str, **kwargs) -> nn.Module:
    """A fresh, randomly initialised instance of zoo model ``name``."""
    return entry(name).factory(**kwargs)


def example_input(name: str, batch: int | None = 1) -> torch.Tensor:
    """A zero tensor of the shape model ``name`` expects, with ``batch`` samples
    (``None``: the entry's usual batch)."""
    if batch is None:
        batch = entry(name).batch
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise HwsimError("batch", batch, "must be an integer >= 1")
    return torch.zeros((batch, *entry(name).input_shape))
