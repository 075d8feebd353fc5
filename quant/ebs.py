"""EBS: Efficient Bitwidth Search (Li et al., arXiv 2003.07577), a reconstruction.

No code of the authors is public and only the abstract could be read
(``docs/methods.md``, section 4), so this is our reading of it, not a faithful copy. Each
quantized layer keeps **one** float meta weight shared by every candidate bit width and two
vectors of strength logits, over the candidate weight bits and over the candidate activation
bits. With ``pi = softmax(logits)``::

    W~ = sum_i pi^w_i Q_{b_i}(W)      x~ = sum_j pi^a_j Q_{b_j}(x)      y = conv(x~, W~)

one convolution per layer (a conv is bilinear, so this equals the strength-weighted mix of all
``|B_w| x |B_a|`` candidate convolutions, without computing them). The search minimizes
``CE + lam * penalty(E[cost] / budget)`` with the expected cost over a per-layer cost table
``C[l, i, j]``, one metric of a :class:`hwsim.CostTable` (BitOps by default; hwsim's
simulated latency or energy included)::

    E[cost] = sum_l sum_{i,j} pi^w_{l,i} pi^a_{l,j} C[l, i, j]

``penalty`` is ``"hinge"``: ``max(0, E/budget - 1)`` (no pressure once under the budget; the
default), or ``"log"``: ``log(E/budget)`` (the DNAS-style form, always pushing toward cheaper
bits, with a gradient independent of the cost's unit). Strengths and meta weights are trained
jointly (the strengths at their own learning rate). Final bits: the argmax strength per layer;
then :func:`finetune` trains the meta weights at those bits.

Quantizers: weights symmetric per-tensor with a max-abs step refitted each call; activations the
shared :class:`quant.quantizers.UniformQuantizer` (fitted step, LSQ), one per candidate.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hwsim.errors import check, check_bits
from hwsim.hardware.report import CostTable
from hwsim.policy import BitPolicy
from quant.costs import bitops_table
from quant.methods import (
    SearchProblem,
    SearchResult,
    check_count,
    check_covers,
    check_non_negative,
    check_positive,
    register_method,
    require_dataset,
)
from quant.model import current_policy, install_products
from quant.products import ActProduct
from quant.quantizers import UniformQuantizer, quantizer_range
from quant.runtime import model_device
from quant.wrapped import WrappedLayer, maxabs_weight_quant, wrap_layers

PENALTIES = ("hinge", "log")


class _Strengths:
    """Strength logits over the candidate bits of two operands, and the argmax choice: what
    every searching module shares (``w_candidates`` / ``a_candidates``, ``w_logits`` /
    ``a_logits`` and ``chosen`` are set by the subclass)."""

    w_candidates: tuple[int, ...]
    a_candidates: tuple[int, ...]
    w_logits: nn.Parameter
    a_logits: nn.Parameter
    chosen: tuple[int, int] | None

    def strengths(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pi_w, pi_a)``: softmax of the logits, or one-hot at the chosen bits."""
        if self.chosen is not None:
            device = self.w_logits.device
            pw = F.one_hot(torch.tensor(self.chosen[0], device=device), len(self.w_candidates))
            pa = F.one_hot(torch.tensor(self.chosen[1], device=device), len(self.a_candidates))
            return pw.float(), pa.float()
        return torch.softmax(self.w_logits, 0), torch.softmax(self.a_logits, 0)

    def argmax(self) -> tuple[int, int]:
        """Indices of the strongest weight and activation candidates (or the chosen ones)."""
        if self.chosen is not None:
            return self.chosen
        return int(self.w_logits.argmax()), int(self.a_logits.argmax())

    # ``w_bits`` / ``a_bits`` (the current argmax) make the layer visible to ``current_policy``.
    @property
    def w_bits(self) -> int:
        return self.w_candidates[self.argmax()[0]]

    @property
    def a_bits(self) -> int:
        return self.a_candidates[self.argmax()[1]]

    def choose(self) -> None:
        """Fix the bits at the argmax; the logits stop mattering (and get no gradient)."""
        self.chosen = self.argmax()
        self.w_logits.requires_grad_(False)
        self.a_logits.requires_grad_(False)


class EBSLayer(_Strengths, WrappedLayer):
    """A conv or linear layer searching its weight and activation bits over candidates."""

    def __init__(
        self,
        module: nn.Conv2d | nn.Linear,
        w_candidates: Sequence[int],
        a_candidates: Sequence[int],
    ) -> None:
        super().__init__(module)
        self.w_candidates = _candidates("w_candidates", w_candidates)
        for b in self.w_candidates:
            quantizer_range(b, True)  # signed weights (binary at 1 bit)
        self.a_candidates = _candidates("a_candidates", a_candidates)
        self.weight = nn.Parameter(module.weight.detach().clone())
        self.w_logits = nn.Parameter(torch.zeros(len(self.w_candidates)))
        self.a_logits = nn.Parameter(torch.zeros(len(self.a_candidates)))
        self.act_quantizers = nn.ModuleList(
            UniformQuantizer(b, signed=None) for b in self.a_candidates
        )
        # After the search: (w index, a index) of the chosen bits; None while searching.
        self.chosen: tuple[int, int] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pw, pa = self.strengths()
        if self.chosen is not None:
            i, j = self.chosen
            w = maxabs_weight_quant(self.weight, self.w_candidates[i])
            x = self.act_quantizers[j](x)
        else:
            w = sum(
                p * maxabs_weight_quant(self.weight, b)
                for p, b in zip(pw, self.w_candidates, strict=True)
            )
            x = sum(p * q(x) for p, q in zip(pa, self.act_quantizers, strict=True))
        return self.apply_op(x, w)


class EBSProduct(_Strengths, ActProduct):
    """An activation x activation product (attention ``Q K^T``, ``P V``) searching the bits of
    both operands: the first over ``a_candidates``, the second (in the weight's place, the
    policy's ``w_bits``) over ``w_candidates``, each operand the strength-weighted mix of its
    candidate quantizations (a product is bilinear, so this is the mix of every candidate
    pair's product, as a layer's is). Named ``<attention>#<role>`` in the policy."""

    def __init__(
        self, role: str, policy_name: str, w_candidates: Sequence[int], a_candidates: Sequence[int]
    ) -> None:
        super().__init__(role, policy_name)
        self.w_candidates = _candidates("w_candidates", w_candidates)
        self.a_candidates = _candidates("a_candidates", a_candidates)
        self.w_logits = nn.Parameter(torch.zeros(len(self.w_candidates)))
        self.a_logits = nn.Parameter(torch.zeros(len(self.a_candidates)))
        # Both operands are activations: fitted quantizers (LSQ steps), one per candidate.
        self.act_quantizers = nn.ModuleList(
            UniformQuantizer(b, signed=None) for b in self.a_candidates
        )
        self.second_quantizers = nn.ModuleList(
            UniformQuantizer(b, signed=None) for b in self.w_candidates
        )
        self.chosen: tuple[int, int] | None = None

    def operands(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.chosen is not None:
            i, j = self.chosen
            return self.act_quantizers[j](a), self.second_quantizers[i](b)
        pw, pa = self.strengths()
        a = sum(p * q(a) for p, q in zip(pa, self.act_quantizers, strict=True))
        b = sum(p * q(b) for p, q in zip(pw, self.second_quantizers, strict=True))
        return a, b


def _candidates(name: str, bits: Sequence[int]) -> tuple[int, ...]:
    opts = tuple(check_bits(name, b) for b in bits)
    check(len(opts) > 0, name, bits, "need at least one candidate")
    check(len(set(opts)) == len(opts), name, bits, "candidates must be distinct")
    return opts


def convert(
    model: nn.Module,
    w_candidates: Sequence[int] = (2, 3, 4, 8),
    a_candidates: Sequence[int] = (2, 3, 4, 8),
) -> nn.Module:
    """Replace every ``nn.Conv2d`` / ``nn.Linear`` of ``model`` in place by an
    :class:`EBSLayer` and fill every activation x activation product slot with an
    :class:`EBSProduct` (names match the model's workload rows)."""
    wrap_layers(model, lambda m: EBSLayer(m, w_candidates, a_candidates))
    install_products(model, lambda name, role: EBSProduct(role, name, w_candidates, a_candidates))
    return model


def first_image(data: Any, model: nn.Module) -> torch.Tensor:
    """One training image of ``data``, as a batch on ``model``'s device (to trace shapes)."""
    from models.data import calibration

    return calibration(data, 1)[0].to(model_device(model))


def ebs_layers(model: nn.Module) -> dict[str, EBSLayer | EBSProduct]:
    """Every searching layer and product by policy name, in module order."""
    return {
        getattr(m, "policy_name", n): m
        for n, m in model.named_modules()
        if isinstance(m, EBSLayer | EBSProduct)
    }


def cost_metric(table: CostTable, metric: str | None = None) -> str:
    """The metric a search minimizes: ``metric`` if given, else the table's only one, else
    latency (a simulated table holds many)."""
    if metric is None:
        metric = next(iter(table.metrics)) if len(table.metrics) == 1 else "latency"
    table.metric(metric)  # raises, naming the metrics the table has
    return metric


def aligned_table(model: nn.Module, table: CostTable) -> CostTable:
    """The cost table's rows in the model's layer order, checked against its candidates."""
    check(
        isinstance(table, CostTable),
        "cost_table",
        type(table).__name__,
        "must be a hwsim.CostTable",
    )
    layers = ebs_layers(model)
    check(len(layers) > 0, "model", type(model).__name__, "has no EBS layers; call convert()")
    table = table.select(list(layers))
    for name, m in layers.items():
        check(
            table.w_bits == m.w_candidates,
            "cost_table.w_bits",
            table.w_bits,
            f"must equal layer {name!r}'s candidates {m.w_candidates}",
        )
        check(
            table.a_bits == m.a_candidates,
            "cost_table.a_bits",
            table.a_bits,
            f"must equal layer {name!r}'s candidates {m.a_candidates}",
        )
    return table


def expected_cost(model: nn.Module, costs: torch.Tensor) -> torch.Tensor:
    """``sum_l pi^w_l . C_l . pi^a_l``, differentiable in the strength logits.

    ``costs`` is ``[L, nw, na]`` in the model's layer order (see :func:`aligned_table`).
    """
    layers = list(ebs_layers(model).values())
    check(
        tuple(costs.shape[:1]) == (len(layers),),
        "costs.shape",
        tuple(costs.shape),
        f"need one row per EBS layer ({len(layers)})",
    )
    total = costs.new_zeros(())
    for l, m in enumerate(layers):
        pw, pa = m.strengths()
        total = total + pw.to(costs.dtype) @ costs[l] @ pa.to(costs.dtype)
    return total


def argmax_cost(model: nn.Module, table: CostTable, metric: str) -> float:
    """Cost (``metric`` of ``table``) of the bits the search would pick now."""
    bits = {n: (m.w_bits, m.a_bits) for n, m in ebs_layers(model).items()}
    return float(table.total(metric, bits))


def penalty(ratio: torch.Tensor, kind: str = "hinge") -> torch.Tensor:
    """``hinge``: max(0, ratio - 1); ``log``: log(ratio); ``ratio`` = E[cost] / budget."""
    check(kind in PENALTIES, "penalty", kind, f"must be one of {PENALTIES}")
    if kind == "hinge":
        return torch.relu(ratio - 1.0)
    return torch.log(ratio.clamp_min(1e-12))


@dataclass
class EBSHistory:
    """Per search epoch: training loss, expected cost, cost of the argmax bits, policy."""

    loss: list[float] = field(default_factory=list)
    expected_cost: list[float] = field(default_factory=list)
    argmax_cost: list[float] = field(default_factory=list)
    bits: list[dict[str, tuple[int, int]]] = field(default_factory=list)


def ebs_search(
    model: nn.Module,
    data,
    *,
    cost_table: CostTable | None = None,
    metric: str | None = None,
    budget: float,
    lam: float,
    w_candidates: Sequence[int] = (2, 3, 4, 8),
    a_candidates: Sequence[int] = (2, 3, 4, 8),
    epochs: int,
    seed: int = 0,
    penalty_kind: str = "hinge",
    lr: float = 1e-3,
    arch_lr: float = 3e-2,
    batch_size: int = 64,
    progress: bool | None = None,
) -> SearchResult:
    """Search per-layer (w, a) bits of a copy of the float ``model``; return it with the
    argmax bits fixed (ready for :func:`finetune`), its policy and the search history
    (``extras["history"]``, an :class:`EBSHistory`).

    ``cost_table``: a ``hwsim.CostTable`` whose ``metric`` (default: its only metric, or
    latency) is minimized and whose
    options are the candidates; ``None``: BitOps of the model's workload at batch 1.
    ``budget`` is in the table's unit.
    """
    from quant.train import set_seed, train

    check(budget > 0, "budget", budget, "must be > 0")
    check(lam >= 0, "lam", lam, "must be >= 0")
    check(penalty_kind in PENALTIES, "penalty_kind", penalty_kind, f"one of {PENALTIES}")
    check(isinstance(epochs, int) and epochs >= 1, "epochs", epochs, "must be an integer >= 1")
    set_seed(seed)
    if cost_table is None:
        from models import extract_workload

        workload = extract_workload(model, first_image(data, model))
        cost_table = bitops_table(workload, w_candidates, a_candidates)
    model = convert(copy.deepcopy(model), w_candidates, a_candidates)
    table = aligned_table(model, cost_table)
    metric = cost_metric(table, metric)
    costs = torch.tensor(table.metric(metric), dtype=torch.float32, device=model_device(model))
    history = EBSHistory()

    def regularizer(m: nn.Module) -> torch.Tensor:
        return lam * penalty(expected_cost(m, costs) / budget, penalty_kind)

    def optimizer(m: nn.Module) -> torch.optim.Optimizer:
        arch = [p for n, p in m.named_parameters() if n.endswith(("w_logits", "a_logits"))]
        ids = {id(p) for p in arch}
        rest = [p for p in m.parameters() if id(p) not in ids]
        return torch.optim.Adam([{"params": rest, "lr": lr}, {"params": arch, "lr": arch_lr}])

    def record(m: nn.Module, epoch: int) -> bool:
        with torch.no_grad():
            history.expected_cost.append(float(expected_cost(m, costs)))
        history.argmax_cost.append(argmax_cost(m, table, metric))
        history.bits.append(dict(current_policy(m).bits))
        return False

    history.loss = train(
        model,
        data,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        optimizer=optimizer,
        regularizer=regularizer,
        after_epoch=record,
        progress=progress,
    )
    for m in ebs_layers(model).values():
        m.choose()
    return SearchResult(model, current_policy(model), {"history": history})


def finetune(
    model: nn.Module,
    data,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool | None = None,
) -> tuple[nn.Module, BitPolicy]:
    """Train the meta weights at the chosen (argmax) bits."""
    from quant.train import train

    layers = ebs_layers(model)
    check(len(layers) > 0, "model", type(model).__name__, "has no EBS layers; run ebs_search")
    for m in layers.values():
        m.choose()
    if epochs > 0:
        train(
            model, data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, progress=progress
        )
    return model, current_policy(model)


@dataclass(frozen=True)
class EBSConfig:
    """EBS's knobs: the penalty strength ``lam`` and its form, ``epochs`` of search, then
    ``finetune_epochs`` at the argmax bits. Without a problem the search runs on BitOps over
    ``candidates`` within ``budget_vs_w4a4`` x the BitOps of uniform (4, 4) bits."""

    lam: float = 1.0
    penalty: str = "hinge"
    epochs: int = 8
    finetune_epochs: int = 4
    lr: float = 1e-3
    arch_lr: float = 3e-2
    seed: int = 0
    budget_vs_w4a4: float = 1.0
    candidates: tuple[int, ...] = (2, 3, 4, 8)

    def __post_init__(self) -> None:
        check_non_negative("lam", self.lam)
        check(self.penalty in PENALTIES, "penalty", self.penalty, f"must be one of {PENALTIES}")
        check_count("epochs", self.epochs, 1)
        check_count("finetune_epochs", self.finetune_epochs, 0)
        check_positive("lr", self.lr)
        check_positive("arch_lr", self.arch_lr)
        check_count("seed", self.seed, 0)
        check_positive("budget_vs_w4a4", self.budget_vs_w4a4)
        cands = _candidates("candidates", self.candidates)
        object.__setattr__(self, "candidates", cands)  # 1: binary weights (XNOR-Net)


class EBS:
    """EBS behind :class:`quant.methods.SearchMethod`. Under a problem it searches the
    problem's candidates against its first budget's costs (the expected cost is one metric);
    a caller checks the argmax against every budget."""

    name = "ebs"
    config_type = EBSConfig
    budgeted = True
    codesign_defaults: Mapping[str, Any] = {"lam": 5.0}

    def search(
        self,
        model: nn.Module,
        data,
        config: EBSConfig,
        problem: SearchProblem | None = None,
        *,
        progress: bool | None = None,
    ) -> SearchResult:
        require_dataset(data, "EBS")
        if problem is None:
            from models import extract_workload

            w_bits = a_bits = config.candidates
            table = bitops_table(extract_workload(model, first_image(data, model)), w_bits, a_bits)
            metric = "bitops"
            budget = config.budget_vs_w4a4 * float(table.uniform_total(metric, 4, 4))
        else:
            table, metric = problem.table, problem.primary
            w_bits, a_bits = table.w_bits, table.a_bits
            budget = problem.budgets[metric]
        result = ebs_search(
            model,
            data,
            cost_table=table,
            metric=metric,
            budget=budget,
            lam=config.lam,
            w_candidates=w_bits,
            a_candidates=a_bits,
            epochs=config.epochs,
            seed=config.seed,
            penalty_kind=config.penalty,
            lr=config.lr,
            arch_lr=config.arch_lr,
            progress=progress,
        )
        check_covers(result.policy, table.layer_names, "EBS")
        return result

    def finetune(
        self, result: SearchResult, data, config: EBSConfig, *, progress: bool | None = None
    ) -> nn.Module:
        model, _ = finetune(
            result.model, data, epochs=config.finetune_epochs, seed=config.seed, progress=progress
        )
        return model


register_method(EBS())
