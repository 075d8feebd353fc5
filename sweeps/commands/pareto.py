"""``hwsim pareto DIR``: print the Pareto front of a sweep and save its plot."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "pareto",
        help="Pareto front and plot of a sweep's results",
        description="Print the non-dominated points of a results folder in the (x, y) plane, "
        "one front per workload, and save a PNG beside the results. The spec's [constraints] "
        "apply, and --where narrows the points further.",
    )
    p.add_argument("dir", help="results folder of hwsim sweep")
    p.add_argument(
        "--x",
        default=None,
        help="x objective: a column or an alias such as latency, energy, area, power "
        "(default: the spec's first objective)",
    )
    p.add_argument("--y", default=None, help="y objective (default: the spec's second objective)")
    p.add_argument(
        "--max",
        nargs="*",
        default=[],
        metavar="COLUMN",
        help="objectives to maximize (others take the spec's sense, else are minimized)",
    )
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="EXPR",
        help="keep only the points where EXPR holds: COLUMN OP VALUE with OP one of "
        "< <= > >= == != (e.g. 'area_mm2<=2', 'policy==w4a4'); repeat to combine "
        "(default: no filter)",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="one front over every workload (default: one front per workload)",
    )
    p.add_argument("--plot", default=None, help="PNG path (default: DIR/pareto_X_Y.png)")
    p.add_argument(
        "--hue",
        default=None,
        help="column that colours the points (default: hw_name, the preset, when the sweep has "
        "several; else policy, the bits; else workload)",
    )
    p.add_argument("--workload", default=None, help="only this workload's points (same as --where)")
    p.add_argument(
        "--ref",
        nargs=2,
        type=float,
        default=None,
        metavar=("X", "Y"),
        help="reference point: also print each front's hypervolume",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from hwsim.errors import HwsimError, check
    from sweeps.pareto import hypervolume, pareto_fronts, resolve_column, where
    from sweeps.plots import plot_front
    from sweeps.spec import parse_condition
    from sweeps.store import META, load_results

    df = load_results(args.dir)
    check(len(df) > 0, "dir", args.dir, "no results stored yet")
    spec_senses = {"latency_s": "min", "energy_j": "min"}
    constraints: list[str] = []
    meta = Path(args.dir) / META
    if meta.is_file():
        spec = json.loads(meta.read_text())["spec"]
        spec_senses = spec["objectives"] or spec_senses
        constraints = spec.get("constraints", [])
    objectives = list(spec_senses)
    x = resolve_column(df, args.x or objectives[0], "x")
    y = resolve_column(df, args.y or (objectives[1] if len(objectives) > 1 else "energy_j"), "y")
    check(x != y, "y", y, "the same column as x; choose two different objectives")
    maxed = {resolve_column(df, c, "max") for c in args.max}
    senses = tuple("max" if c in maxed else spec_senses.get(c, "min") for c in (x, y))

    lines = []
    failed = df[df["status"] != "ok"]
    ok = df[df["status"] == "ok"]
    if len(failed):
        reasons = failed["message"].value_counts()
        lines.append(
            f"{len(failed)} of {len(df)} points failed and are left out "
            f"(most often: {reasons.index[0]}; see hwsim sweep's report)"
        )
    if constraints:
        before = len(ok)
        ok = where(ok, [parse_condition(c, "constraints") for c in constraints], "constraints")
        if before - len(ok):
            lines.append(
                f"{before - len(ok)} points are outside the spec's constraints "
                f"({'; '.join(constraints)})"
            )
    filters = list(args.where)
    if args.workload is not None:
        check(
            args.workload in set(df["workload"]),
            "workload",
            args.workload,
            f"not in the results: {sorted(set(df['workload']))}",
        )
        filters.append(f"workload == {args.workload}")
    if filters:
        before = len(ok)
        ok = where(ok, filters)
        check(
            len(ok) > 0,
            "where",
            filters,
            f"no point satisfies every filter ({before} ok points before filtering)",
        )
        lines.append(f"{len(ok)} of {before} points satisfy {' and '.join(filters)}")
    for column in (x, y):
        values = ok[column].to_numpy(float)
        if len(ok) and not pd.Series(values).notna().any():
            raise HwsimError(
                "x" if column == x else "y",
                column,
                f"no point has a value in this column ({len(ok)} points; "
                f"presets: {_names(ok)}){_why_empty(column)}",
            )
    check(len(ok) > 0, "dir", args.dir, "no ok point to draw a front from")

    by = None if args.merge or ok["workload"].nunique() == 1 else "workload"
    fronts = pareto_fronts(ok, {x: senses[0], y: senses[1]}, by=by)
    for line in lines:
        print(line)
    groups = [(None, ok)] if by is None else list(ok.groupby(by, sort=True))
    for label, part in groups:
        front = fronts if by is None else fronts[fronts[by] == label]
        print()
        print(_heading(label, part, front, x, y, args.merge and ok["workload"].nunique() > 1))
        missing = part[part[x].isna() | part[y].isna()]
        if len(missing):
            cols = [c for c in (x, y) if part[c].isna().any()]
            print(
                f"  {len(missing)} points have no value of {' or '.join(cols)} "
                f"(presets: {_names(missing)}){_why_empty(cols[0])}"
            )
        if len(front) == 1 and len(part) - len(missing) > 1:
            print(
                f"  degenerate front: one design is best in both {x} and {y}, so there is "
                "nothing to trade; add a price (--y area_mm2, power_w) or a constraint"
            )
        print(_table(front, x, y, show_workload=by is None and ok["workload"].nunique() > 1))
        if args.ref is not None:
            hv = hypervolume(front, {x: senses[0], y: senses[1]}, args.ref)
            print(f"  hypervolume to ({args.ref[0]:g}, {args.ref[1]:g}): {hv:.6g}")
    plot = args.plot or str(Path(args.dir) / f"pareto_{x}_{y}.png")
    plot_front(ok, x, y, plot, hue=args.hue, senses=senses, by=by)
    designs = "design" if len(fronts) == 1 else "designs"
    where_ = "the front" if by is None else "the fronts"
    print(f"\n{len(fronts)} distinct {designs} on {where_}; plot: {plot}")
    return 0


def _names(df) -> str:
    names = sorted(set(map(str, df["hw_name"]))) if "hw_name" in df else []
    return ", ".join(names[:6]) + (" ..." if len(names) > 6 else "")


def _why_empty(column: str) -> str:
    if column in ("area_mm2", "power_w", "tops_per_mm2"):
        return (
            "; a family with no area or power model (the CPU presets) has none, and results "
            "written before the area model have none: re-run the sweep into a new folder"
        )
    return ""


def _heading(label, part, front, x, y, merged: bool) -> str:
    name = "all workloads" if merged else (label or str(part["workload"].iloc[0]))
    ties = int(front["ties"].sum()) if "ties" in front else len(front)
    extra = (
        f" ({ties} points: points with equal objectives are listed once, 'ties' counts them)"
        if ties != len(front)
        else ""
    )
    designs = "design" if len(front) == 1 else "designs"
    return f"{name}: {len(front)} {designs} on the {x} / {y} front{extra}, of {len(part)} points"


def _fmt(value, divisor: float = 1.0, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float | int) and not isinstance(value, bool):
        v = value / divisor
        if float(v).is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.{digits}g}"
    return str(value)


def _digits(values, divisor: float) -> int:
    """Significant digits (4 to 8) that keep distinct values of a column distinct: two front
    points never print the same latency."""
    distinct = len(set(values))
    for digits in range(4, 9):
        if len({_fmt(v, divisor, digits) for v in values}) == distinct:
            return digits
    return 8


def _table(front, x: str, y: str, show_workload: bool) -> str:
    """The front in human units: one scale per column, chosen by its largest value."""
    from hwsim.units import align_columns
    from sweeps.plots import axis_label

    cols = ["workload"] if show_workload else []
    cols += [c for c in ("policy", "hw_name") if c in front]
    cols += [c for c in front.columns if c.startswith("hw.") and c not in (x, y)]
    cols += [x, y, "ties"]
    header, divisors = [], []
    for c in cols:
        if c in (x, y):
            label, div = axis_label(c, front[c])
            header.append(label)
            divisors.append(div)
        else:
            header.append(c)
            divisors.append(1.0)
    digits = [
        _digits(front[c].tolist(), d) if c in (x, y) else 4
        for c, d in zip(cols, divisors, strict=True)
    ]
    tied = "tied" in front and bool((front["ties"] > 1).any())
    if tied:  # what tells the tied points apart, left-aligned last
        cols.append("tied")
        header.append("tied points differ in")
        divisors.append(1.0)
        digits.append(4)
    rows = [header]
    for rec in front[cols].itertuples(index=False):
        rows.append([_fmt(v, d, n) for v, d, n in zip(rec, divisors, digits, strict=True)])
    numeric = range(len(cols) - (4 if tied else 3), len(cols) - (1 if tied else 0))
    left = tuple(i for i in range(len(cols)) if i not in numeric)
    text = align_columns(rows, rules=(1,), left=left)
    return "\n".join("  " + line for line in text.splitlines())
