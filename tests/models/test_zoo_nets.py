"""The zoo's networks against published figures: MAC totals (conv + linear), parameter
counts and hand-derived geometry of a few layers."""

from __future__ import annotations

import functools

import pytest
import torch

import models
from models import build, example_input, extract_workload
from models.zoo import entry

OURS = (
    "mlp_digits",
    "resnet_digits",
    "resnet20",
    "mobilenet_v2_cifar",
    "resnet18",
    "resnet50",
    "mobilenet_v2",
)


@functools.cache
def meta_workload(name: str, batch: int = 1):
    # Shapes only: on the meta device there are no weights to initialise nor arithmetic to do.
    with torch.device("meta"):
        model, x = meta_build(name), example_input(name, batch)
    return extract_workload(model, x)


def meta_build(name: str, **kwargs) -> torch.nn.Module:
    with torch.device("meta"):
        return build(name, **kwargs)


@pytest.mark.parametrize(
    ("name", "published_macs"),
    [
        ("resnet18", 1.82e9),  # He et al. 2016 table 1 (1.8 GFLOPs as multiply-adds)
        ("resnet50", 4.1e9),
        ("mobilenet_v2", 300e6),  # Sandler et al. 2018 table 3
        ("resnet20", 41e6),
    ],
)
def test_mac_totals_are_the_published_ones(name, published_macs):
    assert meta_workload(name).total_macs == pytest.approx(published_macs, rel=0.02)


@pytest.mark.parametrize(
    ("name", "published_params", "rel"),
    [
        # torchvision's model cards
        ("resnet18", 11_689_512, 0),
        ("resnet50", 25_557_032, 0),
        ("mobilenet_v2", 3_504_872, 0),
        # 0.27 M in He et al. 2016 table 6 (with parameter-free shortcuts; the 1x1 conv
        # shortcuts add about 1 %)
        ("resnet20", 0.27e6, 0.02),
    ],
)
def test_parameter_counts_are_the_published_ones(name, published_params, rel):
    count = sum(p.numel() for p in meta_build(name).parameters())
    assert count == pytest.approx(published_params, rel=rel)


# (layer, M, N, K, groups, stride) derived by hand from the papers' tables at batch 1
GEOMETRY = {
    "resnet18": [
        ("conv1", 112 * 112, 64, 3 * 7 * 7, 1, 2),
        ("layer2.0.conv1", 28 * 28, 128, 64 * 9, 1, 2),
        ("layer4.0.downsample.0", 7 * 7, 512, 256, 1, 2),
        ("fc", 1, 1000, 512, 1, 1),
    ],
    "resnet50": [
        ("layer1.0.conv3", 56 * 56, 256, 64, 1, 1),
        ("layer3.0.conv2", 14 * 14, 256, 256 * 9, 1, 2),
        ("fc", 1, 1000, 2048, 1, 1),
    ],
    "mobilenet_v2": [
        ("features.0.0", 112 * 112, 32, 27, 1, 2),
        ("features.1.conv.0.0", 112 * 112, 32, 9, 32, 1),
        ("features.2.conv.1.0", 56 * 56, 96, 9, 96, 2),
        ("features.18.0", 7 * 7, 1280, 320, 1, 1),
        ("classifier.1", 1, 1000, 1280, 1, 1),
    ],
    "mobilenet_v2_cifar": [
        ("features.0.0", 32 * 32, 32, 27, 1, 1),
        ("features.2.conv.1.0", 32 * 32, 96, 9, 96, 1),
        ("features.18.0", 4 * 4, 1280, 320, 1, 1),
        ("classifier.1", 1, 10, 1280, 1, 1),
    ],
    "resnet20": [
        ("conv1", 32 * 32, 16, 27, 1, 1),
        ("layer2.0.downsample.0", 16 * 16, 32, 16, 1, 2),
        ("layer3.2.conv2", 8 * 8, 64, 64 * 9, 1, 1),
        ("fc", 1, 10, 64, 1, 1),
    ],
    "resnet_digits": [
        ("conv1", 8 * 8, 16, 9, 1, 1),
        ("layer2.0.conv1", 4 * 4, 32, 16 * 9, 1, 2),
        ("layer3.0.downsample.0", 2 * 2, 64, 32, 1, 2),
        ("fc", 1, 10, 64, 1, 1),
    ],
    "mlp_digits": [
        ("fc1", 1, 256, 64, 1, 1),
        ("fc2", 1, 128, 256, 1, 1),
        ("fc3", 1, 10, 128, 1, 1),
    ],
}


@pytest.mark.parametrize("name", sorted(GEOMETRY))
def test_layer_geometry_by_hand(name):
    w = meta_workload(name, batch=2)
    for layer, m, n, k, groups, stride in GEOMETRY[name]:
        i = w.index(layer)
        assert (w.M[i], w.N[i], w.K[i], w.groups[i], w.stride_h[i]) == (
            2 * m,
            n,
            k,
            groups,
            stride,
        ), layer


@pytest.mark.parametrize(
    ("name", "convs", "linears", "depthwise"),
    [
        ("resnet18", 20, 1, 0),  # 17 3x3/7x7 convs + 3 projection shortcuts
        ("resnet50", 53, 1, 0),  # 49 + 4 projection shortcuts
        ("mobilenet_v2", 35, 1, 17),  # stem, 16 expansions + 17 projections, last conv
        ("resnet20", 21, 1, 0),  # 19 + 2 projection shortcuts
        ("resnet_digits", 9, 1, 0),
        ("mlp_digits", 0, 3, 0),
    ],
)
def test_layer_counts(name, convs, linears, depthwise):
    kinds = meta_workload(name).kinds
    assert (kinds.count("conv"), kinds.count("linear"), kinds.count("depthwise")) == (
        convs,
        linears,
        depthwise,
    )


@pytest.mark.parametrize("name", OURS)
def test_registered_with_their_input_shape(name):
    assert name in models.names()
    w = meta_workload(name)
    assert w.first[0] == 1 and w.first[1:].sum() == 0
    assert w.name == type(meta_build(name)).__name__


@pytest.mark.parametrize("name", OURS)
def test_output_is_one_logit_per_class(name):
    with torch.device("meta"):
        logits = meta_build(name)(example_input(name, 3))
    assert logits.shape == (3, 1000 if entry(name).input_shape == (3, 224, 224) else 10)


@pytest.mark.parametrize("name", ["mlp_digits", "resnet_digits"])
def test_digits_networks_run_on_cpu(name):
    model = build(name)
    logits = model(torch.randn(2, *entry(name).input_shape))
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()


def test_mlp_batch_norm_keeps_layer_names():
    plain = meta_workload("mlp_digits")
    model = build("mlp_digits", batch_norm=True)
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules())
    assert extract_workload(model, example_input("mlp_digits", 2)).layer_names == (
        plain.layer_names
    )


def test_mlp_learns_digits_quickly():
    from models.data import load_digits

    torch.manual_seed(0)
    data = load_digits()
    model = build("mlp_digits")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(8):
        for i in range(0, len(data.x_train), 64):
            loss = torch.nn.functional.cross_entropy(
                model(data.x_train[i : i + 64]), data.y_train[i : i + 64]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        accuracy = (model(data.x_test).argmax(1) == data.y_test).float().mean().item()
    assert accuracy > 0.9
