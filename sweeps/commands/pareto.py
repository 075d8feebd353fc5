"""``hwsim pareto DIR``: print the Pareto front of a sweep and save its plot."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "pareto",
        help="Pareto front and plot of a sweep's results",
        description="Print the non-dominated points of a results folder in the (x, y) plane "
        "and save a PNG beside the results.",
    )
    p.add_argument("dir", help="results folder of hwsim sweep")
    p.add_argument("--x", default=None, help="x objective column (default: the spec's first)")
    p.add_argument("--y", default=None, help="y objective column (default: the spec's second)")
    p.add_argument(
        "--max",
        nargs="*",
        default=[],
        metavar="COLUMN",
        help="objectives to maximize (others are minimized)",
    )
    p.add_argument("--plot", default=None, help="PNG path (default: DIR/pareto_X_Y.png)")
    p.add_argument(
        "--hue",
        default=None,
        help="column that colours the points (default: hw_name, the preset, when the sweep has "
        "several; else policy, the bits; else workload)",
    )
    p.add_argument(
        "--workload",
        default=None,
        help="only this workload's points (a front across networks rarely means much)",
    )
    p.add_argument(
        "--ref",
        nargs=2,
        type=float,
        default=None,
        metavar=("X", "Y"),
        help="reference point: also print the front's hypervolume",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from hwsim.errors import check
    from sweeps.pareto import hypervolume, pareto
    from sweeps.plots import plot_front
    from sweeps.store import META, load_results

    df = load_results(args.dir)
    check(len(df) > 0, "dir", args.dir, "no results stored yet")
    df = df[df["status"] == "ok"]
    if args.workload is not None:
        check(
            args.workload in set(df["workload"]),
            "workload",
            args.workload,
            f"not in the results: {sorted(set(df['workload']))}",
        )
        df = df[df["workload"] == args.workload]
    spec_senses = {"latency_s": "min", "energy_j": "min"}
    meta = Path(args.dir) / META
    if meta.is_file():
        spec_senses = json.loads(meta.read_text())["spec"]["objectives"] or spec_senses
    objectives = list(spec_senses)
    x = args.x or objectives[0]
    y = args.y or (objectives[1] if len(objectives) > 1 else "energy_j")
    senses = tuple("max" if c in args.max else spec_senses.get(c, "min") for c in (x, y))
    front = pareto(df, {x: senses[0], y: senses[1]})
    cols = [c for c in ("workload", "policy", "hw_family", "hw_name", x, y) if c in front]
    cols += [c for c in front.columns if c.startswith("hw.")]
    with pd.option_context("display.max_rows", 200, "display.width", 160):
        print(front[list(dict.fromkeys(cols))].to_string(index=False))
    plot = args.plot or str(Path(args.dir) / f"pareto_{x}_{y}.png")
    plot_front(df, x, y, plot, hue=args.hue, senses=senses)
    print(f"{len(front)} of {len(df)} points on the front; plot: {plot}")
    if args.ref is not None:
        hv = hypervolume(front, {x: senses[0], y: senses[1]}, args.ref)
        print(f"hypervolume to ({args.ref[0]:g}, {args.ref[1]:g}): {hv:.6g}")
    return 0
