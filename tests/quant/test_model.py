"""quantize_model swaps exactly the named layers; policies read back; methods dispatch."""

import copy
from dataclasses import dataclass
from types import MappingProxyType

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hwsim import BitPolicy
from hwsim.errors import HwsimError
from quant.layers import QConv2d, QLinear
from quant.methods import SearchResult, register_method
from quant.model import current_policy, quantize_model, quantized_layers


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 1))
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        return self.fc(torch.flatten(self.block(x) + x, 1))


NAMES = ["stem", "block.0", "block.2", "fc"]


@settings(max_examples=15)
@given(
    chosen=st.lists(st.sampled_from(NAMES), unique=True),
    bits=st.lists(st.tuples(st.integers(2, 8), st.integers(2, 8)), min_size=4, max_size=4),
)
def test_replaces_exactly_the_named_layers(chosen, bits):
    torch.manual_seed(0)
    model = Net()
    policy = BitPolicy({n: bits[i] for i, n in enumerate(chosen)})
    q = quantize_model(model, policy, calibration=torch.randn(16, 1, 8, 8))
    assert set(quantized_layers(q)) == set(chosen)
    assert current_policy(q).bits == policy.bits
    for name, module in q.named_modules():
        if name in chosen:
            assert isinstance(module, QConv2d | QLinear)
        elif name in NAMES:
            assert type(module) in (nn.Conv2d, nn.Linear)
    # The original is untouched (deep copy).
    assert not quantized_layers(model)


def test_weights_copied_and_activation_signedness():
    torch.manual_seed(0)
    model = Net()
    q = quantize_model(
        model, BitPolicy({n: (8, 8) for n in NAMES}), calibration=torch.randn(32, 1, 8, 8)
    )
    assert torch.equal(q.stem.weight, model.stem.weight)
    # The network input is signed; the FC input (residual sum incl. a linear conv) is too;
    # block.2 reads a ReLU output.
    assert q.stem.act_quantizer.signed is True
    assert q.get_submodule("block.2").act_quantizer.signed is False
    x = torch.randn(4, 1, 8, 8)
    torch.testing.assert_close(q(x), model(x), atol=0.1, rtol=0.1)


def test_unknown_layer_names_are_an_error():
    with pytest.raises(HwsimError, match="nope"):
        quantize_model(Net(), BitPolicy({"nope": (4, 4)}))
    with pytest.raises(HwsimError, match="method"):
        quantize_model(Net(), "no-such-method")


def test_method_registry_dispatch():
    calls = []

    @dataclass(frozen=True)
    class Cfg:
        tag: str = "default"

    class Fake:
        name = "_test_fake"
        config_type = Cfg
        budgeted = False
        codesign_defaults = MappingProxyType({})

        def search(self, model, data, config, problem=None, *, progress=None):
            calls.append(("search", config, data))
            model = copy.deepcopy(model)
            model.marked = True
            return SearchResult(model, BitPolicy({"fc": (4, 4)}))

        def finetune(self, result, data, config, *, progress=None):
            calls.append(("finetune", config, data))
            return result.model

    register_method(Fake())
    model = Net()
    out = quantize_model(model, "_test_fake", calibration="cal")
    assert out.marked and not hasattr(model, "marked")
    cfg = Cfg("mine")
    quantize_model(model, cfg)
    assert calls == [
        ("search", Cfg(), "cal"),
        ("finetune", Cfg(), "cal"),
        ("search", cfg, None),
        ("finetune", cfg, None),
    ]


def test_quantize_model_runs_on_one_thread_whatever_numba_left():
    """A parallel Numba kernel leaves the shared OpenMP runtime at its own thread count;
    quantize_model sets torch's to one while it works and restores it after."""
    from quant.runtime import torch_threads

    seen = []
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    net[1].register_forward_pre_hook(lambda m, a: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        quantize_model(net, {"0": (4, 4), "3": (4, 4)}, calibration=torch.rand(4, 1, 8, 8))
        assert seen == [1] and torch.get_num_threads() == 2
        with torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_set_torch_threads_is_what_quantize_model_and_training_use():
    """``set_torch_threads`` (codesign's ``--threads``) is the count the torch work runs on;
    a bad count is refused by name."""
    from hwsim import HwsimError
    from quant.runtime import default_torch_threads, set_torch_threads
    from quant.train import deterministic

    seen = []
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    net[1].register_forward_pre_hook(lambda m, a: seen.append(torch.get_num_threads()))
    before, chosen = torch.get_num_threads(), default_torch_threads()
    try:
        set_torch_threads(2)
        quantize_model(net, {"0": (4, 4), "3": (4, 4)}, calibration=torch.rand(4, 1, 8, 8))
        with deterministic():
            assert torch.get_num_threads() == 2
        assert seen == [2]
        for bad in (0, -1, 1.5, True):
            with pytest.raises(HwsimError, match="threads"):
                set_torch_threads(bad)
    finally:
        set_torch_threads(chosen)
        torch.set_num_threads(before)
    with deterministic():
        assert torch.get_num_threads() == 1


def test_policy_encodings_set_the_quantizers_and_come_back_in_current_policy():
    """A policy's non-default encodings override what the data would decide: +-1 or signed
    activations after a ReLU, unsigned weights; current_policy reads them back."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3), nn.ReLU()
    )
    net.append(nn.Linear(3, 2))
    x = torch.randn(32, 6)
    policy = BitPolicy(
        {"0": (1, 8), "2": (1, 1), "4": (4, 4), "6": (2, 1)},
        encodings={"2": ("bipolar", "bipolar"), "4": ("unsigned", "signed")},
    )
    q = quantize_model(net, policy, calibration=x)
    layers = quantized_layers(q)
    assert layers["2"].act_quantizer.bipolar  # +-1 although its input is a ReLU output
    assert layers["4"].act_quantizer.signed and not layers["4"].weight_quantizer.signed
    assert not layers["6"].act_quantizer.signed  # decided by the data: a ReLU output
    got = current_policy(q)
    assert got.encoding("2") == ("bipolar", "bipolar")
    assert got.encoding("4") == ("unsigned", "signed")
    # Layer 0 sees the signed network input; its 1-bit weights are binary.
    assert got.encoding("0") == ("bipolar", "signed")
    assert got.encoding("6") == ("signed", "unsigned")
    with torch.no_grad():
        codes, _ = layers["2"].act_quantizer.codes(torch.relu(torch.randn(5, 8)))
    assert set(codes.unique().tolist()) <= {-1, 1}
