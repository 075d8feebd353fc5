"""Search the hardware and the bits together, under an area limit.

The loss sensitivity of every layer at every candidate (w, a) pair does not depend on the
hardware, so it is measured once (and kept in the run folder's stages). ``hwsim.cost_table``
prices every layer x option on every configuration of the space in one call, and the exact
knapsack (:func:`quant.search.knapsack.solve_mck`) finds, for each configuration within the
area limit, the policy of least predicted loss within the budgets. Designs (one configuration
with its policy) are compared on predicted loss, latency, energy and area; only the Pareto
designs are fine-tuned, the ``finetune_top`` distinct policies of least predicted loss first.
A fine-tuned accuracy depends on the bits alone (same baseline, seed and schedule), so designs
that share a policy share its accuracy.

Budgets are fractions of uniform ``reference`` bits (8/8) on the reference configuration (the
first base of the space, at its default size), or absolute amounts (``latency=2ms``). The run
builds the problem once (:class:`quant.codesign.problem.JointProblem`: the workload, the
configurations and the reference, their cost table, the budgets, the areas) and refuses
budgets no configuration reaches before any training; every stage reads it.

``search_designs`` is the search on arrays (no training); :func:`run_joint` the whole run;
:func:`write_joint` the run folder: ``designs.csv``, ``pareto/<design>/policy.json`` and
``hardware.toml``, ``report.md`` and ``accuracy_latency.png``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, make_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwsim.errors import HwsimError, check
from hwsim.policy import BitPolicy
from quant.codesign.budgets import describe
from quant.codesign.config import BUDGET_TOLERANCE, DEFAULT_STATES, JointConfig
from quant.codesign.problem import JointProblem
from quant.runtime import Runtime
from quant.search.hardware_aware import REPORT_KEYS
from quant.search.knapsack import solve_mck

OBJECTIVES: tuple[str, ...] = ("predicted_loss", "latency_s", "energy_j", "area_mm2")
"""What designs are compared on (all minimized)."""


# ---------------------------------------------------------------------------- on arrays
@dataclass
class DesignSearch:
    """The knapsack's answer on every configuration (index ``h`` of the table's hardware).

    ``status[h]``: ``ok``; ``over area`` (beyond ``max_area``); ``no area`` (the family has
    no area model while a limit is set); ``over budget`` (no policy meets the budgets).
    ``choice[h]``: the option per layer (-1 where not ok); ``predicted_loss[h]``: the sum of
    the chosen options' sensitivities; ``totals[key][h]``: the network totals of the table's
    metrics ``latency_s``, ``energy_j``, ``weight_bits``; ``pareto[h]``: not dominated on
    :data:`OBJECTIVES` by another ok design.
    """

    status: np.ndarray
    choice: np.ndarray
    predicted_loss: np.ndarray
    totals: dict[str, np.ndarray]
    area_mm2: np.ndarray
    pareto: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        return self.status == "ok"

    def objectives(self) -> np.ndarray:
        """``[H, 4]`` of :data:`OBJECTIVES` (NaN where not ok)."""
        return np.stack(
            [
                self.predicted_loss,
                self.totals["latency_s"],
                self.totals["energy_j"],
                self.area_mm2,
            ],
            axis=1,
        )


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """``[N]`` bool: rows of ``points`` (``[N, M]``, all minimized) that no other row
    dominates (<= everywhere, < somewhere). A NaN counts as worse than any number; equal rows
    are all kept."""
    pts = np.where(np.isnan(points), np.inf, np.asarray(points, dtype=np.float64))
    n = len(pts)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        le = np.all(pts <= pts[i], axis=1)
        lt = np.any(pts < pts[i], axis=1)
        keep[i] = not np.any(le & lt)
    return keep


def search_designs(
    table,
    sensitivity: np.ndarray,
    budgets: Mapping[str, float],
    area_mm2: Sequence[float] | np.ndarray,
    max_area: float | None = None,
    *,
    max_states: int = DEFAULT_STATES,
) -> DesignSearch:
    """The least-loss policy within ``budgets`` on every configuration of ``table``.

    ``table``: a :class:`hwsim.CostTable` over several configurations (``[H, L, nw, na]``);
    ``sensitivity``: ``[L, nw, na]`` loss increase of each option; ``budgets``: absolute, by
    budget name (``latency``, ``energy``, ``memory``) or table metric; ``area_mm2``: ``[H]``
    (NaN: no area model). Configurations over ``max_area`` are not searched."""
    lat = table.flat("latency_s")
    check(lat.ndim == 3, "table", lat.shape, "needs a hardware axis (cost_table of several)")
    n_hw, n_layers, n_opts = lat.shape
    area = np.asarray(area_mm2, dtype=np.float64)
    check(area.shape == (n_hw,), "area_mm2", area.shape, f"need one per configuration ({n_hw})")
    sens = np.asarray(sensitivity, dtype=np.float64).reshape(n_layers, -1)
    check(sens.shape == (n_layers, n_opts), "sensitivity", sens.shape, "must match the table")
    check(len(budgets) > 0, "budgets", dict(budgets), "need at least one budget")
    keys = [REPORT_KEYS.get(m, m) for m in budgets]
    costs = np.stack([table.flat(k) for k in keys], axis=1)  # [H, R, L, O]
    limits = np.array([float(v) for v in budgets.values()])
    status = np.full(n_hw, "ok", dtype=object)
    if max_area is not None:
        status[np.isnan(area)] = "no area"
        status[area > max_area] = "over area"
    choice = np.full((n_hw, n_layers), -1, dtype=np.int64)
    for h in np.flatnonzero(status == "ok"):
        # Each layer's cheapest options alone over a budget: no policy fits (skip the DP).
        if np.any(costs[h].min(axis=2).sum(axis=1) > limits * (1 + BUDGET_TOLERANCE)):
            status[h] = "over budget"
            continue
        try:
            sol = solve_mck(sens, costs[h], limits * (1 + BUDGET_TOLERANCE), max_states=max_states)
        except HwsimError:
            status[h] = "over budget"
            continue
        choice[h] = sol.choice
    return designs_of(table, sens, status.astype(str), choice, area)


def designs_of(
    table, sensitivity: np.ndarray, status: np.ndarray, choice: np.ndarray, area_mm2: np.ndarray
) -> DesignSearch:
    """The :class:`DesignSearch` of given choices: totals and predicted losses read from
    ``table`` and ``sensitivity``, the Pareto flags among the ``ok`` designs."""
    n_hw, n_layers = choice.shape
    sens = np.asarray(sensitivity, dtype=np.float64).reshape(n_layers, -1)
    layers = np.arange(n_layers)
    ok = status == "ok"
    loss = np.full(n_hw, np.nan)
    totals = {k: np.full(n_hw, np.nan) for k in ("latency_s", "energy_j", "weight_bits")}
    for h in np.flatnonzero(ok):
        loss[h] = sens[layers, choice[h]].sum()
        for k in totals:
            totals[k][h] = table.flat(k)[h][layers, choice[h]].sum()
    area = np.asarray(area_mm2, dtype=np.float64)
    pareto = np.zeros(n_hw, dtype=bool)
    if ok.any():
        objectives = np.stack([loss, totals["latency_s"], totals["energy_j"], area], axis=1)
        pareto[np.flatnonzero(ok)] = pareto_mask(objectives[ok])
    return DesignSearch(status, choice, loss, totals, area, pareto)


def finetune_order(search: DesignSearch, top: int) -> list[int]:
    """Pareto designs whose policies are fine-tuned: one design per distinct policy, least
    predicted loss first (then least area, latency, index), at most ``top`` policies."""
    idx = np.flatnonzero(search.pareto)
    area = np.where(np.isnan(search.area_mm2), np.inf, search.area_mm2)
    order = sorted(
        idx,
        key=lambda h: (search.predicted_loss[h], area[h], search.totals["latency_s"][h], h),
    )
    chosen, seen = [], set()
    for h in order:
        key = search.choice[h].tobytes()
        if key in seen:
            continue
        if len(chosen) >= top:
            break
        seen.add(key)
        chosen.append(int(h))
    return chosen


def default_area(hardware) -> float:
    """``hwsim.area(hardware).total_mm2``, or NaN where the family has no area model (the
    CPU presets) or this hwsim has none."""
    import hwsim

    area = getattr(hwsim, "area", None)
    if area is None:
        return float("nan")
    try:
        value = area(hardware)
    except HwsimError:
        return float("nan")
    total = getattr(value, "total_mm2", value)
    return float("nan") if total is None else float(total)


def space_fields(hardware: Sequence[Any]) -> tuple[str, ...]:
    """The config fields whose values differ across ``hardware`` (``family`` and ``name``
    are columns of their own)."""
    dicts = [h.to_dict() for h in hardware]
    keys: dict[str, None] = {}
    for d in dicts:
        keys.update(dict.fromkeys(d))
    skip = {"family", "name", "sources"}
    return tuple(
        k
        for k in keys
        if k not in skip and len({json.dumps(d.get(k), sort_keys=True) for d in dicts}) > 1
    )


# ---------------------------------------------------------------------------- the run
@dataclass
class JointResult:
    """Everything a joint run produced. ``designs``: one row per configuration (what
    ``designs.csv`` holds); ``policies[h]``: the knapsack's policy of design ``h``;
    ``budgets``: absolute, by budget name; ``reference_totals``: uniform reference bits on
    the reference configuration."""

    config: JointConfig
    hardware: tuple[Any, ...]
    reference: Any
    designs: pd.DataFrame
    policies: dict[int, BitPolicy]
    budgets: dict[str, float]
    reference_totals: dict[str, float]
    baseline_accuracy: float
    search: DesignSearch
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    runtime: Runtime = field(default_factory=Runtime)
    """How the run ran (device, threads, loader workers, scan processes)."""

    @property
    def pareto(self) -> list[int]:
        """Indices of the Pareto designs."""
        return [int(h) for h in np.flatnonzero(self.search.pareto)]

    @property
    def tuned(self) -> pd.DataFrame:
        """The designs with a fine-tuned accuracy."""
        return self.designs[self.designs["accuracy"].notna()]

    def best(self) -> int | None:
        """The tuned design of highest accuracy (ties: least predicted loss, then area)."""
        tuned = self.tuned
        if tuned.empty:
            return None
        ranked = tuned.assign(_area=tuned["area_mm2"].fillna(np.inf)).sort_values(
            ["accuracy", "predicted_loss", "_area", "design"],
            ascending=[False, True, True, True],
        )
        return int(ranked["design"].iloc[0])


def space_digest(hardware: Sequence[Any], reference: Any) -> str:
    """A short content hash of the space and its reference (what a resumed run must match)."""
    text = json.dumps(
        {"space": [h.to_dict() for h in hardware], "reference": reference.to_dict()},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stage_record(cfg: JointConfig, digest: str):
    """What the stages folder records of the run: the config's fields and the space's hash."""
    values = {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.init}
    values["hardware"] = f"space:{digest}"
    record = make_dataclass("JointRecord", [(k, Any) for k in values])
    return record(**values)


def run_joint(
    config: JointConfig,
    hardware: Sequence[Any],
    *,
    reference: Any = None,
    out: str | Path | None = None,
    area: Callable[[Any], float] | None = None,
    only: int | None = None,
    runtime: Runtime | None = None,
) -> JointResult:
    """Search ``hardware`` (``HardwareConfig`` objects) and the bits together (module
    docstring). ``reference``: the configuration budgets are relative to (default:
    ``hardware[0]``); ``out``: the run folder whose ``stages/`` keep the baseline, the
    sensitivity table, the search and each fine-tuned policy (a run with the same ``out``
    resumes); ``area``: mm^2 of a configuration (default :func:`default_area`); ``only``:
    fine-tune at most the policy of design ``only`` (a sweep point), reading the others'
    accuracies from the stages where they are; ``runtime``: how it runs (default
    :class:`quant.runtime.Runtime`). Each stage prints one line with the time elapsed on
    stderr."""
    hardware = tuple(hardware)
    check(len(hardware) > 0, "hardware", [], "the space has no configuration")
    check(
        only is None or (isinstance(only, int) and 0 <= only < len(hardware)),
        "only",
        only,
        f"must be a design index in 0..{len(hardware) - 1}",
    )
    runtime = runtime or Runtime()
    try:
        with runtime.applied():
            return _run_joint(
                config, hardware, reference or hardware[0], out, area or default_area, only, runtime
            )
    except KeyboardInterrupt:
        from hwsim.errors import Interrupted

        kept = Path(out) / "stages" if out is not None else None
        if kept is not None and kept.is_dir():
            raise Interrupted(
                f"kept the finished stages in {kept}; run the same command with --out {out} "
                "to resume from them"
            ) from None
        raise Interrupted(
            "no run folder kept the stages (only the float baseline cache, if it finished); "
            "run again with --out DIR to keep them"
        ) from None


def _run_joint(cfg, hardware, reference, out, area_of, only, runtime: Runtime) -> JointResult:
    from hwsim.progress import StageLog
    from models.data import calibration, load_dataset
    from quant.codesign.run import (
        chance_warning,
        data_workload,
        finetune_warnings,
        finetuned_accuracy,
        input_shape,
        prepare,
    )
    from quant.codesign.stages import Stages

    start = time.perf_counter()
    log = StageLog("codesign")
    digest = space_digest(hardware, reference)
    stages = Stages(out, _stage_record(cfg, digest))
    seconds: dict[str, float] = {}
    log(f"{cfg.model} on {cfg.data}, {len(hardware)} hardware configurations: pricing them")
    # Price the space first (the workload at the data's shape needs no training), so that a
    # budget no configuration can meet is refused before the baseline trains.
    began = time.perf_counter()
    data = load_dataset(cfg.data, seed=cfg.seed, input_shape=input_shape(cfg))
    workload = data_workload(cfg.model, data, cfg.data)
    problem = JointProblem.build(cfg, workload, hardware, reference, area_of)
    problem.check()
    seconds["data_and_pricing"] = time.perf_counter() - began
    notes: list[str] = []
    areas = problem.areas
    if np.isnan(areas).any():
        missing = sorted({problem.hardware[h].family for h in np.flatnonzero(np.isnan(areas))})
        notes.append(
            f"{int(np.isnan(areas).sum())} configuration(s) have no area model "
            f"({', '.join(missing)}): "
            + ("left out under the area limit" if cfg.max_area is not None else "area empty")
        )
    log(f"{len(hardware)} configurations priced; float baseline, then sensitivity")
    began = time.perf_counter()
    prep = prepare(cfg, stages, log, runtime=runtime)
    seconds["baseline_and_sensitivity"] = time.perf_counter() - began
    check(
        tuple(prep.workload.layer_names) == tuple(workload.layer_names),
        "model",
        cfg.model,
        "its layers changed between pricing and the sensitivity scan",
    )
    chance = chance_warning(prep.baseline_accuracy, int(prep.data.num_classes))
    if chance:
        notes.append(f"warning: {chance}")
        log(f"warning: {chance}")
    log(
        "knapsack on each configuration within "
        + ", ".join(describe(m, v) for m, v in cfg.budgets.items())
        + (f" and area <= {cfg.max_area:g} mm^2" if cfg.max_area is not None else "")
    )
    began = time.perf_counter()
    table = problem.table
    search = None
    kept = stages.read_json("joint_search.json")
    if kept is not None:
        search = _search_from_json(kept, table, prep.sensitivity, areas)
    if search is None:
        search = search_designs(
            table, prep.sensitivity, problem.budgets, areas, cfg.max_area, max_states=cfg.max_states
        )
        stages.write_json("joint_search.json", _search_to_json(search))
    seconds["knapsack"] = time.perf_counter() - began
    counts = {str(s): int((search.status == s).sum()) for s in np.unique(search.status)}
    if not search.ok.any():  # each budget reachable alone, not together
        raise HwsimError(
            "budgets",
            dict(cfg.budgets),
            f"no configuration of the space has a policy within all the budgets and the area "
            f"limit together ({', '.join(f'{n} {s}' for s, n in counts.items())})",
        )
    policies = {int(h): BitPolicy(table.bits(search.choice[h])) for h in np.flatnonzero(search.ok)}
    order = finetune_order(search, cfg.finetune_top)
    log(
        f"{counts.get('ok', 0)} of {len(hardware)} designs within budget and area; "
        f"{int(search.pareto.sum())} "
        f"on the Pareto front; fine-tuning {len(order)} distinct policies"
    )

    began = time.perf_counter()
    tuned: dict[str, dict[str, Any]] = {}
    labels: dict[str, str] = {}
    reused_tunes = 0
    x_cal = None
    for n, h in enumerate(order, start=1):
        policy = policies[h]
        key = _policy_key(policy)
        name = f"finetune-{key}.json"
        done = stages.read_json(name)
        if done is not None and done.get("bits") != policy.to_dict():
            done = None
        elif done is not None:
            reused_tunes += 1
        if done is None and (only is None or policies.get(only) == policy):
            if x_cal is None:
                x_cal = calibration(prep.data, cfg.samples, workers=runtime.loader_workers)[0]
            acc, acc_ptq = finetuned_accuracy(
                policy,
                prep.base,
                prep.data,
                epochs=cfg.epochs,
                lr=cfg.lr,
                seed=cfg.seed,
                calibration=x_cal,
                steps=cfg.finetune_steps,
                runtime=runtime,
            )
            done = {
                "bits": policy.to_dict(),
                "accuracy": acc,
                "accuracy_before_finetune": acc_ptq,
            }
            stages.write_json(name, done)
            log(f"fine-tuned {n}/{len(order)} (design {h}): accuracy {100 * acc:.2f} %")
        if done is not None:
            tuned[key] = done
            labels[key] = f"design {h} ({problem.hardware[h].name})"
    seconds["finetune"] = time.perf_counter() - began
    how = (
        f"{cfg.finetune_steps} steps" if cfg.finetune_steps is not None else f"{cfg.epochs} epochs"
    )
    lost = finetune_warnings(
        pd.DataFrame(
            {
                "method": [labels[k] for k in tuned],
                "accuracy": [d["accuracy"] for d in tuned.values()],
                "accuracy_before_finetune": [d["accuracy_before_finetune"] for d in tuned.values()],
            }
        ),
        how,
        cfg.lr,
    )
    for w in lost:
        notes.append(f"warning: {w}")
        log(f"warning: {w}")
    reused = stages.reused_names(reused_tunes, len(order))
    if reused:
        notes.append(f"resumed from {stages.folder}: reused {', '.join(reused)}")
        log(f"resumed from {stages.folder}: reused {', '.join(reused)}")

    designs = _designs_frame(problem.hardware, search, policies, tuned, problem.workload)
    log("done")
    return JointResult(
        cfg,
        problem.hardware,
        problem.reference,
        designs,
        policies,
        problem.budgets,
        problem.reference_totals,
        prep.baseline_accuracy,
        search,
        notes,
        time.perf_counter() - start,
        seconds,
        runtime,
    )


def _policy_key(policy: BitPolicy) -> str:
    text = json.dumps(policy.to_dict(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _search_to_json(search: DesignSearch) -> dict[str, Any]:
    return {"status": search.status.tolist(), "choice": search.choice.tolist()}


def _search_from_json(kept, table, sensitivity, areas) -> DesignSearch | None:
    """The kept search (status and choices), the rest recomputed from the table; None when it
    does not fit this table."""
    status = np.array(kept["status"], dtype=str)
    choice = np.array(kept["choice"], dtype=np.int64)
    n_hw = len(table.hardware)
    if status.shape != (n_hw,) or choice.shape != (n_hw, len(table.layer_names)):
        return None
    return designs_of(table, sensitivity, status, choice, areas)


def _designs_frame(hardware, search, policies, tuned, workload) -> pd.DataFrame:
    varying = space_fields(hardware)
    held = [n for n, a in zip(workload.layer_names, workload.is_act_matmul, strict=True) if not a]
    rows = []
    for h, hw in enumerate(hardware):
        d = hw.to_dict()
        policy = policies.get(h)
        done = tuned.get(_policy_key(policy)) if policy is not None else None
        row: dict[str, Any] = {"design": h, "family": hw.family, "name": hw.name}
        row.update({f"hw.{k}": d.get(k) for k in varying})
        row.update(
            {
                "status": search.status[h],
                "area_mm2": search.area_mm2[h],
                "latency_s": search.totals["latency_s"][h],
                "energy_j": search.totals["energy_j"][h],
                "weight_bits": search.totals["weight_bits"][h],
                "predicted_loss": search.predicted_loss[h],
                "mean_w_bits": np.nan
                if policy is None
                else float(np.mean([policy[n][0] for n in held or workload.layer_names])),
                "mean_a_bits": np.nan
                if policy is None
                else float(np.mean([policy[n][1] for n in workload.layer_names])),
                "accuracy": np.nan if done is None else float(done["accuracy"]),
                "pareto": bool(search.pareto[h]),
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)
