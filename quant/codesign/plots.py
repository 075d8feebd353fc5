"""The run folder's figures (matplotlib, Agg): accuracy against the budgeted metric, and the
per-layer bits of every searched policy beside the bits the hardware ran."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from quant.codesign.run import CodesignResult
from quant.search.hardware_aware import REPORT_KEYS

# Budget name -> (results column, axis name, unit, factor to that unit).
AXES = {
    "latency": (REPORT_KEYS["latency"], "simulated latency", "s", 1.0),
    "energy": (REPORT_KEYS["energy"], "simulated energy", "J", 1.0),
    "memory": (REPORT_KEYS["memory"], "weight memory", "B", 1 / 8),  # a bit count
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _category(method: str, chosen: str) -> tuple[str, str, str, int]:
    """(legend entry, marker, colour, size) of one row of the comparison."""
    if method.startswith("uniform"):
        return "uniform bits", "s", "tab:gray", 45
    if method == chosen:
        return "searched on simulated cost", "*", "tab:red", 160
    if method.endswith("+ repair"):
        return "searched on the proxy, repaired", "^", "tab:green", 55
    return "searched on the proxy", "o", "tab:blue", 50


def plot_pareto(result: CodesignResult, path: str | Path) -> Path:
    """Accuracy against the first budgeted metric (latency, energy or memory), one marker
    per kind of policy in the legend, the budget as a line, every point labelled in free
    space inside the axes."""
    plt = _pyplot()
    fig = pareto_figure(result, plt)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def pareto_figure(result: CodesignResult, plt=None):
    """The figure :func:`plot_pareto` saves (kept open for inspection)."""
    from hwsim.units import column_scale

    plt = plt or _pyplot()
    df = result.results
    metric = next(iter(result.config.budgets), "latency")
    key, axis_name, unit, factor = AXES[metric]
    values = df[key].to_numpy(float) * factor
    budget = result.budgets.get(metric)
    budget_value = None if budget is None else budget * factor
    divisor, label = column_scale([*values, budget_value or 0.0], unit)
    xs, ys = values / divisor, 100 * df["accuracy"].to_numpy(float)

    fig, ax = plt.subplots(figsize=(7.5, 4.6), layout="constrained")
    seen = set()
    for x, y, method in zip(xs, ys, df["method"], strict=True):
        entry, marker, colour, size = _category(method, result.chosen)
        ax.scatter(
            x, y, marker=marker, c=colour, s=size, zorder=3, label=None if entry in seen else entry
        )
        seen.add(entry)
    if budget_value is not None:
        ax.axvline(budget_value / divisor, ls="--", c="k", lw=1, label=f"{metric} budget")
    base = 100 * float(result.baseline_accuracy)
    ax.axhline(base, ls=":", c="tab:purple", lw=1.2, label=f"float baseline ({base:.2f} %)")
    # Room for labels: pad the data limits so a label never needs to leave the frame.
    _pad_limits(
        ax, xs, np.append(ys, base), budget_value / divisor if budget_value is not None else None
    )
    place_labels(ax, xs, ys, list(df["method"]))
    ax.set_xlabel(f"{axis_name} on {result.hardware_name} [{label}]")
    ax.set_ylabel("test accuracy [%]")
    ax.set_title(f"{result.config.model}: accuracy vs {axis_name}")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    return fig


def _pad_limits(ax, xs: np.ndarray, ys: np.ndarray, budget: float | None) -> None:
    x_all = np.append(xs, budget) if budget is not None else xs
    x_lo, x_hi = float(x_all.min()), float(x_all.max())
    y_lo, y_hi = float(ys.min()), float(ys.max())
    dx = (x_hi - x_lo) or abs(x_hi) or 1.0
    dy = (y_hi - y_lo) or 1.0
    ax.set_xlim(x_lo - 0.08 * dx, x_hi + 0.45 * dx)  # labels go right of points by preference
    ax.set_ylim(y_lo - 0.25 * dy, y_hi + 0.25 * dy)


def place_labels(ax, xs: Sequence[float], ys: Sequence[float], texts: Sequence[str]) -> list:
    """Annotate each point with its text at the first of a ring of offsets where the label
    overlaps no label placed before, no marker, and stays inside the axes; the offset ring
    grows until one fits. Returns the annotations (greedy, in order: fine for a dozen)."""
    fig = ax.figure
    fig.canvas.draw()  # fixes the transforms the extents are measured in
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    points = [ax.transData.transform((x, y)) for x, y in zip(xs, ys, strict=True)]
    taken: list = []
    placed = []
    directions = [(1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)]
    for (x, y), text in zip(zip(xs, ys, strict=True), texts, strict=True):
        best = None
        for radius in (6, 12, 20, 30, 44, 60):
            for dx, dy in directions:
                offset = (dx * radius, dy * radius)
                ha = "left" if dx > 0 else "right" if dx < 0 else "center"
                va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
                ann = ax.annotate(
                    text,
                    (x, y),
                    xytext=offset,
                    textcoords="offset points",
                    fontsize=7,
                    ha=ha,
                    va=va,
                    arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.5"}
                    if radius > 12
                    else None,
                )
                box = ann.get_window_extent(renderer).expanded(1.04, 1.15)
                inside = (
                    box.x0 >= frame.x0
                    and box.x1 <= frame.x1
                    and box.y0 >= frame.y0
                    and box.y1 <= frame.y1
                )
                clear = not any(box.overlaps(t) for t in taken) and not any(
                    box.contains(px, py) for px, py in points
                )
                if inside and clear:
                    best = (ann, box)
                    break
                ann.remove()
            if best:
                break
        if best is None:  # crowded beyond the ring: put it right of its point anyway
            ann = ax.annotate(text, (x, y), xytext=(6, 6), textcoords="offset points", fontsize=7)
            best = (ann, ann.get_window_extent(renderer))
        placed.append(best[0])
        taken.append(best[1])
    return placed


def plot_bits(result: CodesignResult, path: str | Path) -> Path:
    """Per-layer weight and activation bits of each searched (non-uniform) policy: filled bars
    are the bits asked for, outlines above them the bits the hardware ran (``w_bits_run``,
    ``a_bits_run`` from its cost model, e.g. Bit Fusion runs 6 bits as 8)."""
    plt = _pyplot()
    fig = bits_figure(result, plt)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def bits_figure(result: CodesignResult, plt=None):
    """The figure :func:`plot_bits` saves (kept open for inspection)."""
    plt = plt or _pyplot()
    searched = {k: p for k, p in result.policies.items() if not k.startswith("uniform")}
    names = result.layer_names
    x = np.arange(len(names))
    width = 0.8 / max(len(searched), 1)
    fig, axes = plt.subplots(
        2, 1, figsize=(max(7.0, 0.6 * len(names)), 5.6), sharex=True, layout="constrained"
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for side, ax in enumerate(axes):
        for k, (label, p) in enumerate(searched.items()):
            pos = x + (k - (len(searched) - 1) / 2) * width
            asked = [p[n][side] for n in names]
            ran = [result.run_bits.get(label, {}).get(n, p[n])[side] for n in names]
            colour = colours[k % len(colours)]
            ax.bar(pos, asked, width, color=colour, label=label)
            ax.bar(
                pos,
                ran,
                width,
                fill=False,
                edgecolor=colour,
                hatch="///",
                lw=0.8,
                label=None,
                gid="ran",
            )
        # A product's pair is its two operands' bits: the second takes the weight's place.
        second = "weight (products: 2nd operand)" if result.products else "weight"
        ax.set_ylabel((second, "activation")[side] + " bits")
        ax.grid(axis="y", alpha=0.3)
    from matplotlib.patches import Patch

    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(Patch(fill=False, hatch="///", edgecolor="0.3"))
    labels.append(f"hatched: the bits {result.hardware_name} ran, where above those asked")
    fig.legend(handles, labels, fontsize=7, loc="outside lower center", ncols=2, frameon=False)
    axes[1].set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    axes[0].set_title(f"per-layer bits asked for (filled) and run on {result.hardware_name}")
    return fig
