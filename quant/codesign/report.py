"""A codesign run as text: the fixed-width table the CLI prints, and the run folder
(``report.md``, ``results.csv``, ``policy.json``, ``policies.json``, the two plots)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from hwsim.io import atomic_write_text
from hwsim.markdown import markdown_table
from hwsim.policy import bits_label
from quant.codesign.plots import AXES, plot_bits, plot_pareto
from quant.codesign.run import CodesignResult

_RATIO_HEADERS = {"latency": "lat/8b", "energy": "energy/8b", "memory": "mem/8b"}


def format_table(df: pd.DataFrame, budgets: Mapping[str, float] | None = None) -> str:
    """The comparison as a fixed-width text table: accuracy, latency, energy and weight memory
    (each unit scaled to fit its column), then each budgeted metric relative to uniform 8-bit
    (its header carries the budget, ``energy/8b<=0.5``; ``None``: latency) and whether the
    policy fits every budget."""
    from hwsim.units import align_columns, column_scale

    budgets = dict(budgets) if budgets else {"latency": None}
    columns = [  # (key, header, unit, factor to the unit)
        ("latency_s", "latency", "s", 1.0),
        ("energy_j", "energy", "J", 1.0),
        ("weight_bits", "w_mem", "B", 1 / 8),
    ]
    ratios = [
        (f"{m}_vs_8bit", _RATIO_HEADERS[m] + ("" if r is None else f"<={r:g}"))
        for m, r in budgets.items()
    ]
    header = ["method", "acc %", *[c[1] for c in columns], *[h for _, h in ratios], "in budget"]
    body = [[str(m), f"{100 * a:.2f}"] for m, a in zip(df["method"], df["accuracy"], strict=True)]
    for i, (key, name, unit, factor) in enumerate(columns):
        divisor, label = column_scale(df[key] * factor, unit)
        header[2 + i] = f"{name}[{label}]"
        for row, v in zip(body, df[key] * factor, strict=True):
            row.append(f"{v / divisor:.4g}")
    for i, row in enumerate(body):
        row += [f"{df[key].iloc[i]:.3f}" for key, _ in ratios]
        row.append(str(bool(df["within_budget"].iloc[i])))
    return align_columns([header, *body], rules=(1,))


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
    from hwsim.units import format_quantity

    cfg = result.config
    budgets = ", ".join(
        f"{m} <= {r:g} x uniform 8-bit "
        f"({format_quantity(result.budgets[m] * AXES[m][3], AXES[m][2])})"
        for m, r in cfg.budgets.items()
    )
    axis_name = AXES[next(iter(cfg.budgets), "latency")][1]
    bits = pd.DataFrame(
        {"layer": list(result.layer_names)}
        | {
            k: [bits_label(*p[n]) for n in result.layer_names]
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
        f"- wall time: {result.seconds:.1f} s"
        + (f" (resumed: reused {', '.join(result.reused)})" if result.reused else ""),
        "",
        "## Results (same hardware, same fine-tuning for every policy)",
        "",
        "```",
        format_table(result.results, cfg.budgets),
        "```",
        "",
        _frame_table(result.results),
        "",
        f"![accuracy vs {axis_name}](pareto.png)",
        "",
        "## Per-layer bits",
        "",
        *(
            [
                f"{len(result.products)} row(s) are activation x activation products "
                f"({', '.join(f'`{n}`' for n in result.products[:4])}"
                f"{', ...' if len(result.products) > 4 else ''}): no weights; `w` is the "
                "bits of the second operand (keys, values), `a` of the first, both searched.",
                "",
            ]
            if result.products
            else []
        ),
        _frame_table(bits),
        "",
        "![per-layer bits](bits.png)",
        "",
    ]
    if result.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in result.notes], ""]
    from quant.codesign.stages import resolved, with_runtime

    config = json.dumps(with_runtime(resolved(asdict(cfg)), result.runtime), indent=2, default=str)
    lines += ["## Config", "", "```json", config, "```", ""]
    return "\n".join(lines)


def _frame_table(df: pd.DataFrame) -> str:
    return markdown_table(df.columns, df.itertuples(index=False))
