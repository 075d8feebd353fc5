"""What a cost model returns: a per-layer :class:`CostReport` and a search's :class:`CostTable`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hwsim.hardware.base import HardwareConfig

METRICS: tuple[str, ...] = (
    "cycles",  # total cycles of the layer, stalls included
    "stall_cycles",  # cycles the compute waits on memory (prologue/epilogue included)
    "latency_s",
    "energy_j",
    "compute_energy_j",
    "sram_energy_j",
    "dram_energy_j",
    "dram_read_bytes",
    "dram_write_bytes",
    "dram_bytes",
    "sram_bits",  # on-chip buffer bits read + written
    "weight_bits",  # weight footprint at the bits the hardware runs
    "activation_bits",  # input + output activation footprint
    "utilization",  # useful MACs / (cycles * peak MACs per cycle at the run precision)
    "w_bits_run",  # precision the hardware actually ran (after rounding up)
    "a_bits_run",
)
"""Keys every family's ``evaluate`` returns, each an array ``[hardware, point]``."""

# Row of each metric in a Numba kernel's output array ``[metric, hardware, point]``, derived
# from METRICS so its order lives only there. Numba freezes these module-level ints into the
# compiled kernels, and its on-disk cache is keyed on the kernel's own source file: after
# reordering METRICS, delete the ``__pycache__/*.nbi`` files of hwsim/hardware.
M_CYCLES = METRICS.index("cycles")
M_STALL_CYCLES = METRICS.index("stall_cycles")
M_LATENCY_S = METRICS.index("latency_s")
M_ENERGY_J = METRICS.index("energy_j")
M_COMPUTE_ENERGY_J = METRICS.index("compute_energy_j")
M_SRAM_ENERGY_J = METRICS.index("sram_energy_j")
M_DRAM_ENERGY_J = METRICS.index("dram_energy_j")
M_DRAM_READ_BYTES = METRICS.index("dram_read_bytes")
M_DRAM_WRITE_BYTES = METRICS.index("dram_write_bytes")
M_DRAM_BYTES = METRICS.index("dram_bytes")
M_SRAM_BITS = METRICS.index("sram_bits")
M_WEIGHT_BITS = METRICS.index("weight_bits")
M_ACTIVATION_BITS = METRICS.index("activation_bits")
M_UTILIZATION = METRICS.index("utilization")
M_W_BITS_RUN = METRICS.index("w_bits_run")
M_A_BITS_RUN = METRICS.index("a_bits_run")

_SUMMED = tuple(m for m in METRICS if m not in ("utilization", "w_bits_run", "a_bits_run"))


@dataclass
class CostReport:
    """Per-layer costs of one (workload, policy, hardware) as a DataFrame, plus totals.

    Total keys follow the QONNX ``inference_cost`` vocabulary where one exists
    (``total_macs``, ``total_bops``, ``total_mem_w_bits``, ``total_mem_o_bits``).
    """

    layers: pd.DataFrame
    totals: dict[str, float]
    hardware: HardwareConfig
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_metrics(
        cls,
        workload,
        w_bits: np.ndarray,
        a_bits: np.ndarray,
        hardware: HardwareConfig,
        metrics: Mapping[str, np.ndarray],
    ) -> CostReport:
        df = pd.DataFrame(
            {
                "name": list(workload.layer_names),
                "kind": list(workload.kinds),
                "macs": workload.macs,
                "w_bits": w_bits,
                "a_bits": a_bits,
            }
        )
        for key in METRICS:
            df[key] = np.asarray(metrics[key], dtype=np.float64)
        for key in metrics:  # a family's extra per-layer outputs, after the shared ones
            if key not in METRICS:
                df[key] = np.asarray(metrics[key], dtype=np.float64)
        df["bops"] = df["macs"].astype(np.float64) * df["w_bits"] * df["a_bits"]
        totals: dict[str, float] = {k: float(df[k].sum()) for k in _SUMMED}
        macs = float(df["macs"].sum())
        totals["total_macs"] = macs
        totals["total_bops"] = float(df["bops"].sum())
        totals["total_mem_w_bits"] = float((workload.weight_elems * w_bits).sum())
        totals["total_mem_o_bits"] = float((workload.output_elems * a_bits).sum())
        # Utilization over the whole network: MAC-weighted, i.e. weighted by useful work.
        totals["utilization"] = float((df["utilization"] * df["macs"]).sum() / macs)
        notes = [
            f"{n}: ran at w{int(wr)}/a{int(ar)} (asked w{int(w)}/a{int(a)}); "
            f"{hardware.family} cannot run the requested precision"
            for n, w, a, wr, ar in zip(
                df["name"], w_bits, a_bits, df["w_bits_run"], df["a_bits_run"], strict=True
            )
            if int(wr) != int(w) or int(ar) != int(a)
        ]
        return cls(df, totals, hardware, notes)


@dataclass
class CostTable:
    """Costs of every (layer, w option, a option), what a bitwidth search reads.

    Arrays are ``[layer, w option, a option]`` for one hardware config, or
    ``[hardware, layer, w option, a option]`` when ``cost_table`` was given several.
    ``memory_bits`` is the weight footprint (bits stored at the run precision).
    """

    layer_names: tuple[str, ...]
    w_bits: np.ndarray
    a_bits: np.ndarray
    hardware: tuple[HardwareConfig, ...]
    latency_s: np.ndarray
    energy_j: np.ndarray
    memory_bits: np.ndarray
    cycles: np.ndarray
    dram_bytes: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def metric(self, name: str) -> np.ndarray:
        """``latency`` / ``energy`` / ``memory`` (or any METRICS key) by name."""
        aliases = {"latency": "latency_s", "energy": "energy_j", "memory": "memory_bits"}
        key = aliases.get(name, name)
        if (
            hasattr(self, key)
            and isinstance(getattr(self, key), np.ndarray)
            and key not in ("w_bits", "a_bits")
        ):
            return getattr(self, key)
        if key in self.extra:
            return self.extra[key]
        from hwsim.errors import HwsimError

        raise HwsimError("metric", name, "unknown; use latency, energy, memory or a METRICS key")

    def total(self, name: str, w_idx: np.ndarray, a_idx: np.ndarray) -> float | np.ndarray:
        """Network total of ``name`` when layer ``l`` runs at options ``(w_idx[l], a_idx[l])``."""
        arr = self.metric(name)
        layers = np.arange(len(self.layer_names))
        return arr[..., layers, w_idx, a_idx].sum(axis=-1)
