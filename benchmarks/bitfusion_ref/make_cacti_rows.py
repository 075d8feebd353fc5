"""Extend the Bit Fusion authors' CACTI table with the same tool and the same settings.

The authors' simulator (github hsharma35/bitfusion) prices each on-chip buffer bank from
``bitfusion/sram/cacti_sweep.csv``: eight CACTI 7 runs at 45 nm, one per bank size its
default configurations use. For any other bank it would run CACTI itself with the settings in
``bitfusion/sram/default.json`` (``CactiSweep._run_cacti``). This script does that run for a
grid of bank sizes, word widths and port sets, with those settings written the same way
(every key of ``default.json`` as ``-key value``, the bank's size, block size and read-write
port, the bus width set to the block), and first checks that the binary reproduces the
authors' eight rows (energies and leakage to every printed digit, area to 1e-4), so the
extension is the same tool, not a look-alike.

    python benchmarks/bitfusion_ref/make_cacti_rows.py --bitfusion /path/to/bitfusion \\
        --cacti /path/to/cacti/cacti [--out hwsim/hardware/data/bitfusion_cacti_ext.csv]

The binary used for the committed table is CACTI 7.0.3 as shipped inside the PyPI package
``zigzag-dse`` (``zigzag/cacti/cacti_master``, built with ``make``); it gives the authors' rows
back, as checked above. Where CACTI finds no organisation for a bank (the smallest ones) the
row is left out, and hwsim raises for a buffer that would need it.

Columns (CACTI's own outputs): bank size and block size in bytes, read-write port (0: one
exclusive read and one exclusive write port; 1: a read-write port as well), dynamic read and
write energy per access (nJ), leakage power of the bank (mW), gate leakage (mW), height and
width (mm) and their product, the area (mm^2; the authors' table has CACTI's own area,
which agrees with the product to 1e-4).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

OUT = (
    Path(__file__).resolve().parents[2] / "hwsim" / "hardware" / "data" / "bitfusion_cacti_ext.csv"
)

# Bank sizes 16 B .. 4 MiB (powers of two), blocks of 1, 2, 4 and 16 bytes (the words of
# max_bits^2/min_bits bits the simulator banks at: 8/8, 4/2 -> 8 bits; 16/16 -> 16 bits;
# 8/2 -> 32 bits; 16/2 -> 128 bits), both port settings the simulator asks for.
SIZES = [2**k for k in range(4, 23)]
BLOCKS = [1, 2, 4, 16]
PORTS = [0, 1]

PATTERNS = {
    "read_energy_nJ": r"Total dynamic read energy per access \(nJ\):\s*([0-9.eE+-]+)",
    "write_energy_nJ": r"Total dynamic write energy per access \(nJ\):\s*([0-9.eE+-]+)",
    "leak_power_mW": r"Total leakage power of a bank \(mW\):\s*([0-9.eE+-]+)",
    "gate_leak_power_mW": r"Total gate leakage power of a bank \(mW\):\s*([0-9.eE+-]+)",
    "height_mm": r"Cache height x width \(mm\):\s*([0-9.eE+-]+)",
    "width_mm": r"Cache height x width \(mm\):\s*[0-9.eE+-]+\s*x\s*([0-9.eE+-]+)",
}
COLUMNS = [
    "size (bytes)",
    "block size (bytes)",
    "read-write port",
    "read_energy_nJ",
    "write_energy_nJ",
    "leak_power_mW",
    "gate_leak_power_mW",
    "height_mm",
    "width_mm",
    "area_mm^2",
]


def run(cacti: Path, defaults: dict, size: float, block: float, port: int) -> dict | None:
    cfg = dict(defaults)
    cfg.update({"technology (u)": 0.045, "size (bytes)": size, "block size (bytes)": block})
    cfg["read-write port"] = port
    cfg["output/input bus width"] = block * 8
    with tempfile.TemporaryDirectory(prefix="bf_cacti_") as tmp:
        path = os.path.join(tmp, "sweep.cfg")
        with open(path, "w") as f:
            for key, value in cfg.items():
                if value is not None:
                    f.write(f"-{key} {value}\n")
        # CACTI reads its technology files relative to its own folder.
        res = subprocess.run(
            ["./" + cacti.name, "-infile", path],
            cwd=cacti.parent,
            capture_output=True,
            text=True,
            timeout=900,
        )
    row: dict = {"size (bytes)": size, "block size (bytes)": block, "read-write port": port}
    for key, pat in PATTERNS.items():
        m = re.search(pat, res.stdout)
        if m is None:
            return None
        row[key] = m.group(1)
    row["area_mm^2"] = repr(float(row["height_mm"]) * float(row["width_mm"]))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bitfusion", type=Path, required=True, help="checkout of the simulator")
    ap.add_argument("--cacti", type=Path, required=True, help="the built CACTI 7 binary")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    cacti = args.cacti.resolve()
    sram = args.bitfusion / "bitfusion" / "sram"
    defaults = json.loads((sram / "default.json").read_text())
    with (sram / "cacti_sweep.csv").open() as f:
        authors = list(csv.DictReader(f))

    # The binary must give the authors' rows back exactly.
    for a in authors:
        size, block, port = float(a["size (bytes)"]), float(a["block size (bytes)"]), 0
        port = int(a["read-write port"])
        got = run(cacti, defaults, size, block, port)
        assert got is not None, a
        # The authors' CSV went through pandas: compare at CACTI's six printed digits.
        for key in ("read_energy_nJ", "write_energy_nJ", "leak_power_mW", "gate_leak_power_mW"):
            assert math.isclose(float(got[key]), float(a[key]), rel_tol=1e-9), (key, got, a)
        # Their area is CACTI's own product, printed to six digits; ours is height x width.
        assert math.isclose(float(got["area_mm^2"]), float(a["area_mm^2"]), rel_tol=1e-4), got
    print(f"CACTI reproduces the authors' {len(authors)} rows (energies, leakage exactly)")

    grid = [
        (float(s), float(b), p)
        for s, b, p in itertools.product(SIZES, BLOCKS, PORTS)
        if s >= 4 * b  # a bank of at least four words
    ]
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda g: run(cacti, defaults, *g), grid))
    version = re.search(r"CACTI \(version ([^)]*)\)", _banner(cacti, defaults))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        f.write(
            f"# CACTI {version.group(1) if version else '?'}, 45 nm, with the settings of the Bit "
            "Fusion authors' bitfusion/sram/default.json (their CactiSweep run); it reproduces "
            "their sram/cacti_sweep.csv rows exactly. Made by "
            "benchmarks/bitfusion_ref/make_cacti_rows.py.\n"
        )
        w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            if r is not None:
                w.writerow(r)
    missing = [g for g, r in zip(grid, rows, strict=True) if r is None]
    print(f"wrote {args.out}: {len(rows) - len(missing)} rows; no organisation for {missing}")


def _banner(cacti: Path, defaults: dict) -> str:
    cfg = dict(defaults)
    cfg.update({"size (bytes)": 128.0, "block size (bytes)": 4.0, "output/input bus width": 32.0})
    with tempfile.TemporaryDirectory(prefix="bf_cacti_") as tmp:
        path = os.path.join(tmp, "v.cfg")
        with open(path, "w") as f:
            for key, value in cfg.items():
                if value is not None:
                    f.write(f"-{key} {value}\n")
        return subprocess.run(
            ["./" + cacti.name, "-infile", path], cwd=cacti.parent, capture_output=True, text=True
        ).stdout


if __name__ == "__main__":
    main()
