"""Plots of sweep results (matplotlib, Agg backend: files only, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sweeps.pareto import pareto

AXIS_LABELS: dict[str, tuple[str, str | None, float]] = {
    # result column: (axis name, unit (None: a plain number), factor to that unit)
    "latency_s": ("latency", "s", 1.0),
    "analytic_latency_s": ("latency, analytic model", "s", 1.0),
    "energy_j": ("energy", "J", 1.0),
    "compute_energy_j": ("compute energy", "J", 1.0),
    "sram_energy_j": ("on-chip buffer energy", "J", 1.0),
    "dram_energy_j": ("DRAM energy", "J", 1.0),
    "dram_bytes": ("DRAM traffic", "B", 1.0),
    "dram_read_bytes": ("DRAM reads", "B", 1.0),
    "dram_write_bytes": ("DRAM writes", "B", 1.0),
    "sram_bits": ("on-chip buffer traffic", "B", 1 / 8),
    "weight_bits": ("weight memory at the run bits", "B", 1 / 8),
    "activation_bits": ("activation memory", "B", 1 / 8),
    "total_mem_w_bits": ("weight memory at the asked bits", "B", 1 / 8),
    "total_mem_o_bits": ("output activation memory", "B", 1 / 8),
    "total_macs": ("multiply-accumulates", "MACs", 1.0),
    "total_bops": ("bit operations (MACs x w x a bits)", "BOPs", 1.0),
    "cycles": ("cycles", "cycles", 1.0),
    "stall_cycles": ("stall cycles", "cycles", 1.0),
    "utilization": ("utilization (useful / peak MACs)", None, 1.0),
    "accuracy": ("test accuracy", None, 1.0),
    "area_mm2": ("area [mm²]", None, 1.0),
    "power_w": ("power", "W", 1.0),
    "tops_per_mm2": ("TOPS/mm²", None, 1.0),
    "tops_per_w": ("TOPS/W", None, 1.0),
    "baseline_accuracy": ("float baseline accuracy", None, 1.0),
}
"""Human axis names of the result columns; units scale to the data (µs, mJ, MiB...)."""

HUE_LABELS = {"hw_name": "preset", "hw_family": "family", "policy": "bits", "workload": "network"}


def axis_label(column: str, values) -> tuple[str, float]:
    """The axis label of ``column`` and the divisor its values are plotted at."""
    from hwsim.units import column_scale

    name, unit, factor = AXIS_LABELS.get(column, (None, None, 1.0))
    if name is None:
        field = column.removeprefix("hw.")
        name = f"hardware: {field.replace('_', ' ')}" if column.startswith("hw.") else column
        return name, 1.0
    if unit is None:
        return name, 1.0
    divisor, label = column_scale(np.asarray(values, float) * factor, unit)
    return f"{name} [{label}]", divisor / factor


def default_hue(df: pd.DataFrame) -> str:
    """Colour by preset (``hw_name``) when the sweep has several; else by the bits
    (``policy``), else by network: the first that tells the points apart."""
    for column in ("hw_name", "policy", "workload"):
        if column in df.columns and df[column].nunique() > 1:
            return column
    return "hw_name"


def plot_front(
    df: pd.DataFrame,
    x: str,
    y: str,
    path: str | Path,
    hue: str | None = None,
    senses: tuple[str, str] = ("min", "min"),
    title: str | None = None,
    log: bool = True,
    by: str | None = None,
) -> Path:
    """Scatter every point of ``df`` in the (x, y) plane, coloured by ``hue`` (default:
    :func:`default_hue`), with the Pareto front drawn as a step line; saved as a PNG.
    ``by`` (e.g. ``"workload"``) draws one panel and one front per value."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = front_figure(df, x, y, hue, senses, title, log, by)
    fig.savefig(path)
    plt.close(fig)
    return path


def front_figure(
    df: pd.DataFrame,
    x: str,
    y: str,
    hue: str | None = None,
    senses: tuple[str, str] = ("min", "min"),
    title: str | None = None,
    log: bool = True,
    by: str | None = None,
):
    """The figure :func:`plot_front` saves (kept open for inspection)."""
    ok = df[np.isfinite(df[x].to_numpy(float)) & np.isfinite(df[y].to_numpy(float))]
    hue = hue or default_hue(ok)
    groups = (
        list(ok.groupby(by, sort=True)) if by is not None and by in ok.columns else [(None, ok)]
    )
    groups = groups or [(None, ok)]
    n = len(groups)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(7 if n == 1 else 5 * ncols, 5 if n == 1 else 4 * nrows),
        dpi=120,
        layout="constrained",
        squeeze=False,
    )
    for ax, (label, part) in zip(axes.ravel(), groups, strict=False):
        heading = None if label is None else f"{by} {label}"
        _draw_front(ax, part, x, y, hue, senses, log, heading if n > 1 else None)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    if n == 1:
        axes[0, 0].set_title(title or axes[0, 0].get_title())
    elif title:
        fig.suptitle(title)
    return fig


def _draw_front(ax, ok, x, y, hue, senses, log, heading) -> None:
    """One panel: the points by ``hue`` and their front (ties drawn once)."""
    x_label, x_div = axis_label(x, ok[x])
    y_label, y_div = axis_label(y, ok[y])
    groups = ok.groupby(hue, sort=True) if hue in ok.columns else [("points", ok)]
    for label, g in groups:
        # Thin out huge groups for drawing; the front below uses every point.
        shown = g.sample(n=20000, random_state=0) if len(g) > 20000 else g
        ax.scatter(
            shown[x] / x_div, shown[y] / y_div, s=6, alpha=0.35, label=str(label), rasterized=True
        )
    front = pareto(ok, {x: senses[0], y: senses[1]}).drop_duplicates([x, y])
    if len(front):
        ax.step(front[x] / x_div, front[y] / y_div, where="post", color="black", lw=1.2)
        ax.scatter(
            front[x] / x_div, front[y] / y_div, s=18, color="black", label="Pareto front", zorder=3
        )
    if log and (ok[x] > 0).all() and (ok[y] > 0).all() and len(ok):
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            _plain_log_ticks(axis)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    designs = "design" if len(front) == 1 else "designs"
    ax.set_title(
        (f"{heading}: " if heading else "")
        + f"{y_label.split(' [')[0]} vs {x_label.split(' [')[0]} "
        f"({len(ok)} points, {len(front)} {designs} on the front)",
        fontsize=9 if heading else None,
    )
    ax.legend(fontsize=7, markerscale=2, title=HUE_LABELS.get(hue, hue), title_fontsize=7)
    ax.grid(True, which="both", alpha=0.3)


def _plain_log_ticks(axis) -> None:
    """Log-axis ticks as plain numbers (``2``, ``5``, ``10``) instead of ``2 x 10^0``: every
    tick on an axis spanning less than a decade, else those at 1, 2 and 5 times a power of
    ten."""
    from matplotlib import ticker

    def label(v: float, _pos) -> str:
        if v <= 0:
            return ""
        lo, hi = sorted(axis.get_view_interval())
        if lo > 0 and hi / lo < 10:
            return f"{v:.3g}"
        mantissa = v / 10 ** np.floor(np.log10(v) + 1e-9)
        return f"{v:g}" if any(abs(mantissa - m) < 1e-6 for m in (1, 2, 5)) else ""

    axis.set_major_formatter(ticker.FuncFormatter(label))
    axis.set_minor_formatter(ticker.FuncFormatter(label))
