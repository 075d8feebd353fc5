"""The run folder's figures (matplotlib, Agg): accuracy against simulated latency, and the
per-layer bits of every searched policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quant.codesign.run import CodesignResult


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pareto(result: CodesignResult, path: str | Path) -> Path:
    """Accuracy against simulated latency, one marker per method, the budget as a line."""
    plt = _pyplot()
    df = result.results
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for _, r in df.iterrows():
        style = (
            ("s", "tab:gray")
            if r["method"].startswith("uniform")
            else (("*", "tab:red") if r["method"] == result.chosen else ("o", "tab:blue"))
        )
        ax.scatter(
            r["latency_s"] * 1e6,
            100 * r["accuracy"],
            marker=style[0],
            c=style[1],
            s=120 if style[0] == "*" else 50,
            zorder=3,
        )
        ax.annotate(
            r["method"],
            (r["latency_s"] * 1e6, 100 * r["accuracy"]),
            fontsize=7,
            xytext=(4, 4),
            textcoords="offset points",
        )
    if "latency" in result.budgets:
        ax.axvline(result.budgets["latency"] * 1e6, ls="--", c="k", lw=1, label="latency budget")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel(f"simulated latency on {result.hardware_name} (us)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{result.config.model}: accuracy vs simulated latency")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_bits(result: CodesignResult, path: str | Path) -> Path:
    """Per-layer weight and activation bits of each searched (non-uniform) policy."""
    plt = _pyplot()
    searched = {k: p for k, p in result.policies.items() if not k.startswith("uniform")}
    names = result.layer_names
    x = np.arange(len(names))
    width = 0.8 / max(len(searched), 1)
    fig, axes = plt.subplots(2, 1, figsize=(max(6.4, 0.6 * len(names)), 5.2), sharex=True)
    for side, ax in enumerate(axes):
        for k, (label, p) in enumerate(searched.items()):
            ax.bar(
                x + (k - (len(searched) - 1) / 2) * width,
                [p[n][side] for n in names],
                width,
                label=label,
            )
        ax.set_ylabel(("weight", "activation")[side] + " bits")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7)
    axes[1].set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    axes[0].set_title(f"per-layer bits on {result.hardware_name}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
