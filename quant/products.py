"""Quantized activation x activation products: attention scores ``Q K^T`` and values ``P V``.

A :class:`QProduct` sits in a zoo attention's ``scores_product`` / ``values_product`` slot and
fake-quantizes both operands before the product: the first at ``a_bits``, the second (which
takes the weight's place in the hardware) at ``w_bits``, the policy's pair for that
``act_matmul`` row (``layers.0.attn#scores``). Both quantizers are activation quantizers,
fitted to what they see during calibration; the second operand has no stored value, so
:attr:`QProduct.weight` is the one seen last (what a sensitivity scan fits its step to).
"""

from __future__ import annotations

from torch import Tensor, nn

from hwsim.errors import check_bits
from quant.layers import (
    QuantizerBits,
    code_max,
    default_act_quantizer,
    integer_dtype,
    integer_pass,
    rescale,
)
from quant.quantizers import code_values


class ActProduct(nn.Module):
    """One activation x activation product slot (``<attention>#<role>``): the attention's
    ``product(role, a, b)`` on operands each method prepares its own way (:meth:`operands`).
    Every training-time product is one: :class:`QProduct` (fixed bits),
    :class:`quant.ebs.EBSProduct` (searching), :class:`quant.bottleneck.BottleneckProduct`
    (coded), and the sensitivity scan's stand-in. The integer model's product is
    :class:`quant.export.IntegerProduct`."""

    hwsim_transparent = True  # its product belongs to the attention module that calls it

    def __init__(self, role: str, policy_name: str) -> None:
        super().__init__()
        self.role = role
        self.policy_name = policy_name

    def operands(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        """The two operands as the product sees them."""
        return a, b

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        from models.transformer_nets import product

        return product(self.role, *self.operands(a, b))


class QProduct(QuantizerBits, ActProduct):
    """``quantize(a) @ quantize(b)`` named ``<attention>#<role>`` in the workload."""

    def __init__(self, role: str, policy_name: str, w_bits: int, a_bits: int) -> None:
        super().__init__(role, policy_name)
        self.act_quantizer = default_act_quantizer(check_bits("a_bits", a_bits, allow_float=True))
        self.weight_quantizer = default_act_quantizer(
            check_bits("w_bits", w_bits, allow_float=True)
        )
        self.last_second: Tensor | None = None

    @property
    def weight(self) -> Tensor:
        """The second operand of the last call (an activation: nothing is stored)."""
        if self.last_second is None:
            raise RuntimeError(f"{self.policy_name} has not run yet")
        return self.last_second

    def operands(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        return self.act_quantizer(a), self.weight_quantizer(b)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        from models.transformer_nets import product

        self.last_second = b.detach()
        aq, bq = self.act_quantizer, self.weight_quantizer
        if not integer_pass(aq, bq):
            return product(self.role, *self.operands(a, b))
        # No gradient to carry: the integer model's computation (see QuantLayerMixin._forward),
        # exact codes product, one float64 rescale by the two steps.
        dtype = integer_dtype(a.shape[-1], code_max(aq), code_max(bq), a.device)
        codes = [
            code_values(x, q.scale.detach().reshape(()), *q.quantizer_range, bipolar=q.bipolar).to(
                dtype
            )
            for q, x in ((aq, a), (bq, b))
        ]
        acc = product(self.role, *codes)
        return rescale(acc, float(aq.scale.detach()) * float(bq.scale.detach()), None, a.dtype)


def product_slots(model: nn.Module) -> dict[str, tuple[nn.Module, str]]:
    """Every quantizable product of ``model`` by policy name (``<module>#<role>``): the
    module holding the slot and the role. Modules offer slots by a ``product_roles`` tuple."""
    return {
        f"{name}#{role}": (module, role)
        for name, module in model.named_modules()
        for role in getattr(module, "product_roles", ())
    }


def quantize_product(model: nn.Module, name: str, w_bits: int, a_bits: int) -> QProduct:
    """Put a :class:`QProduct` at bits ``(w_bits, a_bits)`` into product slot ``name``."""
    module, role = product_slots(model)[name]
    qp = QProduct(role, name, w_bits, a_bits)
    p = next(module.parameters(), None)
    if p is not None:
        qp.to(p.device)
    setattr(module, f"{role}_product", qp)
    return qp
