"""Bit-Pragmatic (Albericio et al., MICRO 2017): only the essential (set) activation bits.

Each lane processes its activation one essential bit (oneffset) per cycle; the lanes of a
column move in lock step, so a column's step takes as many cycles as its slowest lane, at least
one. The paper configuration (``first_stage_bits = 2``, ``booth``, ``run_ahead = 1``, as
DNNsim's example batch file sets it):

- a two-stage shifter: per cycle every lane retires one bit within ``2^first_stage_bits - 1``
  positions above the column's lowest remaining one, so widely spread bits take extra cycles;
- Booth-like recoding of the activations (runs of ones become two terms);
- ``run_ahead`` registers let each column run that many steps ahead of the slowest column; a
  column keeps its window for the whole window set, so a slow window sets the pace (0: every
  column waits for the slowest each step).

All three are replayed on real codes (``LayerStats.step_cycles``, rule
``pragmatic/cols=C/booth=../first_stage_bits=../run_ahead=..``). A layer without that
measurement falls back to the group statistics (``a_group_max_essential`` over
``sync_lanes`` lanes) or, without any, to bits set independently with probability 1/2; a step
then takes ``E[max(1, max of sync_lanes Binomial(a, 1/2))]`` cycles (a full shifter, no Booth,
no run-ahead), and the report's notes say so. Weights are 16-bit parallel.
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
    PARALLEL,
    SkeletonConfig,
    StepRule,
    evaluate,
)
from hwsim.stepstats import PragmaticSteps


@dataclass(frozen=True)
class PragmaticConfig(SkeletonConfig):
    """Stripes' organisation with essential-bit serial activations.

    ``sync_lanes`` activations advance together in the statistics fallback: ``lanes`` when
    every column runs ahead on its own, ``lanes * cols`` when all columns synchronise."""

    family: ClassVar[str] = "pragmatic"
    UNIT_AREA_UM2: ClassVar[float] = SERIAL_LANE_UM2  # hwsim.hardware.pricing

    cols: int = 16
    sync_lanes: int = 16
    first_stage_bits: int = 2
    booth: bool = True
    run_ahead: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        self.positive_int("sync_lanes")
        fs = self.first_stage_bits
        if isinstance(fs, bool) or not isinstance(fs, int) or not 0 <= fs <= 4:
            raise HwsimError("pragmatic.first_stage_bits", fs, "must be an integer in 0..4")
        if not isinstance(self.booth, bool):
            raise HwsimError("pragmatic.booth", self.booth, "must be a bool")
        ra = self.run_ahead
        if isinstance(ra, bool) or not isinstance(ra, int) or ra < 0:
            raise HwsimError("pragmatic.run_ahead", ra, "must be an integer >= 0")

    def step_rule(self) -> StepRule:
        return StepRule(w_mode=PARALLEL, a_mode=ESSENTIAL, a_bits_per_cycle=1)

    def w_precisions(self) -> tuple[int, ...]:
        return (MAX_BITS,)

    def group_size(self) -> int:
        return self.sync_lanes

    def measured_steps(self) -> PragmaticSteps:
        return PragmaticSteps(
            self.cols,
            first_stage_bits=self.first_stage_bits,
            booth=self.booth,
            run_ahead=self.run_ahead,
        )

    def missing_stats_default(self) -> str:
        return (
            f"E[max(1, group-max essential bits)] over {self.sync_lanes} lanes (measured "
            "group statistics, else bits set with probability 1/2); full shifter, no Booth, "
            "no run-ahead"
        )


register_family(PragmaticConfig, evaluate, "Bit-Pragmatic: essential activation bits")
