"""The ``hwsim`` command line. Each subcommand lives in ``sweeps/commands/<name>.py`` and
defines ``add_parser(subparsers)``, which registers its options and sets ``func``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

from hwsim import HwsimError, __version__

COMMANDS: tuple[str, ...] = ("codesign", "simulate", "sweep", "pareto", "calibrate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hwsim",
        description="Hardware simulation and co-design for mixed-precision neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"hwsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = import_module(f"sweeps.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"sweeps.commands.{name}":
                continue  # not written yet
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except HwsimError as exc:
        print(f"hwsim: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
