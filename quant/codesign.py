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
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hwsim.errors import HwsimError, check, check_bits
from hwsim.io import atomic_write_text
from hwsim.policy import BitPolicy
from quant.search.hardware_aware import (
    BUDGET_METRICS,
    PROXY_NAMES,
    REPORT_KEYS,
    SearchSpace,
    bsq_marginal_costs,
    candidates,
    hardware_costs,
    knapsack_policy,
    proxy_costs,
    repair_policy,
    snap_to_candidates,
)

METHODS: tuple[str, ...] = ("knapsack", "ebs", "bsq")
BUDGET_TOLERANCE = 1e-9  # relative: totals within float rounding of a budget fit it


@dataclass(frozen=True)
class CodesignConfig:
    """What the main job runs. Budgets are fractions of uniform 8-bit on the same hardware."""

    model: str = "resnet_digits"
    data: str = "digits"
    hardware: str = "stripes"
    budgets: Mapping[str, float] = field(default_factory=lambda: {"latency": 0.5})
    method: str = "knapsack"
    seed: int = 0
    epochs: int = 4  # fine-tuning (and EBS / BSQ search) epochs per policy
    baseline_epochs: int | None = None
    candidates: tuple[int, ...] = (2, 3, 4, 6, 8)
    uniform: tuple[int, ...] = (2, 4, 8)
    reference: tuple[int, int] = (8, 8)
    samples: int = 256  # calibration images (sensitivities, activation steps)
    lr: float = 5e-4
    ebs_lambda: float = 5.0
    bsq_alpha: float = 2e-2
    bsq_act_bits: int = 4

    def __post_init__(self) -> None:
        check(self.method in METHODS, "method", self.method, f"must be one of {METHODS}")
        check(
            isinstance(self.budgets, Mapping) and len(self.budgets) > 0,
            "budgets",
            self.budgets,
            "need at least one budget, e.g. {'latency': 0.5}",
        )
        for key, value in self.budgets.items():
            check(key in BUDGET_METRICS, "budget", key, f"metrics are {BUDGET_METRICS}")
            check(
                isinstance(value, int | float) and 0 < value < float("inf"),
                f"budget[{key}]",
                value,
                "must be a fraction > 0 of uniform 8-bit",
            )
        object.__setattr__(self, "budgets", dict(self.budgets))
        check(isinstance(self.seed, int) and self.seed >= 0, "seed", self.seed, "must be >= 0")
        check(
            isinstance(self.epochs, int) and self.epochs >= 0,
            "epochs",
            self.epochs,
            "must be an integer >= 0",
        )
        cands = candidates("candidates", self.candidates)
        check(cands[0] >= 2, "candidates", list(cands), "need at least 2 bits (signed weights)")
        object.__setattr__(self, "candidates", cands)
        for b in (*self.uniform, *self.reference):
            check_bits("uniform", b)
        check(
            self.reference[0] in cands and self.reference[1] in cands,
            "reference",
            self.reference,
            f"must be among the candidates {cands}",
        )
        check(self.samples >= 1, "samples", self.samples, "must be >= 1")
        check(
            self.method != "bsq" or self.bsq_act_bits in cands,
            "bsq_act_bits",
            self.bsq_act_bits,
            f"must be among the candidates {cands}",
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


def prepare(cfg: CodesignConfig) -> Prepared:
    """Load the data and the cached float baseline, extract the workload, measure sensitivity."""
    import models
    from models.data import load_dataset
    from quant.baseline import pretrained
    from quant.search.sensitivity import layer_sensitivity
    from quant.train import evaluate, set_seed

    set_seed(cfg.seed)
    data = load_dataset(cfg.data, seed=cfg.seed)
    base = pretrained(cfg.model, cfg.data, cfg.seed, cfg.baseline_epochs)
    workload = models.extract_workload(base, models.example_input(cfg.model, batch=None))
    sens = layer_sensitivity(
        base,
        data,
        workload.layer_names,
        cfg.candidates,
        cfg.candidates,
        reference=cfg.reference,
        samples=cfg.samples,
        progress=False,
    )
    return Prepared(data, base, evaluate(base, data), workload, sens)


def run_codesign(config: CodesignConfig, *, progress: bool | None = None) -> CodesignResult:
    """Run the whole loop for ``config`` and return the comparison (see module docstring)."""
    from hwsim import load_hardware, simulate

    start = time.perf_counter()
    cfg = config
    hw = load_hardware(cfg.hardware)
    stages = tqdm(total=4, desc="codesign", disable=None if progress is None else not progress)

    def stage(name: str) -> None:
        stages.set_postfix_str(name)
        stages.update()

    prep = prepare(cfg)
    data, base, workload, sens = prep.data, prep.base, prep.workload, prep.sensitivity
    base_acc = prep.baseline_accuracy
    names = workload.layer_names
    cands = cfg.candidates
    metrics = tuple(dict.fromkeys((*cfg.budgets, *BUDGET_METRICS)))
    stage("baseline, sensitivity")

    hw_space = SearchSpace(
        names, cands, cands, sens, hardware_costs(workload, hw, cands, cands, metrics), "simulated"
    )
    proxy_space = SearchSpace(
        names, cands, cands, sens, proxy_costs(workload, cands, cands, metrics), "proxy"
    )
    budgets = hw_space.budgets(cfg.budgets, cfg.reference)
    proxy_budgets = proxy_space.budgets(cfg.budgets, cfg.reference)
    reference = BitPolicy.uniform(workload, *cfg.reference)
    ref_totals = simulate(workload, reference, hw).totals
    notes: list[str] = []

    def over(policy: BitPolicy) -> dict[str, float]:
        totals = simulate(workload, policy, hw).totals
        return {
            m: totals[REPORT_KEYS[m]] / b
            for m, b in budgets.items()
            if totals[REPORT_KEYS[m]] > b * (1 + BUDGET_TOLERANCE)
        }

    def checked(label: str, policy: BitPolicy) -> BitPolicy:
        # The table and the simulator run the same model; simulate is the word that counts.
        excess = over(policy)
        if excess:
            policy, res = repair_policy(hw_space, policy, budgets)
            notes.append(
                f"{label}: simulated {_fmt_ratios(excess)} of budget; repair made "
                f"{len(res.moves)} move(s) to lower bits"
            )
            left = over(policy)
            if left:
                notes.append(f"{label}: still over budget after repair: {_fmt_ratios(left)}")
        return policy

    policies: dict[str, BitPolicy] = {}
    for b in cfg.uniform:
        policies[f"uniform w{b}a{b}"] = BitPolicy.uniform(workload, b, b)
    hw_policy = _search(cfg, base, data, hw_space, budgets, workload, hw, notes, "simulated")
    policies[f"{cfg.method} (simulated)"] = checked(f"{cfg.method} (simulated)", hw_policy)
    proxy_policy = _search(
        cfg, base, data, proxy_space, proxy_budgets, workload, hw, notes, "proxy"
    )
    proxy_label = f"{cfg.method} (proxy: {_proxy_label(cfg.budgets)})"
    policies[proxy_label] = proxy_policy
    policies[f"{proxy_label} + repair"] = checked(f"{proxy_label} + repair", proxy_policy)
    stage("search")

    x_cal = data.x_train[: cfg.samples]
    rows = []
    for label, policy in tqdm(
        policies.items(),
        desc="fine-tune",
        leave=False,
        disable=None if progress is None else not progress,
    ):
        acc, acc_ptq = finetuned_accuracy(
            policy, base, data, epochs=cfg.epochs, lr=cfg.lr, seed=cfg.seed, calibration=x_cal
        )
        rows.append(
            {
                "method": label,
                "accuracy": acc,
                "accuracy_before_finetune": acc_ptq,
                **cost_row(policy, workload, hw, budgets, ref_totals),
            }
        )
    stage("fine-tune")
    df = pd.DataFrame(rows)
    stage("done")
    stages.close()
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
    )


def _proxy_label(budgets: Mapping[str, float]) -> str:
    return ", ".join(dict.fromkeys(PROXY_NAMES[m] for m in budgets))


def _fmt_ratios(ratios: Mapping[str, float]) -> str:
    return ", ".join(f"{m} {r:.3f}x" for m, r in ratios.items())


def _search(
    cfg: CodesignConfig,
    base,
    data,
    space: SearchSpace,
    budgets: dict[str, float],
    workload,
    hw,
    notes: list[str],
    kind: str,
) -> BitPolicy:
    """One search of ``cfg.method`` in ``space`` within ``budgets`` (in the space's units)."""
    primary = next(iter(budgets))
    if cfg.method == "knapsack":
        return knapsack_policy(space, budgets)
    if cfg.method == "ebs":
        from quant.costs import LayerCostTable
        from quant.ebs import ebs_search

        table = LayerCostTable(
            space.layer_names, space.w_bits, space.a_bits, space.costs[primary], primary
        )
        _, policy, _ = ebs_search(
            base,
            data,
            cost_table=table,
            budget=budgets[primary],
            lam=cfg.ebs_lambda,
            w_candidates=space.w_bits,
            a_candidates=space.a_bits,
            epochs=max(cfg.epochs, 1),
            seed=cfg.seed,
            progress=False,
        )
    else:
        from quant.bsq import bsq_search

        layer_costs = None  # the paper's params x bits weighting
        if kind == "simulated":
            w_range = list(range(1, 9))
            costs = hardware_costs(workload, hw, w_range, [cfg.bsq_act_bits], (primary,))
            layer_costs = bsq_marginal_costs(space.layer_names, costs[primary][:, :, 0], w_range)
        _, policy = bsq_search(
            base,
            data,
            alpha=cfg.bsq_alpha,
            epochs=max(cfg.epochs, 1),
            requant_every=max(cfg.epochs // 2, 1),
            act_bits=cfg.bsq_act_bits,
            layer_costs=layer_costs,
            seed=cfg.seed,
            progress=False,
        )
        policy, snapped = snap_to_candidates(policy, space)
        notes.extend(f"bsq ({kind}): {n}" for n in snapped)
    # A method that only prices its expectation may end over budget: repair in its own units.
    totals = space.totals(policy)
    if any(totals[m] > b * (1 + BUDGET_TOLERANCE) for m, b in budgets.items()):
        policy, res = repair_policy(space, policy, budgets)
        notes.append(
            f"{cfg.method} ({kind}): argmax over its own budget; repair made "
            f"{len(res.moves)} move(s)"
        )
    return policy


def finetuned_accuracy(
    policy: BitPolicy, base, data, *, epochs: int, lr: float, seed: int, calibration
) -> tuple[float, float]:
    """Test accuracy of ``base`` quantized at ``policy``: ``(after, before)`` fine-tuning."""
    from quant.model import quantize_model
    from quant.train import evaluate, train

    model = quantize_model(base, policy, calibration=calibration)
    before = evaluate(model, data)
    if epochs > 0:
        train(model, data, epochs=epochs, lr=lr, seed=seed, progress=False)
    return evaluate(model, data), before


def cost_row(
    policy: BitPolicy, workload, hw, budgets: Mapping[str, float], ref_totals: Mapping[str, float]
) -> dict[str, Any]:
    """Simulated totals of ``policy``, relative to uniform 8-bit, and whether it fits."""
    from hwsim import simulate

    totals = simulate(workload, policy, hw).totals
    row: dict[str, Any] = {
        "latency_s": totals["latency_s"],
        "energy_j": totals["energy_j"],
        "weight_memory_bits": totals["weight_bits"],
        "bitops": totals["total_bops"],
    }
    for m in BUDGET_METRICS:
        row[f"{m}_vs_8bit"] = totals[REPORT_KEYS[m]] / ref_totals[REPORT_KEYS[m]]
    row["within_budget"] = all(
        totals[REPORT_KEYS[m]] <= b * (1 + BUDGET_TOLERANCE) for m, b in budgets.items()
    )
    row["mean_w_bits"] = float(np.mean([policy[n][0] for n in workload.layer_names]))
    row["mean_a_bits"] = float(np.mean([policy[n][1] for n in workload.layer_names]))
    return row


# ------------------------------------------------------------------------------ output
def format_table(df: pd.DataFrame) -> str:
    """The comparison as a fixed-width text table (accuracy, latency, energy, memory)."""
    cols = [
        ("method", "method", "{}"),
        ("accuracy", "acc %", "{:.2f}"),
        ("latency_s", "latency us", "{:.3f}"),
        ("latency_vs_8bit", "lat/8b", "{:.3f}"),
        ("energy_j", "energy uJ", "{:.3f}"),
        ("weight_memory_bits", "w mem KiB", "{:.2f}"),
        ("within_budget", "in budget", "{}"),
    ]
    scale = {"accuracy": 100.0, "latency_s": 1e6, "energy_j": 1e6, "weight_memory_bits": 1 / 8192}
    cells = [[h for _, h, _ in cols]]
    for _, r in df.iterrows():
        cells.append([f.format(r[k] * scale.get(k, 1) if k in scale else r[k]) for k, _, f in cols])
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    lines = [
        "  ".join(
            c[i].ljust(widths[i]) if i == 0 else c[i].rjust(widths[i]) for i in range(len(cols))
        )
        for c in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def markdown_table(df: pd.DataFrame, floatfmt: str = "{:.4g}") -> str:
    """A DataFrame as a GitHub markdown table (no extra dependency)."""

    def cell(v: Any) -> str:
        return floatfmt.format(v) if isinstance(v, float) else str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def write_run(result: CodesignResult, out: str | Path) -> Path:
    """Write ``report.md``, ``results.csv``, ``policy.json`` (the hardware-aware policy),
    ``policies.json`` (every method), ``pareto.png`` and ``bits.png`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.csv", result.results.to_csv(index=False))
    result.policies[result.chosen].save(out / "policy.json")
    atomic_write_text(
        out / "policies.json",
        json.dumps({k: p.to_dict() for k, p in result.policies.items()}, indent=2) + "\n",
    )
    plot_pareto(result, out / "pareto.png")
    plot_bits(result, out / "bits.png")
    atomic_write_text(out / "report.md", report_markdown(result))
    return out


def report_markdown(result: CodesignResult) -> str:
    cfg = result.config
    budgets = ", ".join(
        f"{m} <= {r:g} x uniform 8-bit ({result.budgets[m]:.4g} {REPORT_KEYS[m].split('_')[-1]})"
        for m, r in cfg.budgets.items()
    )
    bits = pd.DataFrame(
        {"layer": list(result.layer_names)}
        | {
            k: [f"w{p[n][0]}a{p[n][1]}" for n in result.layer_names]
            for k, p in result.policies.items()
            if not k.startswith("uniform")
        }
    )
    lines = [
        f"# hwsim codesign: {cfg.model} on {cfg.data}, hardware `{result.hardware_name}`",
        "",
        f"- method: `{cfg.method}`; budget: {budgets}",
        f"- float baseline accuracy: {100 * result.baseline_accuracy:.2f} %",
        f"- candidates: w, a in {list(cfg.candidates)}; fine-tuning: {cfg.epochs} epochs at "
        f"lr {cfg.lr:g}; seed {cfg.seed}",
        f"- wall time: {result.seconds:.1f} s",
        "",
        "## Results (same hardware, same fine-tuning for every policy)",
        "",
        "```",
        format_table(result.results),
        "```",
        "",
        markdown_table(result.results),
        "",
        "![accuracy vs simulated latency](pareto.png)",
        "",
        "## Per-layer bits",
        "",
        markdown_table(bits),
        "",
        "![per-layer bits](bits.png)",
        "",
    ]
    if result.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in result.notes], ""]
    lines += ["## Config", "", "```json", json.dumps(asdict(cfg), indent=2), "```", ""]
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pareto(result: CodesignResult, path: str | Path) -> Path:
    """Accuracy against simulated latency, one marker per method, the budget as a line."""
    plt = _pyplot()
    df = result.results
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for _, r in df.iterrows():
        style = (
            ("s", "tab:gray")
            if r["method"].startswith("uniform")
            else (("*", "tab:red") if r["method"] == result.chosen else ("o", "tab:blue"))
        )
        ax.scatter(
            r["latency_s"] * 1e6,
            100 * r["accuracy"],
            marker=style[0],
            c=style[1],
            s=120 if style[0] == "*" else 50,
            zorder=3,
        )
        ax.annotate(
            r["method"],
            (r["latency_s"] * 1e6, 100 * r["accuracy"]),
            fontsize=7,
            xytext=(4, 4),
            textcoords="offset points",
        )
    if "latency" in result.budgets:
        ax.axvline(result.budgets["latency"] * 1e6, ls="--", c="k", lw=1, label="latency budget")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel(f"simulated latency on {result.hardware_name} (us)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{result.config.model}: accuracy vs simulated latency")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_bits(result: CodesignResult, path: str | Path) -> Path:
    """Per-layer weight and activation bits of each searched (non-uniform) policy."""
    plt = _pyplot()
    searched = {k: p for k, p in result.policies.items() if not k.startswith("uniform")}
    names = result.layer_names
    x = np.arange(len(names))
    width = 0.8 / max(len(searched), 1)
    fig, axes = plt.subplots(2, 1, figsize=(max(6.4, 0.6 * len(names)), 5.2), sharex=True)
    for side, ax in enumerate(axes):
        for k, (label, p) in enumerate(searched.items()):
            ax.bar(
                x + (k - (len(searched) - 1) / 2) * width,
                [p[n][side] for n in names],
                width,
                label=label,
            )
        ax.set_ylabel(("weight", "activation")[side] + " bits")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7)
    axes[1].set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    axes[0].set_title(f"per-layer bits on {result.hardware_name}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def parse_budgets(specs: list[str] | None) -> dict[str, float]:
    """``["latency=0.5", "memory=0.3"]`` (or comma-joined) to ``{"latency": 0.5, ...}``."""
    out: dict[str, float] = {}
    for spec in specs or []:
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or key not in BUDGET_METRICS:
                raise HwsimError(
                    "--budget",
                    part,
                    f"expected METRIC=FRACTION with METRIC in {BUDGET_METRICS}, e.g. latency=0.5",
                )
            try:
                out[key] = float(value)
            except ValueError:
                raise HwsimError("--budget", part, "the fraction must be a number") from None
    return out
