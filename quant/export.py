"""Export a quantized model: its bit policy with measured bitplane statistics, and an integer
model that runs every quantized layer through hwsim's bit-serial kernels.

The integer model is a copy of the fake-quantized torch model, in the model's own dtype, in
which each quantized layer is replaced by an :class:`IntegerLayer`: it turns its float input
into activation codes with the layer's activation step, accumulates ``codes (*) weight codes``
exactly in int64 with ``hwsim.kernels``, rescales by ``a_scale * w_scale[channel]`` in float64,
adds the bias and returns the model's dtype. Everything between the quantized layers
(BatchNorm, ReLU, pooling, residual adds, flatten, softmax) runs as in the torch model.

A quantized layer computes the same thing when no gradient flows (``quant.layers``): the
activations are coded by one function in the same dtype, the accumulate is exact, the rescale
is the same two float64 roundings. So on the same device the integer model's logits equal the
fake-quantized model's in inference, for any policy, trained or never run: that is the
project's end-to-end check that the kernels compute what the quantized network means.

Binary (+-1) operands, the signed 1-bit codes of ``quant.quantizers``, run as ``bipolar`` on
kernels that take encodings (one XNOR / popcount pass per 64 lanes); on kernels that take only
a ``signed`` flag they run exactly as 2-bit two's complement codes (-1 and +1 both fit).
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hwsim import BitPolicy, LayerStats
from hwsim.errors import HwsimError, check
from hwsim.policy import FLOAT_BITS
from quant.layers import QuantState, rescale
from quant.model import (
    calibrate,
    calibration_batches,
    current_policy,
    quantized_layers,
    replace_module,
    unfitted_act_quantizers,
)
from quant.products import QProduct
from quant.quantizers import code_values, is_bipolar


def _pair(value: Any, field: str) -> tuple[int, int]:
    if isinstance(value, str):
        raise HwsimError(field, value, "string padding modes are not supported by the kernels")
    return tuple(value) if isinstance(value, tuple | list) else (int(value), int(value))


class IntegerLayer(nn.Module):
    """One conv or linear layer computed on integer codes by ``hwsim.kernels``.

    ``record`` collects the activation codes it sees (for bitplane statistics).
    """

    def __init__(self, name: str, state: QuantState, source: nn.Module) -> None:
        super().__init__()
        self.name = name
        self.state = state
        self.is_conv = isinstance(source, nn.Conv2d)
        if self.is_conv:
            self.geometry = {
                "stride": _pair(source.stride, f"{name}.stride"),
                "padding": _pair(source.padding, f"{name}.padding"),
                "dilation": _pair(source.dilation, f"{name}.dilation"),
                "groups": int(source.groups),
            }
        self.a_lo, self.a_hi = _act_range(state)
        self.a_bipolar = state.a_encoding == "bipolar"
        shape = (1, -1, 1, 1) if self.is_conv else (1, -1)
        # The rescale folds both steps into one per-channel factor, as integer hardware does.
        self.register_buffer(
            "rescale", torch.from_numpy(state.a_scale * state.w_scale).reshape(shape)
        )
        bias = state.bias if state.bias is not None else np.zeros(len(state.w_scale))
        self.register_buffer("bias", torch.from_numpy(np.asarray(bias, np.float64)).reshape(shape))
        self.record: list[np.ndarray] | None = None
        # Weights are packed once; every call packs only its fresh activation codes.
        from hwsim import kernels

        w_bits, w_kw = _kernel_operand(
            state.w_bits, state.w_encoding, "w", kernels.BitserialConv2d, kernels.pack_operand
        )
        self.a_kernel_bits, self.a_kw = _kernel_operand(
            state.a_bits, state.a_encoding, "a", kernels.BitserialConv2d, kernels.bitserial_linear
        )
        if self.is_conv:
            self.kernel = kernels.BitserialConv2d(
                state.w_codes, w_bits, self.a_kernel_bits, **w_kw, **self.a_kw, **self.geometry
            )
        else:
            pack_kw = {k.removeprefix("w_"): v for k, v in w_kw.items()}  # encoding / signed
            self.kernel = kernels.pack_operand(state.w_codes, w_bits, **pack_kw)
        # One byte per code where the codes fit: the kernels read uint8 / int8 in place.
        narrow = state.a_bits <= 8
        self.code_dtype = (torch.int8 if state.a_signed else torch.uint8) if narrow else torch.int64

    def activation_codes(self, x: Tensor) -> np.ndarray:
        """The codes ``quant.quantizers.code_values`` gives ``x`` in its own dtype."""
        from hwsim.kernels.glue import quantize_activations

        if self.a_bipolar:  # sign(x), as quant.quantizers.bipolar_values gives it
            return np.where(x.detach().cpu().numpy() >= 0, 1, -1).astype(np.int8)
        if self.code_dtype != torch.int64 and x.dtype in (torch.float32, torch.float64):
            # One pass, channels-last out: the bytes the conv packer reads in place.
            dtype = np.int8 if self.state.a_signed else np.uint8
            arr = x.detach().cpu().numpy()
            return quantize_activations(arr, self.state.a_scale, self.a_lo, self.a_hi, dtype)
        step = torch.tensor(self.state.a_scale, dtype=x.dtype)
        codes = code_values(x.detach().cpu(), step, self.a_lo, self.a_hi)
        return codes.to(torch.int64).numpy()

    def forward(self, x: Tensor) -> Tensor:
        from hwsim import kernels
        from hwsim.kernels.glue import rescale_accumulators

        codes = self.activation_codes(x)
        scale, bias = self.rescale.reshape(-1).numpy(), self.bias.reshape(-1).numpy()
        if self.is_conv:
            acc = self.kernel(codes)
            if self.record is not None:
                self.record.append(codes)  # NCHW: statistics walk the hardware's windows
            out = rescale_accumulators(acc, scale, bias, _numpy_float(x.dtype))
            return torch.from_numpy(out).to(x.dtype)
        flat = codes.reshape(-1, codes.shape[-1])
        acc = kernels.bitserial_linear(flat, self.kernel, self.a_kernel_bits, **self.a_kw)
        if self.record is not None:
            self.record.append(flat)
        out = rescale_accumulators(acc, scale, bias, _numpy_float(x.dtype))
        return torch.from_numpy(out).to(x.dtype).reshape(*codes.shape[:-1], -1)


def _numpy_float(dtype: torch.dtype) -> type:
    """The float the rescale stores for a model of ``dtype``: float32 for a float32 model (the
    rounding its conversion would do), else float64 (converted after, as before)."""
    return np.float32 if dtype == torch.float32 else np.float64


def _accepts(fn: Any, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _kernel_operand(bits: int, encoding: str, side: str, *fns: Any) -> tuple[int, dict[str, Any]]:
    """The width and keyword arguments one operand is given to the kernels ``fns``: its own
    encoding where every one of them takes ``<side>_encoding`` (``encoding`` for
    ``pack_operand``), else a ``<side>_signed`` flag, a bipolar operand as 2-bit two's
    complement (its values -1 and +1 fit, so the accumulators are the same)."""
    names = [
        "encoding" if getattr(f, "__name__", "") == "pack_operand" else f"{side}_encoding"
        for f in fns
    ]
    if all(_accepts(f, n) for f, n in zip(fns, names, strict=True)):
        return bits, {f"{side}_encoding": encoding}
    if encoding == "bipolar":
        return 2, {f"{side}_signed": True}
    return bits, {f"{side}_signed": encoding == "signed"}


def _act_range(state: QuantState) -> tuple[int, int]:
    if state.a_encoding == "bipolar":
        return -1, 1
    if state.a_signed:
        hi = (1 << (state.a_bits - 1)) - 1
        return -hi, hi
    return 0, (1 << state.a_bits) - 1


class IntegerModel:
    """The quantized network with every integer layer on ``hwsim.kernels``; glue in the
    model's dtype (``dtype``).

    Call it on a float batch (torch tensor or numpy array) to get numpy float64 logits.
    """

    def __init__(
        self, module: nn.Module, layers: dict[str, IntegerLayer], dtype: torch.dtype
    ) -> None:
        self.module = module
        self.layers = layers
        self.dtype = dtype

    @property
    def states(self) -> dict[str, QuantState]:
        return {name: layer.state for name, layer in self.layers.items()}

    @torch.no_grad()
    def __call__(self, x: Tensor | np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
        check(x.is_floating_point(), "x.dtype", str(x.dtype), "must be a float batch")
        return self.module(x.to(self.dtype)).to(torch.float64).cpu().numpy()

    def predict(self, x: Tensor | np.ndarray) -> np.ndarray:
        return self(x).argmax(axis=1)

    @torch.no_grad()
    def record_activation_codes(self, x: Tensor | np.ndarray) -> dict[str, np.ndarray]:
        """Run ``x`` and return each integer layer's activation codes: NCHW for a conv layer,
        rows ``[M, K]`` for a linear one."""
        for layer in self.layers.values():
            layer.record = []
        try:
            self(x)
            return {
                n: np.concatenate(
                    layer.record
                    if layer.is_conv
                    else [c.reshape(-1, c.shape[-1]) for c in layer.record]
                )
                for n, layer in self.layers.items()
            }
        finally:
            for layer in self.layers.values():
                layer.record = None


@dataclass
class Exported:
    """The result of :func:`export`: the policy with statistics, and the integer model."""

    policy: BitPolicy
    integer_model: IntegerModel


def integer_model(model: nn.Module) -> IntegerModel:
    """The :class:`IntegerModel` of a quantized model (layers with a float side stay float), on
    the CPU wherever ``model`` is: the integer kernels take numpy arrays."""
    model = copy.deepcopy(model).cpu()
    # The glue keeps the model's dtype: in float64 it would round differently from the
    # fake-quantized model, and the next layer's codes would split on ties.
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    glue = copy.deepcopy(model).eval()
    layers: dict[str, IntegerLayer] = {}
    for name, layer in quantized_layers(model).items():
        if FLOAT_BITS in (layer.w_bits, layer.a_bits) or isinstance(layer, QProduct):
            continue
        check(
            isinstance(layer, nn.Conv2d | nn.Linear),
            f"layer {name}",
            type(layer).__name__,
            "only Conv2d / Linear layers have an integer form",
        )
        integer = IntegerLayer(name, layer.quant_state(), layer)
        replace_module(glue, name, integer)
        layers[name] = integer
    for path, qp in model.named_modules():
        if isinstance(qp, QProduct) and FLOAT_BITS not in (qp.w_bits, qp.a_bits):
            replace_module(glue, path, IntegerProduct(qp))
    return IntegerModel(glue, layers, dtype)


class IntegerProduct(nn.Module):
    """An activation x activation product on ``hwsim.kernels``: both operands rounded to
    their codes at the fitted steps, multiplied exactly in int64 (batch x heads independent
    products), rescaled by the two steps."""

    def __init__(self, source: nn.Module) -> None:
        super().__init__()
        self.policy_name = source.policy_name
        self.quantizers = [
            (q.bits, bool(q.signed), q.scale.detach().cpu().reshape(()).clone(), q.quantizer_range)
            for q in (source.act_quantizer, source.weight_quantizer)
        ]
        # The act x act kernel takes signed flags: a +-1 operand runs as 2-bit two's complement.
        self.kernel_bits = [2 if is_bipolar(b, sg) else b for b, sg, _, _ in self.quantizers]

    @staticmethod
    def _codes(x: Tensor, step: Tensor, code_range: tuple[int, int], bipolar: bool) -> np.ndarray:
        codes = code_values(x.detach().cpu(), step.to(x.dtype), *code_range, bipolar=bipolar)
        return codes.to(torch.int64).numpy()

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        from hwsim import kernels

        (a_bits, a_signed, a_step, a_range), (b_bits, b_signed, b_step, b_range) = self.quantizers
        lead = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a = a.expand(*lead, *a.shape[-2:])
        b = b.expand(*lead, *b.shape[-2:])
        a_bip, b_bip = is_bipolar(a_bits, a_signed), is_bipolar(b_bits, b_signed)
        acc = kernels.bitserial_act_matmul(
            self._codes(a, a_step, a_range, a_bip).reshape(-1, *a.shape[-2:]),
            self._codes(b, b_step, b_range, b_bip).reshape(-1, *b.shape[-2:]),
            *self.kernel_bits,
            a_signed=a_signed,
            b_signed=b_signed,
        )
        # The same float64 rescale as QProduct's no-gradient pass, then the operands' dtype.
        out = rescale(torch.from_numpy(acc), float(a_step) * float(b_step), None, a.dtype)
        return out.reshape(*lead, a.shape[-2], b.shape[-1])


def export(model: nn.Module, calibration_data: Any, *, group_size: int = 16) -> Exported:
    """The policy of ``model`` with bitplane statistics measured on ``calibration_data``
    (a batch, batches, or a dataset: its first training images), and its integer model.

    Conv layers are measured in a bit-serial array's grouping (``hwsim.bits.layer_stats``
    with the layer's geometry: windows x lanes per step, and each hardware rule's mean step
    cycles); linear layers on their ``[M, K]`` rows.

    Activation quantizers that never saw data (a model quantized but never run) are first
    fitted, in place, on ``calibration_data``, as the model's own first forward pass would;
    steps already fitted or trained are kept. Raises ``HwsimError`` if a step stays unfitted."""
    from hwsim.bits import layer_stats

    batches = calibration_batches(calibration_data)
    check(
        bool(batches),
        "calibration_data",
        type(calibration_data).__name__,
        "statistics need at least one batch",
    )
    if unfitted_act_quantizers(model):
        calibrate(model, batches, only_unfitted=True)
    unfitted = sorted(unfitted_act_quantizers(model))
    check(
        not unfitted,
        "act_quantizer",
        unfitted[:5],
        "never fitted to data, and the calibration pass could not fit it (a layer the "
        "forward pass does not reach, or a quantizer that cannot observe)",
    )
    im = integer_model(model)
    recorded = [im.record_activation_codes(b) for b in batches]
    stats: dict[str, LayerStats] = {}
    for name, layer in im.layers.items():
        s = layer.state
        a_codes = _stored(np.concatenate([r[name] for r in recorded]), s.a_encoding, "a")
        w_codes = _stored(s.w_codes, s.w_encoding, "w")
        stats[name] = layer_stats(
            w_codes if layer.is_conv else w_codes.reshape(w_codes.shape[0], -1),
            a_codes,
            s.w_bits,
            s.a_bits,
            w_signed=s.w_signed and s.w_encoding != "bipolar",
            a_signed=s.a_signed and s.a_encoding != "bipolar",
            conv=layer.geometry if layer.is_conv else None,
            group_size=group_size,
        )
    return Exported(current_policy(model).with_stats(stats), im)


def _stored(codes: np.ndarray, encoding: str, operand: str) -> np.ndarray:
    """The codes whose bits the data-dependent hardware counts (``hwsim.hardware.encodings``):
    a +-1 activation as its one stored bit (+1 is 1, ``hwsim.encoding.to_bits``; the filter's
    weight sum folds into the bias, so only the set bits are work), a +-1 weight as its
    magnitude, one term each; every other encoding as it is."""
    if encoding != "bipolar":
        return codes
    if operand == "w":
        return np.ones_like(codes, dtype=np.int64)
    from hwsim.encoding import to_bits

    return to_bits(codes).astype(np.int64)
