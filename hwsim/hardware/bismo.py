"""BISMO (Umuroglu et al., FPL 2018): a bit-serial matrix-multiply overlay for FPGAs.

The overlay is a ``Dm x Dn`` array of dot-product units, each ``Dk`` bits wide. A product of
``w``-bit by ``a``-bit matrices is ``w * a`` binary matrix products (one per pair of bitplanes,
signs handled by negating the MSB planes' partial products), each taking
``ceil(M/Dm) * ceil(N/Dn) * ceil(K/Dk)`` cycles. Fetch, execute and result stages overlap,
which is the skeleton's roofline with double buffering.

Skeleton mapping: ``cols = Dm`` (rows of the left-hand side, the activations), ``rows = Dn``
(columns of the right-hand side, the weights), ``lanes = Dk``. The weight and activation buffers
are the RHS and LHS memories (``Dn`` or ``Dm`` banks of ``entries x Dk`` bits). It is an integer
machine: a float (32-bit) request is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwsim.hardware.pricing import BINARY_LANE_UM2
from hwsim.hardware.registry import register_family
from hwsim.hardware.skeleton import SERIAL, SkeletonConfig, StepRule, evaluate


@dataclass(frozen=True)
class BismoConfig(SkeletonConfig):
    """A BISMO overlay: ``rows = Dn``, ``cols = Dm``, ``lanes = Dk`` (bits per dot product)."""

    family: ClassVar[str] = "bismo"
    UNIT_AREA_UM2: ClassVar[float] = BINARY_LANE_UM2  # hwsim.hardware.pricing
    runs_float: ClassVar[bool] = False
    channel_lanes: ClassVar[bool] = False  # an im2col GEMM overlay: the K dimension packs

    rows: int = 2
    cols: int = 2
    lanes: int = 64

    def step_rule(self) -> StepRule:
        return StepRule(w_mode=SERIAL, w_bits_per_cycle=1, a_mode=SERIAL, a_bits_per_cycle=1)

    @property
    def peak_binary_ops_per_cycle(self) -> int:
        """Two binary ops (AND and the popcount's add) per bit of every dot-product unit."""
        return 2 * self.rows * self.cols * self.lanes


register_family(BismoConfig, evaluate, "BISMO: bit-serial matrix multiplication overlay")
