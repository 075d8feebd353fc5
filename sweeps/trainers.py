"""Trainers for ``[[train]]`` points: the bridge from a sweep to the quantization front end.

A trainer is ``fn(workload, hardware, params, seed) -> (BitPolicy, extra columns)``, registered
under a method name with :func:`sweeps.run.register_trainer`. Built in:

- ``codesign``: ``quant.codesign.run_codesign`` on the point's hardware config (the object);
  the policy is the hardware-aware search's choice, ``accuracy`` its accuracy
  after fine-tuning. ``params`` are :class:`quant.codesign.CodesignConfig` fields, and the
  run-time settings ``device``, ``threads``, ``workers`` and ``processes`` (read into a
  :class:`quant.runtime.Runtime`, as the CLI's flags are): ``method`` is a registered
  budgeted search method (:func:`quant.methods.budgeted_methods`) and ``method_params``
  fields of its config; ``model`` defaults to the workload's zoo name,
  ``seed`` to the point's seed (give one to reuse the cached float baseline across points).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hwsim.errors import HwsimError, check
from hwsim.io import hardware_toml
from sweeps.trainer_registry import (  # the checks a spec runs, re-exported where they were
    JOINT_RESERVED,  # noqa: F401
    VALIDATORS,  # noqa: F401
    joint_space_params,  # noqa: F401
    validate_codesign_params,  # noqa: F401
    validate_joint_params,  # noqa: F401
    validate_params,
)

__all__ = ["codesign_trainer", "hardware_toml", "joint_trainer", "validate_params"]


def codesign_trainer(workload, hardware, params: Mapping[str, Any], seed: int):
    """Run the codesign job for one point; see the module docstring."""
    from quant.codesign import CodesignConfig, run_codesign
    from quant.runtime import Runtime

    params = dict(params)
    params.setdefault("seed", seed)
    runtime, fields = Runtime.from_params(params)
    try:
        config = CodesignConfig(hardware=hardware, **fields)  # the config object itself
    except TypeError as exc:
        raise HwsimError("train.params", params, str(exc)) from exc
    result = run_codesign(config, runtime=runtime, progress=False)
    rows = result.results.set_index("method") if "method" in result.results else None
    extra = {"baseline_accuracy": float(result.baseline_accuracy)}
    if rows is not None and result.chosen in rows.index and "accuracy" in rows:
        extra["accuracy"] = float(rows.loc[result.chosen, "accuracy"])
    return result.policies[result.chosen], extra


def joint_trainer(workload, hardware, params: Mapping[str, Any], seed: int):
    """One design of a joint hardware x bits search (:mod:`quant.codesign.joint`).

    The search space is the sweep's own hardware axis (the spec's ``[[hardware]]`` tables),
    and each point is one design: the knapsack's policy on the point's configuration, with
    ``predicted_loss``, ``pareto`` (1 or 0), ``design`` (its index in the space) and, where
    its policy is one of the ``finetune_top`` fine-tuned, ``accuracy``. A configuration over
    the area limit or with no policy within the budgets is a failed point saying so.

    Every point of the space shares one search: ``out`` (a folder; default a cache folder
    under ``$HWSIM_CACHE/joint`` named by the params) keeps the baseline, the sensitivity
    table, the search and each fine-tuned policy, so each point does only its own
    fine-tuning. ``seed`` is the search's (default: the spec's), not the point's."""
    from quant.baseline import cache_dir
    from quant.codesign.joint import JointConfig, run_joint
    from quant.runtime import Runtime
    from sweeps.hwspace import configs, parse_space, reference
    from sweeps.spec import hash64

    params = dict(params)
    tables, space_seed = params.pop("space"), params.pop("space_seed")
    out = params.pop("out", None)
    params.setdefault("seed", space_seed)
    space = parse_space(tables, space_seed)
    designs = configs(space)
    ref = reference(space)
    wanted = hardware.to_dict()
    index = next((i for i, h in enumerate(designs) if h.to_dict() == wanted), None)
    check(
        index is not None,
        "hardware",
        hardware.name,
        "this point's configuration is not in the joint search's space",
    )
    runtime, fields = Runtime.from_params(params)
    try:
        config = JointConfig(hardware=ref.name, **fields)
    except TypeError as exc:
        raise HwsimError("train.params", params, str(exc)) from exc
    if out is None:
        key = hash64({"params": params, "space": tables, "seed": space_seed})
        out = cache_dir().parent / "joint" / f"{config.model}-{key:016x}"
    result = run_joint(config, designs, reference=ref, out=out, only=index, runtime=runtime)
    row = result.designs.iloc[index]
    check(
        row["status"] == "ok",
        "hardware",
        hardware.name,
        f"design {index} is {row['status']} "
        + (f"({row['area_mm2']:.4g} mm^2)" if row["status"] == "over area" else ""),
    )
    extra = {
        "design": float(index),
        "predicted_loss": float(row["predicted_loss"]),
        "pareto": float(bool(row["pareto"])),
        "baseline_accuracy": float(result.baseline_accuracy),
    }
    if row["accuracy"] == row["accuracy"]:  # not NaN: its policy was fine-tuned
        extra["accuracy"] = float(row["accuracy"])
    return result.policies[index], extra


BUILTIN = {"codesign": codesign_trainer, "joint": joint_trainer}
