"""BSQ: Bit-level Sparsity Quantization (Yang et al., ICLR 2021), rebuilt from the authors' code.

Each weight of a layer with precision ``n`` is held as ``2n`` continuous bits, a positive and a
negative bitplane per bit position, each bit in ``[0, 2]``, plus one trainable scale ``s``::

    W_hat = sum_b 2^b (P_b - N_b) / (2^n - 1)
    W_q   = s * sign(W_hat) * round(min(|W_hat|, 1) * (2^n - 1)) / (2^n - 1)

The forward rounds; the backward is straight-through, so ``dL/dP_b = s 2^b / (2^n - 1) dL/dW_q``.
A bit-level group Lasso (the L2 norm of each bitplane of a layer, summed over planes and
weighted by the layer's share of the cost) drives whole planes to zero. Every few epochs the
bits are re-quantized to {0, 1}, growing the precision by one where a bit overflowed, and
all-zero MSB and LSB planes are removed: that sets each layer's precision. Then the scheme is
frozen and the weights fine-tuned.

Differences from the authors' code: the bias of a layer stays in floating point (the paper's
ResNet-20 convs have none); a layer whose planes all vanish keeps one all-zero plane, so its
precision stays in ``BitPolicy``'s 1..16 (the paper lets it reach 0 bits; its weights are zero
either way); activations are quantized at each quantized layer's input (what hwsim's policy
describes), not after each ReLU. A layer frozen at 1 bit fine-tunes binary, ``sign x mean|W|``
per output channel (XNOR-Net; ``quant.quantizers.binarize``), what a 1-bit signed weight is
everywhere in hwsim: BSQ's own 1-bit codes are sign and magnitude, ternary ``{-1, 0, 1}``, which
no 1-bit two's complement or +-1 code holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hwsim.errors import HwsimError, check, check_bits
from hwsim.policy import BitPolicy
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
from quant.quantizers import UniformQuantizer, binarize
from quant.wrapped import WrappedLayer, layers_of, wrap_layers

MAX_BITS = 8
"""Start precision and the ceiling for precision growth, as in the paper."""

LayerCosts = Mapping[str, float] | Sequence[float] | Callable[[dict[str, int]], Mapping[str, float]]


def _bit_weights(n: int, device: torch.device | None = None) -> torch.Tensor:
    """Place values 2^b / (2^n - 1) of the ``n`` bitplanes, LSB first."""
    return torch.tensor([2.0**b / (2**n - 1) for b in range(n)], device=device)


def to_bits(codes: torch.Tensor, n: int) -> torch.Tensor:
    """Binary digits of non-negative integer ``codes`` as a float tensor ``[n, *codes.shape]``,
    LSB first."""
    c = codes.to(torch.int64)
    return torch.stack([((c >> b) & 1).to(torch.float32) for b in range(n)])


class BitLayer(WrappedLayer):
    """A conv or linear layer whose weights are held in BSQ's bit representation."""

    def __init__(
        self, module: nn.Conv2d | nn.Linear, n_bits: int = MAX_BITS, act_bits: int = 4
    ) -> None:
        super().__init__(module)
        n = check_bits("n_bits", n_bits)
        w = module.weight.detach().float()
        # Activations: the shared uniform quantizer (fitted step, LSQ), at fixed bits.
        self.act_quantizer = UniformQuantizer(check_bits("act_bits", act_bits), signed=None)
        # Fine-tuning replaces the bits by a float weight in [-1, 1] at a frozen precision.
        self.frozen = False
        self.weight_tilde: nn.Parameter | None = None
        self._set_from_float(w, n)

    # ------------------------------------------------------------------ representation
    @property
    def n_bits(self) -> int:
        return self._n

    # ``w_bits`` / ``a_bits`` make the layer visible to ``quant.model.current_policy``.
    @property
    def w_bits(self) -> int:
        return self._n

    @property
    def a_bits(self) -> int:
        return self.act_quantizer.bits

    @property
    def num_params(self) -> int:
        return int(torch.Size(self.weight_shape).numel())

    def _set_from_float(self, w: torch.Tensor, n: int) -> None:
        """``ini2bit``: s = max|W|, bits = binary digits of round(|W| (2^n - 1) / s)."""
        s = float(w.abs().max())
        if s == 0.0:
            s = 1.0
        levels = 2**n - 1
        r_pos = torch.round(w.clamp_min(0) * levels / s)
        r_neg = torch.round((-w).clamp_min(0) * levels / s)
        self._set_codes(r_pos, r_neg, n, s)

    def _set_codes(self, r_pos: torch.Tensor, r_neg: torch.Tensor, n: int, s: float) -> None:
        device = r_pos.device
        self._n = n
        self.bits_pos = nn.Parameter(to_bits(r_pos, n).to(device))
        self.bits_neg = nn.Parameter(to_bits(r_neg, n).to(device))
        self.scale = nn.Parameter(torch.tensor(float(s), device=device))

    def weight_hat(self) -> torch.Tensor:
        """The continuous value in units of the scale: sum_b 2^b (P_b - N_b) / (2^n - 1)."""
        place = _bit_weights(self._n, self.bits_pos.device)
        place = place.view(-1, *([1] * len(self.weight_shape)))
        return ((self.bits_pos - self.bits_neg) * place).sum(0)

    def quantized_weight(self) -> torch.Tensor:
        """Rounded weight with a straight-through gradient to the bits and the scale."""
        levels = 2**self._n - 1
        if self.frozen and self._n == 1:
            return self.scale * binarize(self.weight_tilde.clamp(-1, 1), axis=0)
        if self.frozen:
            wt = self.weight_tilde.clamp(-1, 1)
        else:
            wt = self.weight_hat()
        q = torch.sign(wt) * torch.round(wt.detach().abs().clamp(max=1) * levels) / levels
        return self.scale * (wt + (q - wt).detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act_quantizer(x)
        w = self.quantized_weight()
        return self.apply_op(x, w)

    # ------------------------------------------------------------------ BSQ steps
    def group_lasso(self) -> torch.Tensor:
        """Sum over bit positions of the L2 norm of that plane's positive and negative bits."""
        sq = self.bits_pos.pow(2).flatten(1).sum(1) + self.bits_neg.pow(2).flatten(1).sum(1)
        return torch.sqrt(sq + 1e-8).sum()

    @torch.no_grad()
    def clamp_bits(self) -> None:
        """Keep every continuous bit in [0, 2] (the authors clamp after each step)."""
        if self.frozen:
            self.weight_tilde.clamp_(-1, 1)
        else:
            self.bits_pos.clamp_(0, 2)
            self.bits_neg.clamp_(0, 2)

    @torch.no_grad()
    def requantize(self, max_bits: int = MAX_BITS) -> bool:
        """Round the continuous bits back to exact binary digits; returns True if it grew.

        ``R = round(|W_hat| (2^n - 1))`` per sign. If some ``R`` overflows ``2^n - 1`` and
        ``n < max_bits`` the layer gains a bit (``s`` rescaled so every weight keeps its value;
        bits are at most 2, so ``R <= 2^(n+1) - 2`` always fits); otherwise ``R`` is clipped.
        """
        self._check_not_frozen()
        n, levels = self._n, 2**self._n - 1
        w_hat = self.weight_hat()
        r_pos = torch.round(w_hat.clamp_min(0) * levels)
        r_neg = torch.round((-w_hat).clamp_min(0) * levels)
        s = float(self.scale)
        grew = False
        if max(float(r_pos.max()), float(r_neg.max())) > levels:
            if n < max_bits:
                s = s * (2 ** (n + 1) - 1) / levels
                n += 1
                grew = True
            else:
                r_pos, r_neg = r_pos.clamp(max=levels), r_neg.clamp(max=levels)
        self._set_codes(r_pos, r_neg, n, s)
        return grew

    @torch.no_grad()
    def prune_planes(self) -> int:
        """Remove all-zero MSB and LSB planes (after :meth:`requantize`); returns the new
        precision. Removing ``k`` LSB planes divides every code by ``2^k``, exactly."""
        self._check_not_frozen()
        p, q = self.bits_pos, self.bits_neg
        check(
            bool(((p == 0) | (p == 1)).all() and ((q == 0) | (q == 1)).all()),
            "bits",
            "continuous",
            "requantize before pruning planes",
        )
        n = self._n
        used = [bool((p[b] - q[b]).ne(0).any()) for b in range(n)]
        if not any(used):
            # Every weight is zero: keep one zero plane (a precision of 1 bit, all zeros).
            zeros = torch.zeros(self.weight_shape, device=p.device)
            self._set_codes(zeros, zeros.clone(), 1, float(self.scale))
            return 1
        lsb = used.index(True)
        msb = n - 1 - used[::-1].index(True)
        n_new = msb - lsb + 1
        if n_new == n:
            return n
        place = (2 ** torch.arange(n, dtype=torch.float64, device=p.device)).view(
            -1, *([1] * len(self.weight_shape))
        )
        r_pos = ((p.double() * place).sum(0) / 2**lsb).round()
        r_neg = ((q.double() * place).sum(0) / 2**lsb).round()
        s = float(self.scale) * 2**lsb * (2**n_new - 1) / (2**n - 1)
        self._set_codes(r_pos.float(), r_neg.float(), n_new, s)
        return n_new

    def freeze(self) -> None:
        """Fix the precision and hold the weight as a float in [-1, 1] for fine-tuning."""
        if self.frozen:
            return
        with torch.no_grad():
            wt = self.weight_hat().clamp(-1, 1).clone()
        del self.bits_pos, self.bits_neg
        self.weight_tilde = nn.Parameter(wt)
        self.frozen = True

    def _check_not_frozen(self) -> None:
        if self.frozen:
            raise HwsimError("layer", "frozen", "the precision is fixed after freeze()")


# ---------------------------------------------------------------------- model level
def convert(model: nn.Module, n_bits: int = MAX_BITS, act_bits: int = 4) -> nn.Module:
    """Replace every ``nn.Conv2d`` / ``nn.Linear`` of ``model`` in place by a :class:`BitLayer`
    at ``n_bits`` (module names are kept, so they match the model's workload). BSQ searches
    weight bits only and holds activations at ``act_bits``; an activation x activation
    product (attention) has two activation operands and no weight, so it takes part at
    ``act_bits`` on both (a :class:`quant.products.QProduct`), priced in every cost."""
    from quant.products import QProduct

    wrap_layers(model, lambda m: BitLayer(m, n_bits, act_bits))
    install_products(model, lambda name, role: QProduct(role, name, act_bits, act_bits))
    return model


def bit_layers(model: nn.Module) -> dict[str, BitLayer]:
    """The model's BSQ layers by fully qualified name, in module order."""
    return layers_of(model, BitLayer)


def layer_bits(model: nn.Module) -> dict[str, int]:
    return {n: m.n_bits for n, m in bit_layers(model).items()}


def compression(model: nn.Module) -> float:
    """Weight compression over fp32: 32 x total weights / sum of weights x precision."""
    layers = bit_layers(model).values()
    total = sum(m.num_params for m in layers)
    return 32.0 * total / sum(m.num_params * m.n_bits for m in layers)


def _cost_weights(model: nn.Module, layer_costs: LayerCosts | None) -> dict[str, float]:
    """Per-layer weights of the group Lasso.

    Default (the paper): #params_l x n_l / total #params. A custom cost (a vector, a mapping,
    or a callable of the current precisions, e.g. the simulated marginal cost of one bit) is
    rescaled to the same total as the default, so ``alpha`` keeps its meaning and only how the
    penalty is shared between layers changes.
    """
    layers = bit_layers(model)
    total = sum(m.num_params for m in layers.values())
    default = {n: m.num_params * m.n_bits / total for n, m in layers.items()}
    if layer_costs is None:
        return default
    costs = layer_costs(layer_bits(model)) if callable(layer_costs) else layer_costs
    if isinstance(costs, Mapping):
        missing = [n for n in layers if n not in costs]
        check(not missing, "layer_costs", missing[:10], "no cost for these layers")
        raw = {n: float(costs[n]) for n in layers}
    else:
        costs = list(costs)
        check(
            len(costs) == len(layers),
            "layer_costs",
            len(costs),
            f"need one cost per quantized layer ({len(layers)})",
        )
        raw = {n: float(c) for n, c in zip(layers, costs, strict=True)}
    bad = {n: c for n, c in raw.items() if not (c >= 0 and c < float("inf"))}
    check(not bad, "layer_costs", bad, "costs must be finite and non-negative")
    s = sum(raw.values())
    check(s > 0, "layer_costs", raw, "at least one cost must be positive")
    target = sum(default.values())
    return {n: c * target / s for n, c in raw.items()}


def regularizer(model: nn.Module, layer_costs: LayerCosts | None = None) -> torch.Tensor:
    """BSQ's penalty: sum over layers of (cost weight) x (bit-level group Lasso)."""
    weights = _cost_weights(model, layer_costs)
    layers = bit_layers(model)
    return sum(weights[n] * m.group_lasso() for n, m in layers.items())


@torch.no_grad()
def requantize_and_prune(model: nn.Module, max_bits: int = MAX_BITS) -> dict[str, int]:
    """Re-quantize every layer (growing on overflow) and drop all-zero MSB/LSB planes."""
    for m in bit_layers(model).values():
        m.requantize(max_bits)
        m.prune_planes()
    return layer_bits(model)


def clamp_bits(model: nn.Module) -> None:
    for m in bit_layers(model).values():
        m.clamp_bits()


# ---------------------------------------------------------------------- the method
def bsq_search(
    model: nn.Module,
    data,
    *,
    alpha: float,
    epochs: int,
    requant_every: int,
    act_bits: int = 4,
    layer_costs: LayerCosts | None = None,
    seed: int = 0,
    lr: float = 1e-3,
    batch_size: int = 64,
    n_bits: int = MAX_BITS,
    progress: bool | None = None,
) -> SearchResult:
    """Search each layer's weight precision by bit-level sparsity.

    A copy of the float ``model`` is converted to ``n_bits`` bit representation and trained
    with loss = task loss + ``alpha`` x :func:`regularizer`; bits are clamped to [0, 2] after
    every step, and every ``requant_every`` epochs (and at the end) re-quantized with precision
    growth and pruning of all-zero MSB/LSB planes. Returns the model (bits exact, scheme
    ready for :func:`finetune`) and its policy.
    """
    import copy

    from quant.train import set_seed, train

    check(isinstance(alpha, int | float) and alpha >= 0, "alpha", alpha, "must be >= 0")
    check(isinstance(epochs, int) and epochs >= 1, "epochs", epochs, "must be an integer >= 1")
    check(
        isinstance(requant_every, int) and requant_every >= 1,
        "requant_every",
        requant_every,
        "must be an integer >= 1",
    )
    set_seed(seed)
    model = convert(copy.deepcopy(model), n_bits, act_bits)

    def after_epoch(m: nn.Module, epoch: int) -> bool:
        if (epoch + 1) % requant_every == 0 or epoch + 1 == epochs:
            requantize_and_prune(m, n_bits)
            return True  # new bit tensors: the optimizer must be rebuilt
        return False

    train(
        model,
        data,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        regularizer=lambda m: alpha * regularizer(m, layer_costs),
        after_step=clamp_bits,
        after_epoch=after_epoch,
        progress=progress,
    )
    return SearchResult(model, current_policy(model))


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
    """Fine-tune a searched model with its precisions fixed (weights as floats in [-1, 1])."""
    from quant.train import train

    layers = bit_layers(model)
    check(len(layers) > 0, "model", type(model).__name__, "has no BSQ layers; run bsq_search")
    for m in layers.values():
        m.freeze()
    if epochs > 0:
        train(
            model,
            data,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            seed=seed,
            after_step=clamp_bits,
            progress=progress,
        )
    return model, current_policy(model)


@dataclass(frozen=True)
class BSQConfig:
    """BSQ's knobs: ``alpha`` the group-Lasso strength, ``epochs`` of search with a
    re-quantization every ``requant_every`` (``None``: half the search), BSQ's fixed
    ``act_bits``, then ``finetune_epochs`` at the found precisions."""

    alpha: float = 0.01
    epochs: int = 20
    requant_every: int | None = 5
    act_bits: int = 4
    finetune_epochs: int = 5
    lr: float = 1e-2
    seed: int = 0

    def __post_init__(self) -> None:
        check_non_negative("alpha", self.alpha)
        check_count("epochs", self.epochs, 1)
        if self.requant_every is not None:
            check_count("requant_every", self.requant_every, 1)
        check_bits("act_bits", self.act_bits)
        check_count("finetune_epochs", self.finetune_epochs, 0)
        check_positive("lr", self.lr)
        check_count("seed", self.seed, 0)


class BSQ:
    """BSQ behind :class:`quant.methods.SearchMethod`. Under a problem, the group Lasso is
    weighted by the simulated marginal cost of a weight bit (:func:`bsq_marginal_costs` on
    ``problem.price``; the paper's params x bits when the problem has no price), and the
    found precisions are rounded up to the candidates."""

    name = "bsq"
    config_type = BSQConfig
    budgeted = True
    codesign_defaults: Mapping[str, Any] = {"alpha": 2e-2, "lr": 1e-3, "requant_every": None}

    def search(
        self,
        model: nn.Module,
        data,
        config: BSQConfig,
        problem: SearchProblem | None = None,
        *,
        progress: bool | None = None,
    ) -> SearchResult:
        from quant.search.hardware_aware import bsq_marginal_costs, snap_to_candidates

        require_dataset(data, "BSQ")
        layer_costs, notes = None, []
        if problem is not None:
            table = problem.table
            self.check_candidates(config, table.w_bits, table.a_bits)
            if problem.price is not None:
                w_range = list(range(1, MAX_BITS + 1))
                costs = problem.price(w_range, [config.act_bits])
                layer_costs = bsq_marginal_costs(table.layer_names, costs[:, :, 0], w_range)
        result = bsq_search(
            model,
            data,
            alpha=config.alpha,
            epochs=config.epochs,
            requant_every=config.requant_every or max(config.epochs // 2, 1),
            act_bits=config.act_bits,
            layer_costs=layer_costs,
            seed=config.seed,
            lr=config.lr,
            progress=progress,
        )
        if problem is not None:
            check_covers(result.policy, problem.table.layer_names, "BSQ")
            result.policy, notes = snap_to_candidates(result.policy, problem.table)
        result.extras["notes"] = notes
        return result

    def check_candidates(
        self, config: BSQConfig, w_bits: Sequence[int], a_bits: Sequence[int]
    ) -> None:
        """BSQ keeps its activations at ``act_bits``: they must be a candidate."""
        check(
            config.act_bits in a_bits,
            "act_bits",
            config.act_bits,
            f"must be among the candidates {tuple(a_bits)}",
        )

    def finetune(
        self, result: SearchResult, data, config: BSQConfig, *, progress: bool | None = None
    ) -> nn.Module:
        model, _ = finetune(
            result.model, data, epochs=config.finetune_epochs, seed=config.seed, progress=progress
        )
        return model


register_method(BSQ())
