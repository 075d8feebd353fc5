"""Accelerator families at equal area: each sized to the DaDianNao-like baseline's area, the
way the bit-serial papers compare (Stripes states its area over DaDianNao's; Loom and Pragmatic
compare with DaDianNao at equal area; Bit Fusion with Eyeriss at equal area), then run on the
same networks at the same bits.

Sizing rule: every design gets DaDianNao's on-chip capacity (32 MiB of weights, 2 + 2 MiB of
activations) and a compute array whose area is closest to DaDianNao's compute area; one array
knob per family, every other field from its preset.

- The DaDianNao-derived families (Stripes, Loom, Pragmatic, Laconic) already share DaDianNao's
  buffers and banks, so only ``rows`` (filters in parallel) changes, and equal compute area
  is equal chip area.
- Bit Fusion is given the same capacities (``wbuf_bytes``, ``ibuf_bytes``, ``obuf_bytes``) in
  its own banking (one weight bank per PE, one input bank per row, one output bank per column,
  as its authors' simulator banks them), and ``rows`` x ``cols`` (square to 1 : 4, around its
  preset's 1 : 2) chosen the same way. Its banks differ from DaDianNao's, so its total area
  differs by their overhead: the table states every design's total and its gap to the
  baseline.

The areas are hwsim's (``hwsim.area``: each family's compute unit from its paper's or the Bit
Fusion authors' synthesis, the buffers from the CACTI table, 45 nm), so the sizing is as good
as the area model. Every point is one row of an ``hwsim sweep`` over the sized configs (the
fast path), so the columns are the sweep's: latency, energy, ``power_w``, ``tops_per_mm2``,
``tops_per_w`` (TOPS = 2 x MACs / latency / 1e12).

    python benchmarks/bench_equal_area.py [--workloads resnet18 mobilenet_v2]

Writes ``benchmarks/results/equal_area.csv``, ``equal_area.md`` and ``equal_area.png``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import hwsim
from hwsim.io import atomic_write_text
from hwsim.policy import bits_label
from hwsim.units import format_quantity

RESULTS = Path(__file__).parent / "results"
BASELINE = "dadiannao"
SKELETON = ("stripes", "loom", "pragmatic", "laconic")
BIT_FUSION = "bitfusion"
POLICIES = ((16, 16), (8, 8), (4, 4), (2, 2))
NOTES_BITS = (4, 4)  # the bits of the one report per design whose notes the table lists


def _compute_mm2(cfg) -> float:
    return hwsim.area(cfg).components["compute"]


def _closest(configs, target: float):
    """The config whose compute area is closest to ``target`` (larger on a tie), among those
    the area model can price (a bank outside the SRAM table cannot be)."""
    best = None
    for make in configs:
        try:
            cfg = make()
            compute = _compute_mm2(cfg)
        except hwsim.HwsimError:
            continue
        gap = abs(compute - target)
        if best is None or gap < best[1] or (gap == best[1] and compute > _compute_mm2(best[0])):
            best = (cfg, gap)
    if best is None:
        raise hwsim.HwsimError("equal_area", target, "no candidate size could be priced")
    return best[0]


def sized_configs() -> list[tuple[str, object, str]]:
    """``(family label, config, how it was sized)`` for every family at the baseline's area."""
    base = hwsim.load_hardware(BASELINE)
    target = _compute_mm2(base)
    out = [("DaDianNao (bit-parallel, 16-bit)", base, f"preset: rows={base.rows}")]
    for name in SKELETON:
        preset = hwsim.load_hardware(name)
        cfg = _closest([lambda r=r, p=preset: p.replace(rows=r) for r in range(1, 4097)], target)
        out.append((name.capitalize(), cfg, f"rows={cfg.rows} (preset {preset.rows})"))
    bf = hwsim.load_hardware(BIT_FUSION)
    big = {
        "wbuf_bytes": base.weight_buffer_bytes,
        "ibuf_bytes": base.act_buffer_bytes,
        "obuf_bytes": base.out_buffer_bytes,
    }
    # Near its preset's 1 : 2 aspect (square to 1 : 4); sizes whose banks the SRAM table
    # cannot price are skipped.
    shapes = [(r, c) for r in range(4, 257, 4) for c in (r, 2 * r, 4 * r)]
    cfg = _closest([lambda r=r, c=c: bf.replace(rows=r, cols=c, **big) for r, c in shapes], target)
    out.append(
        (
            "Bit Fusion",
            cfg,
            f"rows={cfg.rows}, cols={cfg.cols} (preset {bf.rows}x{bf.cols}); "
            "DaDianNao's capacities",
        )
    )
    return out


def run(workloads: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sweeps.run import run_sweep
    from sweeps.spec import parse_spec
    from sweeps.store import load_results

    target = hwsim.area(hwsim.load_hardware(BASELINE)).total_mm2
    designs = sized_configs()
    rows = []
    for label, cfg, knob in designs:
        area = hwsim.area(cfg)
        rows.append(
            {
                "family": label,
                "preset": cfg.name,
                "sizing": knob,
                "area_mm2": area.total_mm2,
                "area_vs_baseline": area.total_mm2 / target - 1,
                "compute_mm2": area.components.get("compute", np.nan),
                "buffers_mm2": area.total_mm2 - area.components.get("compute", 0.0),
            }
        )
    sizing = pd.DataFrame(rows)
    out = Path(tempfile.mkdtemp(prefix="equal_area_"))
    try:
        for (_, cfg, _), row in zip(designs, rows, strict=True):
            (out / f"{row['preset']}.toml").write_text(_toml(cfg))
        spec = parse_spec(
            {
                "name": "equal_area",
                "workloads": workloads,
                "hardware": [{"base": f"{r['preset']}.toml"} for r in rows],
                "policies": {"pairs": [list(p) for p in POLICIES]},
                "objectives": {"latency_s": "min", "energy_j": "min"},
            },
            root=out,
        )
        run_sweep(spec, out / "run")
        df = load_results(out / "run")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    df["family"] = df["hw_index"].map(dict(enumerate(r["family"] for r in rows)))
    # What each model assumed (data-dependent families without measured statistics, precisions
    # a family rounds up), from one report per design at NOTES_BITS.
    from sweeps.spec import WorkloadRef

    wl = WorkloadRef(workloads[0], zoo=workloads[0]).load()
    notes = {}
    for label, cfg, _ in designs:
        report = hwsim.simulate(wl, hwsim.BitPolicy.uniform(wl, *NOTES_BITS), cfg)
        notes[label] = report.notes
    sizing["notes"] = sizing["family"].map(lambda f: " / ".join(notes[f]))
    return sizing, df


def _toml(cfg) -> str:
    from hwsim.io import hardware_toml

    return hardware_toml(cfg)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Speedup and energy efficiency over the baseline on the same network at the same bits."""
    ok = df[df["status"] == "ok"].copy()
    base = ok[ok["hw_name"] == BASELINE].set_index(["workload", "policy"])
    key = list(zip(ok["workload"], ok["policy"], strict=True))
    ok["speedup"] = base["latency_s"].reindex(key).to_numpy() / ok["latency_s"].to_numpy()
    ok["energy_efficiency"] = base["energy_j"].reindex(key).to_numpy() / ok["energy_j"].to_numpy()
    cols = [
        "workload",
        "policy",
        "family",
        "hw_name",
        "area_mm2",
        "latency_s",
        "energy_j",
        "power_w",
        "speedup",
        "energy_efficiency",
        "tops_per_mm2",
        "tops_per_w",
        "utilization",
    ]
    return ok[cols].sort_values(["workload", "policy", "family"], kind="stable")


def write(sizing: pd.DataFrame, table: pd.DataFrame, failed: pd.DataFrame, seconds: float):
    RESULTS.mkdir(exist_ok=True)
    load = os.getloadavg()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    table.assign(commit=commit, load_avg_1min=round(load[0], 1)).to_csv(
        RESULTS / "equal_area.csv", index=False, float_format="%.6g"
    )
    lines = [
        "# Accelerator families at equal area",
        "",
        f"Commit {commit or 'unknown'}; load average {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} (1 / 5 / 15 min) on {os.cpu_count()} CPUs; {seconds:.1f} s. "
        "Regenerate: `python benchmarks/bench_equal_area.py`.",
        "",
        "Every family sized to the DaDianNao-like baseline's area (hwsim's area model, 45 nm); "
        "see the script's docstring for the rule. Speedup and energy efficiency are over the "
        "baseline on the same network at the same asked bits (the baseline runs every "
        "precision at 16 bits). TOPS = 2 x MACs / latency / 1e12. Power is energy / latency "
        "plus the design's leakage (mostly the 36 MiB of buffers'). Pragmatic, Laconic and "
        "Loom read bit statistics measured on calibration data, which these uniform policies "
        "do not carry: they run on the stated assumptions below. The "
        "Bit Fusion authors' simulator has no grouped convolution; hwsim runs a depthwise layer "
        "as independent one-channel layers, which leaves a large array idle (the utilization "
        "column), so its MobileNetV2 rows price that mapping, not a depthwise-aware one.",
        "",
        "## Sizing",
        "",
        "| family | sizing | area (mm²) | vs baseline | compute (mm²) | buffers (mm²) |",
        "|---|---|---|---|---|---|",
    ]
    for r in sizing.itertuples(index=False):
        lines.append(
            f"| {r.family} | {r.sizing} | {r.area_mm2:.1f} | {r.area_vs_baseline:+.1%} | "
            f"{r.compute_mm2:.1f} | {r.buffers_mm2:.1f} |"
        )
    lines += [
        "",
        f"What the models assumed (reports at {bits_label(*NOTES_BITS)} on the first network):",
        "",
    ]
    for r in sizing.itertuples(index=False):
        lines.append(f"- {r.family}: {r.notes or 'nothing beyond the preset'}")
    for (wl, pol), g in table.groupby(["workload", "policy"], sort=False):
        lines += [
            "",
            f"## {wl}, {pol}",
            "",
            "| family | latency | energy | power | speedup | energy eff. | TOPS/mm² | TOPS/W "
            "| utilization |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in g.itertuples(index=False):
            lines.append(
                f"| {r.family} | {format_quantity(r.latency_s, 's')} | "
                f"{format_quantity(r.energy_j, 'J')} | {format_quantity(r.power_w, 'W')} | "
                f"{r.speedup:.2f}x | {r.energy_efficiency:.2f}x | {r.tops_per_mm2:.3g} | "
                f"{r.tops_per_w:.3g} | {r.utilization:.2g} |"
            )
    if len(failed):
        lines += ["", "## Points that could not run", ""]
        for r in failed.itertuples(index=False):
            lines.append(f"- {r.hw_name} / {r.workload} / {r.policy}: {r.message}")
    atomic_write_text(RESULTS / "equal_area.md", "\n".join(lines) + "\n")
    plot(table)


def plot(table: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(table["workload"]))
    fig, axes = plt.subplots(
        1, len(workloads), figsize=(6 * len(workloads), 4.5), dpi=120, squeeze=False,
        layout="constrained",
    )  # fmt: skip
    families = list(dict.fromkeys(table["family"]))
    asked = [bits_label(w, a) for w, a in POLICIES]
    policies = [p for p in asked if p in set(table["policy"])]
    width = 0.8 / len(families)
    for ax, wl in zip(axes[0], workloads, strict=True):
        part = table[table["workload"] == wl]
        for i, fam in enumerate(families):
            g = part[part["family"] == fam].set_index("policy").reindex(policies)
            ax.bar(np.arange(len(policies)) + i * width, g["speedup"], width, label=fam)
        ax.set_xticks(np.arange(len(policies)) + 0.4 - width / 2, policies)
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_yscale("log")
        ax.set_ylabel("speedup over DaDianNao at equal area")
        ax.set_title(f"{wl}: every family at DaDianNao's area")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(families), fontsize=8)
    fig.savefig(RESULTS / "equal_area.png")
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workloads", nargs="+", default=["resnet18", "mobilenet_v2"])
    args = ap.parse_args()
    t0 = time.perf_counter()
    sizing, df = run(args.workloads)
    table = summarize(df)
    failed = df[df["status"] != "ok"]
    write(sizing, table, failed, time.perf_counter() - t0)
    print(sizing.to_string(index=False))
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
