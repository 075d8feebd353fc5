"""The Bit Fusion benchmark networks: built in torch, extracted, and simulated on the exact
preset, they reproduce the public simulator's published per-layer numbers."""

from __future__ import annotations

import pytest
import torch

from hwsim import BitPolicy
from hwsim.hardware import simulate
from hwsim.reference import bitfusion as ref
from models import build, extract_workload
from models.bitfusion_nets import BENCHMARKS
from models.zoo import entry

ALL = [
    "bitfusion_alexnet",
    "bitfusion_alexnet_wrpn",
    "bitfusion_svhn",
    "bitfusion_cifar10",
    "bitfusion_lenet5",
    "bitfusion_vgg7",
    "bitfusion_resnet18",
    "bitfusion_resnet18_wrpn",
    "bitfusion_rnn",
    "bitfusion_lstm",
]


def _workload(name: str):
    e = entry(name)
    with torch.device("meta"):  # shapes only: no memory for AlexNet's 150M fc weights
        model = build(name)
        x = torch.zeros((e.batch, *e.input_shape))
    return extract_workload(model, x, name)


@pytest.mark.parametrize("name", ALL)
def test_registered_with_published_bits_for_every_layer(name: str) -> None:
    e = entry(name)
    assert e.batch == 16
    wl = _workload(name)
    assert set(e.default_bits) == set(wl.layer_names)
    BitPolicy(dict(e.default_bits)).check_matches(wl)


@pytest.mark.parametrize("network", sorted(BENCHMARKS))
def test_networks_reproduce_the_reference_sweep(network: str) -> None:
    name = BENCHMARKS[network]
    wl = _workload(name)
    layers = simulate(wl, BitPolicy(dict(entry(name).default_bits)), "bitfusion").layers
    layers = layers.set_index("name")
    rows = [r for r in ref.reference_rows() if r["network"] == network]
    assert len(rows) == len(wl)
    for row in rows:
        got = layers.loc[row["layer"].replace("/", ".")]
        assert int(got["cycles"]) == row["cycles"], row["layer"]
        assert int(got["stall_cycles"]) == row["stall_cycles"], row["layer"]
        assert int(got["dram_read_bits"]) == row["dram_read"], row["layer"]
        assert int(got["dram_write_bits"]) == row["dram_write"], row["layer"]
        assert got["energy_j"] * 1e12 == pytest.approx(ref.reference_energy_pj(row), rel=1e-6)


def test_forward_runs_on_a_real_tensor() -> None:
    out = build("bitfusion_lenet5")(torch.zeros(2, 1, 32, 32))
    assert out.shape == (2, 10)
    assert build("bitfusion_vgg7")(torch.zeros(1, 3, 32, 32)).shape == (1, 1024)
