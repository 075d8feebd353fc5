"""``hwsim codesign``: the main job. Search bitwidths against simulated hardware cost, fine-tune,
and compare with uniform bits and with the same search driven by the BitOps proxy."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DEFAULT_OUT = "runs/codesign"


def add_parser(subparsers) -> argparse.ArgumentParser:
    from quant.codesign import CodesignConfig
    from quant.methods import budgeted_methods

    d = CodesignConfig()
    p = subparsers.add_parser(
        "codesign",
        help="hardware-aware bitwidth search + fine-tuning, compared with uniform and proxy",
        description=__doc__,
    )
    p.add_argument("--model", default=d.model, help=f"zoo model (default: {d.model})")
    p.add_argument(
        "--data", default=d.data, help="digits | cifar10:DIR | mnist:DIR (default: digits)"
    )
    p.add_argument(
        "--hardware", default=d.hardware, help=f"preset name or TOML file (default: {d.hardware})"
    )
    p.add_argument(
        "--budget",
        action="append",
        metavar="METRIC=FRACTION",
        help="budget relative to uniform 8-bit on the same hardware: latency, "
        "energy or memory; repeat or comma-join for several "
        "(default: latency=0.5)",
    )
    p.add_argument(
        "--method",
        choices=budgeted_methods(),
        default=d.method,
        help=f"search method (default: {d.method})",
    )
    p.add_argument("--seed", type=int, default=d.seed, help=f"(default: {d.seed})")
    p.add_argument(
        "--epochs",
        type=int,
        default=d.epochs,
        help="fine-tuning epochs per policy, and EBS/BSQ search epochs (default: %(default)s)",
    )
    p.add_argument(
        "--candidates",
        default=",".join(map(str, d.candidates)),
        help="candidate bit widths for weights and activations (default: %(default)s)",
    )
    p.add_argument(
        "--out", default=None, help=f"run folder (default: {DEFAULT_OUT}/<model>-<hardware>-<time>)"
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from hwsim.errors import HwsimError
    from quant.codesign import CodesignConfig, format_table, parse_budgets, run_codesign, write_run

    try:
        cands = tuple(int(c) for c in str(args.candidates).split(","))
    except ValueError:
        raise HwsimError("--candidates", args.candidates, "comma-separated integers") from None
    config = CodesignConfig(
        model=args.model,
        data=args.data,
        hardware=args.hardware,
        budgets=parse_budgets(args.budget) or {"latency": 0.5},
        method=args.method,
        seed=args.seed,
        epochs=args.epochs,
        candidates=cands,
    )
    out = (
        Path(args.out)
        if args.out
        else Path(DEFAULT_OUT)
        / (f"{config.model}-{Path(config.hardware).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    )
    result = run_codesign(config)
    write_run(result, out)
    budgets = ", ".join(f"{m} <= {r:g} x uniform 8-bit" for m, r in config.budgets.items())
    print(
        f"{config.model} on {config.data}, hardware {result.hardware_name}, budget {budgets}; "
        f"float baseline {100 * result.baseline_accuracy:.2f} %"
    )
    print(format_table(result.results))
    for note in result.notes:
        print(f"note: {note}")
    print(f"run folder: {out}  ({result.seconds:.0f} s)")
    return 0
