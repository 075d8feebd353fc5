"""Hardware configs: one frozen dataclass per family, validated on construction, from TOML.

A family module subclasses :class:`HardwareConfig`, declares its fields (every number with its
source in the preset file) and registers its cost function with
:func:`hwsim.hardware.registry.register_family`.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Self

from hwsim.errors import HwsimError, check

PRESET_PACKAGE = "hwsim.hardware.presets"


@dataclass(frozen=True)
class HardwareConfig:
    """Fields every hardware family shares. ``family`` names the registered cost model."""

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


def preset_names() -> list[str]:
    """Names of the presets shipped in the package."""
    root = resources.files(PRESET_PACKAGE)
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def load_hardware(name_or_path: str | Path | HardwareConfig, **overrides: Any) -> HardwareConfig:
    """A preset by name (``"bitfusion"``) or a TOML file by path, with field overrides.

    The TOML holds ``family``, the config's fields, and an optional ``[sources]`` table that
    maps each field to where its number comes from.
    """
    from hwsim.hardware.registry import get_family

    if isinstance(name_or_path, HardwareConfig):
        return name_or_path.replace(**overrides) if overrides else name_or_path
    text, origin = _read_toml_text(name_or_path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HwsimError("hardware", origin, f"invalid TOML: {exc}") from exc
    family_name = data.pop("family", None)
    check(
        isinstance(family_name, str),
        "hardware.family",
        family_name,
        f"missing or not a string in {origin}",
    )
    config_type = get_family(family_name).config_type
    sources = data.pop("sources", {})
    data.update(overrides)
    data.setdefault("name", Path(str(name_or_path)).stem)
    return config_type.from_dict({**data, "sources": sources})


def _read_toml_text(name_or_path: str | Path) -> tuple[str, str]:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise HwsimError("hardware", str(path), "no such TOML file")
        return path.read_text(), str(path)
    name = str(name_or_path)
    res = resources.files(PRESET_PACKAGE).joinpath(f"{name}.toml")
    if not res.is_file():
        raise HwsimError("hardware", name, f"unknown preset; presets: {preset_names()}")
    return res.read_text(), f"preset {name}"
