"""Whole-model quantization: swap layers by name, calibrate, read the bits back as a policy.

Layer names are fully qualified module names (``layer1.0.conv1``), the same names
``models.extract_workload`` gives its workload rows, so a ``hwsim.BitPolicy`` read from a
quantized model lines up with the workload of the float model.

``quantize_model`` takes either a ``BitPolicy`` (fake-quantize exactly the named layers at
their bits) or a method: a registered name (``"direct"``, ``"bsq"``, ...) or a method config
object, run through :mod:`quant.methods` (search, then fine-tune).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from hwsim.errors import HwsimError
from hwsim.policy import FLOAT_BITS, BitPolicy
from quant.layers import quantize_layer
from quant.runtime import (  # the run-time settings, re-exported where they used to live
    default_torch_threads,  # noqa: F401
    model_device,
    set_torch_threads,  # noqa: F401
    torch_threads,
)


def quantizable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every ``Conv2d`` / ``Linear`` of ``model`` by fully qualified name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)}


def quantized_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every layer exposing ``w_bits`` and ``a_bits`` (from any method) by its policy name:
    the qualified name, or for a quantized attention product ``<attention>#<role>``."""
    return {
        getattr(m, "policy_name", n): m
        for n, m in model.named_modules()
        if n and hasattr(m, "w_bits") and hasattr(m, "a_bits")
    }


def current_policy(model: nn.Module) -> BitPolicy:
    """The model's per-layer ``(w_bits, a_bits)`` as a ``hwsim.BitPolicy``, with each operand's
    encoding as its quantizer codes it (binary +-1 at signed 1 bit, signed activations where
    the data were)."""
    layers = quantized_layers(model)
    return BitPolicy(
        {n: (int(m.w_bits), int(m.a_bits)) for n, m in layers.items()},
        encodings={n: layer_encodings(m) for n, m in layers.items()},
    )


def layer_encodings(layer: nn.Module) -> tuple[str | None, str | None]:
    """``(w_encoding, a_encoding)`` of a quantized layer from its quantizers (None: the
    default). A method without a weight quantizer object quantizes weights signed, so binary
    at 1 bit."""
    from quant.quantizers import quantizer_encoding

    out: list[str | None] = []
    for side, default_signed in (("w", True), ("a", None)):
        bits = int(getattr(layer, f"{side}_bits"))
        if bits == FLOAT_BITS:
            out.append(None)
            continue
        q = getattr(layer, "weight_quantizer" if side == "w" else "act_quantizer", None)
        encoding = getattr(q, "encoding", None)
        if encoding is None:
            encoding = quantizer_encoding(bits, getattr(q, "signed", default_signed))
        out.append(encoding)
    return out[0], out[1]


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` at the dotted path ``name`` inside ``model``."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def install_products(
    model: nn.Module, make: Callable[[str, str], nn.Module]
) -> dict[str, nn.Module]:
    """Put ``make(policy_name, role)`` into every activation x activation product slot of
    ``model`` (``<attention>#scores`` / ``#values``), on the model's device; returns them by
    policy name. How a method makes the products (act x act workload rows) take part."""
    from quant.products import product_slots

    device = model_device(model)
    made = {}
    for name, (module, role) in product_slots(model).items():
        made[name] = make(name, role).to(device)
        setattr(module, f"{role}_product", made[name])
    return made


def quantize_layers(
    model: nn.Module,
    bits: Mapping[str, tuple[int, int]],
    make_layer: Callable[..., nn.Module] = quantize_layer,
    **layer_options: Any,
) -> nn.Module:
    """Replace, in place, each layer named in ``bits`` by ``make_layer(module, w, a, ...)``;
    names of activation x activation products (``<attention>#scores``) get a
    :class:`quant.products.QProduct` with quantizers on both operands."""
    from quant.products import product_slots, quantize_product

    layers = quantizable_layers(model)
    products = product_slots(model)
    for name in sorted(set(bits) & set(products)):
        quantize_product(model, name, *bits[name])
    bits = {n: b for n, b in bits.items() if n not in products}
    unknown = sorted(set(bits) - set(layers))
    if unknown:
        raise HwsimError(
            "policy.layers",
            unknown[:10],
            f"not Conv2d/Linear layers of the model (it has {sorted(layers)[:10]}"
            f"{'...' if len(layers) > 10 else ''})",
        )
    for name, (w_bits, a_bits) in bits.items():
        old = layers[name]
        new = make_layer(old, w_bits, a_bits, **layer_options)
        replace_module(model, name, new.to(old.weight.device))  # quantizers start on the CPU
    return model


def calibration_batches(calibration: Any, max_samples: int = 512) -> list[Tensor]:
    """Calibration input as a list of batches: a tensor, an iterable of tensors or of
    ``(x, y)`` pairs, or a dataset object with ``x_train`` (its first ``max_samples``)."""
    if calibration is None:
        return []
    from models.data import calibration as first_images
    from models.data import is_dataset

    if is_dataset(calibration):
        return [first_images(calibration, max_samples)[0]]
    if isinstance(calibration, Tensor):
        return [calibration]
    if isinstance(calibration, Iterable):
        return [b[0] if isinstance(b, list | tuple) else b for b in calibration]
    raise HwsimError(
        "calibration",
        type(calibration).__name__,
        "must be a tensor, an iterable of batches or a dataset with x_train",
    )


def unfitted_act_quantizers(model: nn.Module) -> dict[str, nn.Module]:
    """The quantizing (not 32-bit) activation quantizers, by layer name, whose step was never
    fitted to data."""
    return {
        name: m.act_quantizer
        for name, m in quantized_layers(model).items()
        if hasattr(m, "act_quantizer")
        and m.a_bits != FLOAT_BITS
        and not bool(getattr(m.act_quantizer, "initialized", True))
    }


@torch.no_grad()
def calibrate(model: nn.Module, calibration: Any, *, only_unfitted: bool = False) -> nn.Module:
    """Fit every activation quantizer's step (and signedness) to the inputs its layer sees.

    The calibration pass runs the float activations (quantizers observe and pass through),
    then each quantizer fits to everything it observed. ``only_unfitted`` leaves the steps
    already fitted (or trained) alone: those layers quantize as usual during the pass.
    """
    batches = calibration_batches(calibration)
    if not batches:
        return model
    from quant.products import QProduct

    unfitted = unfitted_act_quantizers(model) if only_unfitted else None
    quantizers = [
        q
        for name, m in quantized_layers(model).items()
        if unfitted is None or name in unfitted
        # A product's second operand is an activation too: fitted the same way.
        for q in (
            (m.act_quantizer, m.weight_quantizer) if isinstance(m, QProduct) else (m.act_quantizer,)
        )
        if hasattr(q, "start_observing")
    ]
    was_training = model.training
    model.eval()
    for q in quantizers:
        q.start_observing()
    try:
        with torch_threads():
            device = model_device(model)
            for x in batches:
                model(x.to(device))
    finally:
        with torch_threads():
            for q in quantizers:
                q.finish_calibration()
        model.train(was_training)
    return model


def _apply_encodings(model: nn.Module, policy: BitPolicy) -> None:
    """Set each quantizer's signedness where the policy names a non-default encoding (a
    signed or bipolar activation, an unsigned weight); elsewhere weights stay signed and
    activations decide from the data."""
    layers = quantized_layers(model)
    for name, (w_enc, a_enc) in policy.encodings.items():
        layer = layers.get(name)
        if layer is None:
            continue
        for enc, attr in ((w_enc, "weight_quantizer"), (a_enc, "act_quantizer")):
            q = getattr(layer, attr, None)
            if q is None or not hasattr(q, "signed"):
                continue
            signed = enc != "unsigned"
            if q.signed != signed:
                q.signed = signed
                if attr == "weight_quantizer" and hasattr(q, "calibrate"):
                    with torch_threads():
                        q.calibrate(layer.weight.detach())


def quantize_model(
    model: nn.Module, policy_or_method: Any, *, calibration: Any = None, **options: Any
) -> nn.Module:
    """A quantized deep copy of ``model``.

    - ``BitPolicy`` (or a ``{name: (w_bits, a_bits)}`` mapping): every ``Conv2d``/``Linear``
      named in it becomes a ``QConv2d``/``QLinear`` at its bits; ``options`` go to
      ``from_float``. Activation steps are fitted on ``calibration`` if given, otherwise on
      the first batch the model sees.
    - a method name or a registered method config object: dispatched to that method.
    """
    if isinstance(policy_or_method, BitPolicy | Mapping):
        model = copy.deepcopy(model)
        bits = (
            policy_or_method.bits
            if isinstance(policy_or_method, BitPolicy)
            else BitPolicy(dict(policy_or_method)).bits
        )
        with torch_threads():  # each layer fits its weight step as it is made
            quantize_layers(model, bits, **options)
        if isinstance(policy_or_method, BitPolicy):
            _apply_encodings(model, policy_or_method)
        return calibrate(model, calibration)
    from quant.methods import make_config, search_method

    method = search_method(policy_or_method)
    if options:
        raise HwsimError(
            "options", sorted(options), "a method takes its options in its config object"
        )
    config = make_config(method, None if isinstance(policy_or_method, str) else policy_or_method)
    result = method.search(model, calibration, config)  # searches work on a copy
    return method.finetune(result, calibration, config)
