"""Dataclass fields that declare their command-line option: the one declaration a CLI builds
its parser from and reads its values back by (``sweeps.commands.codesign``).

A leaf module (the standard library only), so that a config and the run-time settings alike
can declare their options.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, field
from typing import Any

OPTION = "option"
"""The key of a field's metadata that holds its option."""


def option(
    default: Any = MISSING,
    *,
    help: str,
    flag: str | None = None,
    show: Callable[[Any], Any] | None = None,
    parse: Callable[[Any], Any] | None = None,
    cli: Mapping[str, Any] | None = None,
    default_factory: Any = MISSING,
) -> Any:
    """A dataclass field with ``default`` (or ``default_factory``) and its option: ``help``
    (argparse's; ``%(default)s`` is the option's default), ``flag`` (default ``--`` and the
    field's name with dashes), ``show`` (the field's default as the option writes it, e.g. a
    tuple as ``2,4,8``), ``parse`` (the option's value to the field's; ``None`` leaves the
    field at its default) and ``cli`` (more ``add_argument`` arguments: ``type``, ``choices``,
    which a callable gives when the parser is built, ``metavar``, ``action``, or a
    ``default`` of the option's own)."""
    spec = {"help": help, "flag": flag, "show": show, "parse": parse, "cli": dict(cli or {})}
    return field(default=default, default_factory=default_factory, metadata={OPTION: spec})
