"""The spread of one ``cost_table`` call, not only its best: min, median and 90th percentile.

``bench_costmodel.py`` reports the fastest of a few calls. A search calls ``cost_table`` again
and again at one size, so what it waits for is the typical call. Here the ResNet-50 table
(54 layers x 16 x 16 bit options, one config: 13,824 points, enough for Numba's thread pool)
is priced 300 times in a fresh process per setting of ``OMP_WAIT_POLICY``, the OpenMP
runtime's choice between spinning and sleeping between parallel regions (unset: the
runtime's default; ``PASSIVE``: sleep at once).

Run: ``python benchmarks/bench_costmodel_calls.py``; writes
``benchmarks/results/costmodel_calls.csv`` (with the commit and the load of the run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from _provenance import provenance

CALLS = 300
PRESETS = ("stripes", "cpu-bitserial")
POLICIES = ("default", "PASSIVE")

CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from bench_costmodel import build_workload
from hwsim.hardware import cost_table, load_hardware
wl = build_workload(("resnet50",))
bits = list(range(1, 17))
out = {}
for name in sys.argv[3:]:
    hw = load_hardware(name)
    cost_table(wl, hw, bits, bits)  # compile, warm
    ts = []
    for _ in range(int(sys.argv[2])):
        t = time.perf_counter()
        cost_table(wl, hw, bits, bits)
        ts.append(time.perf_counter() - t)
    out[name] = {"points": len(wl) * len(bits) ** 2, "seconds": ts}
print(json.dumps(out))
"""


def run(policy: str) -> dict:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    here = str(Path(__file__).resolve().parent)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, here, str(CALLS), *PRESETS],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    rows = []
    for policy in POLICIES:
        for name, r in run(policy).items():
            ms = pd.Series(r["seconds"]) * 1e3
            rows.append(
                {
                    "preset": name,
                    "omp_wait_policy": policy,
                    "points": r["points"],
                    "calls": CALLS,
                    "min_ms": ms.min(),
                    "median_ms": ms.median(),
                    "p90_ms": ms.quantile(0.9),
                    "points_per_s_at_median": r["points"] / (ms.median() / 1e3),
                    **provenance(),
                }
            )
    df = pd.DataFrame(rows)
    out = Path(__file__).resolve().parent / "results" / "costmodel_calls.csv"
    df.to_csv(out, index=False)
    print(df.to_string(index=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
