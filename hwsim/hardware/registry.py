"""The family registry: each hardware family binds its config type to its cost function, and
configs are read by family name from presets and TOML files.

A cost function evaluates many (layer, bits) points on many configs of one family in one call::

    evaluate(configs: Sequence[Config], points: Points) -> dict[str, ndarray[H, P]]

returning every key of :data:`hwsim.hardware.report.METRICS`. ``simulate`` and ``cost_table``
only build :class:`Points` and dispatch here, so both run the same Numba code.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.errors import HwsimError, check
from hwsim.hardware.base import HardwareConfig
from hwsim.policy import LayerStats
from hwsim.workload import Workload


@dataclass(frozen=True, eq=False)
class Points:
    """``P`` evaluation points: a layer index and the requested bits per point.

    ``stats[i]`` are the measured statistics of layer ``i`` (or None); families that depend on
    data read them and fall back to a stated assumption when absent. ``w_encoding`` /
    ``a_encoding`` give each point's operand encodings; ``hwsim.hardware.encodings`` turns
    them into the widths each family runs before the family sees the points.
    """

    workload: Workload
    layer: np.ndarray  # int64 [P]
    w_bits: np.ndarray  # int64 [P]
    a_bits: np.ndarray  # int64 [P]
    stats: tuple[LayerStats | None, ...] = ()
    w_encoding: np.ndarray | None = None  # int8 [P] indices into hwsim.encoding.ENCODINGS
    a_encoding: np.ndarray | None = None  # (None: every point has the operand's default)

    def __len__(self) -> int:
        return len(self.layer)

    def column(self, key: str) -> np.ndarray:
        """A workload column gathered per point (contiguous int64)."""
        return np.ascontiguousarray(self.workload.columns[key][self.layer])

    def layer_stats(self, i: int) -> LayerStats | None:
        return self.stats[i] if self.stats else None


Evaluate = Callable[[Sequence[HardwareConfig], Points], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Family:
    name: str
    config_type: type[HardwareConfig]
    evaluate: Evaluate
    description: str = ""


_FAMILIES: dict[str, Family] = {}


def register_family(
    config_type: type[HardwareConfig], evaluate: Evaluate, description: str = ""
) -> Family:
    """Bind ``config_type`` (whose ``family`` class variable names it) to ``evaluate``."""
    name = config_type.family
    if not name:
        raise TypeError(f"{config_type.__name__} must set the class variable 'family'")
    fam = Family(name, config_type, evaluate, description)
    _FAMILIES[name] = fam
    return fam


def get_family(name_or_config: str | HardwareConfig) -> Family:
    _load_families()
    name = name_or_config.family if isinstance(name_or_config, HardwareConfig) else name_or_config
    if name not in _FAMILIES:
        raise HwsimError("hardware.family", name, f"unknown family; known: {sorted(_FAMILIES)}")
    return _FAMILIES[name]


def families() -> dict[str, Family]:
    _load_families()
    return dict(_FAMILIES)


def _load_families() -> None:
    # Importing the package imports every family module, which registers itself.
    import hwsim.hardware  # noqa: F401


PRESET_PACKAGE = "hwsim.hardware.presets"


def preset_names() -> list[str]:
    """Names of the presets shipped in the package."""
    root = resources.files(PRESET_PACKAGE)
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def load_hardware(name_or_path: str | Path | HardwareConfig, **overrides: Any) -> HardwareConfig:
    """A preset by name (``"bitfusion"``) or a TOML file by path, with field overrides.

    The TOML holds ``family``, the config's fields, and an optional ``[sources]`` table that
    maps each field to where its number comes from.
    """
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
    sources = dict(data.pop("sources", {}))
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
