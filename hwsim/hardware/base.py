"""Hardware configs: one frozen dataclass per family, validated on construction.

A family module subclasses :class:`HardwareConfig`, declares its fields (every number with its
source in the preset file) and registers its cost function with
:func:`hwsim.hardware.registry.register_family`; the registry also reads configs from TOML.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from hwsim.errors import HwsimError, check


@dataclass(frozen=True)
class HardwareConfig:
    """Fields every hardware family shares. ``family`` names the registered cost model.

    Units are the same in every family: bytes, bytes per second (bandwidths, with the clock
    ``frequency_hz`` separate), picojoules, hertz."""

    family: ClassVar[str] = ""

    name: str = "custom"
    frequency_hz: float = 1e9
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        check(
            isinstance(self.name, str) and self.name != "",
            "name",
            self.name,
            "must be a non-empty string",
        )
        self.positive("frequency_hz")

    # The price of a design (hwsim.hardware.pricing) ---------------------------------------
    def area_breakdown(self) -> dict[str, float] | None:
        """Chip area in mm^2 per component (``compute`` and one entry per on-chip buffer) at
        the config's technology node; None where the family has no area model (CPUs).
        Priced per configuration, never per layer."""
        return None

    def leakage_w(self) -> float:
        """Static power in watts that every report adds to its dynamic power (energy over
        latency); 0.0 where no source gives it."""
        return 0.0

    # Validation helpers for subclasses' __post_init__ -----------------------------------
    def positive(self, *names: str) -> None:
        for n in names:
            v = getattr(self, n)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
                raise HwsimError(f"{self.family or 'hardware'}.{n}", v, "must be a number > 0")

    def non_negative(self, *names: str) -> None:
        for n in names:
            v = getattr(self, n)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0:
                raise HwsimError(f"{self.family or 'hardware'}.{n}", v, "must be a number >= 0")

    def positive_int(self, *names: str) -> None:
        for n in names:
            v = getattr(self, n)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise HwsimError(f"{self.family or 'hardware'}.{n}", v, "must be an integer >= 1")

    # ----------------------------------------------------------------------------------
    def replace(self, **overrides: Any) -> Self:
        """A copy with ``overrides`` applied (and validated again)."""
        known = {f.name for f in dataclasses.fields(self)}
        for key in overrides:
            if key not in known:
                raise HwsimError(
                    f"{self.family}.{key}",
                    overrides[key],
                    f"unknown field; known: {sorted(known - {'sources'})}",
                )
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"family": self.family}
        for f in dataclasses.fields(self):
            if f.name != "sources":
                out[f.name] = getattr(self, f.name)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - {"family"})
        if unknown:
            raise HwsimError(
                f"{cls.family}.{unknown[0]}",
                data[unknown[0]],
                f"unknown field; known: {sorted(known - {'sources'})}",
            )
        try:
            return cls(**{k: v for k, v in data.items() if k != "family"})
        except TypeError as exc:
            raise HwsimError(cls.family, dict(data), str(exc)) from exc
