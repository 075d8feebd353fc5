"""Bitwise Bottleneck (Zhou et al., AAAI 2021), rebuilt from the authors' code.

An activation is coded per sample as ``n0``-bit sign-magnitude integers and split into
bitplanes ``b_k``. Each layer keeps a non-negative coefficient per plane and reconstructs the
magnitude as ``sum_k alpha_k b_k``; ``alpha_k = 2^k`` is the plain ``n0``-bit quantizer. The
coefficients come from a non-negative Lasso fitted offline on the layer's real codes: the more
coefficients the Lasso zeroes, the fewer bitplanes the layer has to compute with. The number of
non-zero coefficients is the layer's code rate (its activation bits in a ``BitPolicy``). Then
the network is fine-tuned with the coefficients fixed, through an identity straight-through
gradient.

Two ways to set each layer's rate:

- :func:`fit_layer` (the paper): the largest Lasso penalty whose reconstruction PSNR stays
  within ``psnr_loss_db`` of the finest fit, found by the coarse-to-fine search of the
  authors' script (steps 0.1, 0.01, 0.001), then the smallest penalty with that same number
  of non-zero coefficients (best PSNR at that rate).
- :func:`allocate_rates` (hwsim's): each layer's rate-distortion curve from the Lasso path,
  then a **greedy** allocation under a budget on the average rate or on any per-layer cost
  (e.g. simulated latency): start every layer at its highest rate and repeatedly lower the
  layer whose next step down adds the least distortion per unit of cost saved.

Differences from the authors' code, on purpose: the code step is ``M / (2^n0 - 1)`` with ``M``
the per-sample max-abs (theirs is ``2M / Q``, which overflows the largest element that they
then clip); the Lasso is fitted on codes divided by ``2^n0 - 1`` (so the lambda grid has the
same meaning at any ``n0``) and without an intercept (theirs fits one, then ignores it); the
dither is optional and off by default (theirs adds it at train and test time).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from hwsim.errors import check, check_bits
from hwsim.policy import FLOAT_BITS
from quant.methods import (
    SearchProblem,
    SearchResult,
    check_count,
    check_non_negative,
    check_positive,
    finetune_plain,
    register_method,
    require_dataset,
)
from quant.model import current_policy, install_products
from quant.products import ActProduct
from quant.runtime import model_device
from quant.wrapped import WrappedLayer, maxabs_weight_quant, wrap_layers

# ---------------------------------------------------------------------- math on codes


def bitplanes(codes: np.ndarray, n0: int) -> np.ndarray:
    """Bitplanes of non-negative integer ``codes`` as a float matrix ``[codes.size, n0]``,
    LSB first."""
    c = np.asarray(codes, dtype=np.int64).reshape(-1)
    check(
        bool(np.all(c >= 0)) and bool(np.all(c < 2**n0)),
        "codes",
        (int(c.min()), int(c.max())) if c.size else (),
        f"must be in 0..{2**n0 - 1}",
    )
    return ((c[:, None] >> np.arange(n0)) & 1).astype(np.float64)


def psnr(reference: np.ndarray, approx: np.ndarray, peak: float) -> float:
    """Peak signal-to-noise ratio in dB: 10 log10(peak^2 / MSE); ``inf`` for an exact match."""
    err = np.asarray(reference, np.float64) - np.asarray(approx, np.float64)
    mse = float(np.mean(err * err))
    return math.inf if mse == 0.0 else 10.0 * math.log10(peak * peak / mse)


@dataclass(frozen=True)
class LayerFit:
    """One layer's coefficients (LSB first, in code units), its rate and PSNR (dB)."""

    alpha: tuple[float, ...]
    rate: int
    psnr_db: float
    lam: float


def _lasso(planes: np.ndarray, target: np.ndarray, lam: float) -> np.ndarray:
    from sklearn.linear_model import Lasso, LinearRegression

    if lam <= 0.0:
        return np.clip(
            LinearRegression(fit_intercept=False, positive=True).fit(planes, target).coef_,
            0.0,
            None,
        )
    # The Gram matrix is only n0 x n0: precomputing it makes each fit independent of N.
    fit = Lasso(
        alpha=lam, positive=True, fit_intercept=False, precompute=True, max_iter=5000, tol=1e-6
    )
    return fit.fit(planes, target).coef_.copy()


class _Fitter:
    """Memoized Lasso fits of one layer's codes, in normalized units (codes / (2^n0 - 1))."""

    def __init__(self, codes: np.ndarray, n0: int) -> None:
        self.n0 = n0
        self.peak = float(2**n0 - 1)
        c = np.asarray(codes, dtype=np.int64).reshape(-1)
        check(c.size > 0, "codes", c.size, "need at least one activation code")
        self.planes = bitplanes(c, n0)
        self.target = c / self.peak
        self._cache: dict[float, tuple[np.ndarray, float]] = {}

    def __call__(self, lam: float) -> tuple[np.ndarray, float]:
        key = round(lam, 9)
        if key not in self._cache:
            a = _lasso(self.planes, self.target, key)
            self._cache[key] = (a, psnr(self.target, self.planes @ a, 1.0))
        return self._cache[key]

    def result(self, lam: float) -> LayerFit:
        a, p = self(lam)
        return LayerFit(
            tuple(float(v) * self.peak for v in a), int(np.count_nonzero(a)), p, float(lam)
        )


FINEST_LAMBDA = 1e-3
"""The last step of the coarse-to-fine search; its fit is the PSNR reference."""


def fit_layer(codes: np.ndarray, n0: int, psnr_loss_db: float) -> LayerFit:
    """The authors' per-layer search: the largest lambda on a 0.1 / 0.01 / 0.001 grid whose
    PSNR is at least (PSNR at lambda = 0.001) - ``psnr_loss_db``, keeping at least one
    coefficient; then the smallest lambda with that many non-zero coefficients."""
    n0 = check_bits("n0", n0)
    check(psnr_loss_db >= 0, "psnr_loss_db", psnr_loss_db, "must be >= 0")
    fit = _Fitter(codes, n0)
    floor = fit(FINEST_LAMBDA)[1] - psnr_loss_db

    def ok(lam: float) -> bool:
        a, p = fit(lam)
        return p >= floor and np.count_nonzero(a) >= 1

    lam = 0.0
    for step in (0.1, 0.01, 0.001):
        # Past lambda_max every coefficient is zero, so the walk always stops.
        while ok(lam + step):
            lam = round(lam + step, 9)
    rate = fit.result(lam).rate
    while lam - 0.001 > 0 and np.count_nonzero(fit(lam - 0.001)[0]) == rate:
        lam = round(lam - 0.001, 9)
    return fit.result(max(lam, 0.0))


def rate_curve(codes: np.ndarray, n0: int, n_lambdas: int = 300) -> dict[int, LayerFit]:
    """Best fit (highest PSNR) at each rate reachable on the non-negative Lasso path (the
    smallest lambda that keeps that many non-zero coefficients, as the authors' second
    pass), plus the exact ``n0``-bit code (coefficients 2^k) at rate ``n0``."""
    from sklearn.linear_model import lasso_path

    n0 = check_bits("n0", n0)
    fit = _Fitter(codes, n0)
    lams, coefs, _ = lasso_path(
        fit.planes, fit.target, positive=True, eps=1e-5, alphas=n_lambdas, max_iter=5000, tol=1e-6
    )
    best: dict[int, LayerFit] = {}
    for lam, a in zip(lams, coefs.T, strict=True):
        rate = int(np.count_nonzero(a))
        p = psnr(fit.target, fit.planes @ a, 1.0)
        if rate >= 1 and (rate not in best or p > best[rate].psnr_db):
            best[rate] = LayerFit(tuple(float(v) * fit.peak for v in a), rate, p, float(lam))
    best[n0] = LayerFit(tuple(float(2**k) for k in range(n0)), n0, math.inf, 0.0)
    return dict(sorted(best.items()))


def allocate_rates(
    curves: Sequence[Mapping[int, LayerFit]], layer_costs: np.ndarray | None, budget: float
) -> list[int]:
    """Greedy rate allocation across layers under a cost budget.

    ``layer_costs[l, r]`` is layer ``l``'s cost at rate ``r`` (columns 0..max rate; ``None``:
    the rate itself, so ``budget`` is a total rate, ``L x`` the average). Distortion is the
    normalized MSE ``10^(-PSNR/10)``. Each step lowers the layer whose next available rate
    adds the least distortion per unit of cost saved, until the total cost is within
    ``budget``; then any layer whose next rate still fits is raised again (best distortion
    gained per unit of cost first), so no budget is left unused. Raises if even the lowest
    rates exceed it.
    """
    check(len(curves) > 0, "curves", len(curves), "need at least one layer")
    n_max = max(max(c) for c in curves)
    if layer_costs is None:
        layer_costs = np.tile(np.arange(n_max + 1, dtype=np.float64), (len(curves), 1))
    costs = np.asarray(layer_costs, dtype=np.float64)
    check(
        costs.shape == (len(curves), n_max + 1),
        "layer_costs",
        costs.shape,
        f"must be [layers, max rate + 1] = {(len(curves), n_max + 1)}",
    )
    rates = [max(c) for c in curves]
    lowest = sum(costs[l, min(c)] for l, c in enumerate(curves))
    check(lowest <= budget, "budget", budget, f"below the cost of the lowest rates ({lowest:.6g})")

    def dist(l: int, r: int) -> float:
        p = curves[l][r].psnr_db
        return 0.0 if math.isinf(p) else 10.0 ** (-p / 10.0)

    def step(l: int, up: bool) -> tuple[int, int, float, float] | None:
        """Layer ``l``'s next rate up or down: ``(l, rate, cost change, distortion change)``."""
        options = [r for r in curves[l] if (r > rates[l] if up else r < rates[l])]
        if not options:
            return None
        r = min(options) if up else max(options)
        return l, r, costs[l, r] - costs[l, rates[l]], dist(l, r) - dist(l, rates[l])

    def ratio(num: float, den: float) -> float:
        return num / den if den > 0 else math.inf

    limit = budget + 1e-12 * abs(budget)
    total = sum(costs[l, r] for l, r in enumerate(rates))
    while total > limit:
        # Lower the layer that adds the least distortion per unit of cost saved.
        moves = [m for l in range(len(curves)) if (m := step(l, up=False))]
        l, r, d_cost, _ = min(moves, key=lambda m: ratio(m[3], -m[2]))
        total += d_cost
        rates[l] = r
    # A layer whose curve skips rates can overshoot on its last step: give back what fits,
    # raising the layer that removes the most distortion per unit of cost added.
    while moves := [
        m for l in range(len(curves)) if (m := step(l, up=True)) and total + m[2] <= limit
    ]:
        l, r, d_cost, _ = max(moves, key=lambda m: ratio(-m[3], m[2]))
        total += d_cost
        rates[l] = r
    return rates


# ---------------------------------------------------------------------- torch modules


class BitwiseBottleneck(nn.Module):
    """Sign-magnitude ``n0``-bit code of each sample, magnitude rebuilt as ``sum alpha_k b_k``.

    Forward uses the fixed coefficients; backward is the identity (straight-through).
    """

    def __init__(self, n0: int = 8, dither: bool = False) -> None:
        super().__init__()
        self.n0 = check_bits("n0", n0)
        self.dither = bool(dither)
        self.register_buffer("alpha", 2.0 ** torch.arange(self.n0, dtype=torch.float32))

    @property
    def rate(self) -> int:
        return int(torch.count_nonzero(self.alpha))

    def set_alpha(self, alpha: Sequence[float]) -> None:
        a = torch.as_tensor(np.asarray(alpha, dtype=np.float32))
        check(tuple(a.shape) == (self.n0,), "alpha", tuple(a.shape), f"need {self.n0} values")
        check(
            bool(torch.all(a >= 0)) and bool(torch.all(torch.isfinite(a))),
            "alpha",
            a.tolist(),
            "coefficients must be finite and non-negative",
        )
        self.alpha.copy_(a.to(self.alpha.device))

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        m = x.detach().abs().flatten(1).amax(1).clamp_min(1e-12)
        return (m / (2**self.n0 - 1)).view(-1, *([1] * (x.dim() - 1)))

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Integer magnitudes in 0..2^n0 - 1 (per-sample max-abs scale)."""
        u = x.detach().abs() / self._step(x)
        if self.dither and self.training:
            u = u + torch.empty_like(u).uniform_(-0.5, 0.5)
        return torch.round(u).clamp(0, 2**self.n0 - 1).to(torch.int64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.codes(x)
        planes = torch.stack([((c >> k) & 1) for k in range(self.n0)], -1).to(x.dtype)
        # Weighted sum over the planes, element-wise: a matmul here would be captured as a
        # GEMM of the workload, and the reconstruction is no MAC the hardware runs.
        y = torch.sign(x.detach()) * (planes * self.alpha.to(x.dtype)).sum(-1) * self._step(x)
        return x + (y - x).detach()


class BottleneckLayer(WrappedLayer):
    """A conv or linear layer whose input passes a :class:`BitwiseBottleneck`; weights are
    fake-quantized to ``w_bits`` (32 keeps them float, as the authors' ImageNet code does)."""

    def __init__(
        self, module: nn.Conv2d | nn.Linear, n0: int = 8, w_bits: int = 8, dither: bool = False
    ) -> None:
        super().__init__(module)
        self.w_bits = check_bits("w_bits", w_bits, allow_float=True)
        self.weight = nn.Parameter(module.weight.detach().clone())
        # Named like the other quantized layers' activation quantizer.
        self.act_quantizer = BitwiseBottleneck(n0, dither)

    # ``w_bits`` / ``a_bits`` make the layer visible to ``quant.model.current_policy``.
    @property
    def a_bits(self) -> int:
        return self.act_quantizer.rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act_quantizer(x)
        w = self.weight
        if self.w_bits != FLOAT_BITS:
            w = maxabs_weight_quant(w, self.w_bits)
        return self.apply_op(x, w)


SECOND = ".second"
"""Suffix of a product's second-operand coder in :func:`coders` (and in the fits)."""


class BottleneckProduct(ActProduct):
    """An activation x activation product (attention ``Q K^T``, ``P V``) whose two operands
    each pass a :class:`BitwiseBottleneck`: both are activations, each coded and fitted as a
    layer's input is. Its policy bits are the two code rates: the second operand's (in the
    weight's place) as ``w_bits``, the first's as ``a_bits``."""

    def __init__(self, role: str, policy_name: str, n0: int = 8, dither: bool = False) -> None:
        super().__init__(role, policy_name)
        self.act_quantizer = BitwiseBottleneck(n0, dither)
        self.second_quantizer = BitwiseBottleneck(n0, dither)

    @property
    def w_bits(self) -> int:
        return self.second_quantizer.rate

    @property
    def a_bits(self) -> int:
        return self.act_quantizer.rate

    def operands(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.act_quantizer(a), self.second_quantizer(b)


def insert(model: nn.Module, n0: int = 8, w_bits: int = 8, dither: bool = False) -> nn.Module:
    """Wrap every ``nn.Conv2d`` / ``nn.Linear`` of ``model`` in place (names are kept), and
    put a :class:`BottleneckProduct` in every activation x activation product slot."""
    wrap_layers(model, lambda m: BottleneckLayer(m, n0, w_bits, dither))
    install_products(model, lambda name, role: BottleneckProduct(role, name, n0, dither))
    return model


def bottleneck_layers(model: nn.Module) -> dict[str, BottleneckLayer | BottleneckProduct]:
    """Every bottlenecked layer and product by policy name, in module order."""
    return {
        getattr(m, "policy_name", n): m
        for n, m in model.named_modules()
        if isinstance(m, BottleneckLayer | BottleneckProduct)
    }


def coders(model: nn.Module) -> dict[str, BitwiseBottleneck]:
    """Every activation coder, each with its own rate: a layer's input by the layer's name, a
    product's first operand by the product's name and its second by that name + :data:`SECOND`."""
    out: dict[str, BitwiseBottleneck] = {}
    for name, m in bottleneck_layers(model).items():
        out[name] = m.act_quantizer
        if isinstance(m, BottleneckProduct):
            out[name + SECOND] = m.second_quantizer
    return out


CODE_IMAGES = 4096
"""Training images the code statistics are collected on (all of them in a smaller set)."""


def code_images(data: Any, model: nn.Module) -> torch.Tensor:
    """The first :data:`CODE_IMAGES` training images, on ``model``'s device."""
    from models.data import calibration

    return calibration(data, CODE_IMAGES)[0].to(model_device(model))


@torch.no_grad()
def collect_codes(
    model: nn.Module, x: torch.Tensor, max_per_layer: int = 20_000, seed: int = 0
) -> dict[str, np.ndarray]:
    """Each coder's integer input codes on inputs ``x`` (by :func:`coders` name; a random
    subsample of at most ``max_per_layer`` values per coder, to bound the Lasso's cost)."""
    found_coders = coders(model)
    check(len(found_coders) > 0, "model", type(model).__name__, "has no bottleneck; call insert()")
    found: dict[str, torch.Tensor] = {}
    hooks = [
        coder.register_forward_pre_hook(
            lambda mod, inp, name=name: found.__setitem__(name, mod.codes(inp[0]).flatten())
        )
        for name, coder in found_coders.items()
    ]
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    rng = np.random.default_rng(seed)
    out = {}
    for name, c in found.items():
        c = c.cpu().numpy()
        if c.size > max_per_layer:
            c = c[rng.choice(c.size, max_per_layer, replace=False)]
        out[name] = c
    return out


# ---------------------------------------------------------------------- the method


def bottleneck_search(
    model: nn.Module,
    data,
    *,
    psnr_loss_db: float | None = None,
    avg_rate: float | None = None,
    layer_costs: np.ndarray | None = None,
    budget: float | None = None,
    n0: int = 8,
    w_bits: int = 8,
    qat_epochs: int = 3,
    finetune_epochs: int = 3,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool | None = None,
) -> SearchResult:
    """The whole method on a float ``model`` (a copy is changed):

    1. insert ``n0``-bit bottlenecks (coefficients 2^k) and train ``qat_epochs``;
    2. collect each layer's codes on the training set and fit coefficients, either per layer
       under a PSNR-loss budget (``psnr_loss_db``, the paper) or by the greedy allocation
       under an average rate (``avg_rate``) or a per-layer cost budget (``layer_costs``
       ``[L, n0 + 1]`` with ``budget``, one row per coder of :func:`coders`: a product's
       two operands are two rows);
    3. fine-tune ``finetune_epochs`` with the coefficients fixed.

    Returns the model, its policy and each layer's fit (``extras["fits"]``, a
    :class:`LayerFit` by layer name). A model that already holds bottlenecks (e.g. a step-1
    result) is used as it is, so one quantization-aware training can serve several budgets.
    """
    from quant.train import set_seed, train

    modes = sum(v is not None for v in (psnr_loss_db, avg_rate, budget))
    check(
        modes == 1,
        "budget",
        {"psnr_loss_db": psnr_loss_db, "avg_rate": avg_rate, "budget": budget},
        "give exactly one of the three",
    )
    check(
        layer_costs is None or budget is not None,
        "layer_costs",
        "given",
        "a per-layer cost needs a budget",
    )
    set_seed(seed)
    model = copy.deepcopy(model)
    if not bottleneck_layers(model):  # a model already holding bottlenecks keeps them
        insert(model, n0, w_bits)
    if qat_epochs > 0:
        train(
            model,
            data,
            epochs=qat_epochs,
            lr=lr,
            batch_size=batch_size,
            seed=seed,
            progress=progress,
        )
    codes = collect_codes(model, code_images(data, model), seed=seed)
    layers = coders(model)  # a product's two operands are coded and rated apart
    code_bits = {n: m.n0 for n, m in layers.items()}
    if psnr_loss_db is not None:
        fits = {n: fit_layer(codes[n], code_bits[n], psnr_loss_db) for n in layers}
    else:
        curves = [rate_curve(codes[n], code_bits[n]) for n in layers]
        if avg_rate is not None:
            top = max(code_bits.values())
            check(1 <= avg_rate <= top, "avg_rate", avg_rate, f"must be in 1..{top}")
            rates = allocate_rates(curves, None, avg_rate * len(curves))
        else:
            rates = allocate_rates(curves, layer_costs, float(budget))
        fits = {n: c[r] for n, c, r in zip(layers, curves, rates, strict=True)}
    for n, m in layers.items():
        m.set_alpha(fits[n].alpha)
    if finetune_epochs > 0:
        train(
            model,
            data,
            epochs=finetune_epochs,
            lr=lr,
            batch_size=batch_size,
            seed=seed,
            progress=progress,
        )
    return SearchResult(model, current_policy(model), {"fits": fits})


@dataclass(frozen=True)
class BottleneckConfig:
    """The paper's setting: ``n0``-bit codes, ``qat_epochs`` of training with them, each
    layer's rate the fewest planes within ``psnr_loss_db`` of the finest fit, weights at
    ``w_bits`` (32: float), then ``finetune_epochs`` with the coefficients fixed."""

    psnr_loss_db: float = 8.0
    n0: int = 8
    w_bits: int = 8
    qat_epochs: int = 3
    finetune_epochs: int = 3
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        check_non_negative("psnr_loss_db", self.psnr_loss_db)
        check_bits("n0", self.n0)
        check_bits("w_bits", self.w_bits, allow_float=True)
        check_count("qat_epochs", self.qat_epochs, 0)
        check_count("finetune_epochs", self.finetune_epochs, 0)
        check_positive("lr", self.lr)
        check_count("seed", self.seed, 0)


class Bottleneck:
    """Bitwise Bottleneck behind :class:`quant.methods.SearchMethod`: ``search`` inserts the
    bottlenecks, trains and fits the rates (:func:`bottleneck_search` without its fine-tuning),
    ``finetune`` trains with the coefficients fixed. It sets its rates by PSNR, not within a
    caller's cost budget."""

    name = "bottleneck"
    config_type = BottleneckConfig
    budgeted = False
    codesign_defaults: Mapping[str, Any] = {}

    def search(
        self,
        model: nn.Module,
        data,
        config: BottleneckConfig,
        problem: SearchProblem | None = None,
        *,
        progress: bool | None = None,
    ) -> SearchResult:
        require_dataset(data, "the bottleneck")
        check(problem is None, "problem", "given", "the bottleneck sets its rates by PSNR")
        return bottleneck_search(
            model,
            data,
            psnr_loss_db=config.psnr_loss_db,
            n0=config.n0,
            w_bits=config.w_bits,
            qat_epochs=config.qat_epochs,
            finetune_epochs=0,
            lr=config.lr,
            seed=config.seed,
            progress=progress,
        )

    def finetune(
        self, result: SearchResult, data, config: BottleneckConfig, *, progress: bool | None = None
    ) -> nn.Module:
        return finetune_plain(result, data, config, progress=progress)


register_method(Bottleneck())
