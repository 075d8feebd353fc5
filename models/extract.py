"""From any ``torch.nn.Module`` to a :class:`hwsim.Workload`: every multiply-accumulate the
forward pass executes, captured at the operator level.

The model runs once under two interception modes:

- a ``TorchFunctionMode`` sees the calls a module makes (``F.linear``, ``F.conv2d``,
  ``F.scaled_dot_product_attention``, the recurrent ``_VF.lstm``...) with their original
  arguments, and maps the ones whose meaning is lost further down (a conv's string padding, an
  attention's score and value GEMMs, a recurrent layer's time steps) straight to GEMM rows;
- a ``TorchDispatchMode`` sees every aten op that actually runs (``mm``, ``addmm``, ``bmm``,
  ``baddbmm``, ``convolution``, the fused attention kernels...) and maps those no function-level
  rule already covered: ``torch.matmul``, ``einsum`` contractions, ``@``, Hugging Face's
  ``Conv1D`` (an ``addmm``), ``F.multi_head_attention_forward``'s internals. An aten op that does
  MACs and has no mapping raises :class:`HwsimError` naming the op and its MACs: nothing is
  silently dropped.

Each row is attributed to the innermost module running (forward pre/post hooks keep a stack) and
named by its fully qualified name; a module's weight GEMMs and convs keep the plain name, its
activation x activation matmuls get ``#matmul`` (``#scores`` / ``#values`` for
``scaled_dot_product_attention`` and inside :func:`op_role`), a recurrent layer's GEMMs
``#l<layer>[r].t<step>.<ih|hh|hr>``; a name seen again gets ``#1``, ``#2``... in call order.

An operand is an *activation* when it was computed from the example input (tracked through every
aten op); parameters, buffers and constants are not. A GEMM with one activation operand is a
``linear`` row whose other operand is the weight; one with two is an ``act_matmul`` row (attention
scores and values, no weights), whose batch (batch x heads) is the GEMM's batch dimension.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from hwsim.errors import HwsimError, check
from hwsim.workload import Workload

Row = dict[str, Any]

_ROLES: list[str] = []


@contextmanager
def op_role(role: str) -> Iterator[None]:
    """Name the activation x activation products run inside ``<module>#<role>`` (instead of
    ``#matmul``), as ``scaled_dot_product_attention`` names its own ``#scores`` / ``#values``:
    for attention written out op by op (a quantized attention) to keep the float model's
    row names."""
    _ROLES.append(role)
    try:
        yield
    finally:
        _ROLES.pop()


def extract_workload(
    model: nn.Module,
    example_input: torch.Tensor | tuple[torch.Tensor, ...] | Mapping[str, torch.Tensor],
    name: str | None = None,
) -> Workload:
    """Run ``model`` once on ``example_input`` and return every compute op in GEMM form.

    One row per matmul-like or convolution op executed, in execution order (see the module
    docstring for names and kinds). ``example_input`` is one tensor, a tuple of positional
    arguments, or a mapping of keyword arguments (``input_ids=..., attention_mask=...``). The
    model runs in eval mode under ``torch.no_grad()``; every module's training flag is restored
    afterwards. Works on the ``meta`` device too, which gives the shapes without the arithmetic.
    """
    if not isinstance(model, nn.Module):
        raise HwsimError("model", type(model).__name__, "must be a torch.nn.Module")
    if isinstance(example_input, Mapping):
        args: tuple[Any, ...] = ()
        kwargs = dict(example_input)
        labelled = [(f"example_input[{k!r}]", v) for k, v in kwargs.items()]
    else:
        args = example_input if isinstance(example_input, tuple) else (example_input,)
        kwargs = {}
        labelled = [(f"example_input[{i}]", a) for i, a in enumerate(args)]
    for label, a in labelled:
        if not isinstance(a, torch.Tensor):
            raise HwsimError(label, type(a).__name__, "must be a torch.Tensor")
    check(
        name is None or (isinstance(name, str) and name != ""),
        "name",
        name,
        "must be a non-empty string",
    )

    capture = _Capture(model, [a for _, a in labelled])
    training = {m: m.training for m in model.modules()}
    fastpath = torch.backends.mha.get_fastpath_enabled()
    handles = []
    try:
        for qualified, module in model.named_modules():
            label = qualified or type(model).__name__
            handles.append(module.register_forward_pre_hook(capture.enter(label)))
            handles.append(module.register_forward_hook(capture.leave))
        model.eval()
        # The fused encoder-layer kernel would hide its GEMMs in one opaque op.
        torch.backends.mha.set_fastpath_enabled(False)
        with torch.no_grad(), _FunctionLevel(capture), _AtenLevel(capture):
            try:
                model(*args, **kwargs)
            except HwsimError:
                raise  # already names its field
            except (RuntimeError, ValueError, TypeError, IndexError) as exc:
                shapes = [tuple(a.shape) for _, a in labelled]
                raise HwsimError(
                    "example_input", shapes, f"the model's forward pass failed: {exc}"
                ) from exc
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for h in handles:
            h.remove()
        for m, flag in training.items():
            m.training = flag

    if not capture.rows:
        raise HwsimError(
            "model",
            type(model).__name__,
            "no matmul-like or convolution op ran in the forward pass",
        )
    return Workload.from_layers(name or type(model).__name__, capture.rows)


class _Capture:
    """What both interception levels share: the module stack, which tensors are activations,
    the rows so far and their names."""

    def __init__(self, model: nn.Module, inputs: list[torch.Tensor]) -> None:
        self.root = type(model).__name__
        self.inputs = inputs
        self.stack: list[str] = []
        self.rows: list[Row] = []
        self.seen: dict[str, int] = {}
        self.covered = 0  # > 0 inside a function-level rule: its aten ops are already counted
        self._acts: dict[int, weakref.ref] = {}
        for t in inputs:
            self.mark(t)

    # module attribution ------------------------------------------------------------------
    def enter(self, label: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any) -> None:
            self.stack.append(self.stack[-1] if _transparent(module) and self.stack else label)

        return hook

    def leave(self, module: nn.Module, inputs: Any, output: Any) -> None:
        self.stack.pop()

    # activations ---------------------------------------------------------------------------
    def mark(self, t: torch.Tensor) -> None:
        key = id(t)
        if key not in self._acts:
            self._acts[key] = weakref.ref(t, lambda _, k=key: self._acts.pop(k, None))

    def is_act(self, t: Any) -> bool:
        if not isinstance(t, torch.Tensor):
            return False
        ref = self._acts.get(id(t))
        return ref is not None and ref() is t

    def propagate(self, args: Any, kwargs: Any, out: Any) -> None:
        """An op's outputs are activations when any of its tensor inputs is one."""
        if any(self.is_act(t) for t in tree_leaves((args, kwargs))):
            for t in tree_leaves(out):
                if isinstance(t, torch.Tensor):
                    self.mark(t)

    def reads_input(self, t: torch.Tensor) -> int:
        return int(any(_same_tensor(t, x) for x in self.inputs))

    # rows ----------------------------------------------------------------------------------
    def add(self, row: Row, role: str = "", reads: torch.Tensor | None = None) -> None:
        module = self.stack[-1] if self.stack else self.root
        base = f"{module}#{role}" if role else module
        n = self.seen.get(base, 0)
        self.seen[base] = n + 1
        row["name"] = base if n == 0 else f"{base}#{n}"
        row["first"] = self.reads_input(reads) if reads is not None else 0
        self.rows.append(row)

    def gemm(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        batch: int,
        m: int,
        k: int,
        n: int,
        shared_b: bool = False,
        acts: tuple[bool, bool] | None = None,
    ) -> None:
        """``batch`` products ``a [m, k] @ b [k, n]``: a weight GEMM when exactly one operand
        is an activation (the other is the weight), else an activation x activation matmul.
        ``shared_b``: every batch uses the same ``b`` (a broadcast weight). ``acts``: whether
        each operand is an activation, where the caller knows better than the tensors."""
        a_act, b_act = acts if acts is not None else (self.is_act(a), self.is_act(b))
        if a_act and b_act:
            self.add(act_matmul_row(batch, m, k, n), _ROLES[-1] if _ROLES else "matmul", a)
        elif b_act:  # weight @ activation: the activation's columns are the GEMM's rows
            self.add(linear_row(batch, n, k, m, shared=shared_b), "", b)
        else:
            self.add(linear_row(batch, m, k, n, shared=shared_b), "", a)


def _transparent(module: nn.Module) -> bool:
    """Modules marked ``hwsim_transparent`` (an attention's operand quantizers around its
    products) lend their ops to the module that calls them."""
    return bool(getattr(module, "hwsim_transparent", False))


def linear_row(batch: int, m: int, k: int, n: int, shared: bool = True) -> Row:
    """``batch x m`` rows times a ``k x n`` weight. ``shared=False``: each batch element has
    its own weight, a grouped GEMM (``groups = batch``) so the weight count stays exact."""
    if shared or batch == 1:
        return {
            "kind": "linear",
            "batch": batch,
            "in_channels": k,
            "out_channels": n,
            "in_h": m,
            "out_h": m,
        }
    return {
        "kind": "linear",
        "batch": 1,
        "groups": batch,
        "in_channels": k * batch,
        "out_channels": n * batch,
        "in_h": m,
        "out_h": m,
    }


def act_matmul_row(batch: int, m: int, k: int, n: int) -> Row:
    """``batch`` independent ``[m, k] @ [k, n]`` products of two activations."""
    return {
        "kind": "act_matmul",
        "batch": batch,
        "in_channels": k,
        "out_channels": n,
        "in_h": m,
        "out_h": m,
    }


# --------------------------------------------------------------------- function level
def _bind(args: tuple[Any, ...], kwargs: Mapping[str, Any], names: Sequence[str]) -> dict:
    bound = dict(zip(names, args, strict=False))
    bound.update(kwargs)
    return bound


_CONV_NAMES = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_CONV_T_NAMES = (
    "input",
    "weight",
    "bias",
    "stride",
    "padding",
    "output_padding",
    "groups",
    "dilation",
)


def _conv_call(cap: _Capture, func, args, kwargs, transposed: bool) -> Any:
    out = func(*args, **kwargs)
    a = _bind(args, kwargs, _CONV_T_NAMES if transposed else _CONV_NAMES)
    x, w = a["input"], a["weight"]
    spatial = w.dim() - 2
    cap.add(
        shapes_conv_row(
            tuple(x.shape),
            tuple(w.shape),
            tuple(out.shape),
            _per_dim(a.get("stride", 1), spatial),
            a.get("padding", 0),
            _per_dim(a.get("dilation", 1), spatial),
            int(a.get("groups", 1)),
            transposed,
        ),
        "",
        x,
    )
    return out


def _linear_call(cap: _Capture, func, args, kwargs) -> Any:
    out = func(*args, **kwargs)
    a = _bind(args, kwargs, ("input", "weight", "bias"))
    x, w = a["input"], a["weight"]
    lead = tuple(x.shape[:-1])
    k = x.shape[-1]
    n = w.shape[0] if w.dim() == 2 else 1
    if cap.is_act(w):  # a weight computed from the input: no weight at all
        cap.add(act_matmul_row(1, math.prod(lead), k, n), "matmul", x)
        return out
    cap.add(linear_row(*_batch_and_pixels(x), k, n), "", x)
    return out


def _batch_and_pixels(x: torch.Tensor) -> tuple[int, int]:
    """All leading dims of a feature-last input are GEMM rows: the first is the batch, the
    rest (tokens, positions) count as pixels."""
    lead = tuple(x.shape[:-1])
    return (lead[0] if lead else 1), math.prod(lead[1:])


_SDPA_NAMES = ("query", "key", "value")


def _attention_rows(cap: _Capture, q, k, v, scores: str, values: str) -> None:
    """Attention as its two GEMMs per (batch, head): ``Q K^T`` then ``P V``, dense (a mask or
    causality changes which products matter, not which ones a dense kernel computes).
    Grouped-query attention (fewer K/V heads than query heads) stacks the query heads of a
    group as rows against their one shared K/V head, so each K/V head is one operand."""
    group = 1
    if q.dim() >= 3 and k.dim() >= 3 and k.shape[-3] < q.shape[-3]:
        group = q.shape[-3] // k.shape[-3]
    batch = math.prod(q.shape[:-2]) // group
    rows, e = q.shape[-2] * group, q.shape[-1]
    s, ev = k.shape[-2], v.shape[-1]
    cap.add(act_matmul_row(batch, rows, e, s), scores, q)
    cap.add(act_matmul_row(batch, rows, s, ev), values, v)


def _sdpa_call(cap: _Capture, func, args, kwargs) -> Any:
    out = func(*args, **kwargs)
    a = _bind(args, kwargs, _SDPA_NAMES)
    _attention_rows(cap, a["query"], a["key"], a["value"], "scores", "values")
    return out


def _rnn_call(cap: _Capture, func, args, kwargs) -> Any:
    """A whole recurrent layer stack (``_VF.lstm`` / ``gru`` / ``rnn_tanh`` / ``rnn_relu``):
    at each time step, per layer and direction, the input GEMM, the hidden GEMM and (LSTM with
    ``proj_size``) the projection."""
    out = func(*args, **kwargs)
    check(not kwargs, "rnn", sorted(kwargs), "keyword arguments of _VF recurrent calls")
    x = args[0]
    packed = isinstance(args[1], torch.Tensor) and not args[1].is_floating_point()
    if packed:  # (data, batch_sizes, hx, params, has_biases, layers, dropout, train, bidir)
        batch_sizes = [int(b) for b in args[1].tolist()]
        params, layers, bidirectional = args[3], args[5], args[8]
    else:  # (input, hx, params, has_biases, layers, dropout, train, bidir, batch_first)
        params, layers, bidirectional, batch_first = args[2], args[4], args[7], args[8]
        if x.dim() == 2:  # unbatched: time x features
            batch_sizes = [1] * x.shape[0]
        else:
            steps, batch = (x.shape[1], x.shape[0]) if batch_first else x.shape[:2]
            batch_sizes = [batch] * steps
    directions = 2 if bidirectional else 1
    per = len(params) // (layers * directions)
    for layer in range(layers):
        for d in range(directions):
            p = params[(layer * directions + d) * per : (layer * directions + d + 1) * per]
            weights = [("ih", p[0]), ("hh", p[1])]
            if per in (3, 5):  # a projection weight closes the group
                weights.append(("hr", p[-1]))
            steps = range(len(batch_sizes))
            for t in reversed(steps) if d else steps:
                for part, w in weights:
                    role = f"l{layer}{'r' if d else ''}.t{t}.{part}"
                    reads = x if (layer == 0 and part == "ih") else None
                    row = linear_row(batch_sizes[t], 1, w.shape[1], w.shape[0])
                    cap.add(row, role, reads)
    return out


def _cell_call(cap: _Capture, func, args, kwargs) -> Any:
    """One step of an ``nn.LSTMCell`` / ``GRUCell`` / ``RNNCell``: its input and hidden GEMMs."""
    out = func(*args, **kwargs)
    a = _bind(args, kwargs, ("input", "hx", "w_ih", "w_hh"))
    x = a["input"]
    batch = x.shape[0] if x.dim() == 2 else 1
    for part, w in (("ih", a["w_ih"]), ("hh", a["w_hh"])):
        cap.add(linear_row(batch, 1, w.shape[1], w.shape[0]), part, x if part == "ih" else None)
    return out


def _bilinear_call(cap: _Capture, func, args, kwargs) -> Any:
    """``x1^T A x2`` per output: a GEMM of the ``in1 x in2`` outer product with ``A``."""
    out = func(*args, **kwargs)
    a = _bind(args, kwargs, ("input1", "input2", "weight"))
    x1, w = a["input1"], a["weight"]
    cap.add(linear_row(*_batch_and_pixels(x1), w.shape[1] * w.shape[2], w.shape[0]), "", x1)
    return out


def _einsum_call(cap: _Capture, func, args, kwargs) -> Any:
    """Each pairwise contraction of an ``einsum``, left to right, as the GEMM it is: indices in
    both operands and the result are its batch, in both but not kept its reduction, in one
    operand only its rows (first) or columns (second). Mapped here rather than from the aten
    ops because einsum runs size-1 contractions as broadcast multiplies, not ``bmm``."""
    out = func(*args, **kwargs)
    equation = str(args[0]).replace(" ", "")
    operands = args[1] if len(args) == 2 and isinstance(args[1], list | tuple) else args[1:]
    lhs, _, rhs = equation.partition("->")
    terms = lhs.split(",")
    free = iter(sorted(set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") - set(lhs)))
    ellipsis = ""
    sizes: dict[str, int] = {}
    for i, (term, t) in enumerate(zip(terms, operands, strict=True)):
        if "..." in term:
            span = t.dim() - (len(term) - 3)
            while len(ellipsis) < span:
                ellipsis = next(free) + ellipsis
            term = term.replace("...", ellipsis[len(ellipsis) - span :])
            terms[i] = term
        for letter, size in zip(term, t.shape, strict=True):
            sizes[letter] = max(sizes.get(letter, 1), int(size))
    if "->" in equation:
        rhs = rhs.replace("...", ellipsis)
    else:  # implicit output: the ellipsis, then indices that appear once, sorted
        counts = "".join(terms)
        rhs = ellipsis + "".join(sorted(c for c in set(counts) if counts.count(c) == 1))
    size = lambda letters: math.prod(sizes[c] for c in letters)  # noqa: E731
    left = (terms[0], operands[0], cap.is_act(operands[0]))
    for i in range(1, len(terms)):
        a_term, a_t, a_act = left
        b_term, b_t = terms[i], operands[i]
        later = set(rhs).union(*terms[i + 1 :])
        a_set, b_set = set(a_term), set(b_term)
        keep = (a_set | b_set) & later
        batch = a_set & b_set & keep
        m, n = (a_set - b_set) & keep, (b_set - a_set) & keep
        k = (a_set & b_set) - keep
        b_act = cap.is_act(b_t)
        # Batch indices are in both operands: a weight with them is one weight per batch.
        cap.gemm(a_t, b_t, size(batch), size(m), size(k), size(n), acts=(a_act, b_act))
        left = ("".join(sorted(keep)), a_t if a_act or not b_act else b_t, a_act or b_act)
    return out


_FUNCTION_RULES: dict[Any, Callable[..., Any]] = {
    torch.einsum: _einsum_call,
    torch.conv1d: lambda c, f, a, k: _conv_call(c, f, a, k, False),
    torch.conv2d: lambda c, f, a, k: _conv_call(c, f, a, k, False),
    torch.conv3d: lambda c, f, a, k: _conv_call(c, f, a, k, False),
    torch.conv_transpose1d: lambda c, f, a, k: _conv_call(c, f, a, k, True),
    torch.conv_transpose2d: lambda c, f, a, k: _conv_call(c, f, a, k, True),
    torch.conv_transpose3d: lambda c, f, a, k: _conv_call(c, f, a, k, True),
    nn.functional.linear: _linear_call,
    nn.functional.bilinear: _bilinear_call,
    nn.functional.scaled_dot_product_attention: _sdpa_call,
    torch._VF.lstm: _rnn_call,
    torch._VF.gru: _rnn_call,
    torch._VF.rnn_tanh: _rnn_call,
    torch._VF.rnn_relu: _rnn_call,
    torch._VF.lstm_cell: _cell_call,
    torch._VF.gru_cell: _cell_call,
    torch._VF.rnn_tanh_cell: _cell_call,
    torch._VF.rnn_relu_cell: _cell_call,
}


class _FunctionLevel(TorchFunctionMode):
    def __init__(self, capture: _Capture) -> None:
        super().__init__()
        self.capture = capture

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        rule = _FUNCTION_RULES.get(func)
        if rule is None or self.capture.covered:
            return func(*args, **kwargs)
        self.capture.covered += 1
        try:
            return rule(self.capture, func, args, kwargs)
        finally:
            self.capture.covered -= 1


# ------------------------------------------------------------------------ aten level
aten = torch.ops.aten


def _mm(cap: _Capture, a: torch.Tensor, b: torch.Tensor) -> None:
    cap.gemm(a, b, 1, a.shape[0], a.shape[1], b.shape[1])


def _bmm(cap: _Capture, a: torch.Tensor, b: torch.Tensor) -> None:
    # A weight broadcast over the batch (stride 0) is one shared weight, not one per batch.
    shared = b.dim() == 3 and b.shape[0] > 1 and b.stride(0) == 0
    cap.gemm(a, b, a.shape[0], a.shape[1], a.shape[2], b.shape[2], shared_b=shared)


def _addbmm(cap: _Capture, a: torch.Tensor, b: torch.Tensor) -> None:
    # Summed over the batch: one GEMM whose reduction runs through every batch element.
    cap.gemm(a, b, 1, a.shape[1], a.shape[0] * a.shape[2], b.shape[2])


def _mv(cap: _Capture, a: torch.Tensor, v: torch.Tensor) -> None:
    cap.gemm(a, v, 1, a.shape[0], a.shape[1], 1)


def _dot(cap: _Capture, a: torch.Tensor, b: torch.Tensor) -> None:
    cap.gemm(a, b, 1, 1, a.shape[0], 1)


def _outer(cap: _Capture, a: torch.Tensor, b: torch.Tensor) -> None:
    cap.gemm(a, b, 1, a.shape[0], 1, b.shape[0])


def _aten_conv(cap: _Capture, args: tuple[Any, ...], out: torch.Tensor) -> None:
    x, w = args[0], args[1]
    stride, padding, dilation, transposed, _, groups = args[3:9]
    row = shapes_conv_row(
        tuple(x.shape),
        tuple(w.shape),
        tuple(out.shape),
        tuple(stride),
        tuple(padding),
        tuple(dilation),
        int(groups),
        bool(transposed),
    )
    cap.add(row, "", x)


def _fused_attention(cap: _Capture, args: tuple[Any, ...]) -> None:
    # The fused kernels hide scores and values in one op; named like the bmm pair that the
    # math path (the meta device) runs, so a model's names do not depend on its device.
    _attention_rows(cap, args[0], args[1], args[2], "matmul", "matmul")


_ATEN_RULES: dict[Any, Callable[[_Capture, tuple[Any, ...], Any], None]] = {
    aten.mm: lambda c, a, o: _mm(c, a[0], a[1]),
    aten._int_mm: lambda c, a, o: _mm(c, a[0], a[1]),
    aten.addmm: lambda c, a, o: _mm(c, a[1], a[2]),
    aten._addmm_activation: lambda c, a, o: _mm(c, a[1], a[2]),
    aten.bmm: lambda c, a, o: _bmm(c, a[0], a[1]),
    aten.baddbmm: lambda c, a, o: _bmm(c, a[1], a[2]),
    aten.addbmm: lambda c, a, o: _addbmm(c, a[1], a[2]),
    aten.mv: lambda c, a, o: _mv(c, a[0], a[1]),
    aten.addmv: lambda c, a, o: _mv(c, a[1], a[2]),
    aten.dot: lambda c, a, o: _dot(c, a[0], a[1]),
    aten.vdot: lambda c, a, o: _dot(c, a[0], a[1]),
    aten.addr: lambda c, a, o: _outer(c, a[1], a[2]),
    aten.convolution: lambda c, a, o: _aten_conv(c, a, o),
    aten._convolution: lambda c, a, o: _aten_conv(c, a, o),
    aten._scaled_dot_product_flash_attention_for_cpu: lambda c, a, o: _fused_attention(c, a),
    aten._scaled_dot_product_flash_attention: lambda c, a, o: _fused_attention(c, a),
    aten._scaled_dot_product_efficient_attention: lambda c, a, o: _fused_attention(c, a),
    aten._scaled_dot_product_cudnn_attention: lambda c, a, o: _fused_attention(c, a),
}


def _rnn_layer_macs(args: tuple[Any, ...], out: Any) -> int:
    x, w_ih, w_hh = args[0], args[1], args[2]
    rows = math.prod(x.shape[:-1])
    return rows * (w_ih.shape[0] * w_ih.shape[1] + w_hh.shape[0] * w_hh.shape[1])


def _output_times_reduction(dim: int) -> Callable[[tuple[Any, ...], Any], int]:
    """MACs of an op whose every output element reduces over ``args[0].shape[dim]``."""
    return lambda args, out: int(tree_leaves(out)[0].numel()) * int(args[0].shape[dim])


# Aten ops that do multiply-accumulates and have no GEMM mapping here, with their MAC count.
# Meeting one outside a function-level rule is an error: leaving it out would understate the cost.
_ATEN_REFUSED: dict[Any, Callable[[tuple[Any, ...], Any], int]] = {
    aten.mkldnn_rnn_layer: _rnn_layer_macs,
    aten._cdist_forward: _output_times_reduction(-1),
    aten._trilinear: lambda args, out: int(out.numel()) * int(args[0].shape[-1]),
    aten._weight_int8pack_mm: _output_times_reduction(-1),
    aten.mkldnn_convolution: lambda args, out: int(out.numel()) * int(args[1][0].numel()),
    aten.cudnn_convolution: lambda args, out: int(out.numel()) * int(args[1][0].numel()),
}


class _AtenLevel(TorchDispatchMode):
    def __init__(self, capture: _Capture) -> None:
        super().__init__()
        self.capture = capture

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        cap = self.capture
        cap.propagate(args, kwargs, out)
        if not cap.covered:
            packet = func.overloadpacket
            rule = _ATEN_RULES.get(packet)
            if rule is not None:
                rule(cap, args, out)
            elif packet in _ATEN_REFUSED:
                macs = _ATEN_REFUSED[packet](args, out)
                where = cap.stack[-1] if cap.stack else cap.root
                raise HwsimError(
                    "model",
                    f"{func} in {where}",
                    f"this op does {macs} multiply-accumulates and has no GEMM mapping in hwsim",
                )
        return out


# ------------------------------------------------------------------------ geometry
def shapes_conv_row(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
    stride: tuple[int, ...],
    padding: str | int | Sequence[int],
    dilation: tuple[int, ...],
    groups: int,
    transposed: bool,
) -> Row:
    """A convolution of any dimensionality as a workload row, from the real tensor shapes.

    3-D convs fold depth into height (``in_h = D*H``, ``kernel_h = kd*kh``), which keeps MACs
    and every tensor size exact. A transposed conv is the GEMM it runs (input pixels x
    ``in/groups`` times ``in/groups`` x ``out*kh*kw``, the products then scattered into the
    output: additions), so its MACs are the real ones, not those of the zero-stuffed
    equivalent; its output footprint is that GEMM's."""
    spatial = len(w_shape) - 2
    batch = x_shape[0] if len(x_shape) == spatial + 2 else 1
    in_channels = x_shape[-spatial - 1]
    in_sp, out_sp, kernel = x_shape[-spatial:], out_shape[-spatial:], w_shape[2:]
    stride = _per_dim(stride, spatial)
    pad = _padding(padding, tuple(kernel), dilation)
    if transposed:
        flat_in = (math.prod(in_sp),)
        return conv_row(
            batch=batch,
            in_channels=in_channels,
            out_channels=w_shape[1] * groups * math.prod(kernel),
            groups=groups,
            in_hw=flat_in,
            out_hw=flat_in,
            kernel=(1,),
            stride=(1,),
            dilation=(1,),
            pad=(0,),
        )
    if spatial == 3:  # depth folded into height
        in_sp = (in_sp[0] * in_sp[1], in_sp[2])
        out_sp = (out_sp[0] * out_sp[1], out_sp[2])
        kernel = (kernel[0] * kernel[1], kernel[2])
        stride, dilation, pad = stride[1:], dilation[1:], pad[1:]
    return conv_row(
        batch=batch,
        in_channels=in_channels,
        out_channels=w_shape[0],
        groups=groups,
        in_hw=in_sp,
        out_hw=out_sp,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        pad=pad,
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


def _per_dim(value: int | Sequence[int], spatial: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * spatial
    value = tuple(int(v) for v in value)
    return value * spatial if len(value) == 1 else value


def _padding(
    padding: str | int | Sequence[int], kernel: tuple[int, ...], dilation: tuple[int, ...]
) -> tuple[int, ...]:
    """Per-side padding. ``"same"`` pads ``dilation * (k - 1)`` in total; when that is odd,
    PyTorch puts the extra row on the far side, so the near side (recorded here) is the
    floor of half."""
    if padding == "valid":
        return tuple(0 for _ in kernel)
    if padding == "same":
        return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
    return _per_dim(padding, len(kernel))


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
