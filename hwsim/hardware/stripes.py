"""Stripes (Judd et al., MICRO 2016): activations bit-serial, weights bit-parallel.

A step takes ``a_bits`` cycles (one activation bit per cycle), weights are 16-bit parallel. To
match DaDianNao's throughput at 16 bits Stripes processes 16 windows at once (``cols``), so on
compute-bound layers it runs ``16 / a_bits`` times faster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwsim.hardware.registry import register_family
from hwsim.hardware.skeleton import MAX_BITS, PARALLEL, SERIAL, SkeletonConfig, StepRule, evaluate


@dataclass(frozen=True)
class StripesConfig(SkeletonConfig):
    """Serial inner-product units: ``rows`` filters x ``cols`` windows x ``lanes`` terms."""

    family: ClassVar[str] = "stripes"

    cols: int = 16

    def step_rule(self) -> StepRule:
        return StepRule(w_mode=PARALLEL, a_mode=SERIAL, a_bits_per_cycle=1)

    def w_precisions(self) -> tuple[int, ...]:
        return (MAX_BITS,)


register_family(StripesConfig, evaluate, "Stripes: bit-serial activations")
