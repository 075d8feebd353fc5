"""ImageNet networks at 224x224, with torchvision's architectures and module names, so that
their MAC totals are the published ones (ResNet-18 1.82 G, ResNet-50 4.1 G, MobileNetV2
300 M)."""

from __future__ import annotations

from models.blocks import BasicBlock, Bottleneck, MobileNetV2, ResNet
from models.zoo import register

IMAGENET_SHAPE = (3, 224, 224)


def _imagenet_resnet(
    block: type[BasicBlock | Bottleneck], blocks: tuple[int, ...], num_classes: int
) -> ResNet:
    # The ImageNet stem: 7x7 stride-2 conv and a 3x3 stride-2 max pool, 224 -> 56 pixels.
    return ResNet(
        block,
        blocks,
        (64, 128, 256, 512),
        num_classes,
        stem_kernel=7,
        stem_stride=2,
        stem_pool=True,
    )


@register("resnet18", IMAGENET_SHAPE, "ResNet-18 (torchvision layout), about 1.82 GMACs")
def resnet18(num_classes: int = 1000) -> ResNet:
    return _imagenet_resnet(BasicBlock, (2, 2, 2, 2), num_classes)


@register("resnet50", IMAGENET_SHAPE, "ResNet-50 v1.5 (torchvision layout), about 4.1 GMACs")
def resnet50(num_classes: int = 1000) -> ResNet:
    return _imagenet_resnet(Bottleneck, (3, 4, 6, 3), num_classes)


@register("mobilenet_v2", IMAGENET_SHAPE, "MobileNetV2 1.0 (torchvision layout), about 300 M MACs")
def mobilenet_v2(num_classes: int = 1000) -> MobileNetV2:
    return MobileNetV2(num_classes=num_classes)
