"""End-to-end kernel equivalence: the integer model (hwsim.kernels) against fake-quant torch."""

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import models
from hwsim import BitPolicy
from hwsim.bits import layer_stats
from models import extract_workload
from quant.baseline import load_data, pretrained
from quant.export import export, integer_model
from quant.model import quantizable_layers, quantize_model, quantized_layers
from quant.train import predict_logits


@pytest.fixture(scope="module")
def digits():
    return load_data("digits", seed=0)


def _policies(names):
    mixed = {n: ((2, 4), (4, 2), (8, 3), (3, 8))[i % 4] for i, n in enumerate(names)}
    mixed[names[0]] = (32, 32)  # a float layer stays float in the integer model
    return [{n: (b, b) for n in names} for b in (2, 4, 8)] + [mixed]


def _snapped(q):
    q = copy.deepcopy(q)
    for layer in quantized_layers(q).values():
        if (
            layer.w_bits != 32
            and hasattr(layer, "weight_quantizer")
            and "#" not in getattr(layer, "policy_name", "")
        ):
            with torch.no_grad():
                layer.weight.copy_(layer.weight_quantizer(layer.weight))
    return q


def _straight_through_logits(model, x):
    """Logits by the training-time formula (``q * step`` values into the float conv / linear /
    product), independent of the no-gradient integer pass: with a gradient wanted, the
    quantized layers take the straight-through path."""
    model = model.eval()
    with torch.enable_grad():
        return model(x.clone().requires_grad_(True)).detach().numpy()


def _assert_integer_model_agrees(q, x):
    """The integer model of ``q`` equals ``q``'s inference bit for bit, and the integer model
    of a float64 copy agrees with the straight-through formula in float64 to float rounding
    (the same predictions)."""
    logits = integer_model(q)(x)
    np.testing.assert_array_equal(logits, predict_logits(q, x).numpy())
    # Independent reference: weights snapped to their float32 quantized values (same
    # function), so float64 re-derives the same codes; float64 so that the reference's own
    # rounding cannot move an activation across a code boundary.
    q64 = _snapped(q).double()
    logits64 = integer_model(q64)(x.double())
    reference = _straight_through_logits(q64, x.double())
    np.testing.assert_array_equal(logits64.argmax(1), reference.argmax(1))
    np.testing.assert_allclose(logits64, reference, rtol=1e-9, atol=1e-9)
    return logits


@pytest.mark.parametrize(
    ("model_name", "n_test", "which"),
    [
        ("mlp_digits", None, slice(None)),
        # The ResNet's integer convolutions are slower: a slice of the test set by default,
        # the whole test set at every policy when slow tests run.
        ("resnet_digits", 100, slice(3, 4)),
        pytest.param("resnet_digits", None, slice(None), marks=pytest.mark.slow),
    ],
)
def test_integer_model_matches_fake_quantized_model(digits, model_name, n_test, which):
    net = pretrained(model_name, "digits", seed=0, epochs=3)
    names = list(quantizable_layers(net))
    x_test = digits.x_test[:n_test]
    for bits in _policies(names)[which]:
        q = quantize_model(net, BitPolicy(bits), calibration=digits.x_train[:256])
        im = integer_model(q)
        assert set(im.layers) == {n for n, wa in bits.items() if 32 not in wa}
        _assert_integer_model_agrees(q, x_test)


@settings(max_examples=10)
@given(
    w_bits=st.integers(2, 8),
    a_bits=st.integers(1, 8),
    signed_input=st.booleans(),
    groups=st.sampled_from([1, 2]),
    stride=st.sampled_from([1, 2]),
    seed=st.integers(0, 99),
)
def test_single_conv_layer_against_integer_torch(
    w_bits, a_bits, signed_input, groups, stride, seed
):
    if signed_input and a_bits < 2:
        a_bits = 2
    g = torch.Generator().manual_seed(seed)
    conv = nn.Conv2d(4, 6, 3, stride=stride, padding=1, groups=groups)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
    x = torch.randn(3, 4, 7, 7, generator=g)
    x = x if signed_input else x.abs()
    q = quantize_model(nn.Sequential(conv), BitPolicy({"0": (w_bits, a_bits)}), calibration=x)
    state = q[0].quant_state()
    # Independent reference: integer conv in torch int64 on codes derived with numpy, in the
    # input's precision (a float32 quotient rounds to float32 before it is rounded to a code).
    a_hi = 2 ** (a_bits - 1) - 1 if signed_input else 2**a_bits - 1
    a_lo = -a_hi if signed_input else 0
    for x_in, step, model, rtol in (
        (x.double(), state.a_scale, q.double(), 1e-12),
        (x, np.float32(state.a_scale), q, 1e-6),  # the output is float32
    ):
        a_codes = np.clip(np.round(x_in.numpy() / step), a_lo, a_hi).astype(np.float64)
        acc = torch.nn.functional.conv2d(
            torch.from_numpy(a_codes),
            torch.from_numpy(state.w_codes).double(),
            stride=stride,
            padding=1,
            groups=groups,
        )
        expect = acc.numpy() * state.a_scale * state.w_scale.reshape(1, -1, 1, 1)
        expect += state.bias.reshape(1, -1, 1, 1)
        np.testing.assert_allclose(integer_model(model)(x_in), expect, rtol=rtol, atol=rtol)


def test_export_policy_and_statistics(digits):
    net = pretrained("mlp_digits", "digits", seed=0, epochs=3)
    bits = {"fc1": (4, 3), "fc2": (2, 4), "fc3": (8, 8)}
    q = quantize_model(net, BitPolicy(bits), calibration=digits)
    calib = digits.x_train[:100]
    ex = export(q, calib)
    assert ex.policy.bits == bits
    assert set(ex.policy.stats) == set(bits)
    # fc1 reads the (unsigned) network input: recompute its statistics independently.
    s = q.fc1.quant_state()
    a_codes = np.clip(np.round(calib.reshape(100, -1).double().numpy() / s.a_scale), 0, 7)
    expect = layer_stats(s.w_codes, a_codes.astype(np.int64), 4, 3, w_signed=True, a_signed=False)
    assert ex.policy.stats["fc1"] == expect
    assert BitPolicy.from_dict(ex.policy.to_dict()).stats == ex.policy.stats


def test_export_measures_conv_layers_in_the_hardware_grouping(digits):
    net = pretrained("resnet_digits", "digits", seed=0, epochs=1)
    q = quantize_model(net, BitPolicy.uniform(extract_workload(net, digits.x_train[:1]), 6, 5),
                       calibration=digits.x_train[:64])  # fmt: skip
    calib = digits.x_train[:4]
    ex = export(q, calib)
    im = ex.integer_model
    codes = im.record_activation_codes(calib)
    name = next(n for n, layer in im.layers.items() if layer.is_conv)
    layer = im.layers[name]
    assert codes[name].ndim == 4  # NCHW, as the hardware walks it
    s = layer.state
    expect = layer_stats(s.w_codes, codes[name], s.w_bits, s.a_bits, w_signed=s.w_signed,
                         a_signed=s.a_signed, conv=layer.geometry)  # fmt: skip
    assert ex.policy.stats[name] == expect
    assert expect.step_cycles  # every default hardware rule measured


def test_direct_quantized_model_exports_exactly(digits):
    from quant.direct import DirectConfig, train_direct

    net = pretrained("mlp_digits", "digits", seed=0, epochs=3)
    q = quantize_model(net, DirectConfig(3, 3), calibration=digits.x_train[:256])
    train_direct(q, digits, epochs=1)
    _assert_integer_model_agrees(q, digits.x_test)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_export_fits_a_never_run_model_before_coding_it(digits, bits):
    """A model quantized but never run has unfitted activation steps (default 1.0); export
    fits them on its calibration data, so the integer model agrees with the fake-quantized
    one (the same references as above), not with the default steps."""
    from quant.model import unfitted_act_quantizers

    net = pretrained("mlp_digits", "digits", seed=0, epochs=3)
    names = list(quantizable_layers(net))
    q = quantize_model(net, BitPolicy({n: (bits, bits) for n in names}))
    assert unfitted_act_quantizers(q)  # the precondition the issue describes
    exported = export(q, digits.x_train[:256])
    assert not unfitted_act_quantizers(q)
    x_test = digits.x_test
    logits = _assert_integer_model_agrees(q, x_test)
    np.testing.assert_array_equal(exported.integer_model(x_test), logits)


_HYPOTHESIS_MODELS = ("vit_digits", "resnet_digits", "mlp_digits")
_BITS = st.sampled_from([1, 2, 3, 4, 5, 6, 8, 32])


@st.composite
def _model_policies(draw):
    """A zoo model, trained or never run, and a random policy over every workload row
    (attention products included), 32 meaning a float side. A 1-bit side is binary (+-1)
    where its quantizer is signed (weights; activations whose data are signed) and {0, 1}
    where not."""
    name = draw(st.sampled_from(_HYPOTHESIS_MODELS))
    trained = draw(st.booleans())
    rows = models.extract_workload(models.build(name), models.example_input(name)).layer_names
    bits = {}
    for row in rows:
        bits[row] = (draw(_BITS), draw(_BITS))
    return name, trained, bits


@settings(max_examples=6, deadline=None, derandomize=True)
@given(case=_model_policies())
def test_integer_model_equals_fake_quantized_model_for_any_policy(digits, case):
    """Any policy, trained or never run, conv nets and a transformer (its attention products
    on the act x act kernel): the integer model's logits equal the fake-quantized model's bit
    for bit, so the same predictions. A never-run model is exported (export fits its steps on
    the calibration data). Activations coded another way, another rescale or glue in another
    dtype would show here as unequal logits (ties: the test below)."""
    name, trained, bits = case
    net = pretrained(name, "digits", seed=0, epochs=2) if trained else _untrained(name)
    calibration = digits.x_train[:64]
    q = quantize_model(net, BitPolicy(bits), calibration=calibration if trained else None)
    x = digits.x_test[:32]
    if trained:
        _assert_integer_model_agrees(q, x)
        return
    exported = export(q, calibration)
    logits = _assert_integer_model_agrees(q, x)
    np.testing.assert_array_equal(exported.integer_model(x), logits)


def _untrained(name):
    torch.manual_seed(0)
    return models.build(name).eval()


@pytest.mark.parametrize("a_bits", [4, 8, 12])  # 12: the int64 code path, not the uint8 one
def test_ties_are_coded_alike_in_both_models(a_bits):
    """Inputs whose float32 quotient ``x / step`` is exactly a tie (k + 1/2) while the float64
    quotient of the same numbers is not: coded in different precisions they round to
    different codes, so the two models agree only if both code in the input's own dtype."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(48, 4))
    policy = BitPolicy({"0": (4, a_bits), "3": (4, a_bits)})
    q = quantize_model(net, policy, calibration=torch.rand(16, 2, 4, 4)).eval()
    step = q[0].act_quantizer.scale.detach().reshape(())
    hi = 2**a_bits - 1
    k = torch.randint(0, hi, (64, 2, 4, 4), generator=torch.Generator().manual_seed(1))
    x = ((k + 0.5) * step).float()
    quotient32, quotient64 = x / step, x.double() / step.double()
    split = torch.round(quotient32).double() != torch.round(quotient64)
    assert split.float().mean() > 0.1  # the precondition: many first-layer codes would split
    logits = integer_model(q)(x)
    np.testing.assert_array_equal(logits, predict_logits(q, x).numpy())


# ---------------------------------------------------------------- binary (+-1) layers
@settings(max_examples=12, deadline=None)
@given(
    a_bits=st.sampled_from([1, 1, 2, 4]),
    cin=st.integers(1, 6),
    cout=st.integers(1, 6),
    kernel=st.sampled_from([1, 3]),
    groups=st.sampled_from([1, 2]),
    stride=st.sampled_from([1, 2]),
    hw=st.integers(3, 8),
    seed=st.integers(0, 99),
)
def test_binary_conv_layer_against_integer_torch(
    a_bits, cin, cout, kernel, groups, stride, hw, seed
):
    """W1 (+-1 weights, XNOR-Net's mean |W| per channel) on a signed input (binary at 1 bit):
    the integer model equals integer torch math on codes derived with numpy, and the
    fake-quantized model bit for bit."""
    cin, cout = cin * groups, cout * groups
    g = torch.Generator().manual_seed(seed)
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
    x = torch.randn(2, cin, hw, hw, generator=g).double()
    net = nn.Sequential(conv).double()
    q = quantize_model(net, BitPolicy({"0": (1, a_bits)}), calibration=x)
    state = q[0].quant_state()
    assert state.w_encoding == "bipolar"
    assert state.a_encoding == ("bipolar" if a_bits == 1 else "signed")
    w = conv.weight.detach().double().numpy()
    w_codes = np.where(w >= 0, 1, -1)
    np.testing.assert_array_equal(state.w_codes, w_codes)
    np.testing.assert_allclose(state.w_scale, np.abs(w).reshape(cout, -1).mean(1), rtol=1e-12)
    xn = x.numpy()
    if a_bits == 1:
        a_codes = np.where(xn >= 0, 1.0, -1.0)
    else:
        hi = 2 ** (a_bits - 1) - 1
        a_codes = np.clip(np.round(xn / state.a_scale), -hi, hi)
    acc = torch.nn.functional.conv2d(
        torch.from_numpy(a_codes).long(),
        torch.from_numpy(w_codes).long(),
        stride=stride,
        padding=kernel // 2,
        groups=groups,
    ).numpy()
    expect = acc * state.a_scale * state.w_scale.reshape(1, -1, 1, 1)
    expect += state.bias.reshape(1, -1, 1, 1)
    got = integer_model(q)(x)
    np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got, predict_logits(q, x).numpy())


@settings(max_examples=8, deadline=None)
@given(
    channels=st.integers(1, 8),
    hw=st.integers(2, 6),
    hidden=st.integers(1, 40),
    first=st.sampled_from([1, 8]),
    seed=st.integers(0, 99),
)
def test_binary_network_integer_model_equals_fake_quantized(channels, hw, hidden, first, seed):
    """A +-1 network as XNOR-Net and FINN build one: BatchNorm before each binary layer (no
    ReLU, so its inputs are signed and code as +-1), the first layer at ``first`` bits. The
    integer model's logits equal the fake-quantized model's bit for bit, agree with the
    straight-through float64 formula, and export says every operand's encoding."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1),
        nn.BatchNorm2d(channels),
        nn.Conv2d(channels, channels, 3, padding=1),
        nn.BatchNorm2d(channels),
        nn.Flatten(),
        nn.Linear(channels * hw * hw, hidden),
        nn.BatchNorm1d(hidden),
        nn.Linear(hidden, 4),
    )
    x = torch.randn(16, 3, hw, hw)
    with torch.no_grad():  # BatchNorm statistics of x itself: its outputs are centred, signed
        for m in net:
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                m.momentum = 1.0
        net.train()(x)
    net.eval()
    policy = BitPolicy({"0": (first, first), "2": (1, 1), "5": (1, 1), "7": (1, 1)})
    q = quantize_model(net, policy, calibration=x)
    _assert_integer_model_agrees(q, x)
    exported = export(q, x)
    for name in ("2", "5", "7"):
        assert exported.policy.encoding(name) == ("bipolar", "bipolar")
        # Statistics: every +-1 weight is one term; a +-1 activation counts its stored bit
        # (+1 is 1), the work left once the filter's weight sum is folded into the bias.
        stats = exported.policy.stats[name]
        assert stats.w_plane_density == (1.0,)
        a_codes = exported.integer_model.record_activation_codes(x)[name]
        assert stats.a_plane_density[0] == pytest.approx(float((a_codes > 0).mean()))
    np.testing.assert_array_equal(exported.integer_model(x), integer_model(q)(x))
