"""A tiny hardware family for sweep tests: an output-stationary array with a roofline.

Plain numpy, closed form, independent of the real families (which other teams write), so the
sweep machinery can be tested on its own. ``delay_s`` sleeps once per evaluate call, which
lets a test kill a running sweep in the middle.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hwsim.errors import check
from hwsim.hardware import METRICS, HardwareConfig, register_family


@dataclass(frozen=True)
class ToyConfig(HardwareConfig):
    family = "toy"

    name: str = "toy"
    rows: int = 16
    cols: int = 16
    sram_kib: float = 64.0
    dram_gbps: float = 10.0
    max_bits: int = 16
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.positive_int("rows", "cols", "max_bits")
        self.positive("sram_kib", "dram_gbps")
        self.non_negative("delay_s")
        check(self.rows * self.cols <= 1 << 20, "toy.rows", self.rows, "array too large")

    def area_breakdown(self) -> dict[str, float]:
        """A made-up area (mm^2): 0.001 per PE plus 0.004 per KiB of buffer."""
        return {"compute": self.rows * self.cols * 1e-3, "buffer": self.sram_kib * 4e-3}

    def leakage_w(self) -> float:
        """A made-up leakage: 1 mW per mm^2."""
        return 1e-3 * sum(self.area_breakdown().values())


def toy_evaluate(configs, points) -> dict[str, np.ndarray]:
    if any(c.delay_s for c in configs):
        time.sleep(max(c.delay_s for c in configs))
    M, N, K = (points.column(k).astype(np.float64) for k in ("M", "N", "K"))
    w = points.w_bits.astype(np.float64)
    a = points.a_bits.astype(np.float64)
    out = {k: np.empty((len(configs), len(points))) for k in METRICS}
    for i, c in enumerate(configs):
        if np.any(points.w_bits > c.max_bits):
            raise ValueError(f"toy config {c.name} cannot run w_bits > {c.max_bits}")
        compute = np.ceil(M / c.rows) * np.ceil(N / c.cols) * K * a
        w_bytes = N * K * w / 8
        io_bytes = (M * K + M * N) * a / 8
        refetch = np.where(w_bytes > c.sram_kib * 1024, np.ceil(M / c.rows), 1.0)
        dram = w_bytes * refetch + io_bytes
        mem_cycles = dram / (c.dram_gbps * 1e9) * c.frequency_hz
        stall = np.maximum(mem_cycles - compute, 0.0)
        cycles = compute + stall
        macs = M * N * K
        out["cycles"][i] = cycles
        out["stall_cycles"][i] = stall
        out["latency_s"][i] = cycles / c.frequency_hz
        out["compute_energy_j"][i] = macs * w * a * 1e-14
        out["sram_energy_j"][i] = (w_bytes + io_bytes) * 8 * 1e-13
        out["dram_energy_j"][i] = dram * 8 * 2e-11
        out["energy_j"][i] = (
            out["compute_energy_j"][i] + out["sram_energy_j"][i] + out["dram_energy_j"][i]
        )
        out["dram_read_bytes"][i] = w_bytes * refetch + M * K * a / 8
        out["dram_write_bytes"][i] = M * N * a / 8
        out["dram_bytes"][i] = dram
        out["sram_bits"][i] = (w_bytes + io_bytes) * 8
        out["weight_bits"][i] = N * K * w
        out["activation_bits"][i] = (M * K + M * N) * a
        out["utilization"][i] = macs / (cycles * c.rows * c.cols)
        out["w_bits_run"][i] = w
        out["a_bits_run"][i] = a
    return out


register_family(ToyConfig, toy_evaluate, "test-only toy array")


def toy_trainer(workload, hardware, params, seed):
    """A stand-in for a quantization method: seeded random bits and a seeded 'accuracy'."""
    from hwsim import BitPolicy

    rng = np.random.default_rng(seed)
    choices = params.get("bits", [2, 4, 8])
    bits = {n: (int(rng.choice(choices)), int(rng.choice(choices))) for n in workload.layer_names}
    return BitPolicy(bits), {"accuracy": float(rng.random())}


def toy_workload(name: str = "toynet"):
    """A two-layer conv + linear network."""
    from hwsim import Workload

    return Workload.from_layers(
        name,
        [
            {
                "name": "c1",
                "kind": "conv",
                "batch": 1,
                "in_channels": 3,
                "out_channels": 16,
                "in_h": 8,
                "in_w": 8,
                "out_h": 8,
                "out_w": 8,
                "kernel_h": 3,
                "kernel_w": 3,
                "pad_h": 1,
                "pad_w": 1,
                "first": 1,
            },
            {"name": "fc", "kind": "linear", "batch": 1, "in_channels": 1024, "out_channels": 10},
        ],
    )


def toy_spec(**over) -> dict:
    """A small spec over the toy family: 6 grid configs x 2 samples x 4 policies."""
    spec = {
        "name": "toy",
        "seed": 3,
        "chunk_size": 16,
        "plugins": ["toy_family"],
        "workloads": ["toynet.npz"],
        "hardware": [
            {
                "base": "toy",
                "grid": {"rows": [4, 8, 16], "cols": [8, 16]},
                "random": {"samples": 2, "dram_gbps": {"low": 1.0, "high": 20.0, "log": True}},
            }
        ],
        "policies": {"w_bits": [2, 8], "a_bits": [4, 8]},
    }
    spec.update(over)
    return spec


from sweeps.run import register_trainer  # noqa: E402

register_trainer("toy", toy_trainer)
