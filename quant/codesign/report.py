"""A codesign run as text: the fixed-width table the CLI prints, and the run folder
(``report.md``, ``results.csv``, ``policy.json``, ``policies.json``, the two plots)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from hwsim.io import atomic_write_text
from hwsim.markdown import markdown_table
from quant.codesign.plots import plot_bits, plot_pareto
from quant.codesign.run import CodesignResult
from quant.search.hardware_aware import REPORT_KEYS


def format_table(df: pd.DataFrame) -> str:
    """The comparison as a fixed-width text table (accuracy, latency, energy, memory)."""
    cols = [
        ("method", "method", "{}"),
        ("accuracy", "acc %", "{:.2f}"),
        ("latency_s", "latency us", "{:.3f}"),
        ("latency_vs_8bit", "lat/8b", "{:.3f}"),
        ("energy_j", "energy uJ", "{:.3f}"),
        ("weight_bits", "w mem KiB", "{:.2f}"),
        ("within_budget", "in budget", "{}"),
    ]
    scale = {"accuracy": 100.0, "latency_s": 1e6, "energy_j": 1e6, "weight_bits": 1 / 8192}
    cells = [[h for _, h, _ in cols]]
    for _, r in df.iterrows():
        cells.append([f.format(r[k] * scale.get(k, 1) if k in scale else r[k]) for k, _, f in cols])
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    lines = [
        "  ".join(
            c[i].ljust(widths[i]) if i == 0 else c[i].rjust(widths[i]) for i in range(len(cols))
        )
        for c in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def write_run(result: CodesignResult, out: str | Path) -> Path:
    """Write ``report.md``, ``results.csv``, ``policy.json`` (the hardware-aware policy),
    ``policies.json`` (every method), ``pareto.png`` and ``bits.png`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.csv", result.results.to_csv(index=False))
    result.policies[result.chosen].save(out / "policy.json")
    atomic_write_text(
        out / "policies.json",
        json.dumps({k: p.to_dict() for k, p in result.policies.items()}, indent=2) + "\n",
    )
    plot_pareto(result, out / "pareto.png")
    plot_bits(result, out / "bits.png")
    atomic_write_text(out / "report.md", report_markdown(result))
    return out


def report_markdown(result: CodesignResult) -> str:
    cfg = result.config
    budgets = ", ".join(
        f"{m} <= {r:g} x uniform 8-bit ({result.budgets[m]:.4g} {REPORT_KEYS[m].split('_')[-1]})"
        for m, r in cfg.budgets.items()
    )
    bits = pd.DataFrame(
        {"layer": list(result.layer_names)}
        | {
            k: [f"w{p[n][0]}a{p[n][1]}" for n in result.layer_names]
            for k, p in result.policies.items()
            if not k.startswith("uniform")
        }
    )
    lines = [
        f"# hwsim codesign: {cfg.model} on {cfg.data}, hardware `{result.hardware_name}`",
        "",
        f"- method: `{cfg.method}`; budget: {budgets}",
        f"- float baseline accuracy: {100 * result.baseline_accuracy:.2f} %",
        f"- candidates: w, a in {list(cfg.candidates)}; fine-tuning: {cfg.epochs} epochs at "
        f"lr {cfg.lr:g}; seed {cfg.seed}",
        f"- wall time: {result.seconds:.1f} s",
        "",
        "## Results (same hardware, same fine-tuning for every policy)",
        "",
        "```",
        format_table(result.results),
        "```",
        "",
        _frame_table(result.results),
        "",
        "![accuracy vs simulated latency](pareto.png)",
        "",
        "## Per-layer bits",
        "",
        _frame_table(bits),
        "",
        "![per-layer bits](bits.png)",
        "",
    ]
    if result.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in result.notes], ""]
    lines += ["## Config", "", "```json", json.dumps(asdict(cfg), indent=2), "```", ""]
    return "\n".join(lines)


def _frame_table(df: pd.DataFrame) -> str:
    return markdown_table(df.columns, df.itertuples(index=False))
