"""A hardware space on its own: the sweep spec's ``[[hardware]]`` tables (bases, grids, zipped
lists, seeded samples) expanded into ``HardwareConfig`` objects, for the joint search of
``hwsim codesign --hardware-space FILE.toml``. Example::

    seed = 0
    [[hardware]]
    base = "stripes"
    grid = { rows = [64, 128, 256], cols = [8, 16] }
    [[hardware]]
    base = "bitfusion"
    random = { samples = 4, rows = { low = 8, high = 32 } }

The budgets' reference is the first table's base at its default size.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hwsim.errors import HwsimError, check
from sweeps.spec import HardwareSpace, _check_keys, _parse_block

SPACE_KEYS = {"name", "seed", "hardware"}


def parse_space(tables: Any, seed: int = 0, root: str | Path = ".") -> HardwareSpace:
    """The space of ``[[hardware]]`` ``tables`` (a list of mappings, or one mapping)."""
    if isinstance(tables, Mapping):
        tables = [tables]
    check(
        isinstance(tables, list) and len(tables) > 0,
        "hardware",
        tables,
        "need at least one [[hardware]] table",
    )
    check(
        isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0,
        "seed",
        seed,
        "must be an integer >= 0",
    )
    return HardwareSpace([_parse_block(t, i, seed, Path(root)) for i, t in enumerate(tables)])


def load_space(path: str | Path) -> HardwareSpace:
    """Read a hardware-space TOML (``seed`` and ``[[hardware]]`` tables; paths inside it are
    relative to its folder)."""
    path = Path(path)
    check(path.is_file(), "--hardware-space", str(path), "no such file")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise HwsimError("--hardware-space", str(path), f"invalid TOML: {exc}") from exc
    _check_keys(data, SPACE_KEYS, "")
    return parse_space(data.get("hardware", []), data.get("seed", 0), path.parent)


def configs(space: HardwareSpace) -> list[Any]:
    """Every configuration of ``space``, in index order (validated)."""
    return [space.config(i) for i in range(len(space))]


def reference(space: HardwareSpace) -> Any:
    """The configuration budgets are relative to: the first table's base, default size."""
    return space.blocks[0].base_config
