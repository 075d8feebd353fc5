"""Transformers on the accelerator models: BERT-base inference and Llama-3.2-1B-shaped prefill
and decode, on two presets, at 8-bit weights and activations (act x act rows: both operands
at 8 bits).

Everything here is simulated (the analytic cost models), not measured on hardware. BERT-base is
one encoder pass over 128 tokens; Llama prefill is ``--seq-len`` tokens with last-position
logits, decode one token against a ``--seq-len`` KV cache (``models.llm_phase_costs``).
Columns: latency, energy, total DRAM bytes, the weights' bytes at the run width and the KV
cache's at the run's activation width (each read once: a floor inside the total), tokens per
second, MACs.

    python benchmarks/llm_phases.py [--seq-len 1024]
"""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

import pandas as pd

import models
from hwsim import BitPolicy, simulate
from hwsim.io import atomic_write_text

RESULTS = Path(__file__).parent / "results" / "llm_phases.csv"
PRESETS = ("stripes", "bitfusion")
BITS = (8, 8)


def bert_costs(preset: str) -> dict[str, float]:
    wl = models.extract_workload(
        models.build("bert_base"), models.example_input("bert_base"), name="bert_base"
    )
    report = simulate(wl, BitPolicy.uniform(wl, *BITS), preset)
    held = report.layers["weight_bits"].to_numpy() / 8  # act x act rows store no weights
    latency = float(report.totals["latency_s"])
    return {
        "latency_s": latency,
        "energy_j": float(report.totals["energy_j"]),
        "dram_bytes": float(report.totals["dram_bytes"]),
        "weight_bytes": float(held[~wl.is_act_matmul].sum()),
        "kv_cache_bytes": 0.0,
        "tokens_per_s": 128 / latency,
        "macs": float(wl.total_macs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=1024, help="Llama context (default 1024)")
    args = parser.parse_args()
    rows = []
    for preset in PRESETS:
        rows.append(
            {
                "model": "bert_base",
                "phase": "encode (128 tokens)",
                "hardware": preset,
                **bert_costs(preset),
            }
        )
        llama = models.llm_phase_costs("llama3_1b", preset, BITS, seq_len=args.seq_len)
        for phase, costs in llama.items():
            rows.append(
                {
                    "model": "llama3_1b",
                    "phase": f"{phase} ({args.seq_len})",
                    "hardware": preset,
                    **costs,
                }
            )
    from _provenance import stamp

    df = stamp(pd.DataFrame(rows))
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.6g")
    atomic_write_text(RESULTS, buf.getvalue())
    print(df.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"load average {os.getloadavg()[0]:.1f}; wrote {RESULTS}")


if __name__ == "__main__":
    main()
