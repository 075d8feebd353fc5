"""An independent reference of the pricing model, for the tests and benchmarks.

Reads the shipped CACTI CSV with numpy (not through ``hwsim.hardware.sram``), interpolates it
log-log by hand, and scales by the published Stillmaker-Baas figures transcribed here from the
paper (area table, 45 nm row; high-performance energy and power fits at nominal supplies).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

CSV = Path(__file__).resolve().parents[1] / "hardware" / "data" / "sram_cacti45.csv"

# Stillmaker & Baas 2017: area relative to 45 nm.
AREA_VS_45 = {180: 19, 130: 6.4, 90: 2.8, 65: 1.5, 45: 1, 32: 0.46, 20: 0.21, 16: 0.19, 14: 0.17,
              10: 0.1, 7: 0.059}  # fmt: skip
# Energy fit (a, b, c) of E = aV^2 + bV + c and the nominal supply, per node.
ENERGY_FIT = {
    65: ((3.755, -4.398, 1.975), 1.1),
    45: ((1.018, -0.3107, 0.1539), 1.0),
    32: ((0.8367, -0.4341, 0.1701), 0.9),
    14: ((0.2363, -0.09675, 0.02239), 0.8),
    7: ((0.1776, -0.09097, 0.02447), 0.7),
}


def energy_factor(nm: int) -> float:
    (a, b, c), v = ENERGY_FIT[nm]
    (a0, b0, c0), v0 = ENERGY_FIT[45]
    return (a * v * v + b * v + c) / (a0 * v0 * v0 + b0 * v0 + c0)


def load() -> dict:
    """``{(word_bits, ports): array[capacity, read_nj, write_nj, leak_mw, area]}``."""
    lines = [ln for ln in CSV.read_text().splitlines() if ln and not ln.startswith("#")]
    out: dict = {}
    for r in csv.DictReader(lines):
        out.setdefault((int(r["word_bits"]), r["ports"]), []).append(
            [float(r[k]) for k in ("capacity_bytes", "read_nj", "write_nj", "leak_mw", "area_mm2")]
        )
    return {k: np.array(sorted(v), dtype=float) for k, v in out.items()}


def bank(table: dict, cap: float, word: int, ports: str) -> np.ndarray:
    rows = table[(word, ports)]
    lx = np.log(rows[:, 0])
    return np.exp([np.interp(np.log(cap), lx, np.log(rows[:, j])) for j in range(1, 5)])


def buffer_costs(cfg, table: dict) -> dict[str, tuple[float, float, float, float]]:
    """``{buffer: (read pJ/bit, write pJ/bit, leakage W, area mm^2)}`` of a skeleton config."""
    out = {}
    for name, size, banks in (
        ("weight_buffer", cfg.weight_buffer_bytes, cfg.weight_buffer_banks),
        ("act_buffer", cfg.act_buffer_bytes, cfg.act_buffer_banks),
        ("out_buffer", cfg.out_buffer_bytes, cfg.out_buffer_banks),
    ):
        rd, wr, leak, area = bank(table, size / banks, cfg.sram_word_bits, cfg.sram_ports)
        fe = energy_factor(cfg.technology_nm)
        out[name] = (
            rd * 1e3 / cfg.sram_word_bits * fe,
            wr * 1e3 / cfg.sram_word_bits * fe,
            None,  # leakage's node scaling is the model's rule; compared at 45 nm only
            banks * area * AREA_VS_45[cfg.technology_nm],
        )
        if cfg.technology_nm == 45:
            out[name] = (*out[name][:2], banks * leak * 1e-3, out[name][3])
    return out


def sram_energies(cfg, table: dict | None) -> tuple[float, ...]:
    """(w read, w write, a read, a write, o read, o write) pJ per bit."""
    if cfg.e_sram_pj_per_bit is not None:
        return (cfg.e_sram_pj_per_bit * energy_factor(cfg.technology_nm),) * 6
    c = buffer_costs(cfg, table if table is not None else load())
    return tuple(x for name in ("weight_buffer", "act_buffer", "out_buffer") for x in c[name][:2])
