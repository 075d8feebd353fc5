"""Bit-Pragmatic (Albericio et al., MICRO 2017): only the essential (set) activation bits.

Each lane processes its activation one set bit (oneffset) per cycle; the lanes of a group move
in lock step, so a step takes as many cycles as the most set bits among the group's
activations (at least one). With measured statistics (``LayerStats.a_group_max_essential``) the
expected step length is exact for the data; without them the model assumes every bit of an
``a``-bit activation is set with probability 1/2, independently, so a step takes
``E[max of sync_lanes Binomial(a, 1/2)]`` cycles. Weights are 16-bit parallel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwsim.hardware.registry import register_family
from hwsim.hardware.skeleton import (
    ESSENTIAL,
    MAX_BITS,
    PARALLEL,
    SkeletonConfig,
    StepRule,
    evaluate,
)


@dataclass(frozen=True)
class PragmaticConfig(SkeletonConfig):
    """Stripes' organisation with essential-bit serial activations.

    ``sync_lanes`` activations advance together: ``lanes`` when every column runs ahead on
    its own, ``lanes * cols`` when all columns synchronise every step."""

    family: ClassVar[str] = "pragmatic"

    cols: int = 16
    sync_lanes: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        self.positive_int("sync_lanes")

    def step_rule(self) -> StepRule:
        return StepRule(w_mode=PARALLEL, a_mode=ESSENTIAL, a_bits_per_cycle=1)

    def w_precisions(self) -> tuple[int, ...]:
        return (MAX_BITS,)

    def group_size(self) -> int:
        return self.sync_lanes


register_family(PragmaticConfig, evaluate, "Bit-Pragmatic: essential activation bits")
