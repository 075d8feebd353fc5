"""Quantized convolution and linear layers (fake quantization of weights and inputs).

Each layer quantizes its weight (signed, one step per output channel by default) and its
INPUT activation (one step for the tensor, so the integer accumulate can be rescaled by
``a_scale * w_scale[out_channel]``). The activation's signedness is decided from the
calibration data: unsigned after a ReLU, signed where the input can be negative (the network
input after normalization, a residual sum before its ReLU).

At 1 bit a signed operand is binary (``quant.quantizers``): weights ``sign(W) * mean|W|`` per
output channel (XNOR-Net), a signed activation ``sign(x) * step``; an unsigned 1-bit
activation stays ``{0, step}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hwsim.errors import HwsimError, check_bits
from hwsim.policy import FLOAT_BITS
from quant.quantizers import UniformQuantizer, code_values, quantizer_encoding

_FLOAT32_EXACT = 1 << 24  # every integer below this is a float32
_TF32_EXACT = 1 << 11  # TF32 keeps 11 significant bits of each input (cuDNN convs use it)


def integer_dtype(terms: int, a_max: int, b_max: int, device: torch.device) -> torch.dtype:
    """The float dtype that sums ``terms`` products of codes up to ``a_max`` x ``b_max`` in
    magnitude exactly, in any order: on the CPU float32 while every partial sum is below 2^24
    (and each code survives TF32's inputs), else float64 (exact to 2^53). On an accelerator
    always float64: its float32 convolutions may run as Winograd or FFT transforms (or TF32),
    whose rounding is not an integer sum's."""
    if device.type != "cpu":
        return torch.float64
    if max(a_max, b_max) <= _TF32_EXACT and terms * a_max * b_max < _FLOAT32_EXACT:
        return torch.float32
    return torch.float64


def weight_accumulate_dtype(a_max: int, w_codes: Tensor, device: torch.device) -> torch.dtype:
    """The float dtype that sums one output's products of activation codes up to ``a_max``
    with the weight codes ``w_codes`` (output channel first) exactly, in any order.

    Every partial sum is at most ``a_max * sum(|w|)`` over that output's weights, whatever
    the order: so float32 holds them exactly while that bound, taken over the actual codes,
    stays below 2^24 (and each code survives TF32's inputs). This is far tighter than the
    worst case of :func:`integer_dtype` (every weight at its largest code): a trained 8-bit
    3x3x64 conv fails the worst case and falls to float64, whose convolutions ran 7-13x
    slower than float32 here, while its actual sums fit float32 with room to spare. On an
    accelerator always float64, as :func:`integer_dtype` says why."""
    if device.type != "cpu":
        return torch.float64
    w_max = int(w_codes.abs().max()) if w_codes.numel() else 0
    if max(a_max, w_max) > _TF32_EXACT:
        return torch.float64
    sums = w_codes.abs().reshape(w_codes.shape[0], -1).sum(1)
    bound = a_max * int(sums.max()) if sums.numel() else 0
    return torch.float32 if bound < _FLOAT32_EXACT else torch.float64


def code_max(q: UniformQuantizer) -> int:
    lo, hi = q.quantizer_range
    return max(-lo, hi)


def rescale(acc: Tensor, factor: Tensor | float, bias: Tensor | None, dtype: torch.dtype) -> Tensor:
    """``acc * factor + bias`` in float64, then ``dtype``: the one rescale of an exact integer
    accumulator, shared by a quantized layer's no-gradient pass and the integer model
    (``hwsim.kernels.glue.rescale_accumulators`` computes the same two float64 roundings)."""
    out = acc.to(torch.float64) * factor
    if bias is not None:
        out = out + bias
    return out.to(dtype)


def integer_pass(*quantizers: nn.Module) -> bool:
    """True when a no-gradient pass can run on codes: no gradient can flow and every quantizer
    returns exactly ``codes * step`` (see ``UniformQuantizer.codes_forward``)."""
    return not torch.is_grad_enabled() and all(
        isinstance(q, UniformQuantizer) and q.codes_forward for q in quantizers
    )


@dataclass(frozen=True)
class QuantState:
    """What export needs of one quantized layer: integer weight codes and the scales.

    ``w_codes`` has the weight's shape; ``w_scale`` has one step per output channel;
    ``bias`` is the float bias (``None`` when the layer has none). The layer computes
    ``(a_codes (*) w_codes) * a_scale * w_scale + bias``.
    """

    w_bits: int
    a_bits: int
    w_codes: np.ndarray
    w_scale: np.ndarray
    a_scale: float
    w_signed: bool
    a_signed: bool
    bias: np.ndarray | None

    @property
    def w_encoding(self) -> str:
        """``hwsim.encoding`` name of the weight codes (signed 1-bit is bipolar)."""
        return quantizer_encoding(self.w_bits, self.w_signed)

    @property
    def a_encoding(self) -> str:
        """``hwsim.encoding`` name of the activation codes (signed 1-bit is bipolar)."""
        return quantizer_encoding(self.a_bits, self.a_signed)


def default_weight_quantizer(
    bits: int, *, per_channel: bool = True, init: str = "mse", learn_scale: bool = True
) -> UniformQuantizer:
    return UniformQuantizer(
        bits,
        True,
        per_channel=0 if per_channel else None,
        init=init,
        learn_scale=learn_scale,
        mean_abs_step=True,  # at 1 bit: XNOR-Net's mean |W| per channel, from the weights
    )


def default_act_quantizer(
    bits: int, *, init: str = "mse", learn_scale: bool = True
) -> UniformQuantizer:
    return UniformQuantizer(
        bits, None, per_channel=None, init=init, learn_scale=learn_scale, batch_axis=0
    )


class QuantizerBits:
    """``w_bits`` / ``a_bits`` read and set through the two quantizers, so the bits live in
    one place (the quantizer) whatever module carries them."""

    @property
    def w_bits(self) -> int:
        return self.weight_quantizer.bits

    @w_bits.setter
    def w_bits(self, value: int) -> None:
        self.weight_quantizer.bits = value

    @property
    def a_bits(self) -> int:
        return self.act_quantizer.bits

    @a_bits.setter
    def a_bits(self, value: int) -> None:
        self.act_quantizer.bits = value


class QuantLayerMixin(QuantizerBits):
    """Shared bit properties and export state of :class:`QConv2d` and :class:`QLinear`."""

    weight_quantizer: nn.Module
    act_quantizer: nn.Module
    weight: nn.Parameter
    bias: nn.Parameter | None

    def _adopt(
        self,
        module: nn.Module,
        w_bits: int,
        a_bits: int,
        weight_quantizer: nn.Module | None,
        act_quantizer: nn.Module | None,
    ):
        """Copy ``module``'s parameters and mode, then attach the quantizers."""
        with torch.no_grad():
            self.weight.copy_(module.weight)
            if module.bias is not None:
                self.bias.copy_(module.bias)
        self.train(module.training)
        self._attach(w_bits, a_bits, weight_quantizer, act_quantizer)
        return self

    def _attach(
        self,
        w_bits: int,
        a_bits: int,
        weight_quantizer: nn.Module | None,
        act_quantizer: nn.Module | None,
    ) -> None:
        w_bits = check_bits("w_bits", w_bits, allow_float=True)
        a_bits = check_bits("a_bits", a_bits, allow_float=True)
        self.weight_quantizer = weight_quantizer or default_weight_quantizer(w_bits)
        self.act_quantizer = act_quantizer or default_act_quantizer(a_bits)
        self.weight_quantizer.bits = w_bits
        self.act_quantizer.bits = a_bits
        if isinstance(self.weight_quantizer, UniformQuantizer):
            self.weight_quantizer.calibrate(self.weight.detach())

    def quantized_weight(self) -> Tensor:
        return self.weight_quantizer(self.weight)

    def _forward(self, x: Tensor, op) -> Tensor:
        """``op(quantize(x), quantize(weight)) + bias``; with no gradient to carry, computed the
        way the integer model computes it, so the two agree bit for bit: activation codes as
        :func:`quant.quantizers.code_values` makes them, an exact integer accumulate (float32
        or float64, whichever holds every partial sum), one float64 rescale by
        ``a_step * w_step[channel]`` plus the bias, then the input's dtype. (A float32
        product of ``q * step`` values rounds differently, and the next layer's codes then
        split on ties.)"""
        aq, wq = self.act_quantizer, self.weight_quantizer
        if not (integer_pass(aq, wq) and aq.scale.numel() == 1):
            return op(aq(x), self.quantized_weight(), self.bias)
        lo, hi = aq.quantizer_range
        a_step = aq.scale.detach().reshape(())
        w_codes, w_step = wq.codes(self.weight)
        dtype = weight_accumulate_dtype(code_max(aq), w_codes, x.device)
        a_codes = code_values(x, a_step, lo, hi, bipolar=aq.bipolar)
        acc = op(a_codes.to(dtype), w_codes.to(dtype), None)
        shape = (1, -1) + (1,) * (acc.dim() - 2) if isinstance(self, nn.Conv2d) else (-1,)
        factor = (a_step.double() * w_step.double().reshape(-1)).reshape(shape)
        bias = None if self.bias is None else self.bias.detach().double().reshape(shape)
        return rescale(acc, factor, bias, x.dtype)

    def quant_state(self) -> QuantState:
        """Integer weight codes and scales; raises if either side is float (32 bits)."""
        if FLOAT_BITS in (self.w_bits, self.a_bits):
            raise HwsimError(
                "bits",
                (self.w_bits, self.a_bits),
                "a layer with a float (32-bit) side has no integer state",
            )
        w_codes, w_scale = self.weight_quantizer.codes(self.weight)
        a_scale = self.act_quantizer.scale.detach()
        if a_scale.numel() != 1:
            raise HwsimError(
                "act_quantizer.scale",
                tuple(a_scale.shape),
                "activation quantizers must have one step per tensor",
            )
        out_channels = self.weight.shape[0]
        w_scale = w_scale.reshape(-1).expand(out_channels) if w_scale.numel() == 1 else w_scale
        bias = None if self.bias is None else self.bias.detach().double().cpu().numpy()
        return QuantState(
            w_bits=self.w_bits,
            a_bits=self.a_bits,
            w_codes=w_codes.cpu().numpy(),
            w_scale=w_scale.reshape(-1).double().cpu().numpy().copy(),
            a_scale=float(a_scale.reshape(())),
            w_signed=bool(self.weight_quantizer.signed),
            a_signed=bool(self.act_quantizer.signed),
            bias=bias,
        )


class QConv2d(QuantLayerMixin, nn.Conv2d):
    """``nn.Conv2d`` computing on fake-quantized weights and inputs."""

    @classmethod
    def from_float(
        cls,
        module: nn.Conv2d,
        w_bits: int,
        a_bits: int,
        *,
        weight_quantizer: nn.Module | None = None,
        act_quantizer: nn.Module | None = None,
    ) -> QConv2d:
        """A quantized copy of ``module`` (weights copied; quantizers default to LSQ/MSE)."""
        if module.padding_mode != "zeros":
            raise HwsimError("padding_mode", module.padding_mode, "only zero padding is supported")
        layer = cls(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            stride=module.stride,
            padding=module.padding,
            dilation=module.dilation,
            groups=module.groups,
            bias=module.bias is not None,
            device=module.weight.device,
            dtype=module.weight.dtype,
        )
        return layer._adopt(module, w_bits, a_bits, weight_quantizer, act_quantizer)

    def forward(self, x: Tensor) -> Tensor:
        return self._forward(x, self._conv_forward)


class QLinear(QuantLayerMixin, nn.Linear):
    """``nn.Linear`` computing on fake-quantized weights and inputs."""

    @classmethod
    def from_float(
        cls,
        module: nn.Linear,
        w_bits: int,
        a_bits: int,
        *,
        weight_quantizer: nn.Module | None = None,
        act_quantizer: nn.Module | None = None,
    ) -> QLinear:
        """A quantized copy of ``module`` (weights copied; quantizers default to LSQ/MSE)."""
        layer = cls(
            module.in_features,
            module.out_features,
            bias=module.bias is not None,
            device=module.weight.device,
            dtype=module.weight.dtype,
        )
        return layer._adopt(module, w_bits, a_bits, weight_quantizer, act_quantizer)

    def forward(self, x: Tensor) -> Tensor:
        return self._forward(x, F.linear)


def quantize_layer(module: nn.Module, w_bits: int, a_bits: int, **kwargs) -> nn.Module:
    """The quantized counterpart of a ``Conv2d`` or ``Linear``."""
    if isinstance(module, nn.Conv2d):
        return QConv2d.from_float(module, w_bits, a_bits, **kwargs)
    if isinstance(module, nn.Linear):
        return QLinear.from_float(module, w_bits, a_bits, **kwargs)
    raise HwsimError("layer", type(module).__name__, "only Conv2d and Linear can be quantized")
