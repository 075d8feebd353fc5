"""Run CACTI over a grid of SRAM banks and write the table hwsim ships.

    python benchmarks/pricing/make_sram_table.py --cacti /path/to/cacti [--out FILE] [--jobs N]

Each row is one bank: capacity (bytes), word width (bits: CACTI's block size and I/O bus width),
ports (``1rw``: one read-write port; ``1r1w``: one exclusive read and one exclusive write port;
``1rw1r1w``: both, as the Bit Fusion authors' sweep has them), at 45 nm (CACTI 7's
itrs-hp cells and peripherals, 360 K, a RAM with no tags). The other settings are those of the
Bit Fusion authors' ``sram/cacti_sweep.csv`` (design objective, deviation, ED optimisation,
wire models), so their eight rows are rows of this grid. The columns are CACTI's own outputs:
dynamic read and write energy per access (nJ), leakage power of the bank (mW) and area (mm^2).

The CACTI settings and the run itself are :mod:`hwsim.hardware.cacti` (the same function hwsim
calls where ``HWSIM_CACTI`` names a binary and a bank lies outside the table). CACTI is the one
from the PyPI package ``zigzag-dse`` (``zigzag/cacti/cacti_master``, built with
``make opt``); its version string is written into the CSV's header comment.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hwsim.hardware.cacti import run

OUT = Path(__file__).resolve().parents[2] / "hwsim" / "hardware" / "data" / "sram_cacti45.csv"

# Capacities: 64 B .. 64 MiB per bank, powers of two; words 8 .. 512 bits.
CAPACITIES = [2**k for k in range(6, 27)]
WORD_BITS = [8, 16, 32, 64, 128, 256, 512]
PORTS = ("1rw", "1r1w", "1rw1r1w")
TECH_UM = 0.045


def run_cacti(cacti: Path, size: int, word_bits: int, ports: str) -> dict[str, float] | None:
    """One CACTI run at ``TECH_UM`` (hwsim.hardware.cacti.run); None where CACTI finds no
    organisation for the bank."""
    return run(cacti, size, word_bits, ports, TECH_UM)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cacti", type=Path, required=True, help="the built cacti binary")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    cacti = args.cacti.resolve()
    grid = list(itertools.product(CAPACITIES, WORD_BITS, PORTS))
    # A bank must hold at least a few words.
    grid = [g for g in grid if g[0] * 8 >= 4 * g[1]]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda g: run_cacti(cacti, *g), grid))
    version = (cacti.parent / "version_cacti.h").read_text()
    ver = re.search(r"VER_MAJOR_CACTI\s+(\d+).*?VER_MINOR_CACTI\s+(\d+)", version, re.S)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        f.write(
            f"# CACTI {ver.group(1)}.{ver.group(2) if ver else '?'} (zigzag-dse's cacti_master), "
            "45 nm itrs-hp, 360 K, RAM, one bank; settings of the Bit Fusion authors' "
            "sram/cacti_sweep.csv; made by benchmarks/pricing/make_sram_table.py\n"
        )
        w = csv.writer(f)
        w.writerow(
            ["capacity_bytes", "word_bits", "ports", "read_nj", "write_nj", "leak_mw", "area_mm2"]
        )
        for (size, wb, ports), r in zip(grid, results, strict=True):
            if r is None:
                continue
            w.writerow(
                [size, wb, ports, r["read_nj"], r["write_nj"], r["leak_mw"],
                 r["height_mm"] * r["width_mm"]]
            )  # fmt: skip
    tmp.replace(args.out)
    missing = [g for g, r in zip(grid, results, strict=True) if r is None]
    print(f"wrote {args.out}: {len(grid) - len(missing)} rows; CACTI gave no answer for {missing}")


if __name__ == "__main__":
    main()
