"""Uniform fake quantizers with straight-through gradients.

A ``b``-bit quantizer maps a float ``x`` to an integer code ``q = clamp(round(x / s), lo, hi)``
and back to ``q * s``. Signed codes are symmetric, ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` (at 1
bit: binary, below); unsigned codes are ``[0, 2^b - 1]``. The rounding has
no useful derivative, so the backward pass is straight-through: gradient 1 for ``x`` inside the
clipping range and 0 outside. Written as ``round_ste(clamp(x / s)) * s`` the same expression
gives the step ``s`` the LSQ gradient (Esser et al., ICLR 2020): ``round(x/s) - x/s`` inside the
range and ``lo``/``hi`` outside. A bit width of 32 means "not quantized" (identity).

A *signed 1-bit* quantizer is binary (bipolar, ``hwsim.encoding``'s ``"bipolar"``): codes are
``sign(x)`` in ``{-1, +1}`` (0 counts as +1, as QONNX's ``BipolarQuant`` and FINN have it), no
zero, so a product of two such vectors is one XNOR and a popcount. Its backward pass is the
straight-through estimator of BinaryConnect / XNOR-Net: gradient 1 where ``|x| <= step`` (the
``hardtanh`` window) and 0 outside. Its step is ``mean |x|`` (per output channel for weights:
XNOR-Net's ``alpha``), the step minimizing ``|x - step * sign(x)|^2``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from hwsim.errors import HwsimError, check, check_bits
from hwsim.policy import FLOAT_BITS

SCALE_INITS = ("maxabs", "mse")
"""How a quantizer fits its step to observed data: max-abs, or the clip minimizing the MSE."""

_MSE_GRID = 64  # candidate clips per fit, as fractions of max-abs
_MSE_SAMPLES = 1 << 16  # per-tensor fits use at most this many values


def quantizer_range(bits: int, signed: bool) -> tuple[int, int]:
    """Inclusive integer codes of a ``bits``-bit quantizer: signed ones are symmetric,
    ``-(2^(b-1) - 1)..2^(b-1) - 1``, one code short of ``hwsim.bits.code_range`` (the full
    two's-complement range an integer kernel accepts). Signed 1-bit is bipolar: ``(-1, 1)``
    with only the two ends as codes (:func:`is_bipolar`); the 2-bit signed range is the same
    pair of ends, with 0 between them."""
    bits = check_bits("bits", bits)
    if signed:
        if bits == 1:
            return -1, 1
        hi = (1 << (bits - 1)) - 1
        return -hi, hi
    return 0, (1 << bits) - 1


def is_bipolar(bits: int, signed: bool | None) -> bool:
    """Whether a quantizer of these bits and signedness is binary (+-1 codes)."""
    return bits == 1 and bool(signed)


def quantizer_encoding(bits: int, signed: bool | None) -> str:
    """The ``hwsim.encoding`` name of a quantizer's codes: bipolar, signed or unsigned."""
    if is_bipolar(bits, signed):
        return "bipolar"
    return "signed" if signed else "unsigned"


def bipolar_values(x: Tensor) -> Tensor:
    """``sign(x)`` in ``{-1, +1}`` in ``x``'s dtype, 0 (and -0) counting as +1."""
    one = torch.ones((), dtype=x.dtype, device=x.device)
    return torch.where(x >= 0, one, -one)


def sign_ste(x: Tensor) -> Tensor:
    """:func:`bipolar_values` in the forward pass, identity in the backward pass."""
    return bipolar_values(x.detach()) + (x - x.detach())


def code_values(
    x: Tensor, scale: Tensor | float, lo: int, hi: int, *, bipolar: bool = False
) -> Tensor:
    """``clamp(round(x / scale), lo, hi)`` in ``x``'s dtype (half to even): the one way an
    activation becomes codes. The fake-quantized pass, its integer form (``quant.layers``,
    ``quant.products``) and the exported integer model (``hwsim.kernels.glue``) all code this
    way, in the same dtype, so they see the same codes even where ``x / scale`` is a tie.
    ``bipolar``: ``sign(x)`` instead (the step is positive, so it does not matter)."""
    if bipolar:
        return bipolar_values(x)
    # Clamping before rounding gives the same codes (lo and hi are integers).
    return torch.clamp(x / scale, lo, hi).round_()


def round_ste(x: Tensor) -> Tensor:
    """``round(x)`` in the forward pass, identity in the backward pass."""
    # round(x) + (x - x) keeps the forward value bit-exact while passing the gradient through.
    return torch.round(x).detach() + (x - x.detach())


def grad_scale(x: Tensor, factor: float) -> Tensor:
    """``x`` unchanged in the forward pass; its gradient multiplied by ``factor``."""
    scaled = x * factor
    return x.detach() + (scaled - scaled.detach())


def fake_quantize(x: Tensor, scale: Tensor | float, bits: int, signed: bool) -> Tensor:
    """Quantize ``x`` to ``bits``-bit codes of step ``scale`` and return them rescaled to floats.

    Straight-through gradient for ``x`` inside the clipping range, zero outside; ``scale``
    (if it requires grad) receives the LSQ step gradient. ``bits == 32`` returns ``x``.
    """
    if bits == FLOAT_BITS:
        return x
    lo, hi = quantizer_range(bits, signed)
    bipolar = is_bipolar(bits, signed)
    scale_grad = isinstance(scale, Tensor) and scale.requires_grad
    if not (torch.is_grad_enabled() and (x.requires_grad or scale_grad)):
        # No gradient can flow (inference, sensitivity passes): the same values without the
        # straight-through terms, in place; a third less time per quantized forward pass.
        return code_values(x, scale, lo, hi, bipolar=bipolar).mul_(scale)
    if bipolar:
        # sign, with the gradient passed where |x| <= scale (hardtanh STE) and the step's
        # gradient sign(x) - x/scale inside, sign(x) outside (LSQ's form for two levels).
        # The value's sign is x's own, as in code_values: x / scale can underflow to -0.0.
        window = torch.clamp(x / scale, -1, 1)
        return (bipolar_values(x.detach()) + (window - window.detach())) * scale
    # Clamp before rounding so the gradient is cut exactly where x / scale leaves [lo, hi].
    return round_ste(torch.clamp(x / scale, lo, hi)) * scale


def _reduce_dims(x: Tensor, axis: int | None) -> tuple[int, ...]:
    return tuple(d for d in range(x.dim()) if d != axis) if axis is not None else ()


def _amax(x: Tensor, axis: int | None) -> Tensor:
    """Max-abs of ``x`` per slice along ``axis`` (a 1-D tensor; length 1 when per-tensor)."""
    a = x.detach().abs()
    if axis is None:
        return a.amax().reshape(1)
    return a.amax(dim=_reduce_dims(x, axis))


def mse_scale(x: Tensor, bits: int, signed: bool, axis: int | None = None) -> Tensor:
    """The step minimizing the squared quantization error of ``x`` (per slice along ``axis``).

    A grid search over clipping ranges from 1/64 to all of the max-abs: low bit widths clip
    outliers to spend their few levels on the bulk of the distribution.
    """
    lo, hi = quantizer_range(bits, signed)
    x = x.detach()
    if is_bipolar(bits, signed):  # two levels: mean |x| is the least-squares step
        return mean_abs(x, axis).clamp_min(torch.finfo(x.dtype).tiny)
    amax = _amax(x, axis).clamp_min(torch.finfo(x.dtype).tiny)
    if axis is None and x.numel() > _MSE_SAMPLES:
        # A fixed strided subsample estimates the error curve well and keeps the fit cheap.
        x = x.reshape(-1)[:: -(-x.numel() // _MSE_SAMPLES)]
    fractions = torch.arange(1, _MSE_GRID + 1, dtype=x.dtype) / _MSE_GRID
    best_err = torch.full_like(amax, math.inf)
    best = amax / hi
    dims = _reduce_dims(x, axis)
    for f in fractions:
        s = amax * f / hi
        s_b = _broadcast(s, x, axis)
        err = (torch.clamp(torch.round(x / s_b), lo, hi) * s_b - x).pow(2)
        err = err.mean(dim=dims) if axis is not None else err.mean().reshape(1)
        better = err < best_err
        best = torch.where(better, s, best)
        best_err = torch.where(better, err, best_err)
    return best


def mean_abs(x: Tensor, axis: int | None = None) -> Tensor:
    """``mean |x|`` per slice along ``axis`` (1-D; length 1 when per-tensor): the step of a
    binary quantizer (XNOR-Net's ``alpha``), with the gradient XNOR-Net gives it."""
    a = x.abs()
    if axis is None:
        return a.mean().reshape(1)
    return a.mean(dim=_reduce_dims(x, axis))


def binarize(x: Tensor, axis: int | None = 0) -> Tensor:
    """XNOR-Net's binary weights: ``sign(x) * alpha`` with ``alpha = mean|x|`` per slice along
    ``axis`` (per output channel by default). Backward as XNOR-Net (Rastegari et al., ECCV
    2016): straight through ``sign`` where ``|x| <= 1`` (BinaryConnect's window), and through
    ``alpha``'s mean. The values are exactly ``bipolar_values(x) * alpha``."""
    alpha = _broadcast(mean_abs(x, axis).clamp_min(1e-12), x, axis)
    if not (torch.is_grad_enabled() and x.requires_grad):
        return bipolar_values(x) * alpha
    return sign_ste(torch.clamp(x, -1, 1)) * alpha


def _broadcast(scale: Tensor, x: Tensor, axis: int | None) -> Tensor:
    """Reshape a 1-D per-slice ``scale`` so it broadcasts against ``x`` along ``axis``."""
    if axis is None or scale.numel() == 1:
        return scale.reshape(())
    shape = [1] * x.dim()
    shape[axis] = scale.numel()
    return scale.reshape(shape)


class UniformQuantizer(nn.Module):
    """A uniform quantizer of fixed bits with a fitted, optionally learned (LSQ) step.

    - ``signed``: symmetric signed codes, unsigned codes, or ``None`` to decide from the first
      data seen (signed iff it has a negative value), as an activation quantizer does.
    - ``per_channel``: axis holding one step per slice (weights: 0, the output channel), or
      ``None`` for a single step.
    - ``init``: how the step is fitted to data (``"maxabs"`` or ``"mse"``); subclasses may
      override :meth:`fit_scale`.
    - ``learn_scale``: make the step a parameter trained with the LSQ gradient, scaled by
      ``1/sqrt(N * Q_P)`` with ``N`` the elements sharing one step (per sample when
      ``batch_axis`` is set) and ``Q_P`` the largest code.
    - ``mean_abs_step``: at 1 signed bit (binary, see the module docstring) the step is
      ``mean |x|`` of the tensor quantized, per ``per_channel`` slice, recomputed on every
      call (XNOR-Net's weight scale ``alpha``, its gradient included) instead of the stored
      one. For weights, whose step is a function of the weights themselves.

    The step is fitted on the first forward call, or explicitly with :meth:`calibrate` /
    :meth:`observe` + :meth:`finish_calibration` (several batches).
    """

    def __init__(
        self,
        bits: int,
        signed: bool | None = True,
        *,
        per_channel: int | None = None,
        init: str = "mse",
        learn_scale: bool = True,
        batch_axis: int | None = None,
        mean_abs_step: bool = False,
    ) -> None:
        super().__init__()
        self._bits = check_bits("bits", bits, allow_float=True)
        check(
            signed is None or isinstance(signed, bool),
            "signed",
            signed,
            "must be True, False or None (decide from data)",
        )
        check(init in self.scale_inits(), "init", init, f"must be one of {self.scale_inits()}")
        if signed and self._bits != FLOAT_BITS:
            quantizer_range(self._bits, True)
        self.signed = signed
        self.per_channel = per_channel
        self.init = init
        self.learn_scale = bool(learn_scale)
        self.batch_axis = batch_axis
        self.mean_abs_step = bool(mean_abs_step)
        scale = torch.ones(1)
        if self.learn_scale:
            self.scale = nn.Parameter(scale)
        else:
            self.register_buffer("scale", scale)
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self._observed: list[Tensor] | None = None

    @classmethod
    def scale_inits(cls) -> tuple[str, ...]:
        return SCALE_INITS

    # ------------------------------------------------------------------ bits
    @property
    def bits(self) -> int:
        return self._bits

    @bits.setter
    def bits(self, value: int) -> None:
        """Change the bit width, keeping the clipping range (``hi * scale``) unchanged."""
        new = check_bits("bits", value, allow_float=True)
        if new != FLOAT_BITS and self.signed:
            quantizer_range(new, True)
        old = self._bits
        if old != FLOAT_BITS and new != FLOAT_BITS and new != old:
            signed = bool(self.signed)
            ratio = _clip_per_step(old, signed) / _clip_per_step(new, signed)
            with torch.no_grad():
                self.scale.mul_(ratio)
        self._bits = new

    @property
    def quantizer_range(self) -> tuple[int, int]:
        return quantizer_range(self._bits, bool(self.signed))

    @property
    def bipolar(self) -> bool:
        """Binary (+-1 codes): signed at 1 bit."""
        return is_bipolar(self._bits, self.signed)

    @property
    def encoding(self) -> str:
        """The ``hwsim.encoding`` name of the codes (unsigned while undecided)."""
        return quantizer_encoding(self._bits, self.signed)

    # ------------------------------------------------------------------ calibration
    def fit_scale(self, x: Tensor) -> Tensor:
        """The 1-D step (one per channel, or one) fitting data ``x`` for the current bits."""
        bits = 8 if self._bits == FLOAT_BITS else self._bits
        signed = bool(self.signed)
        if is_bipolar(bits, signed):  # any init: mean |x| is the least-squares binary step
            return mean_abs(x.detach(), self.per_channel).clamp_min(1e-12)
        if self.init == "maxabs":
            return _amax(x, self.per_channel).clamp_min(1e-12) / quantizer_range(bits, signed)[1]
        return mse_scale(x, bits, signed, self.per_channel)

    def calibrate(self, x: Tensor) -> None:
        """Fit signedness (if undecided) and the step to ``x``."""
        x = x.detach()
        if x.numel() == 0:
            raise HwsimError("calibration data", tuple(x.shape), "is empty")
        if self.signed is None:
            self.signed = bool((x < 0).any())
            if self.signed and self._bits != FLOAT_BITS:
                quantizer_range(self._bits, True)
        scale = self.fit_scale(x).to(self.scale.dtype).clamp_min(1e-12)
        # .data assignment may change the shape (one step per channel): done before training.
        self.scale.data = scale
        self.initialized.fill_(True)

    def start_observing(self) -> None:
        """From now on forward records its input and passes it through unquantized."""
        self._observed = []

    def observe(self, x: Tensor) -> None:
        """Record one calibration batch; :meth:`finish_calibration` fits to all of them."""
        if self._observed is None:
            self._observed = []
        self._observed.append(x.detach())

    def finish_calibration(self) -> None:
        observed, self._observed = self._observed, None
        if observed:
            axis = self.batch_axis if self.batch_axis is not None else 0
            self.calibrate(torch.cat(observed, dim=axis))

    @property
    def observing(self) -> bool:
        return self._observed is not None

    # ------------------------------------------------------------------ use
    def step(self, x: Tensor) -> Tensor:
        """The step broadcast against ``x``, with the LSQ gradient scale when learned."""
        if self.mean_abs_step and self.bipolar:
            return _broadcast(mean_abs(x, self.per_channel).clamp_min(1e-12), x, self.per_channel)
        scale = self.scale
        if self.learn_scale and self.training:
            n = x.numel() // scale.numel()
            if self.batch_axis is not None:
                n //= max(x.shape[self.batch_axis], 1)
            scale = grad_scale(scale, 1.0 / math.sqrt(max(n, 1) * self.quantizer_range[1]))
        return _broadcast(scale, x, self.per_channel)

    def forward(self, x: Tensor) -> Tensor:
        if self._observed is not None:
            self.observe(x)
            return x
        if self._bits == FLOAT_BITS:
            return x
        if self.mean_abs_step and self.bipolar:
            return binarize(x, self.per_channel)
        if not bool(self.initialized):
            self.calibrate(x)
        return fake_quantize(x, self.step(x), self._bits, bool(self.signed))

    def codes(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(int64 codes, step)`` of ``x``: ``codes * step`` is exactly what forward returns.

        The step is detached and broadcastable against ``x``.
        """
        if self._bits == FLOAT_BITS:
            raise HwsimError("bits", self._bits, "a float (32-bit) quantizer has no codes")
        if not bool(self.initialized):
            raise HwsimError("quantizer", "uncalibrated", "calibrate before asking for codes")
        lo, hi = self.quantizer_range
        if self.mean_abs_step and self.bipolar:
            scale = self.step(x.detach())
        else:
            scale = _broadcast(self.scale.detach(), x, self.per_channel)
        codes = code_values(x.detach(), scale, lo, hi, bipolar=self.bipolar)
        return codes.to(torch.int64), scale

    @property
    def codes_forward(self) -> bool:
        """True when :meth:`forward` returns exactly ``codes * step`` now: a fitted step, not
        observing, not float, and the class codes and steps as this one does (a subclass that
        changes ``forward``, ``step`` or ``codes`` says nothing about its values)."""
        cls = type(self)
        return (
            cls.forward is UniformQuantizer.forward
            and cls.step is UniformQuantizer.step
            and cls.codes is UniformQuantizer.codes
            and self._bits != FLOAT_BITS
            and self._observed is None
            and bool(self.initialized)
        )

    def extra_repr(self) -> str:
        return (
            f"bits={self._bits}, signed={self.signed}, per_channel={self.per_channel}, "
            f"init={self.init!r}, learn_scale={self.learn_scale}"
            + (", mean_abs_step=True" if self.mean_abs_step else "")
        )


def _clip_per_step(bits: int, signed: bool) -> float:
    """The clipping range in steps: the largest code, or 2 for a binary quantizer (its step
    ``mean |x|`` is half the clip of values spread evenly over it), so changing the bits keeps
    the clip."""
    return 2.0 if is_bipolar(bits, signed) else float(quantizer_range(bits, signed)[1])


LSQQuantizer = UniformQuantizer
"""LSQ is the :class:`UniformQuantizer` with ``learn_scale=True`` (its default)."""
