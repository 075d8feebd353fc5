"""The benchmark networks of the public Bit Fusion simulator (``benchmarks.py``), in torch.

Layer shapes and per-layer (weight, activation) bits are those the simulator's graphs produce
at batch 16, so that ``extract_workload`` on these modules gives the layers its sweep ran
(docs/models.md, section 3). Two-tower networks (AlexNet, VGG-7) keep each tower's convs as separate
layers, as the reference does. ReLU and pooling stand where the reference pools; they carry no
cost in the simulator. Precisions follow the reference's dtypes: a layer's activation bits are
those of the tensor it reads (the network input is 8-bit, except 2-bit for LeNet-5 and VGG-7).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from models.zoo import register

BATCH = 16


def _conv(cin: int, cout: int, k: int, stride: int = 1, same: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2 if same else 0)


class TwoTowerAlexNet(nn.Module):
    """AlexNet split across two towers (Krizhevsky et al. 2012): conv1..conv5 per tower, the
    towers exchanging features before conv3; fc1..fc3 on both towers' features."""

    def __init__(
        self,
        widths: Sequence[int] = (48, 128, 192, 192, 128),
        fc: Sequence[int] = (4096, 4096),
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        for t in "ab":
            setattr(self, f"conv1_{t}", _conv(3, c1, 11, stride=4, same=False))
            setattr(self, f"conv2_{t}", _conv(c1, c2, 5))
            setattr(self, f"conv3_{t}", _conv(2 * c2, c3, 3))
            setattr(self, f"conv4_{t}", _conv(c3, c4, 3))
            setattr(self, f"conv5_{t}", _conv(c4, c5, 3))
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)  # 55 -> 28, as the reference's graph
        self.pool2 = nn.MaxPool2d(2, 2)  # 28 -> 14
        self.pool5 = nn.MaxPool2d(3, 2)  # 14 -> 6
        self.relu = nn.ReLU()
        self.fc1 = nn.Linear(2 * c5 * 6 * 6, fc[0])
        self.fc2 = nn.Linear(fc[0], fc[1])
        self.fc3 = nn.Linear(fc[1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.relu
        towers = [self.pool1(r(getattr(self, f"conv1_{t}")(x))) for t in "ab"]
        towers = [
            self.pool2(r(getattr(self, f"conv2_{t}")(h))) for t, h in zip("ab", towers, strict=True)
        ]
        mixed = torch.cat(towers, dim=1)
        outs = []
        for t in "ab":
            h = r(getattr(self, f"conv3_{t}")(mixed))
            h = r(getattr(self, f"conv4_{t}")(h))
            outs.append(self.pool5(r(getattr(self, f"conv5_{t}")(h))))
        h = torch.flatten(torch.cat(outs, dim=1), 1)
        return self.fc3(r(self.fc2(r(self.fc1(h)))))


class QNNVgg(nn.Module):
    """The QNN (Hubara et al.) SVHN / CIFAR-10 network: conv0..conv5 (3x3, pooling after
    conv1, conv3, conv5) and fc6..fc8 on 32x32 inputs."""

    def __init__(
        self, widths: Sequence[int], fc: Sequence[int] = (1024, 1024), num_classes: int = 10
    ) -> None:
        super().__init__()
        cin = 3
        for i, c in enumerate(widths):
            setattr(self, f"conv{i}", _conv(cin, c, 3))
            cin = c
        self.pool = nn.MaxPool2d(2, 2)
        self.relu = nn.ReLU()
        self.fc6 = nn.Linear(widths[-1] * 4 * 4, fc[0])
        self.fc7 = nn.Linear(fc[0], fc[1])
        self.fc8 = nn.Linear(fc[1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(6):
            x = self.relu(getattr(self, f"conv{i}")(x))
            if i % 2 == 1:
                x = self.pool(x)
        x = torch.flatten(x, 1)
        return self.fc8(self.relu(self.fc7(self.relu(self.fc6(x)))))


class LeNet5(nn.Module):
    """LeNet-5 as the TWN paper runs it: two 5x5 convs (32, 64) with pooling, fc 512, fc 10."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv0 = _conv(1, 32, 5)
        self.conv1 = _conv(32, 64, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.relu = nn.ReLU()
        self.fc1 = nn.Linear(64 * 8 * 8, 512)
        self.fc2 = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.conv0(x)))
        x = self.pool(self.relu(self.conv1(x)))
        return self.fc2(self.relu(self.fc1(torch.flatten(x, 1))))


class TwoTowerVgg7(nn.Module):
    """VGG-7 (TWN) in two towers of three 3x3 convs (128, 256, 512), each followed by pooling;
    the towers are summed and fed to one fc layer of 1024."""

    def __init__(self, widths: Sequence[int] = (128, 256, 512), fc: int = 1024) -> None:
        super().__init__()
        for t in "ab":
            cin = 3
            for i, c in enumerate(widths, start=1):
                setattr(self, f"conv{i}_{t}", _conv(cin, c, 3))
                cin = c
        self.pool = nn.MaxPool2d(2, 2)
        self.relu = nn.ReLU()
        self.fc1 = nn.Linear(widths[-1] * 4 * 4, fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for t in "ab":
            h = x
            for i in (1, 2, 3):
                h = self.pool(self.relu(getattr(self, f"conv{i}_{t}")(h)))
            outs.append(h)
        return self.fc1(torch.flatten(outs[0] + outs[1], 1))


class _Module(nn.Module):
    """One stage of the reference's ResNet-18: two (1x1, 3x3) conv pairs; the stage's output
    adds the last pair's two outputs (the reference's ``add``), except in the last stage."""

    def __init__(self, stage: int, cin: int, width: int, stride: int, add: bool) -> None:
        super().__init__()
        self.stage, self.add = stage, add
        for i in (1, 2):
            setattr(
                self,
                f"conv{stage}_{i}_a",
                _conv(cin if i == 1 else width, width, 1, stride=stride if i == 1 else 1),
            )
            setattr(self, f"conv{stage}_{i}_b", _conv(width, width, 3))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stage
        for i in (1, 2):
            a = self.relu(getattr(self, f"conv{s}_{i}_a")(x))
            x = self.relu(getattr(self, f"conv{s}_{i}_b")(a))
        return a + x if self.add else x


class BitFusionResNet18(nn.Module):
    """The simulator's "ResNet-18" (not torchvision's): a 7x7/2 stem, 2x2 pooling, then four
    stages of two 1x1 -> 3x3 conv pairs (stride 2 on the first 1x1 of stages 3-5); no FC."""

    def __init__(self, widths: Sequence[int] = (64, 128, 256, 512)) -> None:
        super().__init__()
        self.conv1_a = _conv(3, widths[0], 7, stride=2)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.relu = nn.ReLU()
        cin = widths[0]
        for j, width in enumerate(widths):
            stage = j + 2
            setattr(
                self,
                f"module{stage}",
                _Module(stage, cin, width, 1 if stage == 2 else 2, add=stage < 5),
            )
            cin = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu(self.conv1_a(x)))
        for stage in (2, 3, 4, 5):
            x = getattr(self, f"module{stage}")(x)
        return x


class Recurrent(nn.Module):
    """The simulator's RNN / LSTM benchmarks: one recurrent step as a single matrix product
    (``matmul``) of the concatenated input and hidden state."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.matmul = nn.Linear(size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.matmul(x)


# ---------------------------------------------------------------- published (w, a) bits
def _alexnet_bits(conv1_w: int) -> dict[str, tuple[int, int]]:
    bits = {}
    for t in "ab":
        bits[f"conv1_{t}"] = (conv1_w, 8)
        for i in (2, 3, 4, 5):
            bits[f"conv{i}_{t}"] = (4, 4)
    return {**bits, "fc1": (4, 4), "fc2": (4, 4), "fc3": (8, 8)}


def _resnet_bits() -> dict[str, tuple[int, int]]:
    bits = {"conv1_a": (8, 8)}
    for s in (2, 3, 4, 5):
        for i in (1, 2):
            for half in "ab":
                bits[f"module{s}.conv{s}_{i}_{half}"] = (4, 4)
    return bits


def _uniform(names: Sequence[str], w: int, a: int) -> dict[str, tuple[int, int]]:
    return {n: (w, a) for n in names}


_QNN_NAMES = [f"conv{i}" for i in range(6)] + ["fc6", "fc7", "fc8"]
ALEXNET = "AlexNet, two towers (conv1 3->48 11x11/4 a8/w4; conv2-5, fc1-2 a4/w4; fc3 a8/w8)"


@register(
    "bitfusion_alexnet",
    (3, 227, 227),
    f"Bit Fusion benchmark: {ALEXNET}",
    batch=BATCH,
    default_bits=_alexnet_bits(4),
)
def bitfusion_alexnet(num_classes: int = 1000) -> TwoTowerAlexNet:
    return TwoTowerAlexNet(num_classes=num_classes)


@register(
    "bitfusion_alexnet_wrpn",
    (3, 227, 227),
    "Bit Fusion benchmark: WRPN AlexNet, two towers at twice the widths (conv1 a8/w8, "
    "fc 18432-8192-8192-1000); the network of the paper's figures",
    batch=BATCH,
    default_bits=_alexnet_bits(8),
)
def bitfusion_alexnet_wrpn(num_classes: int = 1000) -> TwoTowerAlexNet:
    return TwoTowerAlexNet((96, 256, 384, 384, 256), (8192, 8192), num_classes)


@register(
    "bitfusion_svhn",
    (3, 32, 32),
    "Bit Fusion benchmark: QNN SVHN (conv0 a8/w1, the rest binary, run as 2-bit)",
    batch=BATCH,
    default_bits={"conv0": (1, 8), **_uniform(_QNN_NAMES[1:], 1, 1)},
)
def bitfusion_svhn(num_classes: int = 10) -> QNNVgg:
    return QNNVgg((64, 64, 128, 128, 256, 256), num_classes=num_classes)


@register(
    "bitfusion_cifar10",
    (3, 32, 32),
    "Bit Fusion benchmark: QNN CIFAR-10 (conv0 a8/w8, the rest a2/w2)",
    batch=BATCH,
    default_bits={"conv0": (8, 8), **_uniform(_QNN_NAMES[1:], 2, 2)},
)
def bitfusion_cifar10(num_classes: int = 10) -> QNNVgg:
    return QNNVgg((128, 128, 256, 256, 512, 512), num_classes=num_classes)


@register(
    "bitfusion_lenet5",
    (1, 32, 32),
    "Bit Fusion benchmark: TWN LeNet-5, all a2/w2",
    batch=BATCH,
    default_bits=_uniform(["conv0", "conv1", "fc1", "fc2"], 2, 2),
)
def bitfusion_lenet5(num_classes: int = 10) -> LeNet5:
    return LeNet5(num_classes)


@register(
    "bitfusion_vgg7",
    (3, 32, 32),
    "Bit Fusion benchmark: TWN VGG-7 in two towers on CIFAR-10, all a2/w2",
    batch=BATCH,
    default_bits=_uniform([f"conv{i}_{t}" for i in (1, 2, 3) for t in "ab"] + ["fc1"], 2, 2),
)
def bitfusion_vgg7() -> TwoTowerVgg7:
    return TwoTowerVgg7()


@register(
    "bitfusion_resnet18",
    (3, 224, 224),
    "Bit Fusion benchmark: its ResNet-18 (TWN; 7x7 stem a8/w8, 1x1->3x3 pairs a4/w4, no FC)",
    batch=BATCH,
    default_bits=_resnet_bits(),
)
def bitfusion_resnet18() -> BitFusionResNet18:
    return BitFusionResNet18()


@register(
    "bitfusion_resnet18_wrpn",
    (3, 224, 224),
    "Bit Fusion benchmark: WRPN ResNet-18 at twice the widths (128..1024); the network of "
    "the paper's figures",
    batch=BATCH,
    default_bits=_resnet_bits(),
)
def bitfusion_resnet18_wrpn() -> BitFusionResNet18:
    return BitFusionResNet18((128, 256, 512, 1024))


@register(
    "bitfusion_rnn",
    (4096,),
    "Bit Fusion benchmark: RNN step, FC 4096->4096 a4/w4",
    batch=BATCH,
    default_bits={"matmul": (4, 4)},
)
def bitfusion_rnn() -> Recurrent:
    return Recurrent(4096)


@register(
    "bitfusion_lstm",
    (3600,),
    "Bit Fusion benchmark: LSTM step, FC 3600->3600 a4/w4",
    batch=BATCH,
    default_bits={"matmul": (4, 4)},
)
def bitfusion_lstm() -> Recurrent:
    return Recurrent(3600)


BENCHMARKS: dict[str, str] = {
    "AlexNet": "bitfusion_alexnet_wrpn",
    "SVHN": "bitfusion_svhn",
    "CIFAR10": "bitfusion_cifar10",
    "LeNet-5": "bitfusion_lenet5",
    "VGG-7": "bitfusion_vgg7",
    "RESNET-18": "bitfusion_resnet18_wrpn",
    "RNN": "bitfusion_rnn",
    "LSTM": "bitfusion_lstm",
}
"""The reference sweep's network names and the zoo entries it ran (WRPN AlexNet and ResNet)."""
