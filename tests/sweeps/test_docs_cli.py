"""docs/user-guide.md stays in step with the code: its option tables list exactly the options
``--help`` declares, with the same defaults; its preset and family-field tables are what the
registry generates; its error example is the line the CLI prints."""

from __future__ import annotations

import argparse
import re

import pytest

from hwsim.hardware import preset_names
from sweeps import docs
from sweeps.cli import COMMANDS, main

TEXT = docs.GUIDE.read_text()


def _section(command: str) -> str:
    """The guide's ``### `hwsim COMMAND``` section."""
    m = re.search(rf"^### `hwsim {command}`\n(.*?)(?=^##)", TEXT, flags=re.S | re.M)
    assert m, f"the guide has no section for hwsim {command}"
    return m.group(1)


def _table_rows(section: str) -> list[str]:
    rows, inside = [], False
    for line in section.splitlines():
        if line.startswith("| option | meaning |"):
            inside = True
            continue
        if inside and line.startswith("|---"):
            continue
        if inside and line.startswith("|"):
            rows.append(line)
        elif inside:
            inside = False
    return rows


def _first_cell(row: str) -> str:
    return re.split(r"(?<!\\)\|", row)[1]


def _documented(rows: list[str]) -> set[str]:
    names: set[str] = set()
    for row in rows:
        cell = _first_cell(row)
        names |= set(re.findall(r"--[a-z0-9][a-z0-9-]*", cell))
        names |= set(re.findall(r"^\s*`([A-Z][A-Z_]*)`", cell))
    return names


def _parsers_by_section() -> dict[str, list[argparse.ArgumentParser]]:
    out: dict[str, list[argparse.ArgumentParser]] = {}
    for name, parser in docs.command_parsers().items():
        out.setdefault(name.split()[0], []).append(parser)
    return out


@pytest.mark.parametrize("command", COMMANDS)
def test_option_table_lists_exactly_the_declared_options(command):
    parsers = _parsers_by_section()[command]
    declared = {o for p in parsers for o in docs.declared_options(p)}
    rows = _table_rows(_section(command))
    documented = _documented(rows)
    missing = sorted(declared - documented)
    extra = sorted(documented - declared)
    hints = [
        docs.option_row(p, o) for o in missing for p in parsers if o in docs.declared_options(p)
    ]
    assert not missing, f"hwsim {command}: --help has options the guide lacks:\n" + "\n".join(hints)
    assert not extra, f"hwsim {command}: the guide lists options --help lacks: {extra}"


def _documented_default(row: str) -> str | None:
    m = re.search(r"\(default:? `?([^`),;]+(?:,[0-9]+)*)`?[),;]", row)
    return m.group(1).strip() if m else None


@pytest.mark.parametrize("command", COMMANDS)
def test_stated_defaults_are_the_declared_ones(command):
    parsers = _parsers_by_section()[command]
    for row in _table_rows(_section(command)):
        flags = re.findall(r"--[a-z0-9][a-z0-9-]*", _first_cell(row))
        stated = _documented_default(row)
        if len(flags) != 1 or stated is None:
            continue
        for parser in parsers:
            action = next((a for a in parser._actions if flags[0] in a.option_strings), None)
            if action is None or action.default in (None, False, argparse.SUPPRESS):
                continue
            want = action.default
            want = ",".join(map(str, want)) if isinstance(want, tuple | list) else str(want)
            assert stated.split(":")[0].strip() in (want, f"./{want}"), (command, row, want)


def test_baseline_epochs_default_is_the_one_used():
    from quant.baseline import DEFAULT_EPOCHS

    rows = _table_rows(_section("codesign"))
    row = next(r for r in rows if "--baseline-epochs" in _first_cell(r))
    assert f"default {DEFAULT_EPOCHS}" in row


def test_generated_blocks_are_in_step_with_the_code():
    assert "<!-- generated: presets -->" in TEXT and "<!-- generated: family-fields -->" in TEXT
    assert docs.render(TEXT) == TEXT, "docs/user-guide.md is stale: run python -m sweeps.docs"


def test_every_preset_and_family_is_in_the_guide():
    for name in preset_names():
        assert f"| `{name}` |" in TEXT, name
    concepts = re.search(r"## 2\. Concepts\n(.*?)\n## 3", TEXT, flags=re.S).group(1)
    for family in docs.builtin_families():
        assert f"`{family}`" in concepts, family
        assert f"**`{family}`**" in TEXT, family  # its field table


def test_the_error_example_is_the_line_the_cli_prints(capsys):
    block = re.search(r"```text\n(hwsim: error: .*?)\n```", TEXT).group(1)
    assert main(["simulate", "--model", "resnet18", "--hardware", "stripes", "--bits", "4/0"]) == 2
    assert capsys.readouterr().err.strip() == block


def test_every_command_is_named_in_the_guide():
    intro = re.search(r"## 3\. Command line\n(.*?)###", TEXT, flags=re.S).group(1)
    for command in COMMANDS:
        assert f"`{command}`" in intro, command
    assert "keeps its cached float baseline" not in TEXT  # codesign keeps every stage now


def test_readme_names_every_preset():
    readme = (docs.GUIDE.parents[1] / "README.md").read_text()
    para = re.search(r"Hardware presets ship in .*?\n\n", readme, flags=re.S).group(0)
    for name in preset_names():
        assert f"`{name}`" in para, name
