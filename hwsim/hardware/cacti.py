"""Running CACTI itself (optional): one SRAM bank at a time.

hwsim ships a CACTI table (:mod:`hwsim.hardware.sram`); where a bank lies outside it and the
environment variable ``HWSIM_CACTI`` names a built ``cacti`` binary from the PyPI package
``zigzag-dse`` (``zigzag/cacti/cacti_master``, ``make opt``), the bank is run through CACTI
instead of raising. ``benchmarks/pricing/make_sram_table.py`` builds the shipped table with the
same function.

Settings: zigzag-dse's ``CactiConfig.baseline_config`` (read from the binary's folder) with the
optimisation target and objectives of the Bit Fusion authors' ``sram/cacti_sweep.csv``
(:data:`AUTHORS`); with them all eight of the authors' rows come out to the printed digit.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from hwsim.errors import HwsimError

ENV = "HWSIM_CACTI"

# (read-write, exclusive read, exclusive write) ports. The Bit Fusion authors' rows are
# "1r1w" (their read-write port 0) and "1rw1r1w" (their read-write port 1).
PORT_COUNTS: dict[str, tuple[int, int, int]] = {
    "1rw": (1, 0, 0),
    "1r1w": (0, 1, 1),
    "1rw1r1w": (1, 1, 1),
}

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

AUTHORS: dict[str, str] = {
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

FIELDS: dict[str, str] = {
    "read_nj": r"Total dynamic read energy per access \(nJ\):\s*([0-9.eE+-]+)",
    "write_nj": r"Total dynamic write energy per access \(nJ\):\s*([0-9.eE+-]+)",
    "leak_mw": r"Total leakage power of a bank \(mW\):\s*([0-9.eE+-]+)",
    "height_mm": r"Cache height x width \(mm\):\s*([0-9.eE+-]+)",
    "width_mm": r"Cache height x width \(mm\):\s*[0-9.eE+-]+\s*x\s*([0-9.eE+-]+)",
}


def installed() -> Path | None:
    """The CACTI binary ``HWSIM_CACTI`` names, or None."""
    path = os.environ.get(ENV)
    if not path:
        return None
    p = Path(path).resolve()
    if not p.is_file():
        raise HwsimError(ENV, path, "is not a file (the built cacti binary)")
    return p


@functools.lru_cache(maxsize=4)
def baseline(cacti: Path) -> str:
    """The fixed settings (see the module docstring), for the binary ``cacti``."""
    sys.path.insert(0, str(cacti.parent))
    try:
        from cacti_config_creator import CactiConfig  # zigzag-dse's, beside the binary
    except ImportError as exc:
        raise HwsimError(
            ENV, str(cacti), "needs zigzag-dse's cacti_config_creator.py beside the binary"
        ) from exc
    finally:
        sys.path.pop(0)
    text = "".join(CactiConfig().baseline_config)
    for key, value in AUTHORS.items():
        lines = [ln for ln in text.splitlines() if ln.startswith(key)]
        if len(lines) != 1:
            raise HwsimError(ENV, str(cacti), f"baseline has {len(lines)} lines {key!r}")
        text = text.replace(lines[0], f"{key}{value}")
    return text


@functools.lru_cache(maxsize=1024)
def run(
    cacti: Path, size: int, word_bits: int, ports: str, tech_um: float = 0.045
) -> dict[str, float] | None:
    """One bank through CACTI: ``read_nj``, ``write_nj``, ``leak_mw``, ``height_mm``,
    ``width_mm``; None where CACTI finds no organisation for it."""
    rw, er, ew = PORT_COUNTS[ports]
    cfg = baseline(cacti) + USER.format(
        size=size, block=word_bits // 8, bus=word_bits, rw=rw, er=er, ew=ew, tech=tech_um
    )
    # CACTI reads its technology files relative to its own folder: run it there.
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
        for path in (name, name + ".out"):
            if os.path.exists(path):
                os.unlink(path)
    vals = {}
    for key, pat in FIELDS.items():
        m = re.search(pat, res.stdout)
        if m is None:
            return None
        vals[key] = float(m.group(1))
    return vals
