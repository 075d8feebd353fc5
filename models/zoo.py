"""The model zoo: networks registered by name with the input shape they expect."""

from __future__ import annotations

from collections.abc import Callable
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


_ZOO: dict[str, ZooEntry] = {}


def register(name: str, input_shape: tuple[int, ...], description: str = ""):
    """Decorator: add a network factory to the zoo under ``name``."""

    def deco(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _ZOO[name] = ZooEntry(name, factory, tuple(input_shape), description)
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


def example_input(name: str, batch: int = 1) -> torch.Tensor:
    """A zero tensor of the shape model ``name`` expects, with ``batch`` samples."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise HwsimError("batch", batch, "must be an integer >= 1")
    return torch.zeros((batch, *entry(name).input_shape))
