"""Building blocks shared by the zoo's networks (ResNet blocks, MobileNetV2's inverted
residual), laid out like torchvision's so module names match its checkpoints."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(
    in_channels: int,
    out_channels: int,
    kernel: int,
    stride: int = 1,
    groups: int = 1,
    activation: type[nn.Module] | None = nn.ReLU,
) -> nn.Sequential:
    """Conv (no bias, "same"-style padding ``kernel // 2``) + BatchNorm (+ activation)."""
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False
        ),
        nn.BatchNorm2d(out_channels),
    ]
    if activation is not None:
        layers.append(activation(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity shortcut, or a 1x1 conv + BN shortcut (``downsample``)
    where the stride or the channel count changes (He et al. 2016, option B)."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = _shortcut(in_channels, channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride, as in torchvision's ResNet v1.5), 1x1 expand x4."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


def resnet_stage(
    block: type[BasicBlock | Bottleneck], in_channels: int, channels: int, blocks: int, stride: int
) -> tuple[nn.Sequential, int]:
    """``blocks`` residual blocks, the first one carrying the stride; returns the stage and
    its output channel count."""
    layers = []
    for i in range(blocks):
        layers.append(block(in_channels, channels, stride if i == 0 else 1))
        in_channels = channels * block.expansion
    return nn.Sequential(*layers), in_channels


class ResNet(nn.Module):
    """A ResNet: stem conv + BN + ReLU (+ 3x3/2 max pool), one residual stage per entry of
    ``widths`` (the first at stride 1, the rest at stride 2), global average pooling, FC.

    Module names follow torchvision (``conv1``, ``layer1.0.conv1``, ``layer2.0.downsample.0``,
    ``fc``)."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        blocks: tuple[int, ...],
        widths: tuple[int, ...],
        num_classes: int,
        in_channels: int = 3,
        stem_kernel: int = 3,
        stem_stride: int = 1,
        stem_pool: bool = False,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, widths[0], stem_kernel, stem_stride, stem_kernel // 2, bias=False
        )
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if stem_pool else nn.Identity()
        channels = widths[0]
        for i, (n, width) in enumerate(zip(blocks, widths, strict=True)):
            stage, channels = resnet_stage(block, channels, width, n, 1 if i == 0 else 2)
            self.add_module(f"layer{i + 1}", stage)
        self.num_stages = len(widths)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand (skipped when ``expand_ratio`` is 1), 3x3 depthwise,
    1x1 linear projection; a residual add when stride is 1 and the width is unchanged."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(in_channels * expand_ratio)
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(conv_bn(in_channels, hidden, 1, activation=nn.ReLU6))
        layers += [
            conv_bn(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


# (expand ratio t, output channels c, repeats n, first stride s) of MobileNetV2 (Sandler et
# al. 2018, table 2), for 224x224 ImageNet.
MOBILENET_V2_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class MobileNetV2(nn.Module):
    """MobileNetV2 at width 1.0: a strided 3x3 stem to 32 channels, the inverted residual
    stages of ``settings``, a 1x1 conv to 1280, global pooling, dropout and a classifier."""

    def __init__(
        self,
        num_classes: int = 1000,
        stem_stride: int = 2,
        settings: tuple[tuple[int, int, int, int], ...] = MOBILENET_V2_SETTINGS,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        in_channels, last_channels = 32, 1280
        features: list[nn.Module] = [conv_bn(3, in_channels, 3, stem_stride, activation=nn.ReLU6)]
        for t, c, n, s in settings:
            for i in range(n):
                features.append(InvertedResidual(in_channels, c, s if i == 0 else 1, t))
                in_channels = c
        features.append(conv_bn(in_channels, last_channels, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last_channels, num_classes))
        init_weights(self, linear_std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)


def init_weights(model: nn.Module, linear_std: float | None = None) -> None:
    """He (fan-out) init for convs, unit BatchNorm; Linear keeps PyTorch's default unless
    ``linear_std`` asks for N(0, std) with zero bias."""
    for m in model.modules():
        if any(p.is_meta for p in m.parameters(recurse=False)):
            # Shape-only (meta) tensors hold no values to initialise, and torch's meta
            # normal_ would import its compiler stack.
            continue
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)
