"""The ``hwsim`` command line. Each subcommand lives in ``sweeps/commands/<name>.py`` and
defines ``add_parser(subparsers)``, which registers its options and sets ``func``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

from hwsim import HwsimError, __version__
from hwsim.errors import Interrupted

COMMANDS: tuple[str, ...] = (
    "codesign",
    "simulate",
    "sweep",
    "pareto",
    "calibrate",
    "models",
    "hardware",
)


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default (unless it has none or already says it).
    Descriptions and epilogs wrap line by line; indented lines and lines ending in ``:``
    (column legends, examples) are kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        out: list[str] = []
        paragraph: list[str] = []
        for line in [*text.splitlines(), ""]:
            if line.strip() and not line.startswith(" ") and not line.rstrip().endswith(":"):
                paragraph.append(line.strip())
                continue
            if paragraph:
                out.append(
                    textwrap.fill(
                        " ".join(paragraph), width, initial_indent=indent, subsequent_indent=indent
                    )
                )
                paragraph = []
            out.append(indent + line)
        out.pop()  # the sentinel
        return "\n".join(out)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "(default" in text
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or action.option_strings == []
        ):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hwsim",
        description="Hardware simulation and co-design for mixed-precision neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"hwsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        import_module(f"sweeps.commands.{name}").add_parser(sub)
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
    except KeyboardInterrupt:
        # A command that keeps partial results says what it kept and how to resume (see
        # ``Interrupted``); anything else stops with this one line.
        print("hwsim: interrupted", file=sys.stderr)
        return 130
    except Interrupted as exc:
        print(f"hwsim: interrupted: {exc}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly; silence the flush at exit too.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
