"""Bit-parallel baseline (DaDianNao-like): fixed-width MACs, one cycle per step whatever the bits.

Every request runs at ``precision`` bits (16 in DaDianNao): narrower weights or activations save
neither cycles nor multiplier energy, only nothing. A float (32) request runs as 16-bit fixed
point, which DaDianNao argues suffices for inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwsim.errors import HwsimError
from hwsim.hardware.pricing import fixed_mac_area_um2
from hwsim.hardware.registry import register_family
from hwsim.hardware.skeleton import MAX_BITS, PARALLEL, SkeletonConfig, StepRule, evaluate


@dataclass(frozen=True)
class BitParallelConfig(SkeletonConfig):
    """A DaDianNao-like array of ``rows x cols x lanes`` fixed ``precision``-bit MACs."""

    family: ClassVar[str] = "bitparallel"

    precision: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        if (
            isinstance(self.precision, bool)
            or not isinstance(self.precision, int)
            or not (1 <= self.precision <= MAX_BITS)
        ):
            raise HwsimError("bitparallel.precision", self.precision, "must be an integer 1..16")

    def step_rule(self) -> StepRule:
        return StepRule(w_mode=PARALLEL, a_mode=PARALLEL)

    def default_unit_area_um2(self) -> float:
        """A fixed ``precision x precision`` MAC: the Bit Fusion authors' 45 nm synthesis rows
        (2, 4, 8, 16 bits), log-log in the width between rows."""
        return fixed_mac_area_um2(self.precision)

    def w_precisions(self) -> tuple[int, ...]:
        return (self.precision,)

    def a_precisions(self) -> tuple[int, ...]:
        return (self.precision,)


register_family(BitParallelConfig, evaluate, "bit-parallel baseline (DaDianNao-like)")
