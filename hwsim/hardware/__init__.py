"""Hardware models: configs, presets, the family registry and the cost-model API.

Importing this package imports every family module; each registers itself.
"""

from importlib import import_module

from hwsim.hardware.api import cost_table, simulate
from hwsim.hardware.base import HardwareConfig
from hwsim.hardware.pricing import Area, area
from hwsim.hardware.registry import (
    Points,
    families,
    get_family,
    load_hardware,
    preset_names,
    register_family,
)
from hwsim.hardware.report import METRICS, CostReport, CostTable

FAMILY_MODULES: tuple[str, ...] = (
    "bitparallel",
    "stripes",
    "loom",
    "bitfusion",
    "bismo",
    "pragmatic",
    "laconic",
    "cpu",
)

for _name in FAMILY_MODULES:
    import_module(f"hwsim.hardware.{_name}")

__all__ = [
    "METRICS",
    "Area",
    "CostReport",
    "CostTable",
    "HardwareConfig",
    "Points",
    "area",
    "cost_table",
    "families",
    "get_family",
    "load_hardware",
    "preset_names",
    "register_family",
    "simulate",
]
