"""CIFAR-10 networks (32x32 inputs)."""

from __future__ import annotations

from models.blocks import MOBILENET_V2_SETTINGS, BasicBlock, MobileNetV2, ResNet
from models.zoo import register

CIFAR_SHAPE = (3, 32, 32)


@register(
    "resnet20",
    CIFAR_SHAPE,
    "CIFAR ResNet-20 (He et al. 2016): 3 stages of 3 BasicBlocks at 16/32/64, "
    "1x1 conv + BN shortcuts; about 41 M MACs",
)
def resnet20(num_classes: int = 10) -> ResNet:
    return ResNet(BasicBlock, blocks=(3, 3, 3), widths=(16, 32, 64), num_classes=num_classes)


# The usual CIFAR adaptation of MobileNetV2: no downsampling in the stem nor in the second
# stage, so a 32x32 image still has 4x4 pixels left at the last stages.
_CIFAR_SETTINGS = tuple(
    (t, c, n, 1 if i == 1 else s) for i, (t, c, n, s) in enumerate(MOBILENET_V2_SETTINGS)
)


@register(
    "mobilenet_v2_cifar", CIFAR_SHAPE, "MobileNetV2 for CIFAR-10: stem and second stage at stride 1"
)
def mobilenet_v2_cifar(num_classes: int = 10) -> MobileNetV2:
    return MobileNetV2(num_classes=num_classes, stem_stride=1, settings=_CIFAR_SETTINGS)
