"""The joint run's folder: ``designs.csv``, each Pareto design's ``policy.json`` and
``hardware.toml`` (read back by ``hwsim simulate --hardware``), ``report.md``,
``accuracy_latency.png`` (accuracy against latency, area as colour) and ``run.json`` (counts and
the time of each stage)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from hwsim.io import atomic_write_text, hardware_toml
from hwsim.markdown import markdown_table
from quant.codesign.budgets import describe
from quant.codesign.joint import JointResult
from quant.codesign.stages import with_runtime


def design_folder(result: JointResult, h: int) -> str:
    """``pareto/d007-stripes``: where design ``h``'s files go, relative to the run folder."""
    width = max(3, len(str(len(result.hardware) - 1)))
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in result.hardware[h].name)
    return f"pareto/d{h:0{width}d}-{name}"


def write_joint(result: JointResult, out: str | Path) -> Path:
    """Write the run folder (module docstring) into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "designs.csv", result.designs.to_csv(index=False))
    for h in result.pareto:
        folder = out / design_folder(result, h)
        folder.mkdir(parents=True, exist_ok=True)
        result.policies[h].save(folder / "policy.json")
        atomic_write_text(folder / "hardware.toml", hardware_toml(result.hardware[h]))
    plot_accuracy_latency(result, out / "accuracy_latency.png")
    counts = result.designs["status"].value_counts().to_dict()
    record = {
        "configurations": len(result.hardware),
        "designs": {str(k): int(v) for k, v in counts.items()},
        "pareto": len(result.pareto),
        "finetuned_designs": int(result.designs["accuracy"].notna().sum()),
        "best": result.best(),
        "seconds": round(result.seconds, 2),
        "stage_seconds": {k: round(v, 2) for k, v in result.stage_seconds.items()},
    }
    atomic_write_text(out / "run.json", json.dumps(record, indent=2) + "\n")
    atomic_write_text(out / "report.md", report_markdown(result))
    return out


def plot_accuracy_latency(result: JointResult, path: str | Path) -> Path:
    """Left: fine-tuned accuracy against latency, area as colour; right: every design's
    predicted loss against latency (Pareto designs ringed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hwsim.units import column_scale

    df = result.designs[result.designs["status"] == "ok"]
    divisor, unit = column_scale(df["latency_s"], "s")
    area = df["area_mm2"].to_numpy(float)
    has_area = np.isfinite(area).any()
    lo, hi = (np.nanmin(area), np.nanmax(area)) if has_area else (0.0, 1.0)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    tuned = df[df["accuracy"].notna()]
    colour = dict(cmap="viridis", vmin=lo, vmax=hi if hi > lo else lo + 1e-9)
    sc = left.scatter(
        tuned["latency_s"] / divisor,
        100 * tuned["accuracy"],
        c=tuned["area_mm2"] if has_area else "tab:blue",
        s=70,
        edgecolors="k",
        zorder=3,
        **(colour if has_area else {}),
    )
    for _, row in tuned.iterrows():
        left.annotate(
            f"d{int(row['design'])}",
            (row["latency_s"] / divisor, 100 * row["accuracy"]),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=8,
        )
    left.axhline(100 * result.baseline_accuracy, ls=":", c="gray", lw=1, label="float baseline")
    left.set_xlabel(f"simulated latency [{unit}]")
    left.set_ylabel("accuracy after fine-tuning [%]")
    left.set_title("fine-tuned Pareto designs")
    left.legend(loc="lower right", fontsize=8)
    pts = right.scatter(
        df["latency_s"] / divisor,
        df["predicted_loss"],
        c=df["area_mm2"] if has_area else "tab:blue",
        s=18,
        **(colour if has_area else {}),
    )
    front = df[df["pareto"]]
    right.scatter(
        front["latency_s"] / divisor,
        front["predicted_loss"],
        s=60,
        facecolors="none",
        edgecolors="r",
        label="Pareto (loss, latency, energy, area)",
    )
    right.set_xlabel(f"simulated latency [{unit}]")
    right.set_ylabel("predicted loss increase")
    right.set_title(f"all {len(df)} designs within budget")
    right.legend(loc="upper right", fontsize=8)
    if has_area:
        fig.colorbar(pts if len(tuned) == 0 else sc, ax=[left, right], label="area [mm²]")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def report_markdown(result: JointResult) -> str:
    from hwsim.units import format_quantity

    cfg = result.config
    df = result.designs
    counts = df["status"].value_counts().to_dict()
    budgets = "; ".join(
        f"{describe(m, v)} ({format_quantity(result.budgets[m] * _factor(m), _unit(m))})"
        for m, v in cfg.budgets.items()
    )
    best = result.best()
    shown = df[df["pareto"]].sort_values(["predicted_loss", "latency_s"])
    # The hardware fields that differ among the designs shown (the CSV has every one).
    varying = [
        c
        for c in shown.columns
        if c.startswith("hw.") and shown[c].astype(str).nunique() > 1 and shown[c].notna().all()
    ]
    cols = [
        "design",
        "family",
        *varying,
        "area_mm2",
        "latency_s",
        "energy_j",
        "predicted_loss",
        "mean_w_bits",
        "mean_a_bits",
        "accuracy",
    ]
    table = shown[cols].copy()
    for c in ("latency_s", "energy_j"):
        table[c] = [format_quantity(v, _unit(c)) for v in table[c]]
    table["accuracy"] = ["" if pd.isna(v) else f"{100 * v:.2f} %" for v in table["accuracy"]]
    table["predicted_loss"] = [f"{v:.4g}" for v in table["predicted_loss"]]
    table["area_mm2"] = ["" if pd.isna(v) else f"{v:.4g}" for v in table["area_mm2"]]
    for c in ("mean_w_bits", "mean_a_bits"):
        table[c] = [f"{v:.2f}" for v in table[c]]
    table.insert(
        1,
        "files",
        [
            f"[{design_folder(result, int(h))}]({design_folder(result, int(h))})"
            for h in table["design"]
        ],
    )
    lines = [
        f"# hwsim codesign, hardware and bits together: {cfg.model} on {cfg.data}",
        "",
        f"- space: {len(result.hardware)} hardware configurations "
        f"({', '.join(sorted(set(df['family'])))}); reference for the budgets: "
        f"`{result.reference.name}` at uniform w{cfg.reference[0]}a{cfg.reference[1]}",
        f"- budget: {budgets}"
        + (f"; area <= {cfg.max_area:g} mm²" if cfg.max_area is not None else "; no area limit"),
        f"- designs: {', '.join(f'{n} {s}' for s, n in counts.items())}; "
        f"{int(df['pareto'].sum())} on the Pareto front of predicted loss, latency, energy "
        "and area",
        f"- fine-tuned: {int(df['accuracy'].notna().sum())} designs "
        f"({min(cfg.finetune_top, int(df['pareto'].sum()))} distinct policies at most "
        f"{cfg.finetune_top}), {cfg.epochs if cfg.finetune_steps is None else cfg.finetune_steps}"
        f" {'epochs' if cfg.finetune_steps is None else 'steps'} at lr {cfg.lr:g}, seed "
        f"{cfg.seed}; float baseline {100 * result.baseline_accuracy:.2f} %",
        f"- candidates: w, a in {list(cfg.candidates)}; wall time {result.seconds:.1f} s ("
        + ", ".join(f"{k} {v:.1f} s" for k, v in result.stage_seconds.items())
        + ")",
        "",
    ]
    if best is not None:
        row = df.set_index("design").loc[best]
        lines += [
            f"**Best fine-tuned design: d{best}** (`{row['name']}`, {row['family']}): "
            f"accuracy {100 * row['accuracy']:.2f} %, latency "
            f"{format_quantity(row['latency_s'], 's')}, energy "
            f"{format_quantity(row['energy_j'], 'J')}"
            + ("" if pd.isna(row["area_mm2"]) else f", area {row['area_mm2']:.4g} mm²")
            + ".",
            "",
        ]
    lines += [
        "## Pareto designs",
        "",
        "Predicted loss is the sum of the chosen bits' measured loss increases over the float "
        "baseline; accuracy is empty where the design was not fine-tuned. Every design is in "
        "[designs.csv](designs.csv).",
        "",
        markdown_table(table.columns, table.itertuples(index=False)),
        "",
        "![accuracy against latency, area as colour](accuracy_latency.png)",
        "",
    ]
    if result.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in result.notes], ""]
    fields = with_runtime(asdict(cfg), result.runtime)
    record = {k: v for k, v in fields.items() if k not in ("hardware", "method_config")}
    lines += ["## Config", "", "```json", json.dumps(record, indent=2, default=str), "```", ""]
    return "\n".join(lines)


def _unit(metric: str) -> str:
    return {"latency": "s", "latency_s": "s", "energy": "J", "energy_j": "J", "memory": "B"}[metric]


def _factor(metric: str) -> float:
    return 1 / 8 if metric == "memory" else 1.0  # memory budgets count bits, shown in bytes
