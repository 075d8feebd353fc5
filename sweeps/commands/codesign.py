"""``hwsim codesign``: the main job. Search bitwidths against simulated hardware cost, fine-tune,
and compare with uniform bits and with the same search driven by the BitOps proxy.

The options are declared once, on the fields they set (:func:`quant.options.option`): the
config's (:class:`quant.codesign.joint.JointConfig`, whose fields are
:class:`quant.codesign.CodesignConfig`'s and the hardware search's) and the run-time
settings' (:class:`quant.runtime.Runtime`). :func:`add_options` declares them and
:func:`option_values` reads them back, by field name."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

DEFAULT_OUT = "runs/codesign"


def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """One option per field of dataclass ``cls`` that declares one, its value kept under the
    field's name."""
    from quant.options import OPTION

    for f in dataclasses.fields(cls):
        spec = f.metadata.get(OPTION)
        if spec is None:
            continue
        kwargs = dict(spec["cli"])
        if "default" not in kwargs:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            kwargs["default"] = spec["show"](default) if spec["show"] else default
        if callable(kwargs.get("choices")):
            kwargs["choices"] = kwargs["choices"]()
        flag = spec["flag"] or "--" + f.name.replace("_", "-")
        if "metavar" not in kwargs and "choices" not in kwargs and kwargs.get("action") is None:
            kwargs["metavar"] = flag.lstrip("-").replace("-", "_").upper()  # as the flag reads
        parser.add_argument(flag, dest=f.name, help=spec["help"], **kwargs)


def option_values(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of dataclass ``cls`` that ``args`` gives, each read by its option's
    ``parse``; an option left at ``None`` leaves its field at the default."""
    from quant.options import OPTION

    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(OPTION)
        value = getattr(args, f.name, None)
        if spec is None or value is None:
            continue
        value = spec["parse"](value) if spec["parse"] else value
        if value is not None:
            out[f.name] = value
    return out


def add_parser(subparsers) -> argparse.ArgumentParser:
    from quant.codesign.joint import JointConfig
    from quant.runtime import Runtime

    p = subparsers.add_parser(
        "codesign",
        help="hardware-aware bitwidth search + fine-tuning, compared with uniform and proxy",
        description=__doc__.split("\n\n")[0],
    )
    add_options(p, JointConfig)
    p.add_argument(
        "--hardware-space",
        default=None,
        metavar="FILE.toml",
        help="search the hardware too: a TOML of [[hardware]] tables (base, grid, zip, random, "
        "as in a sweep spec); the knapsack runs on every configuration, the Pareto designs "
        "(predicted loss, latency, energy, area) are fine-tuned",
    )
    add_options(p, Runtime)
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
    from quant.codesign import CodesignConfig, format_table, run_codesign, write_run
    from quant.runtime import Runtime

    runtime = Runtime(**option_values(args, Runtime))
    common = option_values(args, CodesignConfig)
    hardware = common.pop("hardware", None)
    if args.hardware_space is not None:
        from quant.codesign.joint import JointConfig
        from sweeps.commands.codesign_joint import run_joint_command

        joint = option_values(args, JointConfig)
        joint.pop("hardware", None)
        return run_joint_command(args, joint, runtime)
    for flag, value in (("--max-area", args.max_area), ("--finetune-top", args.finetune_top)):
        if value is not None:
            raise HwsimError(flag, value, "searches a hardware space: give --hardware-space too")
    config = CodesignConfig(hardware=hardware or CodesignConfig.hardware, **common)
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
