"""Laconic (Sharify et al., ISCA 2019): essential terms of both weights and activations.

Each lane multiplies one weight by one activation as the products of their essential terms
(after Booth-like recoding, on by default), one pair of terms per cycle; every lane of the
array moves in lock step, so a step takes as many cycles as its slowest (window, filter, lane)
pair: ``max(1, max over pairs of terms(w) * terms(a))``. Measured on real codes
(``LayerStats.step_cycles``, rule ``laconic/cols=C/booth=../rows=R``); it scales with the weight
bits at other widths. Without it a step takes the product of the expected largest essential
counts, ``E[max of cols*lanes Binomial(a, 1/2)] * E[max of rows*lanes Binomial(w, 1/2)]``
(no Booth), and the report's notes say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwsim.errors import HwsimError
from hwsim.hardware.pricing import SERIAL_LANE_UM2
from hwsim.hardware.registry import register_family
from hwsim.hardware.skeleton import (
    ESSENTIAL,
    MAX_BITS,
    SkeletonConfig,
    StepRule,
    evaluate,
    expected_step_binomial,
)
from hwsim.stepstats import LaconicSteps


@dataclass(frozen=True)
class LaconicConfig(SkeletonConfig):
    """``rows`` filters x ``cols`` windows x ``lanes`` term-serial multipliers."""

    family: ClassVar[str] = "laconic"
    UNIT_AREA_UM2: ClassVar[float] = SERIAL_LANE_UM2  # hwsim.hardware.pricing

    rows: int = 256
    cols: int = 16
    booth: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.booth, bool):
            raise HwsimError("laconic.booth", self.booth, "must be a bool")

    def step_rule(self) -> StepRule:
        return StepRule(w_mode=ESSENTIAL, a_mode=ESSENTIAL, a_bits_per_cycle=1)

    def group_size(self) -> int:
        return self.cols * self.lanes

    def w_step_factor(self, w_bits: int) -> float:
        """Expected most essential weight bits among a step's ``rows x lanes`` weights."""
        return expected_step_binomial(w_bits, 0.5, self.rows * self.lanes) if w_bits else 1.0

    def measured_steps(self) -> LaconicSteps:
        return LaconicSteps(self.cols, rows=self.rows, booth=self.booth)

    def w_scale(self, w_bits: int) -> float:
        return float(max(w_bits, 1))

    def missing_stats_default(self) -> str:
        return (
            "E[max essential activation bits over cols*lanes] x E[max essential weight bits "
            "over rows*lanes], bits set with probability 1/2, no Booth"
        )

    def w_precisions(self) -> tuple[int, ...]:
        return tuple(range(1, MAX_BITS + 1))


register_family(LaconicConfig, evaluate, "Laconic: essential bits of weights x activations")
