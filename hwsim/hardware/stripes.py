"""Stripes (Judd et al., MICRO 2016): activations bit-serial, weights bit-parallel.

A step takes ``a_bits`` cycles (one activation bit per cycle), weights are 16-bit parallel. To
match DaDianNao's throughput at 16 bits Stripes processes 16 windows at once (``cols``), so on
compute-bound layers it runs ``16 / a_bits`` times faster.

With ``dynamic_precision`` (Dynamic Stripes, ShapeShifter with one column per group and no
run-ahead registers) each step instead takes the leading-one precision of the largest value
among its ``cols x lanes`` activations, at least one cycle: measured on real codes
(``LayerStats.step_cycles``, rule ``dynamic/cols=C``); a layer without that measurement runs
at its static precision, and the report's notes say so. With ``run_ahead`` registers (Dynamic
Stripes as DNNsim f8935f0 models it) each column's 16 lanes form a group of their own and a
column may run ahead of the slowest by that many steps (rule ``columns/cols=C/run_ahead=R``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwsim.errors import HwsimError
from hwsim.hardware.pricing import SERIAL_LANE_UM2
from hwsim.hardware.registry import register_family
from hwsim.hardware.skeleton import MAX_BITS, PARALLEL, SERIAL, SkeletonConfig, StepRule, evaluate
from hwsim.stepstats import ColumnSteps, DynamicSteps, MeasuredSteps


@dataclass(frozen=True)
class StripesConfig(SkeletonConfig):
    """Serial inner-product units: ``rows`` filters x ``cols`` windows x ``lanes`` terms."""

    family: ClassVar[str] = "stripes"
    UNIT_AREA_UM2: ClassVar[float] = SERIAL_LANE_UM2  # hwsim.hardware.pricing

    cols: int = 16
    dynamic_precision: bool = False
    run_ahead: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.dynamic_precision, bool):
            raise HwsimError("stripes.dynamic_precision", self.dynamic_precision, "must be a bool")
        ra = self.run_ahead
        if isinstance(ra, bool) or not isinstance(ra, int) or ra < 0:
            raise HwsimError("stripes.run_ahead", ra, "must be an integer >= 0")

    def step_rule(self) -> StepRule:
        return StepRule(w_mode=PARALLEL, a_mode=SERIAL, a_bits_per_cycle=1)

    def w_precisions(self) -> tuple[int, ...]:
        return (MAX_BITS,)

    def measured_steps(self) -> MeasuredSteps | None:
        if not self.dynamic_precision:
            return None
        if self.run_ahead:
            return ColumnSteps(self.cols, run_ahead=self.run_ahead)
        return DynamicSteps(self.cols)

    def missing_stats_default(self) -> str:
        return "the static precision a_bits per step (an upper bound)"


register_family(StripesConfig, evaluate, "Stripes: bit-serial activations")
