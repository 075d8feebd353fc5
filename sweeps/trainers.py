"""Trainers for ``[[train]]`` points: the bridge from a sweep to the quantization front end.

A trainer is ``fn(workload, hardware, params, seed) -> (BitPolicy, extra columns)``, registered
under a method name with :func:`sweeps.run.register_trainer`. Built in:

- ``codesign``: ``quant.codesign.run_codesign`` on the point's hardware config (written to a
  temporary TOML); the policy is the hardware-aware search's choice, ``accuracy`` its accuracy
  after fine-tuning. ``params`` are :class:`quant.codesign.CodesignConfig` fields: ``method``
  is a registered budgeted search method (:func:`quant.methods.budgeted_methods`) and
  ``method_params`` fields of its config; ``model`` defaults to the workload's zoo name,
  ``seed`` to the point's seed (give one to reuse the cached float baseline across points).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hwsim.errors import HwsimError, check
from hwsim.io import hardware_toml


def codesign_trainer(workload, hardware, params: Mapping[str, Any], seed: int):
    """Run the codesign job for one point; see the module docstring."""
    from quant.codesign import CodesignConfig, run_codesign

    params = dict(params)
    params.setdefault("seed", seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{hardware.name}.toml"
        path.write_text(hardware_toml(hardware))
        try:
            config = CodesignConfig(hardware=str(path), **params)
        except TypeError as exc:
            raise HwsimError("train.params", params, str(exc)) from exc
        result = run_codesign(config, progress=False)
    rows = result.results.set_index("method") if "method" in result.results else None
    extra = {"baseline_accuracy": float(result.baseline_accuracy)}
    if rows is not None and result.chosen in rows.index and "accuracy" in rows:
        extra["accuracy"] = float(rows.loc[result.chosen, "accuracy"])
    return result.policies[result.chosen], extra


def validate_codesign_params(params: Mapping[str, Any]) -> None:
    """Fail at spec time, naming the field, on params ``CodesignConfig`` would reject."""
    import dataclasses

    from quant.codesign import CodesignConfig

    check(
        "hardware" not in params,
        "train.params.hardware",
        params.get("hardware"),
        "comes from the sweep's hardware axis",
    )
    known = [f.name for f in dataclasses.fields(CodesignConfig) if f.init and f.name != "hardware"]
    for key in params:
        check(
            key in known,
            f"train.params.{key}",
            params[key],
            f"not a codesign option (known: {', '.join(known)})",
        )
    try:
        CodesignConfig(hardware="spec-check", **params)
    except TypeError as exc:
        raise HwsimError("train.params", dict(params), str(exc)) from exc


BUILTIN = {"codesign": codesign_trainer}
VALIDATORS = {"codesign": validate_codesign_params}


def validate_params(method: str, params: Mapping[str, Any]) -> None:
    """Check, before any work, that a ``[[train]]`` table names a trainer that exists (built
    in, or registered by a plugin the spec imports) and, where the method has a validator,
    that its params are valid."""
    from sweeps.general import TRAINERS

    known = sorted({*BUILTIN, *TRAINERS})
    check(
        method in known,
        "train.method",
        method,
        f"no such trainer (known: {', '.join(known)}; a plugin module listed in the spec's "
        "plugins can add one with sweeps.register_trainer)",
    )
    if method in VALIDATORS:
        VALIDATORS[method](params)
