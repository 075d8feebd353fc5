"""What a ``[[train]]`` table may name and say, checked when a spec is parsed: the trainers
registered by plugins (:func:`register_trainer`), the built-in ones' names, and each built-in
trainer's parameter check. A leaf of ``sweeps``: the spec reads it without importing the
trainers (:mod:`sweeps.trainers`), which need the spec themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hwsim.errors import HwsimError, check

Trainer = Callable[..., tuple[Any, Mapping[str, float]]]
TRAINERS: dict[str, Trainer] = {}
"""Trainers registered by plugins, by method name."""

BUILTIN_TRAINERS: tuple[str, ...] = ("codesign", "joint")
"""The methods :mod:`sweeps.trainers` runs without a plugin."""


def register_trainer(method: str, fn: Trainer) -> None:
    """Make ``[[train]] method = "<method>"`` run ``fn(workload, hardware, params, seed)``.

    ``fn`` returns ``(BitPolicy, metrics)``: the trained policy (simulated on the point's
    hardware for the cost columns) and extra columns such as ``{"accuracy": 0.97}``.
    """
    TRAINERS[method] = fn


def resolved_tables(tables: Sequence[Mapping[str, Any]], root: str | Path) -> list[dict]:
    """``tables`` with each relative ``.toml`` base made absolute against ``root`` (so the
    tables mean the same from any folder)."""
    out = []
    for t in tables:
        t = dict(t)
        base = t.get("base")
        if isinstance(base, str) and base.endswith(".toml") and not Path(base).is_absolute():
            t["base"] = str(Path(root) / base)
        out.append(t)
    return out


def validate_codesign_params(params: Mapping[str, Any]) -> None:
    """Fail at spec time, naming the field, on params ``CodesignConfig`` would reject."""
    import dataclasses

    from quant.codesign import CodesignConfig
    from quant.runtime import RUNTIME_PARAMS, Runtime

    check(
        "hardware" not in params,
        "train.params.hardware",
        params.get("hardware"),
        "comes from the sweep's hardware axis",
    )
    known = [f.name for f in dataclasses.fields(CodesignConfig) if f.init and f.name != "hardware"]
    known += list(RUNTIME_PARAMS)  # the run-time settings, read into a Runtime
    for key in params:
        check(
            key in known,
            f"train.params.{key}",
            params[key],
            f"not a codesign option (known: {', '.join(known)})",
        )
    _, fields = Runtime.from_params(params)
    try:
        CodesignConfig(hardware="spec-check", **fields)
    except TypeError as exc:
        raise HwsimError("train.params", dict(params), str(exc)) from exc


JOINT_RESERVED = ("space", "space_seed")
"""Params of a ``joint`` point that the spec fills in: its own ``[[hardware]]`` tables and seed."""


def joint_space_params(tables: Any, seed: int, root: str | Path) -> dict[str, Any]:
    """What a ``joint`` ``[[train]]`` table's params get from its spec: the spec's hardware
    tables (relative bases made absolute against ``root``) and seed."""
    listed = [tables] if isinstance(tables, Mapping) else list(tables or [])
    return {"space": resolved_tables(listed, root), "space_seed": seed}


def validate_joint_params(params: Mapping[str, Any]) -> None:
    """Fail at spec time, naming the field, on params a joint search would reject."""
    import dataclasses

    from quant.codesign.joint import JointConfig
    from quant.runtime import RUNTIME_PARAMS, Runtime

    own = [f.name for f in dataclasses.fields(JointConfig) if f.init and f.name != "hardware"]
    own += list(RUNTIME_PARAMS)  # the run-time settings, read into a Runtime
    for key in params:
        check(
            key in (*own, "out", *JOINT_RESERVED),
            f"train.params.{key}",
            params[key],
            f"not a joint search option (known: {', '.join([*own, 'out'])}); the space is "
            "the spec's [[hardware]] tables",
        )
    check(
        "space" in params,
        "train.params.space",
        None,
        "comes from the spec's [[hardware]] tables (parse the spec with sweeps.load_spec)",
    )
    _, fields = Runtime.from_params(
        {k: v for k, v in params.items() if k not in (*JOINT_RESERVED, "out")}
    )
    try:
        JointConfig(hardware="spec-check", **fields)
    except TypeError as exc:
        raise HwsimError("train.params", dict(params), str(exc)) from exc


VALIDATORS = {"codesign": validate_codesign_params, "joint": validate_joint_params}


def validate_params(method: str, params: Mapping[str, Any]) -> None:
    """Check, before any work, that a ``[[train]]`` table names a trainer that exists (built
    in, or registered by a plugin the spec imports) and, where the method has a validator,
    that its params are valid."""
    known = sorted({*BUILTIN_TRAINERS, *TRAINERS})
    check(
        method in known,
        "train.method",
        method,
        f"no such trainer (known: {', '.join(known)}; a plugin module listed in the spec's "
        "plugins can add one with sweeps.register_trainer)",
    )
    if method in VALIDATORS:
        VALIDATORS[method](params)
