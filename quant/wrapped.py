"""The float layer a method replaces, kept as geometry: what BSQ, the Bitwise Bottleneck and
EBS share when they swap a model's ``Conv2d`` / ``Linear`` for their own weight representation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from hwsim.errors import check
from quant.model import quantizable_layers, replace_module
from quant.quantizers import binarize, fake_quantize, quantizer_range

Layer = TypeVar("Layer", bound=nn.Module)


class WrappedLayer(nn.Module):
    """A conv or linear layer's geometry and float bias; subclasses supply the weight."""

    def __init__(self, module: nn.Conv2d | nn.Linear) -> None:
        super().__init__()
        check(
            isinstance(module, nn.Conv2d | nn.Linear),
            "module",
            type(module).__name__,
            "must be an nn.Conv2d or nn.Linear layer",
        )
        self.is_conv = isinstance(module, nn.Conv2d)
        if self.is_conv:
            check(
                module.padding_mode == "zeros",
                "padding_mode",
                module.padding_mode,
                "only zero padding is supported",
            )
            self.conv_args = {
                "stride": module.stride,
                "padding": module.padding,
                "dilation": module.dilation,
                "groups": module.groups,
            }
        self.weight_shape = tuple(module.weight.shape)
        self.bias = None if module.bias is None else nn.Parameter(module.bias.detach().clone())

    def apply_op(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The layer's own convolution or matmul with ``weight``."""
        if self.is_conv:
            return F.conv2d(x, weight, self.bias, **self.conv_args)
        return F.linear(x, weight, self.bias)


def maxabs_weight_quant(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """Symmetric per-tensor ``bits``-bit fake quantization with the max-abs step, refitted on
    every call as the weights move (straight-through gradient). At 1 bit: binary, XNOR-Net's
    ``sign(W) * mean|W|`` per output channel (a max-abs step would put every weight at the
    largest one's magnitude)."""
    if bits == 1:
        return binarize(weight, axis=0)
    step = weight.detach().abs().amax().clamp_min(1e-12) / quantizer_range(bits, True)[1]
    return fake_quantize(weight, step, bits, True)


def wrap_layers(model: nn.Module, make: Callable[[nn.Module], nn.Module]) -> nn.Module:
    """Replace, in place, every ``Conv2d`` / ``Linear`` by ``make(module)``; names are kept,
    so they still match the float model's workload."""
    layers = quantizable_layers(model)
    check(len(layers) > 0, "model", type(model).__name__, "has no Conv2d or Linear layer")
    for name, m in layers.items():
        replace_module(model, name, make(m).to(m.weight.device))
    return model


def layers_of(model: nn.Module, kind: type[Layer]) -> dict[str, Layer]:
    """The model's layers of type ``kind`` by fully qualified name, in module order."""
    return {n: m for n, m in model.named_modules() if isinstance(m, kind)}
