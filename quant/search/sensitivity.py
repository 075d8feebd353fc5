"""Per-layer sensitivity: how much the loss rises when one layer alone drops to fewer bits.

The exact allocator treats the network's loss increase as a sum of per-layer terms (the usual
additive approximation of HAWQ and its successors): ``sens[l, i, j]`` is the calibration loss
with layer ``l`` at ``(w_bits[i], a_bits[j])`` and every other layer at the reference bits,
minus the loss with every layer at the reference bits. One forward pass per (layer, option);
the moved layer's quantizer steps are refitted to its data at the option's bits (a 2-bit
option is measured with a 2-bit clipping range, not the 8-bit one), while the other layers keep
the steps fitted at the reference bits.

:func:`hessian_trace` is the optional second-order view (Hutchinson's estimator of the trace of
each layer's weight Hessian), for when a forward pass per option is too many.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from hwsim.errors import check, check_bits
from hwsim.policy import BitPolicy
from quant.model import quantize_model, quantized_layers

DEFAULT_SAMPLES = 256


def calibration_split(data: Any, samples: int = DEFAULT_SAMPLES) -> tuple[torch.Tensor, ...]:
    """The first ``samples`` training images and labels: what sensitivities are measured on."""
    check(isinstance(samples, int) and samples >= 1, "samples", samples, "must be >= 1")
    return data.x_train[:samples], data.y_train[:samples]


@torch.no_grad()
def layer_sensitivity(
    model: nn.Module,
    data: Any,
    layer_names: Sequence[str],
    w_bits: Sequence[int],
    a_bits: Sequence[int],
    *,
    reference: tuple[int, int] = (8, 8),
    samples: int = DEFAULT_SAMPLES,
    progress: bool | None = None,
) -> np.ndarray:
    """Loss increase ``[layer, w option, a option]`` of the float ``model`` quantized at
    ``reference`` bits, when one layer at a time moves to each candidate pair."""
    w_opts = [check_bits("w_bits", b) for b in w_bits]
    a_opts = [check_bits("a_bits", b) for b in a_bits]
    ref = (
        check_bits("reference.w_bits", reference[0]),
        check_bits("reference.a_bits", reference[1]),
    )
    # Signed symmetric codes need two bits; the weights are signed.
    check(min(w_opts) >= 2, "w_bits", list(w_bits), "weight candidates need at least 2 bits")
    x, y = calibration_split(data, samples)
    qmodel = quantize_model(model, BitPolicy({n: ref for n in layer_names}), calibration=x)
    qmodel.eval()
    layers = quantized_layers(qmodel)
    inputs = _layer_inputs(qmodel, [layers[n] for n in layer_names], x)
    base = float(F.cross_entropy(qmodel(x), y))
    out = np.empty((len(layer_names), len(w_opts), len(a_opts)))
    total = len(layer_names) * len(w_opts) * len(a_opts)
    bar = tqdm(
        total=total,
        desc="sensitivity",
        disable=None if progress is None else not progress,
        leave=False,
    )
    for li, name in enumerate(layer_names):
        layer = layers[name]
        wq, aq = layer.weight_quantizer, layer.act_quantizer
        saved = (wq.scale.detach().clone(), aq.scale.detach().clone())
        # A step depends on its own side's bits only: fit each once, then combine.
        w_steps = [_fitted(wq, b, layer.weight) for b in w_opts]
        a_steps = [_fitted(aq, b, inputs[li]) for b in a_opts]
        for i, wb in enumerate(w_opts):
            wq.bits = wb
            wq.scale.data = w_steps[i].clone()  # the bits setter rescales in place
            for j, ab in enumerate(a_opts):
                aq.bits = ab
                aq.scale.data = a_steps[j].clone()
                out[li, i, j] = float(F.cross_entropy(qmodel(x), y)) - base
                bar.update()
        wq.bits, aq.bits = ref
        wq.scale.data, aq.scale.data = saved
    bar.close()
    return out


def _fitted(quantizer: nn.Module, bits: int, x: torch.Tensor) -> torch.Tensor:
    """The step ``quantizer`` fits to ``x`` at ``bits`` (its bits are left at ``bits``)."""
    quantizer.bits = bits
    quantizer.calibrate(x)
    return quantizer.scale.detach().clone()


def _layer_inputs(model: nn.Module, layers: list[nn.Module], x: torch.Tensor) -> list:
    """The input each of ``layers`` receives when ``model`` runs on ``x``."""
    seen: dict[int, torch.Tensor] = {}
    hooks = [
        layer.register_forward_pre_hook(
            lambda module, args, i=i: seen.__setitem__(i, args[0].detach())
        )
        for i, layer in enumerate(layers)
    ]
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    return [seen[i] for i in range(len(layers))]


def hessian_trace(
    model: nn.Module,
    data: Any,
    layer_names: Sequence[str],
    *,
    probes: int = 16,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
) -> np.ndarray:
    """Hutchinson estimate of ``trace(H_l)`` of the loss Hessian w.r.t. each layer's weights.

    ``E[v^T H v] = trace(H)`` for Rademacher ``v``; each probe costs one Hessian-vector product
    (a double backward). Divide by the parameter count for the mean curvature HAWQ-V2 uses.
    """
    check(isinstance(probes, int) and probes >= 1, "probes", probes, "must be >= 1")
    modules = dict(model.named_modules())
    missing = [n for n in layer_names if n not in modules]
    check(not missing, "layer_names", missing[:10], "not modules of the model")
    params = [modules[n].weight for n in layer_names]
    x, y = calibration_split(data, samples)
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    traces = np.zeros(len(params))
    try:
        loss = F.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        for _ in range(probes):
            vs = [torch.randint(0, 2, p.shape, generator=gen).to(p.dtype) * 2 - 1 for p in params]
            hvs = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=True)
            traces += np.array([float((h * v).sum()) for h, v in zip(hvs, vs, strict=True)])
    finally:
        model.train(was_training)
    return traces / probes
