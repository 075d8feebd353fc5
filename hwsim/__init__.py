"""hwsim: hardware simulation and co-design for mixed-precision neural networks.

The torch-free core: workloads, bit policies, bitplanes, bit-serial kernels, hardware cost
models and the event model. ``models``, ``quant`` and ``sweeps`` build on it.
"""

from importlib import import_module
from typing import Any

from hwsim.errors import HwsimError
from hwsim.policy import BitPolicy, LayerStats
from hwsim.workload import KINDS, Workload

__version__ = "0.1.0"

_LAZY = {
    "simulate": ("hwsim.hardware", "simulate"),
    "cost_table": ("hwsim.hardware", "cost_table"),
    "load_hardware": ("hwsim.hardware", "load_hardware"),
    "area": ("hwsim.hardware", "area"),
    "Area": ("hwsim.hardware", "Area"),
    "CostReport": ("hwsim.hardware", "CostReport"),
    "CostTable": ("hwsim.hardware", "CostTable"),
    "HardwareConfig": ("hwsim.hardware", "HardwareConfig"),
    "bits": ("hwsim.bits", None),
    "kernels": ("hwsim.kernels", None),
    "events": ("hwsim.events", None),
    "hardware": ("hwsim.hardware", None),
}


def __getattr__(name: str) -> Any:
    # Numba-backed parts load on first use so `import hwsim` stays fast.
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = import_module(module)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'hwsim' has no attribute {name!r}")


__all__ = ["KINDS", "BitPolicy", "HwsimError", "LayerStats", "Workload", "__version__", *_LAZY]
