"""Per-layer sensitivity: how much the loss rises when one layer alone drops to fewer bits.

The exact allocator treats the network's loss increase as a sum of per-layer terms (the usual
additive approximation of HAWQ and its successors): ``sens[l, i, j]`` is the calibration loss
with layer ``l`` at ``(w_bits[i], a_bits[j])`` and every other layer at the reference bits,
minus the loss with every layer at the reference bits. One forward pass per (layer, option);
the moved layer's quantizer steps are refitted to its data at the option's bits (a 2-bit
option is measured with a 2-bit clipping range, not the 8-bit one), while the other layers keep
the steps fitted at the reference bits.

:func:`hessian_sensitivity` is the second-order view of the same table (HAWQ-V2), for when a
forward pass per option is too many: the loss increase of perturbing ``v`` (a layer's weights or
its input) by its quantization error ``e`` is about ``1/2 e^T H e ~ 1/2 (trace(H) / n) |e|^2``,
with the trace from Hutchinson's estimator (:func:`hessian_trace`). It costs ``probes``
Hessian-vector products per calibration batch, whatever the number of options.

Both measure on a calibration subset (the first ``samples`` training images, unaugmented), in
batches of ``batch_size``, on the model's device.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from hwsim.errors import check, check_bits
from hwsim.policy import BitPolicy
from models.data import calibration
from quant.model import model_device, quantize_model, quantized_layers

DEFAULT_SAMPLES = 256
DEFAULT_BATCH = 256
SENSITIVITIES = ("loss", "hessian")
LOG_EVERY_S = 30.0

Batches = list[tuple[torch.Tensor, torch.Tensor]]


def calibration_split(
    data: Any, samples: int = DEFAULT_SAMPLES, *, workers: int = 0
) -> tuple[torch.Tensor, ...]:
    """The first ``samples`` training images and labels: what sensitivities are measured on."""
    return calibration(data, samples, workers=workers)


def calibration_batches(
    model: nn.Module,
    data: Any,
    samples: int = DEFAULT_SAMPLES,
    batch_size: int = DEFAULT_BATCH,
    workers: int = 0,
) -> Batches:
    """The calibration subset in batches of ``batch_size``, on ``model``'s device."""
    check(
        isinstance(batch_size, int) and batch_size >= 1,
        "batch_size",
        batch_size,
        "must be an integer >= 1",
    )
    x, y = calibration_split(data, samples, workers=workers)
    device = model_device(model)
    return [
        (x[i : i + batch_size].to(device), y[i : i + batch_size].to(device))
        for i in range(0, len(x), batch_size)
    ]


def mean_loss(model: nn.Module, batches: Batches) -> float:
    """Cross entropy of ``model`` over all of ``batches`` (each weighted by its size)."""
    total = sum(float(F.cross_entropy(model(xb), yb)) * len(yb) for xb, yb in batches)
    return total / sum(len(yb) for _, yb in batches)


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
    batch_size: int = DEFAULT_BATCH,
    workers: int = 0,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> np.ndarray:
    """Loss increase ``[layer, w option, a option]`` of the float ``model`` quantized at
    ``reference`` bits, when one layer at a time moves to each candidate pair.

    ``log``, if given, gets a line with the layers done and an estimate of the time left, at
    most every :data:`LOG_EVERY_S` seconds."""
    w_opts, a_opts, ref = _options(w_bits, a_bits, reference)
    batches = calibration_batches(model, data, samples, batch_size, workers)
    qmodel, layers, inputs = _reference_model(model, batches, layer_names, ref)
    base = mean_loss(qmodel, batches)
    out = np.empty((len(layer_names), len(w_opts), len(a_opts)))
    began = last = time.perf_counter()
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
                out[li, i, j] = mean_loss(qmodel, batches) - base
                bar.update()
        wq.bits, aq.bits = ref
        wq.scale.data, aq.scale.data = saved
        now = time.perf_counter()
        if log is not None and now - last >= LOG_EVERY_S and li + 1 < len(layer_names):
            left = (now - began) / (li + 1) * (len(layer_names) - li - 1)
            log(f"sensitivity: {li + 1}/{len(layer_names)} layers, about {left:.0f} s left")
            last = now
    bar.close()
    return out


def _options(
    w_bits: Sequence[int], a_bits: Sequence[int], reference: tuple[int, int]
) -> tuple[list[int], list[int], tuple[int, int]]:
    w_opts = [check_bits("w_bits", b) for b in w_bits]
    a_opts = [check_bits("a_bits", b) for b in a_bits]
    ref = (
        check_bits("reference.w_bits", reference[0]),
        check_bits("reference.a_bits", reference[1]),
    )
    # Signed symmetric codes need two bits; the weights are signed.
    check(min(w_opts) >= 2, "w_bits", list(w_bits), "weight candidates need at least 2 bits")
    return w_opts, a_opts, ref


def _reference_model(
    model: nn.Module, batches: Batches, layer_names: Sequence[str], ref: tuple[int, int]
) -> tuple[nn.Module, dict[str, nn.Module], list[torch.Tensor]]:
    """``model`` quantized at ``ref`` bits and calibrated on ``batches`` (eval mode), its
    quantized layers, and the input each named layer sees over all the batches."""
    xs = [xb for xb, _ in batches]
    qmodel = quantize_model(model, BitPolicy({n: ref for n in layer_names}), calibration=xs)
    qmodel.eval()
    layers = quantized_layers(qmodel)
    return qmodel, layers, _layer_inputs(qmodel, [layers[n] for n in layer_names], xs)


def _fitted(quantizer: nn.Module, bits: int, x: torch.Tensor) -> torch.Tensor:
    """The step ``quantizer`` fits to ``x`` at ``bits`` (its bits are left at ``bits``)."""
    quantizer.bits = bits
    quantizer.calibrate(x)
    return quantizer.scale.detach().clone()


def _layer_inputs(model: nn.Module, layers: list[nn.Module], xs: list[torch.Tensor]) -> list:
    """The input each of ``layers`` receives when ``model`` runs on the batches ``xs``."""
    seen: dict[int, list[torch.Tensor]] = {i: [] for i in range(len(layers))}
    hooks = [
        layer.register_forward_pre_hook(lambda module, args, i=i: seen[i].append(args[0].detach()))
        for i, layer in enumerate(layers)
    ]
    try:
        for x in xs:
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return [torch.cat(seen[i]) for i in range(len(layers))]


def hessian_trace(
    model: nn.Module,
    data: Any,
    layer_names: Sequence[str],
    *,
    probes: int = 16,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH,
) -> np.ndarray:
    """Hutchinson estimate of ``trace(H_l)`` of the loss Hessian w.r.t. each layer's weights.

    ``E[v^T H v] = trace(H)`` for Rademacher ``v``; each probe costs one Hessian-vector product
    (a double backward). Divide by the parameter count for the mean curvature HAWQ-V2 uses.
    """
    batches = calibration_batches(model, data, samples, batch_size)
    return _traces(model, batches, layer_names, probes, seed)[0]


def _traces(
    model: nn.Module, batches: Batches, layer_names: Sequence[str], probes: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hutchinson traces of the loss Hessian w.r.t. each layer's weights and w.r.t. its
    input, and the input's element count, over ``batches`` (the loss is their size-weighted
    mean, so each batch's traces count by its share of the samples)."""
    check(isinstance(probes, int) and probes >= 1, "probes", probes, "must be >= 1")
    modules = dict(model.named_modules())
    missing = [n for n in layer_names if n not in modules]
    check(not missing, "layer_names", missing[:10], "not modules of the model")
    params = [modules[n].weight for n in layer_names]
    n_layers, total = len(params), sum(len(yb) for _, yb in batches)
    # Probes are drawn on the CPU: the same seed probes the same directions on every device.
    gen = torch.Generator().manual_seed(seed)
    w_traces, a_traces, a_sizes = np.zeros(n_layers), np.zeros(n_layers), np.zeros(n_layers)
    was_training = model.training
    model.eval()
    try:
        for xb, yb in batches:
            # A zero added to each layer's input makes that input a leaf to differentiate by.
            shifts: dict[int, torch.Tensor] = {}

            def shift(module, args, i, shifts=shifts):
                shifts[i] = torch.zeros_like(args[0], requires_grad=True)
                return (args[0] + shifts[i], *args[1:])

            hooks = [
                modules[n].register_forward_pre_hook(lambda m, a, i=i: shift(m, a, i))
                for i, n in enumerate(layer_names)
            ]
            try:
                loss = F.cross_entropy(model(xb), yb)
            finally:
                for h in hooks:
                    h.remove()
            leaves = [*params, *(shifts[i] for i in range(n_layers))]
            grads = torch.autograd.grad(loss, leaves, create_graph=True)
            sums = np.zeros(2 * n_layers)
            for _ in range(probes):
                # Weights and inputs are probed apart: probed together, the large input blocks'
                # cross terms swamp the weight traces (zero mean, but a huge variance).
                for side in (slice(0, n_layers), slice(n_layers, 2 * n_layers)):
                    vs = [
                        (torch.randint(0, 2, t.shape, generator=gen) * 2 - 1).to(t.device, t.dtype)
                        for t in leaves[side]
                    ]
                    hvs = torch.autograd.grad(
                        grads[side],
                        leaves[side],
                        grad_outputs=vs,
                        retain_graph=True,
                        allow_unused=True,
                    )
                    sums[side] += [
                        0.0 if h is None else float((h * v).sum())
                        for h, v in zip(hvs, vs, strict=True)
                    ]
            share = len(yb) / total
            w_traces += share * sums[:n_layers] / probes
            a_traces += share * sums[n_layers:] / probes
            a_sizes += [shifts[i].numel() for i in range(n_layers)]
    finally:
        model.train(was_training)
    return w_traces, a_traces, a_sizes


def hessian_sensitivity(
    model: nn.Module,
    data: Any,
    layer_names: Sequence[str],
    w_bits: Sequence[int],
    a_bits: Sequence[int],
    *,
    reference: tuple[int, int] = (8, 8),
    samples: int = DEFAULT_SAMPLES,
    batch_size: int = DEFAULT_BATCH,
    workers: int = 0,
    probes: int = 16,
    seed: int = 0,
) -> np.ndarray:
    """Second-order estimate of :func:`layer_sensitivity`'s table: for layer ``l`` at
    ``(w, a)``, ``1/2 c_w (|Q_w(W) - W|^2 - ref) + 1/2 c_a (|Q_a(X) - X|^2 - ref)`` with ``c``
    the mean curvature (Hessian trace over element count) of the float model's loss w.r.t. the
    layer's weights ``W`` and its input ``X``, each quantizer's step fitted at its bits as in
    the reference-quantized model, and ``ref`` the same error at the reference bits (so the
    reference option costs 0). A curvature estimated below zero counts as zero."""
    w_opts, a_opts, ref = _options(w_bits, a_bits, reference)
    batches = calibration_batches(model, data, samples, batch_size, workers)
    w_traces, a_traces, a_sizes = _traces(model, batches, layer_names, probes, seed)
    with torch.no_grad():
        _, layers, inputs = _reference_model(model, batches, layer_names, ref)
        out = np.empty((len(layer_names), len(w_opts), len(a_opts)))
        for li, name in enumerate(layer_names):
            layer = layers[name]
            w = layer.weight.detach()
            # A negative estimate is probe noise (all layers are probed together, so the others
            # add zero-mean cross terms) or a saddle; in the second-order model fewer
            # bits would then lower the loss, which no allocator should believe.
            w_curv = max(w_traces[li], 0.0) / w.numel()
            a_curv = max(a_traces[li], 0.0) / a_sizes[li]
            w_err = [_squared_error(layer.weight_quantizer, b, w) for b in (*w_opts, ref[0])]
            a_err = [_squared_error(layer.act_quantizer, b, inputs[li]) for b in (*a_opts, ref[1])]
            # Scale |e|^2 to one pass's share: the traces are of the mean loss over the subset.
            w_term = 0.5 * w_curv * (np.array(w_err[:-1]) - w_err[-1])
            a_term = 0.5 * a_curv * (np.array(a_err[:-1]) - a_err[-1])
            out[li] = w_term[:, None] + a_term[None, :]
    return out


def _squared_error(quantizer: nn.Module, bits: int, x: torch.Tensor) -> float:
    """``|Q(x) - x|^2`` with ``quantizer``'s step fitted to ``x`` at ``bits``."""
    _fitted(quantizer, bits, x)
    quantizer.eval()
    return float((quantizer(x) - x).pow(2).sum())
