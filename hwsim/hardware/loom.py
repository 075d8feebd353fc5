"""Loom (Sharify et al., DAC 2018): weights and activations bit-serial.

A step takes ``w_bits * ceil(a_bits / a_bits_per_cycle)`` cycles: one weight bit per cycle and
``a_bits_per_cycle`` activation bits (1, 2 or 4 in the paper's variants). The array has 256x the
lanes of a same-throughput 16-bit MAC array, so 16/16 runs at the baseline's speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwsim.errors import HwsimError
from hwsim.hardware.registry import register_family
from hwsim.hardware.skeleton import SERIAL, SkeletonConfig, StepRule, evaluate


@dataclass(frozen=True)
class LoomConfig(SkeletonConfig):
    """Serial-serial inner-product units; ``a_bits_per_cycle`` activation bits per cycle."""

    family: ClassVar[str] = "loom"

    a_bits_per_cycle: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        self.positive_int("a_bits_per_cycle")
        if self.a_bits_per_cycle > 16:
            raise HwsimError("loom.a_bits_per_cycle", self.a_bits_per_cycle, "must be <= 16")

    def step_rule(self) -> StepRule:
        return StepRule(
            w_mode=SERIAL, w_bits_per_cycle=1, a_mode=SERIAL, a_bits_per_cycle=self.a_bits_per_cycle
        )


register_family(LoomConfig, evaluate, "Loom: bit-serial weights and activations")
