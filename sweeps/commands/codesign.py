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
    from quant.runtime import Runtime
    from quant.search.sensitivity import SENSITIVITIES

    d = CodesignConfig()
    r = Runtime()
    p = subparsers.add_parser(
        "codesign",
        help="hardware-aware bitwidth search + fine-tuning, compared with uniform and proxy",
        description=__doc__,
    )
    p.add_argument("--model", default=d.model, help=f"zoo model (default: {d.model})")
    p.add_argument(
        "--data",
        default=d.data,
        help="digits | cifar10:DIR | mnist:DIR | imagefolder:DIR (DIR/train/<class>/*.jpg|png "
        "and DIR/val/...) (default: digits)",
    )
    p.add_argument(
        "--hardware",
        default=None,
        help=f"preset name or TOML file (default: {d.hardware})",
    )
    p.add_argument(
        "--hardware-space",
        default=None,
        metavar="FILE.toml",
        help="search the hardware too: a TOML of [[hardware]] tables (base, grid, zip, random, "
        "as in a sweep spec); the knapsack runs on every configuration, the Pareto designs "
        "(predicted loss, latency, energy, area) are fine-tuned",
    )
    p.add_argument(
        "--max-area",
        type=float,
        default=None,
        metavar="MM2",
        help="with --hardware-space: leave out configurations larger than this (mm^2)",
    )
    p.add_argument(
        "--finetune-top",
        type=int,
        default=None,
        metavar="K",
        help="with --hardware-space: fine-tune at most K distinct Pareto policies, least "
        "predicted loss first (default: 5)",
    )
    p.add_argument(
        "--budget",
        action="append",
        metavar="METRIC=VALUE",
        help="latency, energy or memory: a fraction of uniform 8-bit on the same hardware "
        "(with --hardware-space: on the first table's base at its default size), or an "
        "amount with a unit (latency=2ms, energy=50uJ, memory=96KiB); repeat or comma-join "
        "for several (default: latency=0.5)",
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
        "--checkpoint",
        default=None,
        metavar="PATH",
        help="float baseline: a state_dict of --model, or a whole saved module (default: "
        "train one for --baseline-epochs and cache it)",
    )
    p.add_argument(
        "--baseline-epochs",
        type=int,
        default=None,
        help="epochs of the float baseline when one is trained (default: 40)",
    )
    p.add_argument(
        "--finetune-steps",
        type=int,
        default=None,
        help="fine-tune each policy for this many steps instead of --epochs",
    )
    p.add_argument(
        "--device",
        default=r.device,
        help="auto | cpu | cuda | cuda:N: where training, sensitivity and fine-tuning run; "
        "auto takes CUDA when there is one (default: %(default)s)",
    )
    p.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="resolution an image folder is cropped to (default: the model's input size)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=r.loader_workers,
        help="data-loading worker processes (default: %(default)s: in the main process)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=r.threads,
        help="torch threads for training and sensitivity on the CPU (default: %(default)s, the "
        "fastest on a shared machine; the number of cores when they are yours)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=r.scan_processes,
        help="worker processes for the loss sensitivity's layers (default: the cores, when the "
        "scan would take over 30 s on one; the table is the same bit for bit)",
    )
    p.add_argument(
        "--sensitivity",
        choices=SENSITIVITIES,
        default=d.sensitivity,
        help="loss: one forward pass per layer and option; hessian: second-order estimate "
        "from Hessian traces (HAWQ-V2), cheaper on big models (default: %(default)s)",
    )
    p.add_argument(
        "--samples",
        type=int,
        default=d.samples,
        help="calibration images for sensitivity and activation steps (default: %(default)s)",
    )
    p.add_argument(
        "--calibration-batch",
        type=int,
        default=d.calibration_batch,
        help="batch size of the sensitivity passes (default: %(default)s)",
    )
    p.add_argument(
        "--out",
        default=None,
        help=f"run folder (default: {DEFAULT_OUT}/<model>-<hardware>-<time>); each stage is "
        "kept there as it finishes, and the same --out again resumes",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from hwsim.errors import HwsimError
    from quant.codesign import CodesignConfig, format_table, parse_budgets, run_codesign, write_run
    from quant.runtime import Runtime

    try:
        cands = tuple(int(c) for c in str(args.candidates).split(","))
    except ValueError:
        raise HwsimError("--candidates", args.candidates, "comma-separated integers") from None
    runtime = Runtime(
        device=args.device,
        threads=args.threads,
        loader_workers=args.workers,
        scan_processes=args.processes,
    )
    common = dict(
        model=args.model,
        data=args.data,
        budgets=parse_budgets(args.budget) or {"latency": 0.5},
        method=args.method,
        seed=args.seed,
        epochs=args.epochs,
        candidates=cands,
        baseline_epochs=args.baseline_epochs,
        checkpoint=args.checkpoint,
        finetune_steps=args.finetune_steps,
        image_size=args.image_size,
        sensitivity=args.sensitivity,
        samples=args.samples,
        calibration_batch=args.calibration_batch,
    )
    if args.hardware_space is not None:
        from sweeps.commands.codesign_joint import run_joint_command

        return run_joint_command(args, common, runtime)
    for flag, value in (("--max-area", args.max_area), ("--finetune-top", args.finetune_top)):
        if value is not None:
            raise HwsimError(flag, value, "searches a hardware space: give --hardware-space too")
    config = CodesignConfig(hardware=args.hardware or CodesignConfig.hardware, **common)
    out = (
        Path(args.out)
        if args.out
        else Path(DEFAULT_OUT)
        / (f"{config.model}-{Path(config.hardware).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    )
    result = run_codesign(config, runtime=runtime, out=out)
    write_run(result, out)
    budgets = ", ".join(f"{m} <= {r:g} x uniform 8-bit" for m, r in result.config.budgets.items())
    print(
        f"{config.model} on {config.data}, hardware {result.hardware_name}, budget {budgets}; "
        f"float baseline {100 * result.baseline_accuracy:.2f} %"
    )
    print(format_table(result.results, result.config.budgets))
    for note in result.notes:  # warnings (a baseline near chance, ...) first, as they are
        print(note if note.startswith("warning: ") else f"note: {note}")
    if result.reused:
        print(f"resumed: reused {', '.join(result.reused)}")
    print(f"run folder: {out}  ({result.seconds:.0f} s)")
    return 0
