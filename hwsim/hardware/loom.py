"""Loom (Sharify et al., DAC 2018): weights and activations bit-serial.

A step takes ``w_bits * ceil(a_bits / a_bits_per_cycle)`` cycles: one weight bit per cycle and
``a_bits_per_cycle`` activation bits (1, 2 or 4 in the paper's variants). The array has 256x the
lanes of a same-throughput 16-bit MAC array, so 16/16 runs at the baseline's speed.

With ``dynamic_precision`` (on by default, as in the paper and DNNsim) the activations of each
step run at the leading-one precision of the largest among its ``cols x lanes`` values (at
least one bit): measured on real codes (``LayerStats.step_cycles``, rule
``loom/cols=C/a_bits_per_cycle=b``, which scales with the weight bits); a layer without that
measurement runs at its static activation precision, and the report's notes say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwsim.errors import HwsimError
from hwsim.hardware.pricing import serial_lane_area_um2
from hwsim.hardware.registry import register_family
from hwsim.hardware.skeleton import SERIAL, SkeletonConfig, StepRule, evaluate
from hwsim.stepstats import LoomSteps, MeasuredSteps


@dataclass(frozen=True)
class LoomConfig(SkeletonConfig):
    """Serial-serial inner-product units; ``a_bits_per_cycle`` activation bits per cycle."""

    family: ClassVar[str] = "loom"
    UNIT_AREA_UM2: ClassVar[float] = serial_lane_area_um2(1)  # one weight x one activation bit

    a_bits_per_cycle: int = 1
    dynamic_precision: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self.positive_int("a_bits_per_cycle")
        if self.a_bits_per_cycle > 16:
            raise HwsimError("loom.a_bits_per_cycle", self.a_bits_per_cycle, "must be <= 16")
        if not isinstance(self.dynamic_precision, bool):
            raise HwsimError("loom.dynamic_precision", self.dynamic_precision, "must be a bool")

    def default_unit_area_um2(self) -> float:
        """One lane forms ``a_bits_per_cycle`` one-bit products per cycle (one weight bit x that
        many activation bits): ``hwsim.hardware.pricing.serial_lane_area_um2`` of that count."""
        return serial_lane_area_um2(self.a_bits_per_cycle)

    def measured_steps(self) -> MeasuredSteps | None:
        if not self.dynamic_precision:
            return None
        return LoomSteps(self.cols, a_bits_per_cycle=self.a_bits_per_cycle)

    def w_scale(self, w_bits: int) -> float:
        return float(w_bits)  # one weight bit per cycle: the step scales with w

    def missing_stats_default(self) -> str:
        return "the static activation precision per step (an upper bound)"

    def step_rule(self) -> StepRule:
        return StepRule(
            w_mode=SERIAL, w_bits_per_cycle=1, a_mode=SERIAL, a_bits_per_cycle=self.a_bits_per_cycle
        )


register_family(LoomConfig, evaluate, "Loom: bit-serial weights and activations")
