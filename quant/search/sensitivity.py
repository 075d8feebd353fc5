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

Moving one layer changes nothing that the forward pass computes before that layer is first
called, so :func:`layer_sensitivity` records, once per layer, the outputs of the modules that
finish before it (at the reference bits) and replays them in each of its options' passes: only
the rest of the network runs again. The table is the one whole passes give (tested).
"""

from __future__ import annotations

import contextlib
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
from quant.model import quantize_model, quantized_layers
from quant.products import ActProduct
from quant.runtime import model_device, torch_threads

DEFAULT_SAMPLES = 256
DEFAULT_BATCH = 256
SENSITIVITIES = ("loss", "hessian")
LOG_EVERY_S = 10.0
# A scan estimated below this many seconds on one core runs in this process: starting a worker
# (a fresh interpreter importing torch) costs a few seconds.
SPLIT_MIN_S = 30.0

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
@torch_threads()  # set after any Numba kernel has reset it (see torch_threads)
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
    reuse_prefix: bool = True,
    channels_last: bool = True,
    processes: int | None = 1,
    scan: Sequence[str] | None = None,
    on_layer: Callable[[], None] | None = None,
) -> np.ndarray:
    """Loss increase ``[layer, w option, a option]`` of the float ``model`` quantized at
    ``reference`` bits, when one layer at a time moves to each candidate pair.

    ``log``, if given, gets a line with the layers done and an estimate of the time left, at
    most every :data:`LOG_EVERY_S` seconds. ``reuse_prefix=False`` runs every option's pass
    through the whole network (the plain definition the replayed prefix is tested against);
    ``channels_last=False`` keeps the passes on the CPU in the usual layout.

    ``processes`` splits the layers over that many worker processes, each on one torch thread
    (``None``: the CPU's cores when the scan would take over :data:`SPLIT_MIN_S` on one). A
    layer's row does not depend on which layers share its process, and each process does the
    same arithmetic on one thread, so the table is the same bit for bit: unlike more torch
    threads, whose sums change order; the progress lines then come from this process, on any
    stream. ``scan`` (a worker's share) measures only those of ``layer_names``, in their
    order, with all of ``layer_names`` at ``reference`` around them; ``on_layer`` is called
    after each layer (how a worker reports its progress)."""
    w_opts, a_opts, ref = _options(w_bits, a_bits, reference)
    check(
        processes is None
        or (isinstance(processes, int) and not isinstance(processes, bool) and processes >= 1),
        "processes",
        processes,
        "must be None or an integer >= 1",
    )
    rows = (
        list(range(len(layer_names)))
        if scan is None
        else [list(layer_names).index(n) for n in scan]
    )
    if processes != 1 and len(rows) > 1 and scan is None and model_device(model).type == "cpu":
        split = _split_scan(
            model, data, layer_names, w_bits, a_bits, processes, log,
            reference=reference, samples=samples, batch_size=batch_size, workers=workers,
            reuse_prefix=reuse_prefix, channels_last=channels_last,
        )  # fmt: skip
        if split is not None:
            return split
    batches = calibration_batches(model, data, samples, batch_size, workers)
    qmodel, layers, inputs, operands = _reference_model(model, batches, layer_names, ref)
    if channels_last and model_device(qmodel).type == "cpu":
        # The passes' convolutions in channels-last layout: oneDNN ran ResNet-20's 1.2-1.6x
        # faster on one core. The quantized layers sum exact integer codes, so the order
        # does not matter to them; the steps were fitted above, in the usual layout.
        qmodel = qmodel.to(memory_format=torch.channels_last)
        batches = [
            (xb.contiguous(memory_format=torch.channels_last) if xb.dim() == 4 else xb, yb)
            for xb, yb in batches
        ]
    base = mean_loss(qmodel, batches)
    prefix = _Prefix(qmodel, batches, reuse_prefix)
    out = np.empty((len(layer_names), len(w_opts), len(a_opts)))
    began = last = time.perf_counter()
    total = len(rows) * len(w_opts) * len(a_opts)
    wanted = set(rows)
    bar = tqdm(
        total=total,
        desc="sensitivity",
        disable=None if progress is None else not progress,
        leave=False,
    )
    try:
        # In forward order, so each layer's prefix extends the one recorded before it.
        order = [li for li in prefix.order([layers[n] for n in layer_names]) if li in wanted]
        for done, li in enumerate(order, start=1):
            layer = layers[layer_names[li]]
            prefix.reach(layer)
            wq, aq = layer.weight_quantizer, layer.act_quantizer
            saved = (wq.scale.detach().clone(), aq.scale.detach().clone())
            # A step depends on its own side's bits only: fit each once, then combine.
            w_steps = [_fitted(wq, b, operands[li]) for b in w_opts]
            a_steps = [_fitted(aq, b, inputs[li]) for b in a_opts]
            for i, wb in enumerate(w_opts):
                wq.bits = wb
                wq.scale.data = w_steps[i].clone()  # the bits setter rescales in place
                for j, ab in enumerate(a_opts):
                    aq.bits = ab
                    aq.scale.data = a_steps[j].clone()
                    out[li, i, j] = mean_loss(qmodel, batches) - base
                    prefix.refresh()
                    bar.update()
            wq.bits, aq.bits = ref
            wq.scale.data, aq.scale.data = saved
            if on_layer is not None:
                on_layer()
            now = time.perf_counter()
            if log is not None and now - last >= LOG_EVERY_S and done < len(rows):
                left = (now - began) / done * (len(rows) - done)
                log(f"sensitivity: {done}/{len(rows)} layers, about {left:.0f} s left")
                last = now
    finally:
        prefix.close()
        bar.close()
    return out[rows]


def _split_scan(
    model: nn.Module,
    data: Any,
    layer_names: Sequence[str],
    w_bits: Sequence[int],
    a_bits: Sequence[int],
    processes: int | None,
    log: Callable[[str], None] | None,
    **kwargs: Any,
) -> np.ndarray | None:
    """:func:`layer_sensitivity` with contiguous runs of layers in worker processes, or
    ``None`` when the scan stays here (a daemon process cannot start workers; a short scan
    does not pay for them)."""
    import itertools
    import multiprocessing as mp
    import os
    from types import SimpleNamespace

    if mp.current_process().daemon:
        if processes is not None and log is not None:
            log(f"sensitivity: in this process, not {processes} (a daemon cannot start workers)")
        return None
    x, y = calibration_split(data, kwargs["samples"], workers=kwargs.pop("workers"))
    if processes is None:
        batch = x[: kwargs["batch_size"]]
        was_training = model.training
        t0 = time.perf_counter()
        model.eval()(batch)
        one_pass = (time.perf_counter() - t0) * len(x) / len(batch)
        model.train(was_training)
        options = len(set(w_bits)) * len(set(a_bits))
        if one_pass * options * len(layer_names) < SPLIT_MIN_S:
            return None
        processes = len(os.sched_getaffinity(0))  # the cores this process may run on
    processes = min(processes, len(layer_names))
    if processes == 1:
        return None
    # A layer's passes run the network from it on (the part before is replayed), so in
    # forward order the earlier layers cost more: split the layers at equal shares of the
    # suffix lengths, not of their count.
    suffix = np.arange(len(layer_names), 0, -1, dtype=float)
    share = np.concatenate([[0.0], np.cumsum(suffix)]) / suffix.sum()
    bounds = [0, *np.searchsorted(share, np.arange(1, processes) / processes), len(layer_names)]
    runs = [list(layer_names[a:b]) for a, b in itertools.pairwise(bounds) if b > a]
    subset = SimpleNamespace(x_train=x, y_train=y)
    if log is not None:
        log(f"sensitivity: {len(layer_names)} layers over {processes} processes")
    ctx = mp.get_context("spawn")
    jobs = [(model, subset, list(layer_names), run, w_bits, a_bits, kwargs) for run in runs]
    # The workers ignore Ctrl-C (it reaches the whole process group): this process alone
    # handles it, and leaving the block terminates them, so no worker prints a traceback.
    # They start with SIGINT ignored (an ignored signal stays ignored in a new interpreter),
    # so a Ctrl-C while they import torch is ignored there too.
    # The shared count and the pool are made with Ctrl-C held off, and the pool is reaped in
    # the finally below, so an interrupt at any point leaves nothing for the resource tracker.
    with _sigint_ignored():
        done = ctx.Value("i", 0)
        pool = ctx.Pool(len(runs), initializer=_worker_init, initargs=(done,))
    try:
        parts = pool.map_async(_scan_part, jobs)
        began = last = time.perf_counter()
        while not parts.ready():
            parts.wait(0.25)
            now = time.perf_counter()
            if log is not None and now - last >= LOG_EVERY_S and not parts.ready():
                finished = done.value
                left = (
                    f", about {(now - began) / finished * (len(layer_names) - finished):.0f} s left"
                    if finished
                    else ""
                )
                log(f"sensitivity: {finished}/{len(layer_names)} layers{left}")
                last = now
        return np.concatenate(parts.get())
    finally:
        # Reaped, not only terminated: an interrupted scan then leaves no semaphore for the
        # resource tracker to warn about after the clean line.
        pool.terminate()
        pool.join()


_DONE = None  # a worker's shared count of the layers finished (set by _worker_init)


@contextlib.contextmanager
def _sigint_ignored():
    """SIGINT ignored in this process for the block (the main thread only can say so)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _worker_init(done) -> None:
    import signal

    global _DONE
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _DONE = done


def _count_layer() -> None:
    with _DONE.get_lock():
        _DONE.value += 1


def _scan_part(job: tuple) -> np.ndarray:
    model, subset, names, run, w_bits, a_bits, kwargs = job
    return layer_sensitivity(
        model,
        subset,
        names,
        w_bits,
        a_bits,
        progress=False,
        scan=run,
        on_layer=_count_layer if _DONE is not None else None,
        **kwargs,
    )


class _StopForward(Exception):
    """Raised by a hook to end a forward pass once what it recorded is complete."""


class _Prefix:
    """The forward passes of one sensitivity scan, replaying what precedes the moved layer.

    A module called once per pass whose call ends before the moved layer is first called
    computes the same tensor in every option's pass (eval mode: a module is a function of its
    inputs and its own state, and the moved layer's state is read only when it runs). The
    outermost such modules are recorded once per layer, over all batches, and their
    ``forward`` replaced by a lookup of the batch the model was called with (one of
    ``batches``, the same tensor); the call order is traced on the first batch.
    ``enabled=False`` replays nothing (whole passes).

    A replayed output is handed out itself, not a copy (a copy per pass was a tenth of the
    scan): a consumer that works in place (``ReLU(inplace=True)`` after a replayed
    BatchNorm) changes it as it would change the module's fresh output in a whole pass, and
    :meth:`refresh`, after each pass, puts back from a kept copy every output whose version
    counter moved."""

    def __init__(self, model: nn.Module, batches: Batches, enabled: bool = True) -> None:
        self.model, self.batches, self.enabled = model, batches, enabled
        self.names = {m: n for n, m in model.named_modules()}
        self.modules = {n: m for m, n in self.names.items()}
        self.spans: dict[nn.Module, tuple[int, int]] = {}
        self.first_call: dict[nn.Module, int] = {}
        self.outputs: dict[nn.Module, list[torch.Tensor]] = {}  # replayed: one per batch
        self.kept: dict[nn.Module, list[torch.Tensor]] = {}  # their recorded values
        self.versions: dict[nn.Module, list[int]] = {}  # their version counters as handed out
        self.batch: int | None = None
        # A module whose instance has a forward of its own is left alone: not ours to swap.
        self.foreign = {m for m in self.names if "forward" in m.__dict__}
        self._hook = None
        if enabled:
            self._trace(batches[0][0])
            index = {id(xb): i for i, (xb, _) in enumerate(batches)}
            self._hook = model.register_forward_pre_hook(
                lambda mod, args: setattr(self, "batch", index.get(id(args[0])))
            )

    def _trace(self, x: torch.Tensor) -> None:
        """Each module's call positions on one batch: ``spans`` for the modules called once
        that return a tensor, ``first_call`` for every module called."""
        clock: list[int] = [0]
        starts: dict[nn.Module, list[int]] = {}
        ends: dict[nn.Module, list[tuple[int, bool]]] = {}

        def tick() -> int:
            clock[0] += 1
            return clock[0]

        hooks = []
        for m in self.names:
            if m is self.model:
                continue
            hooks.append(
                m.register_forward_pre_hook(
                    lambda mod, _: starts.setdefault(mod, []).append(tick())
                )
            )
            hooks.append(
                m.register_forward_hook(
                    lambda mod, _, y: ends.setdefault(mod, []).append(
                        (tick(), isinstance(y, torch.Tensor))
                    )
                )
            )
        try:
            self.model(x)
        finally:
            for h in hooks:
                h.remove()
        self.first_call = {m: calls[0] for m, calls in starts.items()}
        self.spans = {
            m: (calls[0], ends[m][0][0])
            for m, calls in starts.items()
            if len(calls) == 1 and len(ends.get(m, ())) == 1 and ends[m][0][1]
        }

    def order(self, layers: Sequence[nn.Module]) -> list[int]:
        """Indices of ``layers`` in the order the forward pass first calls them (layers never
        called last)."""
        never = float("inf")
        return sorted(range(len(layers)), key=lambda i: self.first_call.get(layers[i], never))

    def _replayable(self, layer: nn.Module) -> list[nn.Module]:
        """The outermost modules whose one call ends before ``layer`` is first called."""
        start = self.first_call.get(layer)
        if not self.enabled or start is None:
            return []
        done = {m for m, (_, end) in self.spans.items() if end < start and m not in self.foreign}

        def outer(m: nn.Module) -> bool:
            parts = self.names[m].split(".")
            return not any(
                self.modules.get(".".join(parts[:k])) in done for k in range(1, len(parts))
            )

        return [m for m in done if outer(m)]

    def reach(self, layer: nn.Module) -> None:
        """Record (replaying what is recorded already) and replay the prefix of ``layer``;
        layers must come in :meth:`order`."""
        wanted = self._replayable(layer)
        new = [m for m in wanted if m not in self.outputs]
        if new:
            recorded: dict[nn.Module, list[torch.Tensor]] = {m: [] for m in new}

            def record(mod, _, y):
                recorded[mod].append(y.detach().clone())  # a later in-place op must not reach it

            def stop(mod, _):
                raise _StopForward

            hooks = [m.register_forward_hook(record) for m in new]
            hooks.append(layer.register_forward_pre_hook(stop))
            try:
                for xb, _ in self.batches:
                    try:
                        self.model(xb)
                    except _StopForward:
                        pass
            finally:
                for h in hooks:
                    h.remove()
                self.refresh()  # the recording pass ran on what is replayed already
            # A module the recording pass did not reach runs as usual.
            for m, ys in recorded.items():
                if len(ys) == len(self.batches):
                    self.outputs[m] = ys
                    self.kept[m] = [y.clone() for y in ys]
                    self.versions[m] = [y._version for y in ys]
        keep = set(wanted)
        for m in [m for m in self.outputs if m not in keep]:
            del self.outputs[m], self.kept[m], self.versions[m]
            del m.forward
        for m in self.outputs:
            m.forward = self._replay(m)

    def _replay(self, module: nn.Module) -> Callable[..., torch.Tensor]:
        outputs = self.outputs[module]

        def forward(*args: Any, **kwargs: Any) -> torch.Tensor:
            if self.batch is None:
                raise RuntimeError("a replayed prefix runs on its calibration batches only")
            return outputs[self.batch]

        return forward

    def refresh(self) -> None:
        """Undo what the last pass did in place to the replayed outputs."""
        for m, ys in self.outputs.items():
            versions = self.versions[m]
            for i, y in enumerate(ys):
                if y._version != versions[i]:
                    y.copy_(self.kept[m][i])
                    versions[i] = y._version

    def close(self) -> None:
        """Put every replayed module's own ``forward`` back."""
        for m in self.outputs:
            del m.forward
        self.outputs.clear()
        self.kept.clear()
        self.versions.clear()
        if self._hook is not None:
            self._hook.remove()


def _options(
    w_bits: Sequence[int], a_bits: Sequence[int], reference: tuple[int, int]
) -> tuple[list[int], list[int], tuple[int, int]]:
    w_opts = [check_bits("w_bits", b) for b in w_bits]
    a_opts = [check_bits("a_bits", b) for b in a_bits]
    ref = (
        check_bits("reference.w_bits", reference[0]),
        check_bits("reference.a_bits", reference[1]),
    )
    # Weights are signed: a 1-bit weight candidate is binary (sign x mean |W| per channel).
    return w_opts, a_opts, ref


def _reference_model(
    model: nn.Module, batches: Batches, layer_names: Sequence[str], ref: tuple[int, int]
) -> tuple[nn.Module, dict[str, nn.Module], list[torch.Tensor], list[torch.Tensor]]:
    """``model`` quantized at ``ref`` bits and calibrated on ``batches`` (eval mode), its
    quantized layers, and what each named layer's two quantizers see over all the batches:
    its input, and its weight (for an activation x activation product, its second operand)."""
    xs = [xb for xb, _ in batches]
    qmodel = quantize_model(model, BitPolicy({n: ref for n in layer_names}), calibration=xs)
    qmodel.eval()
    layers = quantized_layers(qmodel)
    inputs, operands = _layer_inputs(qmodel, [layers[n] for n in layer_names], xs)
    return qmodel, layers, inputs, operands


def _fitted(quantizer: nn.Module, bits: int, x: torch.Tensor) -> torch.Tensor:
    """The step ``quantizer`` fits to ``x`` at ``bits`` (its bits are left at ``bits``)."""
    quantizer.bits = bits
    quantizer.calibrate(x)
    return quantizer.scale.detach().clone()


def _layer_inputs(
    model: nn.Module, layers: list[nn.Module], xs: list[torch.Tensor]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The input each of ``layers`` receives when ``model`` runs on the batches ``xs``, and
    what its weight quantizer sees: the weight, or a product's second operand (an activation,
    seen over all the batches as the input is)."""
    from quant.products import QProduct

    seen: dict[int, list[tuple[torch.Tensor, ...]]] = {i: [] for i in range(len(layers))}
    hooks = [
        layer.register_forward_pre_hook(
            lambda module, args, i=i: seen[i].append(tuple(a.detach() for a in args[:2]))
        )
        for i, layer in enumerate(layers)
    ]
    try:
        for x in xs:
            model(x)
    finally:
        for h in hooks:
            h.remove()
    inputs = [torch.cat([args[0] for args in seen[i]]) for i in range(len(layers))]
    operands = [
        torch.cat([args[1] for args in seen[i]])
        if isinstance(layer, QProduct)
        else layer.weight.detach()
        for i, layer in enumerate(layers)
    ]
    return inputs, operands


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
    from quant.products import product_slots

    check(isinstance(probes, int) and probes >= 1, "probes", probes, "must be >= 1")
    modules = dict(model.named_modules())
    # An activation x activation product's "weight" is its second operand: both operands are
    # shifted by a zero leaf, as a layer's input is (slots filled for the pass, then restored).
    slots = {n: s for n, s in product_slots(model).items() if n in layer_names}
    missing = [n for n in layer_names if n not in modules and n not in slots]
    check(not missing, "layer_names", missing[:10], "not modules of the model")
    params = [None if n in slots else modules[n].weight for n in layer_names]
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

            seconds: dict[int, torch.Tensor] = {}
            hooks = [
                modules[n].register_forward_pre_hook(lambda m, a, i=i: shift(m, a, i))
                for i, n in enumerate(layer_names)
                if n not in slots
            ]
            before = {n: getattr(mod, f"{role}_product") for n, (mod, role) in slots.items()}
            for i, n in enumerate(layer_names):
                if n in slots:
                    mod, role = slots[n]
                    setattr(mod, f"{role}_product", _ShiftedProduct(role, n, i, shifts, seconds))
            try:
                loss = F.cross_entropy(model(xb), yb)
            finally:
                for h in hooks:
                    h.remove()
                for n, old in before.items():
                    setattr(slots[n][0], f"{slots[n][1]}_product", old)
            leaves = [
                *(seconds[i] if p is None else p for i, p in enumerate(params)),
                *(shifts[i] for i in range(n_layers)),
            ]
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


class _ShiftedProduct(ActProduct):
    """A product slot's stand-in while traces are taken: ``a @ b`` with a zero leaf added to
    each operand (recorded in ``firsts`` / ``seconds`` at index ``i``) to differentiate by."""

    def __init__(
        self,
        role: str,
        policy_name: str,
        i: int,
        firsts: dict[int, torch.Tensor],
        seconds: dict[int, torch.Tensor],
    ) -> None:
        super().__init__(role, policy_name)
        self.i, self.firsts, self.seconds = i, firsts, seconds

    def operands(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.firsts[self.i] = torch.zeros_like(a, requires_grad=True)
        self.seconds[self.i] = torch.zeros_like(b, requires_grad=True)
        return a + self.firsts[self.i], b + self.seconds[self.i]


@torch_threads()
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
        _, layers, inputs, operands = _reference_model(model, batches, layer_names, ref)
        out = np.empty((len(layer_names), len(w_opts), len(a_opts)))
        for li, name in enumerate(layer_names):
            layer = layers[name]
            w = operands[li]
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
