"""Small networks for scikit-learn's 8x8 digits: what the quantization methods train on.

Both are tiny on purpose, so that a full training epoch on the CPU takes well under a second.
"""

from __future__ import annotations

from collections import OrderedDict
from itertools import pairwise

from torch import nn

from models.blocks import BasicBlock, ResNet
from models.zoo import register

DIGITS_SHAPE = (1, 8, 8)


class MLP(nn.Sequential):
    """Flatten, then Linear layers ``fc1``, ``fc2``... with ReLU between them (and BatchNorm
    ``bn1``... before each ReLU if asked)."""

    def __init__(self, sizes: tuple[int, ...], batch_norm: bool = False) -> None:
        layers: dict[str, nn.Module] = {"flatten": nn.Flatten()}
        for i, (a, b) in enumerate(pairwise(sizes), start=1):
            layers[f"fc{i}"] = nn.Linear(a, b)
            if i < len(sizes) - 1:
                if batch_norm:
                    layers[f"bn{i}"] = nn.BatchNorm1d(b)
                layers[f"relu{i}"] = nn.ReLU(inplace=True)
        super().__init__(OrderedDict(layers))


@register("mlp_digits", DIGITS_SHAPE, "MLP 64-256-128-10 with ReLU on 8x8 digits")
def mlp_digits(num_classes: int = 10, batch_norm: bool = False) -> MLP:
    return MLP((64, 256, 128, num_classes), batch_norm=batch_norm)


@register(
    "resnet_digits",
    DIGITS_SHAPE,
    "ResNet for 8x8 digits: 3x3 stem to 16, one BasicBlock each at 16/32/64, GAP, FC",
)
def resnet_digits(num_classes: int = 10) -> ResNet:
    return ResNet(
        BasicBlock, blocks=(1, 1, 1), widths=(16, 32, 64), num_classes=num_classes, in_channels=1
    )
