"""The closed loop: choose bitwidths against simulated hardware cost, fine-tune, compare.

``run_codesign`` takes a float baseline (trained once and cached), measures each layer's
sensitivity, searches a mixed-precision policy within a budget on the chosen hardware (budgets
are relative to uniform 8-bit on that hardware), checks the policy with ``hwsim.simulate`` and
repairs it if it is over, fine-tunes it, and puts it beside:

- uniform 2/4/8-bit on the same hardware;
- the same search driven by the papers' proxy (BitOps for latency and energy, parameters x bits
  for memory) at the same relative budget, as chosen, and once more repaired to the real budget.

Every policy is fine-tuned from the same baseline for the same epochs, so differences come from
the bits alone. ``write_run`` writes the run folder (``report.md``, ``results.csv``,
``policy.json``, ``pareto.png``, ``bits.png``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from hwsim.errors import HwsimError, check
from hwsim.policy import BitPolicy
from models.data import calibration
from quant.codesign.config import BUDGET_TOLERANCE, CodesignConfig
from quant.codesign.problem import CodesignProblem
from quant.codesign.stages import Stages
from quant.methods import SearchProblem, search_method
from quant.runtime import Runtime
from quant.search.hardware_aware import (
    BUDGET_METRICS,
    PROXY_NAMES,
    REPORT_KEYS,
    repair_policy,
)


@dataclass
class CodesignResult:
    """Everything a run produced: the comparison table, each method's policy, the budgets."""

    config: CodesignConfig
    results: pd.DataFrame
    policies: dict[str, BitPolicy]
    budgets: dict[str, float]  # absolute, on the simulated hardware
    reference_totals: dict[str, float]  # uniform reference bits, simulated
    baseline_accuracy: float
    layer_names: tuple[str, ...]
    notes: list[str]
    seconds: float
    hardware_name: str = ""
    run_bits: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    """Per method, per layer: the (w, a) bits the hardware ran (it may round up what was asked)."""
    products: tuple[str, ...] = ()
    """The activation x activation rows (attention scores and values): no weights; their
    ``w`` bits are the second operand's."""
    reused: tuple[str, ...] = ()
    """The finished stages a resumed run read back instead of redoing (empty: a fresh run)."""
    runtime: Runtime = field(default_factory=Runtime)
    """How the run ran (device, threads, loader workers, scan processes)."""

    @property
    def chosen(self) -> str:
        """The row name of the hardware-aware policy."""
        return f"{self.config.method} (simulated)"


@dataclass
class Prepared:
    """What every search of one (model, data, seed) shares: the float baseline, its workload
    and the per-layer sensitivities over the candidate bits."""

    data: Any
    base: Any
    baseline_accuracy: float
    workload: Any
    sensitivity: np.ndarray
    problem: CodesignProblem | None = None
    """The codesign problem on the hardware ``prepare`` was given (``None`` without one)."""


def input_shape(cfg: CodesignConfig) -> tuple[int, ...]:
    """One image's ``(C, H, W)``: the zoo model's, at ``image_size`` if the config sets one."""
    import models

    shape = models.zoo.entry(cfg.model).input_shape
    return shape if cfg.image_size is None else (shape[0], cfg.image_size, cfg.image_size)


def data_workload(model_name: str, data, data_name: str):
    """The workload of zoo model ``model_name`` at ``data``'s real sample shape (and the zoo's
    usual batch), traced on an untrained copy: nothing has been trained yet. A model that
    cannot take the data, or whose outputs do not match its classes, is refused in one line."""
    import models
    from models.zoo import entry

    net = models.build(model_name, num_classes=data.num_classes).eval()
    shape = tuple(int(v) for v in data.input_shape)
    x = torch.zeros((entry(model_name).batch, *shape))
    try:
        with torch.no_grad():
            out = net(x)
    except Exception as exc:  # any shape or channel mismatch the network itself reports
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HwsimError(
            "model",
            model_name,
            f"cannot take {data_name} samples of shape {shape} "
            f"(it expects {entry(model_name).input_shape}): {reason}",
        ) from None
    check(
        out.dim() == 2 and out.shape[1] == data.num_classes,
        "model",
        model_name,
        f"gives {tuple(out.shape[1:])} outputs per sample but {data_name} has "
        f"{data.num_classes} classes",
    )
    return models.extract_workload(net, x)


def prepare(
    cfg: CodesignConfig,
    stages: Stages | None = None,
    log=None,
    hardware=None,
    runtime: Runtime | None = None,
) -> Prepared:
    """Load the data, take the workload from its real sample shape, and (given ``hardware``)
    check that the budgets are reachable there, all before any training; then load the float
    baseline (the checkpoint, or trained and cached) and measure sensitivity, as ``runtime``
    says (default :class:`quant.runtime.Runtime`: the device, loader workers and scan
    processes). ``stages`` keeps (and gives back, on a resumed run) the baseline and the
    sensitivity table."""
    import models
    from models.data import load_dataset
    from quant.baseline import load_checkpoint, pretrained
    from quant.runtime import resolve_device
    from quant.search.sensitivity import hessian_sensitivity, layer_sensitivity
    from quant.train import evaluate, set_seed

    runtime = runtime or Runtime()
    stages = stages or Stages(None, cfg)
    device = resolve_device(runtime.device)
    set_seed(cfg.seed)
    shape = input_shape(cfg)
    data = load_dataset(cfg.data, seed=cfg.seed, input_shape=shape)
    workload = data_workload(cfg.model, data, cfg.data)
    problem = None
    if hardware is not None:  # priced once, and refused before any training if out of reach
        problem = CodesignProblem.build(cfg, workload, hardware)
        problem.check(_proxy_label(problem.fractions.budgets))
    state = stages.read_state("baseline.pt")
    if cfg.checkpoint is not None:
        base = load_checkpoint(cfg.checkpoint, cfg.model, num_classes=data.num_classes)
    elif state is not None:
        base = models.build(cfg.model, num_classes=data.num_classes)
        base.load_state_dict(state)
        base.eval()
    else:
        base = pretrained(
            cfg.model,
            cfg.data,
            cfg.seed,
            cfg.baseline_epochs,
            dataset=data,
            device=device,
            workers=runtime.loader_workers,
            log=log,
        )
    stages.write_state("baseline.pt", base)
    base = base.to(device).eval()
    done = stages.read_json("baseline.json")
    if done is None:
        done = {
            "accuracy": evaluate(base, data, workers=runtime.loader_workers),
            "device": str(device),
        }
        stages.write_json("baseline.json", done)
    if log is not None:
        log(f"float baseline accuracy {100 * done['accuracy']:.2f} % (on {device})")
    sens = stages.read_array("sensitivity.npy")
    if sens is None:
        common = {
            "reference": cfg.reference,
            "samples": cfg.samples,
            "batch_size": cfg.calibration_batch,
            "workers": runtime.loader_workers,
        }
        names, cands = workload.layer_names, cfg.candidates
        if cfg.sensitivity == "hessian":
            sens = hessian_sensitivity(
                base, data, names, cands, cands, probes=cfg.hessian_probes, seed=cfg.seed, **common
            )
        else:
            sens = layer_sensitivity(
                base,
                data,
                names,
                cands,
                cands,
                progress=False,
                log=log,
                processes=runtime.scan_processes,
                **common,
            )
        stages.write_array("sensitivity.npy", sens)
    return Prepared(data, base, float(done["accuracy"]), workload, sens, problem)


def run_codesign(
    config: CodesignConfig,
    *,
    runtime: Runtime | None = None,
    progress: bool | None = None,
    out: str | Path | None = None,
) -> CodesignResult:
    """Run the whole loop for ``config`` and return the comparison (see module docstring), as
    ``runtime`` says (default :class:`quant.runtime.Runtime`).

    Each stage logs one line with the elapsed time to stderr (any stream); tqdm bars show on a
    terminal (``progress=None``) or as asked. Ctrl-C raises :class:`hwsim.errors.Interrupted`
    saying what was kept (the cached float baseline) and how to resume.

    ``out``: the run folder, where each stage's result is written as it is done
    (:mod:`quant.codesign.stages`); a run with the same ``out`` resumes from them."""
    runtime = runtime or Runtime()
    try:
        with runtime.applied():
            return _run(config, runtime, progress, out)
    except KeyboardInterrupt:
        from hwsim.errors import Interrupted
        from quant.baseline import DEFAULT_EPOCHS, cache_path

        cfg = config
        if out is not None and (Path(out) / "stages").is_dir():
            raise Interrupted(
                f"kept the finished stages in {Path(out) / 'stages'}; run the same command "
                f"with --out {out} to resume from them"
            ) from None
        epochs = DEFAULT_EPOCHS if cfg.baseline_epochs is None else cfg.baseline_epochs
        cached = cache_path(cfg.model, cfg.data, cfg.seed, epochs)
        kept = (
            f"the float baseline is cached in {cached}"
            if cached.is_file()
            else "nothing (the float baseline was still training)"
        )
        raise Interrupted(
            f"kept {kept}; no policy was written; run the same command again to start over"
            + (" from the cached baseline" if cached.is_file() else "")
        ) from None


def _run(
    cfg: CodesignConfig, runtime: Runtime, progress: bool | None, out: str | Path | None
) -> CodesignResult:
    from hwsim import load_hardware, simulate
    from hwsim.progress import StageLog

    start = time.perf_counter()
    hw = load_hardware(cfg.hardware)
    log = StageLog("codesign")
    bars = None if progress is None else not progress  # tqdm's disable
    stages = Stages(out, cfg)
    log(f"{cfg.model} on {cfg.data}, hardware {hw.name}: float baseline, then sensitivity")
    prep = prepare(cfg, stages, log, hardware=hw, runtime=runtime)
    data, base, workload, sens = prep.data, prep.base, prep.workload, prep.sensitivity
    base_acc = prep.baseline_accuracy
    warnings_: list[str] = []
    chance = chance_warning(base_acc, int(data.num_classes))
    if chance:
        warnings_.append(chance)
        log(f"warning: {chance}")
    names = workload.layer_names
    cands = cfg.candidates
    log(
        f"sensitivity ({cfg.sensitivity}) of {len(names)} layers x {len(cands)} bits "
        f"measured; searching ({cfg.method}, simulated and proxy costs)"
    )

    problem = prep.problem  # the cost tables and budgets, built once by prepare
    cfg = problem.fractions  # absolute budgets as fractions of 8-bit on this hardware
    hw_table, hw_budgets = problem.hw_table, problem.hw_budgets
    budgets = problem.budgets  # absolute, by budget name
    reference = BitPolicy.uniform(workload, *cfg.reference)
    ref_totals = simulate(workload, reference, hw).totals
    notes: list[str] = []

    def vs_reference(policy: BitPolicy) -> dict[str, float]:
        """Each budgeted total as a multiple of uniform 8-bit: the table's ``x/8b`` columns."""
        totals = simulate(workload, policy, hw).totals
        return {m: totals[REPORT_KEYS[m]] / ref_totals[REPORT_KEYS[m]] for m in budgets}

    def over(ratios: Mapping[str, float]) -> dict[str, float]:
        return {m: r for m, r in ratios.items() if r > cfg.budgets[m] * (1 + BUDGET_TOLERANCE)}

    def checked(label: str, policy: BitPolicy, searched_as: str | None = None) -> BitPolicy:
        # The table and the simulator run the same model; simulate is the word that counts.
        # A note sits on the row ``label`` and gives that row's figures (x uniform 8-bit, as
        # in the table), and the figures it was repaired from.
        before = vs_reference(policy)
        if over(before):
            policy, res = repair_policy(hw_table, sens, policy, hw_budgets)
            after = vs_reference(policy)
            source = f"row '{searched_as}'" if searched_as else "the search's choice"
            notes.append(
                f"{label}: {_fmt_vs_8bit(after, cfg.budgets)} after {len(res.moves)} repair "
                f"move(s) to lower bits, from {_fmt_vs_8bit(before, {})} ({source})"
            )
            left = over(after)
            if left:
                notes.append(
                    f"{label}: still over budget after repair: {_fmt_vs_8bit(left, cfg.budgets)}"
                )
        return policy

    policies: dict[str, BitPolicy] = {}
    for b in cfg.uniform:
        policies[f"uniform w{b}a{b}"] = BitPolicy.uniform(workload, b, b)
    searched = stages.read_json("search.json")
    if searched is None:
        hw_policy = _search(problem, "simulated", base, data, sens, notes)
        policies[f"{cfg.method} (simulated)"] = checked(f"{cfg.method} (simulated)", hw_policy)
        proxy_policy = _search(problem, "proxy", base, data, sens, notes)
        proxy_label = f"{cfg.method} (proxy: {_proxy_label(cfg.budgets)})"
        policies[proxy_label] = proxy_policy
        policies[f"{proxy_label} + repair"] = checked(
            f"{proxy_label} + repair", proxy_policy, searched_as=proxy_label
        )
        stages.write_json(
            "search.json",
            {"policies": {k: p.to_dict() for k, p in policies.items()}, "notes": notes},
        )
    else:
        policies = {k: BitPolicy.from_dict(d) for k, d in searched["policies"].items()}
        notes = list(searched["notes"])
    how = (
        f"{cfg.finetune_steps} steps" if cfg.finetune_steps is not None else f"{cfg.epochs} epochs"
    )
    log(f"search done; fine-tuning {len(policies)} policies for {how} each")

    x_cal = calibration(data, cfg.samples, workers=runtime.loader_workers)[0]
    rows = []
    run_bits: dict[str, dict[str, tuple[int, int]]] = {}
    tuned_seconds: list[float] = []
    # Policies with the same bits (the proxy's choice fits and its repair changes nothing; two
    # searches agree) fine-tune from the same baseline with the same seed and schedule on
    # deterministic kernels: the same model, so the first one's result is reused.
    by_bits: dict[str, dict[str, Any]] = {}
    reused_tunes = 0
    for i, (label, policy) in enumerate(
        tqdm(policies.items(), desc="fine-tune", leave=False, disable=bars), start=1
    ):
        name = f"finetune-{i}.json"
        done = stages.read_json(name)
        key = json.dumps(policy.to_dict(), sort_keys=True)
        if done is None or done["method"] != label or done["bits"] != policy.to_dict():
            done = None
        else:
            reused_tunes += 1
        if done is None and key in by_bits:
            done = {**by_bits[key], "method": label}
            stages.write_json(name, done)
        if done is None:
            began = time.perf_counter()
            acc, acc_ptq = finetuned_accuracy(
                policy,
                base,
                data,
                epochs=cfg.epochs,
                lr=cfg.lr,
                seed=cfg.seed,
                calibration=x_cal,
                steps=cfg.finetune_steps,
                runtime=runtime,
            )
            done = {
                "method": label,
                "bits": policy.to_dict(),
                "accuracy": acc,
                "accuracy_before_finetune": acc_ptq,
            }
            stages.write_json(name, done)
            tuned_seconds.append(time.perf_counter() - began)
        by_bits.setdefault(key, done)
        costs, run_bits[label] = cost_row(policy, workload, hw, budgets, ref_totals)
        rows.append(
            {
                "method": label,
                "accuracy": done["accuracy"],
                "accuracy_before_finetune": done["accuracy_before_finetune"],
                **costs,
            }
        )
        left = len(policies) - i
        eta = f", about {np.mean(tuned_seconds) * left:.0f} s left" if tuned_seconds else ""
        log(
            f"fine-tuned {i}/{len(policies)}: {label}, accuracy {100 * done['accuracy']:.2f} %{eta}"
        )
    df = pd.DataFrame(rows)
    warnings_ += finetune_warnings(df, how, cfg.lr)
    for w in warnings_[1 if chance else 0 :]:
        log(f"warning: {w}")
    notes = [f"warning: {w}" for w in warnings_] + notes
    reused = stages.reused_names(reused_tunes, len(policies))
    if reused:
        log(f"resumed from {stages.folder}: reused {', '.join(reused)}")
    log("done")
    return CodesignResult(
        cfg,
        df,
        policies,
        budgets,
        {m: ref_totals[REPORT_KEYS[m]] for m in BUDGET_METRICS},
        base_acc,
        names,
        notes,
        time.perf_counter() - start,
        hw.name,
        run_bits,
        tuple(n for n, a in zip(names, workload.is_act_matmul, strict=True) if a),
        tuple(reused),
        runtime,
    )


def _proxy_label(budgets: Mapping[str, float]) -> str:
    return ", ".join(dict.fromkeys(PROXY_NAMES[m] for m in budgets))


def _fmt_ratios(ratios: Mapping[str, float]) -> str:
    return ", ".join(f"{m} {r:.3f}x" for m, r in ratios.items())


def _fmt_vs_8bit(ratios: Mapping[str, float], budgets: Mapping[str, float]) -> str:
    """``latency 0.497 x 8-bit (budget 0.5)``: the figures of a row of the results table."""
    return ", ".join(
        f"{m} {r:.3f} x 8-bit (budget {budgets[m]:g})" if m in budgets else f"{m} {r:.3f} x 8-bit"
        for m, r in ratios.items()
    )


def once_per_run(lines, shown: int = 3) -> list[str]:
    """A method's per-layer notes (``"layer: what happened"``) as one line with their count
    when there are more than ``shown``; other notes as they are."""
    lines = list(lines)
    per_layer = [n for n in lines if re.match(r"[^\s:]+: ", n)]
    if len(per_layer) <= shown:
        return lines
    rest = [n for n in lines if n not in per_layer]
    head = "; ".join(per_layer[:shown])
    return [*rest, f"{len(per_layer)} layers: {head}; ... ({len(per_layer) - shown} more)"]


CHANCE_MARGIN = 0.1
"""A baseline within this fraction of the way from chance to 100 % is "near chance"."""


def chance_warning(accuracy: float, num_classes: int) -> str | None:
    """A warning when the float baseline is near chance level (``1 / num_classes``, plus
    :data:`CHANCE_MARGIN` of the way to 100 %): quantized policies "beating" such a baseline
    say nothing about quantization."""
    if num_classes < 2:
        return None
    chance = 1.0 / num_classes
    if accuracy > chance + CHANCE_MARGIN * (1.0 - chance):
        return None
    return (
        f"the float baseline's accuracy {100 * accuracy:.2f} % is near chance "
        f"({100 * chance:.1f} % for {num_classes} classes): it has learned little, so the "
        "policies' accuracies compare nothing; train it longer (--baseline-epochs), check "
        "the data, or pass a trained --checkpoint"
    )


def finetune_warnings(results: pd.DataFrame, how: str, lr: float) -> list[str]:
    """One warning per policy whose fine-tuning lowered its test accuracy."""
    out = []
    for label, after, before in zip(
        results["method"],
        results["accuracy"],
        results["accuracy_before_finetune"],
        strict=True,
    ):
        if after < before:
            out.append(
                f"{label}: fine-tuning ({how} at lr {lr:g}) lowered its test accuracy from "
                f"{100 * before:.2f} % to {100 * after:.2f} %; the row keeps the fine-tuned "
                "figure (fewer --epochs or --finetune-steps may keep more)"
            )
    return out


def _search(
    problem: CodesignProblem,
    kind: str,
    base,
    data,
    sensitivity: np.ndarray,
    notes: list[str],
) -> BitPolicy:
    """One search of the config's method in ``problem``'s ``kind`` (``simulated`` or
    ``proxy``) table within its budgets (by table metric).

    On the simulated table a method can price bits outside the candidates (BSQ,
    :meth:`CodesignProblem.price`); the proxy's table has no such model, and a method falls
    back to its paper's own weighting there.
    """
    cfg = problem.fractions
    simulated = kind == "simulated"
    table = problem.hw_table if simulated else problem.proxy_table
    budgets = problem.hw_budgets if simulated else problem.proxy_budgets
    price = problem.price(next(iter(budgets))) if simulated else None
    search = SearchProblem(table, budgets, sensitivity, price)
    result = search_method(cfg.method).search(base, data, cfg.method_config, search, progress=False)
    policy = result.policy
    notes.extend(
        f"{cfg.method} ({kind}): {n}" for n in once_per_run(result.extras.get("notes", ()))
    )
    # A method that only prices its expectation may end over budget: repair in its own units.
    if any(table.total(m, policy) > b * (1 + BUDGET_TOLERANCE) for m, b in budgets.items()):
        policy, res = repair_policy(table, sensitivity, policy, budgets)
        notes.append(
            f"{cfg.method} ({kind}): argmax over its own budget; repair made "
            f"{len(res.moves)} move(s)"
        )
    return policy


def finetuned_accuracy(
    policy: BitPolicy,
    base,
    data,
    *,
    epochs: int,
    lr: float,
    seed: int,
    calibration,
    steps: int | None = None,
    runtime: Runtime | None = None,
) -> tuple[float, float]:
    """Test accuracy of ``base`` quantized at ``policy``: ``(after, before)`` fine-tuning for
    ``epochs`` (or ``steps``, if given), on ``base``'s device, with ``runtime``'s loader
    workers."""
    from quant.model import quantize_model
    from quant.train import evaluate, train

    workers = (runtime or Runtime()).loader_workers
    model = quantize_model(base, policy, calibration=calibration)
    before = evaluate(model, data, workers=workers)
    if (epochs if steps is None else steps) > 0:
        train(
            model,
            data,
            epochs=epochs,
            lr=lr,
            seed=seed,
            progress=False,
            steps=steps,
            workers=workers,
        )
    return evaluate(model, data, workers=workers), before


def cost_row(
    policy: BitPolicy, workload, hw, budgets: Mapping[str, float], ref_totals: Mapping[str, float]
) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
    """Simulated totals of ``policy``, relative to uniform 8-bit, and whether it fits; and the
    bits the hardware ran each layer at (``w_bits_run``, ``a_bits_run``)."""
    from hwsim import simulate

    report = simulate(workload, policy, hw)
    totals = report.totals
    row: dict[str, Any] = {
        "latency_s": totals["latency_s"],
        "energy_j": totals["energy_j"],
        "weight_bits": totals["weight_bits"],
        "bitops": totals["total_bops"],
    }
    for m in BUDGET_METRICS:
        row[f"{m}_vs_8bit"] = totals[REPORT_KEYS[m]] / ref_totals[REPORT_KEYS[m]]
    row["within_budget"] = all(
        totals[REPORT_KEYS[m]] <= b * (1 + BUDGET_TOLERANCE) for m, b in budgets.items()
    )
    # Weight bits of the rows that store weights (a product's w_bits are an activation's).
    act = workload.is_act_matmul
    held = [n for n, a in zip(workload.layer_names, act, strict=True) if not a]
    row["mean_w_bits"] = float(np.mean([policy[n][0] for n in held or workload.layer_names]))
    row["mean_a_bits"] = float(np.mean([policy[n][1] for n in workload.layer_names]))
    layers = report.layers
    ran = {
        str(n): (int(w), int(a))
        for n, w, a in zip(layers["name"], layers["w_bits_run"], layers["a_bits_run"], strict=True)
    }
    return row, ran
