"""Plots of sweep results (matplotlib, Agg backend: files only, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sweeps.pareto import pareto


def plot_front(
    df: pd.DataFrame,
    x: str,
    y: str,
    path: str | Path,
    hue: str = "hw_family",
    senses: tuple[str, str] = ("min", "min"),
    title: str | None = None,
    log: bool = True,
) -> Path:
    """Scatter every point of ``df`` in the (x, y) plane, colored by ``hue``, with the Pareto
    front drawn as a step line; saved as a PNG at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = df[np.isfinite(df[x].to_numpy(float)) & np.isfinite(df[y].to_numpy(float))]
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    groups = ok.groupby(hue, sort=True) if hue in ok.columns else [("points", ok)]
    for label, g in groups:
        # Thin out huge groups for drawing; the front below uses every point.
        shown = g.sample(n=20000, random_state=0) if len(g) > 20000 else g
        ax.scatter(shown[x], shown[y], s=6, alpha=0.35, label=str(label), rasterized=True)
    front = pareto(ok, {x: senses[0], y: senses[1]})
    if len(front):
        ax.step(front[x], front[y], where="post", color="black", lw=1.2)
        ax.scatter(front[x], front[y], s=18, color="black", label="Pareto front", zorder=3)
    if log and (ok[x] > 0).all() and (ok[y] > 0).all() and len(ok):
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title or f"{y} vs {x} ({len(ok)} points, {len(front)} on the front)")
    ax.legend(fontsize=7, markerscale=2)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
