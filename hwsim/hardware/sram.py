"""On-chip SRAM energy, leakage and area from CACTI, as a function of the buffer.

The package ships ``data/sram_cacti45.csv``: CACTI 7 (the copy inside the PyPI package
``zigzag-dse``) run over one bank per row at 45 nm, with the Bit Fusion authors' CACTI
settings; ``benchmarks/pricing/make_sram_table.py`` regenerates it. A row gives, for a bank of
``capacity_bytes`` with ``word_bits``-wide accesses and ``ports`` (``1rw``, ``1r1w`` or
``1rw1r1w``): dynamic read and write energy per access (nJ), leakage (mW) and area (mm^2).

A buffer of ``capacity`` bytes in ``banks`` equal banks costs (:func:`sram_cost`):

- per bit read (written): the bank's read (write) energy per access / ``word_bits``;
- area and leakage: ``banks`` x the bank's;
- between two capacities of the table (same word width and ports), each quantity is
  interpolated linearly in log(capacity) -> log(quantity) (log-log), so a table row is hit
  exactly; a bank smaller or larger than the table, or a word width or port set the table
  lacks, raises HwsimError naming the field and the range, unless ``HWSIM_CACTI`` names a
  built CACTI binary: then that bank is run through CACTI (:mod:`hwsim.hardware.cacti`);
- then the technology node: energies x ``energy_factor(nm)``, area x ``area_factor(nm)``,
  leakage x ``power_factor(nm)`` (:mod:`hwsim.hardware.pricing`, Stillmaker & Baas 2017).
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np

from hwsim.errors import HwsimError
from hwsim.hardware import cacti, pricing

TABLE = "sram_cacti45.csv"
PORTS: tuple[str, ...] = ("1rw", "1r1w", "1rw1r1w")


@dataclass(frozen=True)
class SramCost:
    """What one buffer costs: pJ per bit read and written, leakage (W), area (mm^2)."""

    read_pj_per_bit: float
    write_pj_per_bit: float
    leakage_w: float
    area_mm2: float


@functools.lru_cache(maxsize=1)
def table() -> dict[tuple[int, str], np.ndarray]:
    """``{(word_bits, ports): rows}``; rows ``[capacity, read_nj, write_nj, leak_mw, area]``
    sorted by capacity."""
    text = resources.files("hwsim.hardware").joinpath("data", TABLE).read_text()
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    groups: dict[tuple[int, str], list[list[float]]] = {}
    for row in csv.DictReader(lines):
        key = (int(row["word_bits"]), row["ports"])
        groups.setdefault(key, []).append(
            [
                float(row["capacity_bytes"]),
                float(row["read_nj"]),
                float(row["write_nj"]),
                float(row["leak_mw"]),
                float(row["area_mm2"]),
            ]
        )
    return {k: np.array(sorted(v)) for k, v in groups.items()}


def bank_row(capacity_bytes: float, word_bits: int, ports: str, field: str) -> np.ndarray:
    """``[read_nj, write_nj, leak_mw, area_mm2]`` of one 45 nm bank, interpolated log-log in
    the capacity between the table's rows (a row is returned exactly)."""
    tab = table()
    if ports not in PORTS:
        raise HwsimError(f"{field}.ports", ports, f"must be one of {list(PORTS)}")
    widths = sorted({w for w, p in tab if p == ports})
    rows = tab.get((word_bits, ports))
    inside = rows is not None and rows[0, 0] <= float(capacity_bytes) <= rows[-1, 0]
    if not inside and cacti.installed() is not None:
        return _from_cacti(capacity_bytes, word_bits, ports, field)
    if rows is None:
        raise HwsimError(
            f"{field}.word_bits",
            word_bits,
            f"the CACTI table has word widths {widths} bits for ports {ports!r}",
        )
    caps = rows[:, 0]
    c = float(capacity_bytes)
    if not (caps[0] <= c <= caps[-1]):
        raise HwsimError(
            f"{field}.bank_bytes",
            c,
            f"outside the CACTI table: banks of {int(caps[0])} to {int(caps[-1])} bytes at "
            f"{word_bits}-bit words, ports {ports!r} (change the bank count, set {cacti.ENV} to a "
            "built CACTI binary, or regenerate the table with "
            "benchmarks/pricing/make_sram_table.py)",
        )
    i = int(np.searchsorted(caps, c))
    if caps[i] == c:
        return rows[i, 1:].copy()
    lo, hi = rows[i - 1], rows[i]
    t = (math.log(c) - math.log(lo[0])) / (math.log(hi[0]) - math.log(lo[0]))
    return np.exp(np.log(lo[1:]) + t * (np.log(hi[1:]) - np.log(lo[1:])))


def _from_cacti(capacity_bytes: float, word_bits: int, ports: str, field: str) -> np.ndarray:
    """One bank outside the table, run through the CACTI that ``HWSIM_CACTI`` names."""
    size = float(capacity_bytes)
    if size != int(size) or word_bits % 8:
        raise HwsimError(
            f"{field}.bank_bytes", size, "CACTI needs whole bytes per bank and whole-byte words"
        )
    out = cacti.run(cacti.installed(), int(size), int(word_bits), ports)
    if out is None:
        raise HwsimError(
            f"{field}.bank_bytes",
            size,
            f"CACTI found no organisation for this bank ({word_bits}-bit words, {ports})",
        )
    area = out["height_mm"] * out["width_mm"]
    return np.array([out["read_nj"], out["write_nj"], out["leak_mw"], area])


@functools.lru_cache(maxsize=4096)
def sram_cost(
    capacity_bytes: float,
    word_bits: int,
    ports: str = "1r1w",
    banks: int = 1,
    technology_nm: int = 45,
    field: str = "buffer",
) -> SramCost:
    """The cost of a buffer of ``capacity_bytes`` split in ``banks`` equal banks."""
    if isinstance(banks, bool) or not isinstance(banks, int) or banks < 1:
        raise HwsimError(f"{field}.banks", banks, "must be an integer >= 1")
    read_nj, write_nj, leak_mw, area = bank_row(capacity_bytes / banks, word_bits, ports, field)
    fe = pricing.energy_factor(technology_nm)
    return SramCost(
        read_pj_per_bit=read_nj * 1e3 / word_bits * fe,
        write_pj_per_bit=write_nj * 1e3 / word_bits * fe,
        leakage_w=banks * leak_mw * 1e-3 * pricing.power_factor(technology_nm),
        area_mm2=banks * area * pricing.area_factor(technology_nm),
    )
