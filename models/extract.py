"""From any ``torch.nn.Module`` to a :class:`hwsim.Workload`, by running it once with hooks.

Forward hooks on every ``Conv1d``/``Conv2d``/``Linear`` (subclasses included, so quantized
layers that derive from them are seen too) record the real input and output tensor shapes of
each call. The geometry therefore comes from what actually ran, not from re-deriving shapes,
and Python control flow in ``forward`` needs no tracing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from hwsim.errors import HwsimError, check
from hwsim.workload import Workload

# Layers that do real multiply-accumulates but have no GEMM mapping here. Meeting one during
# the forward pass is an error: silently leaving it out would understate the cost.
_UNSUPPORTED: tuple[type[nn.Module], ...] = (
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Bilinear,
    nn.MultiheadAttention,
)


def extract_workload(
    model: nn.Module,
    example_input: torch.Tensor | tuple[torch.Tensor, ...],
    name: str | None = None,
) -> Workload:
    """Run ``model`` once on ``example_input`` and return its compute layers in GEMM form.

    One row per call of a ``Conv1d``, ``Conv2d`` or ``Linear`` module, in call order, named by
    the module's fully qualified name; a module called again gets ``name#1``, ``name#2``...
    ``example_input`` is one tensor or a tuple of positional arguments. The model runs in
    eval mode under ``torch.no_grad()``; every module's training flag is restored afterwards.
    Works on the ``meta`` device too, which gives the shapes without doing the arithmetic.
    """
    if not isinstance(model, nn.Module):
        raise HwsimError("model", type(model).__name__, "must be a torch.nn.Module")
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    for i, a in enumerate(args):
        if not isinstance(a, torch.Tensor):
            raise HwsimError(f"example_input[{i}]", type(a).__name__, "must be a torch.Tensor")
    check(
        name is None or (isinstance(name, str) and name != ""),
        "name",
        name,
        "must be a non-empty string",
    )

    rows: list[dict[str, Any]] = []
    unsupported: list[str] = []
    calls: dict[str, int] = {}
    module_names = {}
    for qualified, module in model.named_modules():
        module_names[module] = qualified or type(model).__name__

    def record(
        module: nn.Module, inputs: tuple[Any, ...], kwargs: dict[str, Any], output: Any
    ) -> None:
        base = module_names[module]
        n = calls.get(base, 0)
        calls[base] = n + 1
        x = inputs[0] if inputs else kwargs["input"]  # ``layer(input=x)`` passes it by name
        row = _layer_row(module, x, output)
        row["name"] = base if n == 0 else f"{base}#{n}"
        row["first"] = int(any(_same_tensor(x, a) for a in args))
        rows.append(row)

    def refuse(
        module: nn.Module, inputs: tuple[Any, ...], kwargs: dict[str, Any], output: Any
    ) -> None:
        unsupported.append(f"{module_names[module]} ({type(module).__name__})")

    training = {m: m.training for m in model.modules()}
    handles = []
    try:
        for module in model.modules():
            if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Linear):
                handles.append(module.register_forward_hook(record, with_kwargs=True))
            elif isinstance(module, _UNSUPPORTED):
                handles.append(module.register_forward_hook(refuse, with_kwargs=True))
        model.eval()
        with torch.no_grad():
            try:
                model(*args)
            except HwsimError:
                raise  # already names its field
            except (RuntimeError, ValueError, TypeError, IndexError) as exc:
                shapes = [tuple(a.shape) for a in args]
                raise HwsimError(
                    "example_input", shapes, f"the model's forward pass failed: {exc}"
                ) from exc
    finally:
        for h in handles:
            h.remove()
        for m, flag in training.items():
            m.training = flag

    if unsupported:
        raise HwsimError(
            "model",
            unsupported[:10],
            "layers with no GEMM mapping in hwsim ran in the forward pass",
        )
    if not rows:
        raise HwsimError(
            "model",
            type(model).__name__,
            "no Conv1d, Conv2d or Linear layer ran in the forward pass",
        )
    return Workload.from_layers(name or type(model).__name__, rows)


def _same_tensor(t: Any, x: torch.Tensor) -> bool:
    """Whether ``t`` is the tensor ``x`` or a full view of it (``x.flatten(1)``, ``x.view``)."""
    if not isinstance(t, torch.Tensor):
        return False
    if t is x:
        return True
    if t.numel() != x.numel() or t.numel() == 0:
        return False
    base_t = t._base if t._base is not None else t
    base_x = x._base if x._base is not None else x
    if base_t is base_x:
        return True
    # Meta tensors have no storage address to compare.
    return t.device.type != "meta" and t.device == x.device and t.data_ptr() == x.data_ptr()


def _layer_row(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """Geometry of one call, from the real input ``x`` and output ``y`` shapes."""
    if isinstance(module, nn.Linear):
        # Linear maps the last dim; all leading dims are rows of the GEMM. The first one is
        # the batch, the rest (tokens, positions) count as output pixels.
        lead = tuple(x.shape[:-1])
        batch = lead[0] if len(lead) >= 1 else 1
        pixels = math.prod(lead[1:]) if len(lead) >= 2 else 1
        return {
            "kind": "linear",
            "batch": batch,
            "in_channels": module.in_features,
            "out_channels": module.out_features,
            "in_h": pixels,
            "out_h": pixels,
        }

    spatial = 2 if isinstance(module, nn.Conv2d) else 1
    batched = x.dim() == spatial + 2
    return conv_row(
        batch=x.shape[0] if batched else 1,
        in_channels=module.in_channels,
        out_channels=module.out_channels,
        groups=module.groups,
        in_hw=tuple(x.shape[-spatial:]),
        out_hw=tuple(y.shape[-spatial:]),
        kernel=tuple(module.kernel_size),
        stride=tuple(module.stride),
        dilation=tuple(module.dilation),
        pad=_padding(module.padding, tuple(module.kernel_size), tuple(module.dilation)),
    )


def conv_row(
    *,
    batch: int,
    in_channels: int,
    out_channels: int,
    groups: int,
    in_hw: Sequence[int],
    out_hw: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    pad: Sequence[int],
) -> dict[str, Any]:
    """The workload row of one 1-D or 2-D convolution; ``pad`` is the near side of each axis.

    A 1-D conv is a conv of height 1 over the sequence as width."""
    if len(in_hw) == 1:
        in_hw, out_hw, kernel = (1, *in_hw), (1, *out_hw), (1, *kernel)
        stride, dilation, pad = (1, *stride), (1, *dilation), (0, *pad)
    return {
        "kind": "depthwise" if 1 < groups == in_channels else "conv",
        "batch": int(batch),
        "in_channels": int(in_channels),
        "out_channels": int(out_channels),
        "groups": int(groups),
        "in_h": int(in_hw[0]),
        "in_w": int(in_hw[1]),
        "out_h": int(out_hw[0]),
        "out_w": int(out_hw[1]),
        "kernel_h": int(kernel[0]),
        "kernel_w": int(kernel[1]),
        "stride_h": int(stride[0]),
        "stride_w": int(stride[1]),
        "pad_h": int(pad[0]),
        "pad_w": int(pad[1]),
        "dilation_h": int(dilation[0]),
        "dilation_w": int(dilation[1]),
    }


def _padding(
    padding: str | tuple[int, ...], kernel: tuple[int, ...], dilation: tuple[int, ...]
) -> tuple[int, ...]:
    """Per-side padding. ``"same"`` pads ``dilation * (k - 1)`` in total; when that is odd,
    PyTorch puts the extra row on the far side, so the near side (recorded here) is the
    floor of half."""
    if padding == "valid":
        return tuple(0 for _ in kernel)
    if padding == "same":
        return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
    return tuple(int(p) for p in padding)
