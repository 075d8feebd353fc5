"""Direct Quantization (after Hoang, Do, Nguyen, Cheung, IJCAI 2020).

**A reconstruction.** Only the paper's abstract could be read (see docs/methods.md, section 3), so
what follows implements its two stated ideas in one plausible way, not the authors' algorithm:

1. *Weights are updated as quantized values over learnable levels.* Each layer's weight is held
   only as integer codes ``z`` (one per weight) on a level vector ``v_k = k * step_c`` (one step
   per output channel; the levels stay uniform so hwsim's integer kernels can run them). There
   is no latent float copy: :class:`DirectOptimizer` proposes ``W' = W_q - lr * step * u``
   (``u`` the gradient normalised by Adam-style moments, so ``lr`` is measured in level gaps),
   re-assigns every weight to its nearest level, and moves each channel's levels by their
   assigned gradients, ``dL/dstep_c = sum_i g_i z_i`` (the sum over levels of
   ``k * dL/dv_k``). A weight moves only when its normalised update is more than half a gap.
2. *Activation quantizers serve the majority of channels.* :class:`ChannelAwareQuantizer` picks
   the layer's clipping range to minimise the **median over channels** of each channel's
   quantization MSE normalised by its energy, instead of one layer-wide error that a few
   high-variance channels dominate.

Registered as method ``"direct"``: ``quantize_model(model, DirectConfig(2, 2), calibration=d)``
then :func:`train_direct`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from hwsim.errors import check, check_bits
from quant.layers import default_act_quantizer
from quant.methods import (
    SearchProblem,
    SearchResult,
    check_count,
    register_method,
    require_dataset,
)
from quant.model import (
    calibrate,
    current_policy,
    quantizable_layers,
    quantize_layers,
    quantized_layers,
)
from quant.quantizers import (
    SCALE_INITS,
    UniformQuantizer,
    _broadcast,
    bipolar_values,
    quantizer_range,
)
from quant.train import train

ACT_RANGES = ("channel", "layer")
"""Activation clipping: channel-aware median (DQ) or the layer-wide MSE."""

_CLIP_GRID = 96  # candidate clips, log-spaced from 1e-3 to 1 of the max-abs


def channel_errors(
    x: Tensor, scale: Tensor | float, bits: int, signed: bool, channel_axis: int = 1
) -> Tensor:
    """Each channel's quantization MSE divided by its mean square (its relative error).

    Channels with no energy (all zero) get NaN: they have no error to speak of.
    """
    lo, hi = quantizer_range(bits, signed)
    err = (torch.clamp(torch.round(x / scale), lo, hi) * scale - x).pow(2)
    dims = tuple(d for d in range(x.dim()) if d != channel_axis)
    energy = x.pow(2).mean(dim=dims)
    rel = err.mean(dim=dims) / energy
    return torch.where(energy > 0, rel, torch.full_like(rel, math.nan))


def channel_aware_scale(x: Tensor, bits: int, signed: bool, channel_axis: int = 1) -> Tensor:
    """The single step minimising the median over channels of the relative quantization error.

    A log-spaced grid of clipping ranges: channels of very different scales need clips far
    below the layer's max-abs to keep the majority's error low.
    """
    x = x.detach()
    hi = quantizer_range(bits, signed)[1]
    amax = float(x.abs().max().clamp_min(1e-12))
    best, best_err = amax / hi, math.inf
    for f in torch.logspace(-3, 0, _CLIP_GRID, dtype=torch.float64).tolist():
        s = amax * f / hi
        err = float(torch.nanmedian(channel_errors(x, s, bits, signed, channel_axis)))
        if err < best_err:
            best, best_err = s, err
    return torch.tensor([best], dtype=x.dtype, device=x.device)


class ChannelAwareQuantizer(UniformQuantizer):
    """A per-tensor activation quantizer whose step is fitted with ``init="channel"``:
    the median-over-channels objective of :func:`channel_aware_scale`."""

    def __init__(
        self,
        bits: int,
        signed: bool | None = None,
        *,
        init: str = "channel",
        learn_scale: bool = False,
        channel_axis: int = 1,
    ) -> None:
        super().__init__(
            bits, signed, per_channel=None, init=init, learn_scale=learn_scale, batch_axis=0
        )
        self.channel_axis = channel_axis

    @classmethod
    def scale_inits(cls) -> tuple[str, ...]:
        return (*SCALE_INITS, "channel")

    def fit_scale(self, x: Tensor) -> Tensor:
        if self.init != "channel" or self.bipolar:  # binary: mean |x| (the least-squares step)
            return super().fit_scale(x)
        bits = 8 if self.bits == 32 else self.bits
        return channel_aware_scale(x, bits, bool(self.signed), self.channel_axis)


class DirectWeightQuantizer(UniformQuantizer):
    """The weight held as codes on per-channel uniform levels, updated by
    :class:`DirectOptimizer` (its step is not an autograd parameter)."""

    def __init__(self, bits: int) -> None:
        super().__init__(bits, True, per_channel=0, init="mse", learn_scale=False)


@dataclass(frozen=True)
class DirectConfig:
    """Direct Quantization at uniform ``w_bits`` / ``a_bits`` on ``layers`` (None: all
    Conv2d/Linear and every attention product, the latter at ``a_bits`` on both operands).
    ``act_range``: ``"channel"`` (DQ) or ``"layer"`` (layer-wide MSE).
    ``finetune_epochs`` of :func:`train_direct` after quantizing (0: quantize only)."""

    w_bits: int = 4
    a_bits: int = 4
    act_range: str = "channel"
    layers: tuple[str, ...] | None = None
    finetune_epochs: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        check_bits("w_bits", self.w_bits)
        check_bits("a_bits", self.a_bits)
        check(
            self.act_range in ACT_RANGES,
            "act_range",
            self.act_range,
            f"must be one of {ACT_RANGES}",
        )
        check_count("finetune_epochs", self.finetune_epochs, 0)
        check_count("seed", self.seed, 0)


def quantize_direct(model: nn.Module, config: DirectConfig, calibration: Any) -> nn.Module:
    """Swap in Direct-Quantization layers (in place) and calibrate the activation ranges.

    Activation x activation products (attention ``#scores`` / ``#values``: two activations,
    no weight to update directly) take part at ``a_bits`` on both operands, their steps fitted
    on the calibration data like every activation's."""
    from quant.products import product_slots

    products = set(product_slots(model))
    names = (
        config.layers
        if config.layers is not None
        else (*quantizable_layers(model), *sorted(products))
    )
    bits = {n: (config.w_bits, config.a_bits) for n in names}
    quantize_layers(model, {n: (config.a_bits, config.a_bits) for n in names if n in products})
    for name in (n for n in names if n not in products):
        w_q = DirectWeightQuantizer(config.w_bits)
        a_q = (
            ChannelAwareQuantizer(config.a_bits)
            if config.act_range == "channel"
            else default_act_quantizer(config.a_bits, learn_scale=False)
        )
        quantize_layers(model, {name: bits[name]}, weight_quantizer=w_q, act_quantizer=a_q)
    snap_weights(model)
    return calibrate(model, calibration)


@torch.no_grad()
def snap_weights(model: nn.Module) -> None:
    """Set every direct layer's weight to its quantized value (codes times step)."""
    for layer in quantized_layers(model).values():
        if isinstance(layer.weight_quantizer, DirectWeightQuantizer):
            codes, step = layer.weight_quantizer.codes(layer.weight)
            layer.weight.copy_(codes * step)


class DirectOptimizer(torch.optim.Optimizer):
    """Direct updates of quantized weights; Adam for every other parameter.

    ``lr``: the direct update measured in level gaps (weights move when the normalised
    gradient times ``lr`` exceeds half a gap); ``level_lr``: the Adam rate on the log of each
    channel's step; ``other_lr``: Adam's rate for biases, BatchNorm and learned steps.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        lr: float = 0.52,
        level_lr: float = 1e-3,
        other_lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        warmup: int = 20,
    ) -> None:
        check(lr > 0, "lr", lr, "must be > 0")
        self.direct = [
            (m.weight, m.weight_quantizer)
            for m in quantized_layers(model).values()
            if isinstance(m.weight_quantizer, DirectWeightQuantizer)
        ]
        direct_ids = {id(w) for w, _ in self.direct}
        others = [p for p in model.parameters() if p.requires_grad and id(p) not in direct_ids]
        params = [w for w, _ in self.direct] + others
        super().__init__(params, {"lr": lr})
        self.inner = torch.optim.Adam(others, lr=other_lr, betas=betas) if others else None
        self.level_lr, self.betas, self.eps, self.warmup = level_lr, betas, eps, warmup
        self.t = 0

    def _moments(self, key: Tensor, name: str, g: Tensor) -> Tensor:
        """Adam's bias-corrected ``m / (sqrt(v) + eps)`` for gradient ``g`` (state per key)."""
        state = self.state.setdefault(key, {})
        m = state.setdefault(f"{name}_m", torch.zeros_like(g))
        v = state.setdefault(f"{name}_v", torch.zeros_like(g))
        b1, b2 = self.betas
        m.mul_(b1).add_(g, alpha=1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        m_hat = m / (1 - b1**self.t)
        v_hat = v / (1 - b2**self.t)
        return m_hat / (v_hat.sqrt() + self.eps)

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:
        self.t += 1
        lr = self.param_groups[0]["lr"]
        for weight, quantizer in self.direct:
            if weight.grad is None:
                continue
            g = weight.grad
            codes, step = quantizer.codes(weight)
            lo, hi = quantizer.quantizer_range
            # Levels: the channel's step moves by the gradient its assigned weights carry.
            dims = tuple(range(1, g.dim()))
            g_step = (g * codes).sum(dim=dims) * quantizer.scale  # d L / d log(step)
            new_scale = quantizer.scale * torch.exp(
                -self.level_lr * self._moments(weight, "level", g_step)
            )
            # Weights: propose W' = W_q - lr * gap * u, then take the nearest level. Until the
            # moments have seen a few batches u is just sign(g): hold the codes meanwhile.
            u = self._moments(weight, "w", g)
            if self.t <= self.warmup:
                u = torch.zeros_like(u)
            proposal = codes * step - lr * step * u
            new_step = _broadcast(new_scale, weight, 0)
            if quantizer.bipolar:  # binary weights: the nearest of the two levels is the sign
                new_codes = bipolar_values(proposal)
            else:
                new_codes = torch.clamp(torch.round(proposal / new_step), lo, hi)
            quantizer.scale.copy_(new_scale)
            weight.copy_(new_codes * new_step)
        if self.inner is not None:
            self.inner.step()


def train_direct(
    model: nn.Module,
    data: Any,
    *,
    epochs: int,
    lr: float = 0.52,
    level_lr: float = 1e-3,
    other_lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool | None = None,
) -> list[float]:
    """Train a model from :func:`quantize_direct` with :class:`DirectOptimizer`."""
    return train(
        model,
        data,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        lr=other_lr,
        progress=progress,
        optimizer=lambda m: DirectOptimizer(m, lr=lr, level_lr=level_lr, other_lr=other_lr),
    )


class Direct:
    """Direct Quantization behind :class:`quant.methods.SearchMethod`: its bits are the
    config's (uniform), so ``search`` quantizes and calibrates a copy (``data``: a dataset,
    a tensor or batches); ``finetune`` runs :func:`train_direct`."""

    name = "direct"
    config_type = DirectConfig
    budgeted = False
    codesign_defaults: Mapping[str, Any] = {}

    def search(
        self,
        model: nn.Module,
        data: Any,
        config: DirectConfig,
        problem: SearchProblem | None = None,
        *,
        progress: bool | None = None,
    ) -> SearchResult:
        check(problem is None, "problem", "given", "direct quantization runs at fixed bits")
        quantized = quantize_direct(copy.deepcopy(model), config, data)
        return SearchResult(quantized, current_policy(quantized))

    def finetune(
        self, result: SearchResult, data: Any, config: DirectConfig, *, progress: bool | None = None
    ) -> nn.Module:
        if config.finetune_epochs > 0:
            require_dataset(data, "direct quantization's fine-tuning")
            train_direct(
                result.model,
                data,
                epochs=config.finetune_epochs,
                seed=config.seed,
                progress=progress,
            )
        return result.model


register_method(Direct())
