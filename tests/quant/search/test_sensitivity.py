"""Sensitivities equal the loss of a model quantized from scratch at that one-layer policy."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import models
from hwsim import BitPolicy
from models.data import load_dataset
from quant.layers import quantize_layer
from quant.model import quantize_model, quantized_layers, replace_module
from quant.search.sensitivity import hessian_trace, layer_sensitivity
from tests.processes import default_sigint


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = models.build("mlp_digits").eval()
    return model, load_dataset("digits", seed=0), ["fc1", "fc2", "fc3"]


def test_matches_an_independent_quantization(setup):
    model, data, names = setup
    w_opts, a_opts = (2, 4), (3, 8)
    sens = layer_sensitivity(model, data, names, w_opts, a_opts, samples=64, progress=False)
    x, y = data.x_train[:64], data.y_train[:64]

    def loss(layer=None, bits=None):
        # Reference model; then one layer swapped for a fresh quantized copy of the float
        # layer whose steps are fitted to what that layer sees. Downstream steps stay at their
        # reference fit, as in the sensitivity definition.
        q = quantize_model(model, BitPolicy(dict.fromkeys(names, (8, 8))), calibration=x).eval()
        if layer is not None:
            seen = []
            h = q.get_submodule(layer).register_forward_pre_hook(lambda m, a: seen.append(a[0]))
            with torch.no_grad():
                q(x)
            h.remove()
            fresh = quantize_layer(model.get_submodule(layer), *bits)
            fresh.act_quantizer.calibrate(seen[0])
            replace_module(q, layer, fresh.eval())
        with torch.no_grad():
            return float(F.cross_entropy(q(x), y))

    base = loss()
    for li, i, j in [(0, 0, 0), (1, 1, 0), (2, 0, 1)]:
        expected = loss(names[li], (w_opts[i], a_opts[j])) - base
        assert sens[li, i, j] == pytest.approx(expected, abs=1e-5)
    # The reference option itself changes nothing.
    same = layer_sensitivity(model, data, names[:1], (8,), (8,), samples=64, progress=False)
    assert same[0, 0, 0] == pytest.approx(0.0, abs=1e-6)


def test_hessian_trace_of_a_quadratic_is_exact():
    # Loss = CE of a linear model is not quadratic, so test the estimator on the model's own
    # double backward against torch.autograd.functional.hessian on a tiny layer.
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x = torch.randn(16, 1, 2, 2)
    y = torch.randint(0, 3, (16,))

    class Data:
        x_train, y_train = x, y

    w0 = net[1].weight.detach().clone()

    def f(w):
        return F.cross_entropy(F.linear(x.flatten(1), w, net[1].bias), y)

    exact = float(torch.autograd.functional.hessian(f, w0).reshape(12, 12).trace())
    est = hessian_trace(net, Data, ["1"], probes=1000, samples=16)
    assert est[0] == pytest.approx(exact, rel=0.15)
    assert np.isfinite(est).all()


def test_batches_give_the_one_batch_table(setup):
    model, data, names = setup
    kw = {"samples": 48, "progress": False}
    whole = layer_sensitivity(model, data, names, (2, 8), (4, 8), **kw)
    batched = layer_sensitivity(model, data, names, (2, 8), (4, 8), batch_size=20, **kw)
    np.testing.assert_allclose(batched, whole, atol=1e-5)


def test_input_hessian_trace_is_exact_on_a_linear_layer():
    from quant.search.sensitivity import _traces

    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x, y = torch.randn(6, 4), torch.randint(0, 3, (6,))

    def f(inp):
        return F.cross_entropy(net[1](inp), y)

    exact = float(torch.autograd.functional.hessian(f, x).reshape(24, 24).trace())
    # two batches of 3: the loss is their mean, so each counts half
    batches = [(x[:3], y[:3]), (x[3:], y[3:])]
    _, a_tr, a_size = _traces(net, batches, ["1"], probes=2000, seed=0)
    assert a_tr[0] == pytest.approx(exact, rel=0.15) and a_size[0] == 24


def test_hessian_table_is_zero_at_the_reference_and_grows_with_fewer_bits(setup):
    from quant.search.sensitivity import hessian_sensitivity

    model, data, names = setup
    opts = (2, 3, 4, 8)
    table = hessian_sensitivity(model, data, names, opts, opts, samples=64, probes=8)
    assert table.shape == (3, 4, 4)
    np.testing.assert_allclose(table[:, -1, -1], 0, atol=1e-9)
    # The quantization error shrinks as bits grow and curvatures count as >= 0: no entry grows
    # with more bits and none is negative. The last layer feeds CE directly: convex in its
    # input, so its input curvature is positive and 2 bits cost something there.
    assert np.all(np.diff(table, axis=1) <= 1e-12) and np.all(np.diff(table, axis=2) <= 1e-12)
    assert np.all(table >= -1e-12) and table[2, 0, 0] > 0


@pytest.mark.parametrize("name", ["resnet_digits", "vit_digits"])
def test_replayed_prefix_gives_the_whole_pass_table(name, monkeypatch):
    # Residual blocks (a ReLU module called twice, in-place ReLUs) and attention (the
    # activation x activation products are layers too): replaying what precedes each layer must
    # give the table whole forward passes give, over uneven batches.
    import quant.search.sensitivity as sensitivity
    from models import extract_workload

    torch.manual_seed(0)
    model = models.build(name).eval()
    data = load_dataset("digits", seed=0)
    names = extract_workload(model, data.x_train[:1]).layer_names
    calls: list[int] = []

    def counted(*args, **kwargs):
        # Count the first layer's own computations: a replayed prefix skips them. (Its
        # quantizers' forward is not the count: a pass with no gradient codes on the integer
        # path, quant.layers.QuantLayerMixin._forward, without calling them.)
        q = quantize_model(*args, **kwargs)
        scan = len(calls)
        calls.append(0)

        layer = quantized_layers(q)[names[0]]
        own = layer._forward

        def count(*args, **kwargs):
            calls[scan] += 1
            return own(*args, **kwargs)

        layer._forward = count
        return q

    monkeypatch.setattr(sensitivity, "quantize_model", counted)
    kw = {"samples": 40, "batch_size": 24, "progress": False}
    fast = layer_sensitivity(model, data, names, (2, 8), (3, 8), **kw)
    whole = layer_sensitivity(model, data, names, (2, 8), (3, 8), reuse_prefix=False, **kw)
    assert np.abs(whole).max() > 1e-3  # the options do move the loss
    np.testing.assert_allclose(fast, whole, rtol=1e-5, atol=1e-6)
    assert calls[0] < calls[1] / 2


class _DoublesItsInput(nn.Module):
    """Works in place on its input after its own layer ran: not idempotent, so a replayed
    input that were not put back would double again in each later pass."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        return h + x.mul_(2)


def test_replayed_outputs_changed_in_place_are_put_back():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 16), _DoublesItsInput(), nn.ReLU(), nn.Linear(16, 10)
    ).eval()
    data = load_dataset("digits", seed=0)
    names = ["1", "2.fc", "4"]
    kw = {"samples": 40, "batch_size": 24, "progress": False}
    fast = layer_sensitivity(model, data, names, (2, 4, 8), (2, 8), **kw)
    whole = layer_sensitivity(model, data, names, (2, 4, 8), (2, 8), reuse_prefix=False, **kw)
    assert np.abs(whole[1]).max() > 1e-3
    np.testing.assert_allclose(fast, whole, rtol=1e-5, atol=1e-6)


def test_channels_last_passes_give_the_usual_layout_table():
    torch.manual_seed(0)
    model = models.build("resnet_digits").eval()
    data = load_dataset("digits", seed=0)
    names = ["conv1", "layer1.0.conv1", "layer2.0.downsample.0", "fc"]
    kw = {"samples": 40, "batch_size": 24, "progress": False}
    fast = layer_sensitivity(model, data, names, (2, 8), (3, 8), **kw)
    plain = layer_sensitivity(model, data, names, (2, 8), (3, 8), channels_last=False, **kw)
    assert np.abs(plain).max() > 1e-3
    np.testing.assert_allclose(fast, plain, rtol=1e-5, atol=1e-7)


def test_layers_split_over_processes_give_the_same_table_bit_for_bit():
    """Two worker processes (each on one thread) compute exactly the one-process table: a
    layer's row does not depend on the layers beside it. A short scan stays in-process."""
    torch.manual_seed(0)
    model = models.build("resnet_digits").eval()
    data = load_dataset("digits", seed=0)
    names = ["conv1", "layer1.0.conv1", "layer2.0.downsample.0", "fc"]
    kw = {"samples": 40, "batch_size": 24, "progress": False}
    lines = []
    one = layer_sensitivity(model, data, names, (2, 8), (3, 8), **kw)
    two = layer_sensitivity(model, data, names, (2, 8), (3, 8), processes=2, log=lines.append, **kw)
    assert np.abs(one).max() > 1e-3
    np.testing.assert_array_equal(two, one)
    assert lines[0] == "sensitivity: 4 layers over 2 processes"
    lines.clear()
    auto = layer_sensitivity(
        model, data, names, (2, 8), (3, 8), processes=None, log=lines.append, **kw
    )
    np.testing.assert_array_equal(auto, one)
    assert lines == []  # a scan of a fraction of a second is not worth a worker


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_processes_is_validated_by_name(setup, bad):
    from hwsim import HwsimError

    model, data, names = setup
    with pytest.raises(HwsimError) as err:
        layer_sensitivity(model, data, names, (2, 8), (4, 8), processes=bad, progress=False)
    assert err.value.field == "processes"


def test_split_scan_reports_progress_from_this_process(monkeypatch):
    """The workers' layers are counted here, so the progress lines reach any stream (a log
    file, a pipe), not only a terminal's bar."""
    import quant.search.sensitivity as sens

    monkeypatch.setattr(sens, "LOG_EVERY_S", 0.0)
    torch.manual_seed(0)
    model = models.build("resnet_digits").eval()
    data = load_dataset("digits", seed=0)
    names = ["conv1", "layer1.0.conv1", "layer2.0.downsample.0", "fc"]
    lines: list[str] = []
    layer_sensitivity(
        model, data, names, (2, 8), (3, 8), processes=2, log=lines.append, samples=40,
        batch_size=24, progress=False,
    )  # fmt: skip
    counts = [
        int(m.group(1)) for m in map(re.compile(r"sensitivity: (\d+)/4 layers").match, lines) if m
    ]
    assert counts, lines
    assert counts == sorted(counts) and counts[-1] <= 4


SIGINT_SCRIPT = """
import sys, torch, models
from models.data import load_dataset
from quant.search.sensitivity import layer_sensitivity
torch.manual_seed(0)
model = models.build("resnet_digits").eval()
data = load_dataset("digits", seed=0)
names = [n for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
def log(line):
    print(line, file=sys.stderr, flush=True)
if __name__ == "__main__":
    try:
        layer_sensitivity(model, data, names, (2, 3, 4, 6, 8), (2, 3, 4, 6, 8), processes=2,
                          log=log, samples=256, progress=False)
    except KeyboardInterrupt:
        print("clean: interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
"""


@pytest.mark.slow
# A scan of this script takes about 4 s on two quiet cores, 1.5 s of it the workers' start: at
# 2 s they scan (8 s, as before, came after the scan had finished on a quiet machine).
@pytest.mark.parametrize("delay", [0.5, 2.0])
def test_ctrl_c_during_a_split_scan_prints_no_worker_traceback(tmp_path, delay):
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "scan.py"
    script.write_text(SIGINT_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=default_sigint,
    )
    first = proc.stderr.readline()
    assert "over 2 processes" in first, first
    time.sleep(delay)  # while the workers import torch, or once they scan
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends: the whole group
    err = first + proc.stderr.read()
    assert proc.wait(timeout=60) == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1] == "clean: interrupted"
