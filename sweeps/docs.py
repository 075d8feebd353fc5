"""The parts of docs/user-guide.md that are generated from the code, and the CLI's options as
the guide's option tables should list them.

Blocks between ``<!-- generated: NAME -->`` and ``<!-- end generated: NAME -->`` are rewritten
from the registry (``presets``: every shipped preset; ``family-fields``: every family's config
fields with unit, default and meaning). ``python -m sweeps.docs`` rewrites them in place;
``tests/sweeps/test_docs_cli.py`` fails when the file is out of step, and when an option table
and the command's argparse declarations disagree.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

GUIDE = Path(__file__).parents[1] / "docs" / "user-guide.md"

_BLOCK = re.compile(
    r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- end generated: (?P=name) -->)",
    flags=re.S,
)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def presets_markdown() -> str:
    """Every shipped preset: name, family, clock, array, and its one-line description."""
    from hwsim.hardware import load_hardware, preset_names
    from hwsim.hardware.describe import array_summary, preset_description
    from hwsim.units import format_quantity

    lines = ["| preset | family | clock | array | description |", "|---|---|---|---|---|"]
    for name in preset_names():
        hw = load_hardware(name)
        lines.append(
            f"| `{name}` | `{hw.family}` | {format_quantity(hw.frequency_hz, 'Hz', 4)} | "
            f"{_cell(array_summary(hw))} | {_cell(preset_description(name, None))} |"
        )
    return "\n".join(lines) + "\n"


def builtin_families() -> dict:
    """The families hwsim ships (a plugin's, registered at run time, are not documented here)."""
    from hwsim.hardware import families

    return {
        name: fam
        for name, fam in families().items()
        if fam.config_type.__module__.startswith("hwsim.hardware.")
    }


def family_fields_markdown() -> str:
    """One table per family: each config field with its unit, default and meaning."""
    from hwsim.hardware.describe import family_fields

    out: list[str] = []
    for name, fam in sorted(builtin_families().items()):
        out += [
            f"**`{name}`** ({_cell(fam.description)})",
            "",
            "| field | unit | default | meaning |",
            "|---|---|---|---|",
        ]
        for field, unit, meaning, default in family_fields(name):
            if default is None:
                shown = "none"
            elif isinstance(default, float):
                shown = f"`{default:g}`"
            else:
                shown = f"`{default}`"
            out.append(f"| `{field}` | {unit} | {shown} | {_cell(meaning)} |")
        out.append("")
    return "\n".join(out)


GENERATORS: dict[str, Callable[[], str]] = {
    "presets": presets_markdown,
    "family-fields": family_fields_markdown,
}


def render(text: str) -> str:
    """``text`` with every generated block rewritten from the code."""

    def replace(m: re.Match) -> str:
        name = m.group("name")
        if name not in GENERATORS:
            raise KeyError(f"unknown generated block {name!r}")
        return m.group(1) + GENERATORS[name]() + m.group(4)

    return _BLOCK.sub(replace, text)


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    """``{name: parser}`` of every ``hwsim`` subcommand (a nested one as ``"hardware show"``)."""
    from sweeps.cli import build_parser

    out: dict[str, argparse.ArgumentParser] = {}

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    key = f"{prefix} {name}".strip()
                    out[key] = sub
                    walk(key, sub)

    walk("", build_parser())
    return out


def declared_options(parser: argparse.ArgumentParser) -> list[str]:
    """The options a guide's table lists for ``parser``: each optional's long flag (its
    first, if it has no long one) and each positional's metavar, without ``--help`` and
    nested subcommands."""
    names = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            long = [s for s in action.option_strings if s.startswith("--")]
            names.append((long or action.option_strings)[0])
        else:
            names.append(action.metavar or action.dest.upper())
    return names


def option_row(parser: argparse.ArgumentParser, option: str) -> str:
    """A table row for ``option`` made from its help text, as ``--help`` prints it."""
    formatter = parser._get_formatter()
    for action in parser._actions:
        if option in action.option_strings or option == (action.metavar or action.dest.upper()):
            invocation = formatter._format_action_invocation(action).split(", ")[-1]
            help_text = formatter._expand_help(action) if action.help else ""
            return f"| `{_cell(invocation)}` | {_cell(help_text)} |"
    raise KeyError(option)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated blocks of docs/user-guide.md (``--check``: only say if stale)."""
    args = argv if argv is not None else sys.argv[1:]
    text = GUIDE.read_text()
    new = render(text)
    if "--check" in args:
        if new != text:
            print(f"{GUIDE} is out of step with the code: run python -m sweeps.docs")
            return 1
        return 0
    if new != text:
        GUIDE.write_text(new)
        print(f"rewrote the generated blocks of {GUIDE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
