"""Run CACTI over a grid of SRAM banks and write the table hwsim ships.

    python benchmarks/pricing/make_sram_table.py --cacti /path/to/cacti [--out FILE] [--jobs N]

Each row is one bank: capacity (bytes), word width (bits: CACTI's block size and I/O bus width),
ports (``1rw``: one read-write port; ``1r1w``: one exclusive read and one exclusive write port;
``1rw1r1w``: both, as the Bit Fusion authors' sweep has them), at 45 nm (CACTI 7's
itrs-hp cells and peripherals, 360 K, a RAM with no tags). The other settings are those of the
Bit Fusion authors' ``sram/cacti_sweep.csv`` (design objective, deviation, ED optimisation,
wire models), so their eight rows are rows of this grid. The columns are CACTI's own outputs:
dynamic read and write energy per access (nJ), leakage power of the bank (mW) and area (mm^2).

CACTI is the one from the PyPI package ``zigzag-dse`` (``zigzag/cacti/cacti_master``, built with
``make opt``); its version string is written into the CSV's header comment.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "hwsim" / "hardware" / "data" / "sram_cacti45.csv"

# Capacities: 64 B .. 64 MiB per bank, powers of two; words 8 .. 512 bits.
CAPACITIES = [2**k for k in range(6, 27)]
WORD_BITS = [8, 16, 32, 64, 128, 256, 512]
PORTS = ("1rw", "1r1w", "1rw1r1w")
# (read-write, exclusive read, exclusive write) ports. The Bit Fusion authors' rows are
# "1r1w" (their read-write port 0) and "1rw1r1w" (their read-write port 1).
PORT_COUNTS = {"1rw": (1, 0, 0), "1r1w": (0, 1, 1), "1rw1r1w": (1, 1, 1)}
TECH_UM = 0.045

USER = """\
-size (bytes) {size}
-block size (bytes) {block}
-associativity 1
-read-write port {rw}
-exclusive read port {er}
-exclusive write port {ew}
-single ended read ports 0
-UCA bank count 1
-technology (u) {tech}
-output/input bus width {bus}
-cache type "ram"
"""


def baseline(cacti: Path) -> str:
    """The fixed settings: zigzag-dse's ``CactiConfig.baseline_config``, read from the CACTI
    folder at run time, with the optimisation target and objectives of the Bit Fusion authors'
    sweep (:data:`AUTHORS`); the rest (itrs-hp, 360 K, ECC, semi-global wires, L3, 8 cores)
    already equals theirs. With these, all eight rows of their ``sram/cacti_sweep.csv`` come
    out to the printed digit."""
    sys.path.insert(0, str(cacti.parent))
    try:
        from cacti_config_creator import CactiConfig
    finally:
        sys.path.pop(0)
    text = "".join(CactiConfig().baseline_config)
    # The Bit Fusion authors' sweep optimises energy-delay (not ED^2) with these objectives.
    for key, value in AUTHORS.items():
        lines = [ln for ln in text.splitlines() if ln.startswith(key)]
        if len(lines) != 1:
            raise SystemExit(f"CACTI baseline: expected one {key!r} line, found {len(lines)}")
        text = text.replace(lines[0], f"{key}{value}")
    return text


AUTHORS = {
    "-Optimize ED or ED^2 (ED, ED^2, NONE):": ' "ED"',
    "-design objective (weight delay, dynamic power, leakage power, cycle time, area)": (
        " 0:100:1000:0:100"
    ),
    "-deviate (delay, dynamic power, leakage power, cycle time, area)": (
        " 20:100000:100000:100000:100000"
    ),
    "-NUCAdesign objective (weight delay, dynamic power, leakage power, cycle time, area)": (
        " 0:100:1000:0:100"
    ),
    "-NUCAdeviate (delay, dynamic power, leakage power, cycle time, area)": (
        " 10:10000:10000:10000:10000"
    ),
    "-Print level (DETAILED, CONCISE) -": ' "CONCISE"',
}

_BASE: list[str] = [""]

FIELDS = {
    "read_nj": r"Total dynamic read energy per access \(nJ\):\s*([0-9.eE+-]+)",
    "write_nj": r"Total dynamic write energy per access \(nJ\):\s*([0-9.eE+-]+)",
    "leak_mw": r"Total leakage power of a bank \(mW\):\s*([0-9.eE+-]+)",
    "height_mm": r"Cache height x width \(mm\):\s*([0-9.eE+-]+)",
    "width_mm": r"Cache height x width \(mm\):\s*[0-9.eE+-]+\s*x\s*([0-9.eE+-]+)",
}


def run_cacti(cacti: Path, size: int, word_bits: int, ports: str) -> dict[str, float] | None:
    """One CACTI run; None where CACTI finds no organisation for the bank."""
    rw, er, ew = PORT_COUNTS[ports]
    cfg = _BASE[0] + USER.format(
        size=size, block=word_bits // 8, bus=word_bits, rw=rw, er=er, ew=ew, tech=TECH_UM
    )
    # CACTI reads its tech files relative to its own folder: run it there.
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", dir=cacti.parent, delete=False) as f:
        f.write(cfg)
        name = f.name
    try:
        res = subprocess.run(
            [str(cacti), "-infile", os.path.basename(name)],
            cwd=cacti.parent,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        os.unlink(name)
        for extra in (name + ".out",):
            if os.path.exists(extra):
                os.unlink(extra)
    out = res.stdout
    vals = {}
    for key, pat in FIELDS.items():
        m = re.search(pat, out)
        if m is None:
            return None
        vals[key] = float(m.group(1))
    return vals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cacti", type=Path, required=True, help="the built cacti binary")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    cacti = args.cacti.resolve()
    _BASE[0] = baseline(cacti)
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
