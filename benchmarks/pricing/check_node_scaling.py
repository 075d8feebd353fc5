"""How far the Stillmaker-Baas node factors hwsim applies to SRAM are from CACTI's own nodes.

    python benchmarks/pricing/check_node_scaling.py --cacti /path/to/cacti

hwsim ships CACTI at 45 nm and scales buffers to other nodes with the Stillmaker-Baas factors
(energy f_E, area f_A, leakage f_P), like the logic. CACTI itself models 32, 65 and 90 nm; this
runs a few banks (64-bit words, one read and one write port) at each node and at 45 nm and
writes CACTI's ratio beside the factor hwsim uses, to
``benchmarks/results/sram_node_scaling.csv``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import make_sram_table as table
import pandas as pd

from hwsim.hardware import pricing

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cacti", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/sram_node_scaling.csv")
    args = ap.parse_args()
    cacti = args.cacti.resolve()
    rows = []
    for size in (4096, 65536, 1048576):
        table.TECH_UM = 0.045
        base = table.run_cacti(cacti, size, 64, "1r1w")
        for nm in (32, 65, 90):
            table.TECH_UM = nm / 1000
            r = table.run_cacti(cacti, size, 64, "1r1w")
            area = r["height_mm"] * r["width_mm"] / (base["height_mm"] * base["width_mm"])
            rows.append(
                {
                    "bank_bytes": size,
                    "node_nm": nm,
                    "cacti_read_ratio": r["read_nj"] / base["read_nj"],
                    "hwsim_energy_factor": pricing.energy_factor(nm),
                    "cacti_area_ratio": area,
                    "hwsim_area_factor": pricing.area_factor(nm),
                    "cacti_leakage_ratio": r["leak_mw"] / base["leak_mw"],
                    "hwsim_power_factor": pricing.power_factor(nm),
                }
            )
    df = pd.DataFrame(rows)
    df["load_1min"] = os.getloadavg()[0]
    df.to_csv(args.out, index=False, float_format="%.4g")
    print(df.to_string(index=False))


if __name__ == "__main__":
    main()
