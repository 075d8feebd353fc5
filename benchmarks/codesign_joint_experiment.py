"""Does searching the hardware and the bits together beat choosing them one at a time?

On ``resnet_digits`` and ``vit_digits``, over seeds, at equal area budgets and under each budget
setting (fractions of uniform 8-bit on the first base of the space, ``stripes`` at its default
size: latency 0.5, and latency 0.5 with energy 0.3 by default), over the space of
``benchmarks/codesign_joint_space.toml``, four ways to pick a design:

- **joint**: the knapsack on every configuration within the area, the Pareto designs (predicted
  loss, latency, energy, area) fine-tuned, the ``--top`` policies of least predicted loss; the
  best fine-tuned one;
- **best preset, searched bits**: each family's preset at its default size (within the area),
  bits searched by the same knapsack; the ``--top`` of least predicted loss fine-tuned; the best;
- **best hardware at uniform 8-bit**: the configuration within the area nearest to the budgets
  at w8a8 (least largest total / budget; with a latency budget alone, the fastest), shown as
  missing the budgets if even that one does;
- **sequential**: the hardware chosen for uniform 8-bit first (that same configuration), then
  the bits searched on it within the budgets.

Every policy is fine-tuned the same way from the same baseline (``--epochs``), so differences
come from the design alone; one sensitivity table and one cost table serve all four, and every
budget setting. A gap counts only where it exceeds the spread over seeds of both methods and one
test image; a method that misses the budgets is not compared on accuracy.

    python benchmarks/codesign_joint_experiment.py --epochs 2 --seeds 0 1 2
    # -> results/codesign_joint_experiment.md and .csv
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SPACE = ROOT / "benchmarks" / "codesign_joint_space.toml"
METHODS = ("joint", "best preset, searched bits", "best hardware, uniform 8-bit", "sequential")


def describe_hw(hw) -> str:
    d = hw.to_dict()
    parts = [hw.family]
    if "rows" in d and "cols" in d:
        parts.append(f"{d['rows']}x{d['cols']}")
    if d.get("act_buffer_bytes"):
        parts.append(f"abuf {d['act_buffer_bytes'] // 1024} KiB")
    return " ".join(parts)


def run_one(model: str, seed: int, settings, args, work: Path) -> list[dict]:
    import hwsim
    from hwsim import BitPolicy
    from models.data import calibration
    from quant.codesign.budgets import absolute_budgets
    from quant.codesign.joint import (
        JointConfig,
        _hardware_rows,
        _policy_key,
        _stage_record,
        default_area,
        designs_of,
        finetune_order,
        search_designs,
        space_digest,
    )
    from quant.codesign.run import finetuned_accuracy, prepare
    from quant.codesign.stages import Stages
    from quant.search.hardware_aware import REPORT_KEYS
    from sweeps.hwspace import configs, load_space, reference

    space = load_space(SPACE)
    hw = configs(space)
    ref = reference(space)
    cfg = JointConfig(
        model=model,
        seed=seed,
        budgets={"latency": 0.5},  # the stages do not depend on the budgets: shared by all
        epochs=args.epochs,
        finetune_top=args.top,
        samples=args.samples,
    )
    stages = Stages(work / f"{model}-s{seed}", _stage_record(cfg, space_digest(hw, ref)))
    prep = prepare(cfg, stages, log=lambda m: print(f"  {model} s{seed}: {m}", flush=True))
    cands = cfg.candidates
    table = hwsim.cost_table(prep.workload, [*hw, ref], cands, cands)
    ref_totals = {
        m: float(table.uniform_total(REPORT_KEYS[m], *cfg.reference)[-1]) for m in REPORT_KEYS
    }
    sub = _hardware_rows(table, len(hw))
    areas = np.array([default_area(h) for h in hw])
    ref_area = default_area(ref)
    x_cal = calibration(prep.data, cfg.samples)[0]
    all_rows = []
    for setting in settings:
        label = ", ".join(f"{m}={v}" for m, v in setting.items())
        budgets = absolute_budgets(setting, ref_totals)
        began = time.perf_counter()
        full = search_designs(sub, prep.sensitivity, budgets, areas)
        print(
            f"  {model} s{seed}: knapsack on {len(hw)} configurations in "
            f"{time.perf_counter() - began:.1f} s",
            flush=True,
        )
        lat8 = np.asarray(sub.uniform_total("latency_s", 8, 8), dtype=float)
        # How far uniform 8-bit is from fitting: the largest total / budget over the budgets.
        over8 = np.max(
            [
                np.asarray(sub.uniform_total(REPORT_KEYS[m], 8, 8), dtype=float) / b
                for m, b in budgets.items()
            ],
            axis=0,
        )
        presets = []
        for block in space.blocks:
            want = block.base_config.to_dict()
            presets += [i for i, h in enumerate(hw) if h.to_dict() == want][:1]

        def tune(policy: BitPolicy, x_cal=x_cal) -> float:
            name = f"finetune-{_policy_key(policy)}.json"
            done = stages.read_json(name)
            if done is None or done.get("bits") != policy.to_dict():
                acc, before = finetuned_accuracy(
                    policy,
                    prep.base,
                    prep.data,
                    epochs=cfg.epochs,
                    lr=cfg.lr,
                    seed=seed,
                    calibration=x_cal,
                )
                done = {
                    "bits": policy.to_dict(),
                    "accuracy": acc,
                    "accuracy_before_finetune": before,
                }
                stages.write_json(name, done)
            return float(done["accuracy"])

        def policy_of(h: int, full=full) -> BitPolicy:
            return BitPolicy(sub.bits(full.choice[h]))

        def row(method, area_budget, h, policy, accuracy, note="", label=label, budgets=budgets):
            if h is None:
                return {
                    "model": model,
                    "budgets": label,
                    "seed": seed,
                    "area_budget_mm2": area_budget,
                    "method": method,
                    "note": note,
                    "accuracy": np.nan,
                }
            totals = hwsim.simulate(prep.workload, policy, hw[h]).totals
            w = [b[0] for b in policy.bits.values()]
            a = [b[1] for b in policy.bits.values()]
            return {
                "model": model,
                "budgets": label,
                "seed": seed,
                "area_budget_mm2": area_budget,
                "method": method,
                "design": h,
                "hardware": describe_hw(hw[h]),
                "area_mm2": areas[h],
                "latency_s": totals["latency_s"],
                "energy_j": totals["energy_j"],
                "within_budgets": all(
                    totals[REPORT_KEYS[m]] <= b * (1 + 1e-9) for m, b in budgets.items()
                ),
                "predicted_loss": float(
                    prep.sensitivity.reshape(len(sub.layer_names), -1)[
                        np.arange(len(sub.layer_names)), sub.choice(policy)
                    ].sum()
                ),
                "mean_w_bits": float(np.mean(w)),
                "mean_a_bits": float(np.mean(a)),
                "accuracy": accuracy,
                "note": note,
                "baseline_accuracy": prep.baseline_accuracy,
            }

        rows = []
        for frac in args.area:
            area_budget = float(frac * ref_area)
            within = areas <= area_budget * (1 + 1e-12)
            # joint: the search restricted to the area, Pareto among what is left.
            status = np.where(within, full.status, "over area")
            joint = designs_of(sub, prep.sensitivity, status, full.choice, areas)
            tuned = [
                (tune(policy_of(h)), -joint.predicted_loss[h], -areas[h], h)
                for h in finetune_order(joint, args.top)
            ]
            if tuned:
                acc, _, _, h = max(tuned)
                rows.append(
                    row(
                        "joint",
                        area_budget,
                        h,
                        policy_of(h),
                        acc,
                        f"best of {len(tuned)} fine-tuned Pareto policies",
                    )
                )
            else:
                rows.append(row("joint", area_budget, None, None, np.nan, "no design fits"))
            # best preset (default size) with searched bits
            ok = [h for h in presets if within[h] and full.status[h] == "ok"]
            ok = sorted(ok, key=lambda h: full.predicted_loss[h])[: args.top]
            if ok:
                acc, h = max((tune(policy_of(h)), -h) for h in ok)
                h = -h
                rows.append(
                    row(
                        "best preset, searched bits",
                        area_budget,
                        h,
                        policy_of(h),
                        acc,
                        f"best of {len(ok)} presets within area and budget",
                    )
                )
            else:
                rows.append(
                    row(
                        "best preset, searched bits",
                        area_budget,
                        None,
                        None,
                        np.nan,
                        "no preset within the area meets the budgets",
                    )
                )
            # the hardware nearest the budgets at uniform 8-bit, and the sequential recipe on it
            cand = np.flatnonzero(within)
            if len(cand) == 0:
                rows.append(
                    row(
                        "best hardware, uniform 8-bit",
                        area_budget,
                        None,
                        None,
                        np.nan,
                        "no configuration within the area",
                    )
                )
                rows.append(
                    row(
                        "sequential",
                        area_budget,
                        None,
                        None,
                        np.nan,
                        "no configuration within the area",
                    )
                )
                continue
            h8 = int(cand[np.lexsort((lat8[cand], over8[cand]))[0]])
            u8 = BitPolicy.uniform(prep.workload, 8, 8)
            rows.append(
                row(
                    "best hardware, uniform 8-bit",
                    area_budget,
                    h8,
                    u8,
                    tune(u8),
                    "nearest to the budgets at w8a8 within the area",
                )
            )
            if full.status[h8] == "ok":
                rows.append(
                    row(
                        "sequential",
                        area_budget,
                        h8,
                        policy_of(h8),
                        tune(policy_of(h8)),
                        "bits searched on the hardware chosen for 8-bit",
                    )
                )
            else:
                rows.append(
                    row(
                        "sequential",
                        area_budget,
                        None,
                        None,
                        np.nan,
                        f"no policy meets the budget on {describe_hw(hw[h8])}",
                    )
                )
        all_rows += rows
    return all_rows


def _count(frame: pd.DataFrame, column: str) -> int:
    if column not in frame:
        return 0
    return int(frame[column].map(lambda v: v is True or v == 1.0).sum())


def _verdict(joint: pd.DataFrame, other: pd.DataFrame, one_image: float) -> tuple[float, str]:
    """The gap in points and its word: a design that misses the latency budget, or none at
    all, is not compared on accuracy; a gap inside both seed spreads and one test image is a
    tie."""
    if joint["accuracy"].isna().all():
        return np.nan, "no joint design"
    if other["accuracy"].isna().all():
        return np.nan, "win: only the joint search finds a design within the area and budget"
    if _count(other, "within_budgets") < len(other):
        return np.nan, "not comparable: this misses the budgets (its nearest design shown)"
    a, b = joint["accuracy"], other["accuracy"]
    gap = 100 * (a.mean() - b.mean())
    noise = 100 * max(a.max() - a.min(), b.max() - b.min(), one_image)
    word = "win" if gap > noise else "loss" if gap < -noise else "tie"
    return round(gap, 2), f"{word} (noise {noise:.2f})"


def summarize(df: pd.DataFrame, one_image: float) -> tuple[pd.DataFrame, list[str]]:
    """Per model, area budget and method: accuracy over seeds; each baseline against joint."""
    out, verdicts = [], []
    for (model, budgets, area), g in df.groupby(
        ["model", "budgets", "area_budget_mm2"], sort=False
    ):
        by = {m: g[g["method"] == m] for m in METHODS}
        for m in METHODS:
            acc = by[m]["accuracy"]
            rec = {
                "model": model,
                "budgets": budgets,
                "area_budget_mm2": round(area, 4),
                "method": m,
                "accuracy_mean_%": round(100 * acc.mean(), 2) if acc.notna().any() else np.nan,
                "seed_spread_%": round(100 * (acc.max() - acc.min()), 2)
                if acc.notna().any()
                else np.nan,
                "within_budgets": f"{_count(by[m], 'within_budgets')}/{len(by[m])}",
                "designs": "; ".join(sorted(set(by[m]["hardware"].dropna()))),
            }
            if m != "joint":
                rec["joint_minus_this_%"], rec["verdict"] = _verdict(by["joint"], by[m], one_image)
                verdicts.append(
                    f"{model}, {budgets}, area <= {area:.4g} mm²: joint vs {m}: {rec['verdict']}"
                    + (
                        ""
                        if np.isnan(rec["joint_minus_this_%"])
                        else f" ({rec['joint_minus_this_%']:+.2f} points)"
                    )
                )
            out.append(rec)
    return pd.DataFrame(out), verdicts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["resnet_digits", "vit_digits"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs (default: 2)")
    ap.add_argument("--top", type=int, default=3, help="policies fine-tuned per method")
    ap.add_argument(
        "--budgets",
        nargs="+",
        default=["latency=0.5", "latency=0.5,energy=0.3"],
        help="budget settings, each METRIC=VALUE[,...] as in hwsim codesign --budget",
    )
    ap.add_argument(
        "--area",
        nargs="+",
        type=float,
        default=[1.0, 0.95],
        help="area budgets as fractions of the reference preset's area",
    )
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--work", default=None, help="stage folders (default: a temp folder)")
    ap.add_argument("--out", default=str(RESULTS / "codesign_joint_experiment"))
    ap.add_argument("--from-csv", default=None, help="write the tables from this run's CSV")
    args = ap.parse_args()

    import tempfile

    from hwsim.markdown import markdown_table
    from models.data import load_dataset
    from quant.model import set_torch_threads

    set_torch_threads(1)
    from quant.codesign import parse_budgets

    settings = [parse_budgets([b]) for b in args.budgets]
    start = time.perf_counter()
    load = os.getloadavg()[0]
    if args.from_csv:  # tables again from a finished run's rows
        df = pd.read_csv(args.from_csv)
    else:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(args.work or tmp)
            for model in args.models:
                for seed in args.seeds:
                    rows += run_one(model, seed, settings, args, work)
        df = pd.DataFrame(rows)
    one_image = 1.0 / len(load_dataset("digits", seed=0).y_test)
    summary, verdicts = summarize(df, one_image)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out.with_suffix(".csv"), index=False)
    summary.to_csv(out.with_name(out.name + "_summary.csv"), index=False)
    minutes = (time.perf_counter() - start) / 60
    lines = [
        "# Joint hardware x bits search against one-at-a-time choices",
        "",
        f"Models {', '.join(args.models)}; seeds {args.seeds}; budgets "
        f"{'; '.join(args.budgets)} (fractions of uniform 8-bit on `stripes` at its default "
        "size); area budgets "
        f"{', '.join(f'{a:g}' for a in args.area)} x the area of that preset; space "
        "`benchmarks/codesign_joint_space.toml` (134 configurations); fine-tuning "
        f"**{args.epochs} epochs** per policy (reduced to fit the run's time), the "
        f"{args.top} policies of least predicted loss per searched method. A gap counts only "
        "beyond both methods' seed spreads and one test image "
        f"({100 * one_image:.2f} points). "
        + (
            "Tables rebuilt from the run's CSV."
            if args.from_csv
            else f"Run time {minutes:.1f} min on 2 shared cores (load average {load:.1f} at "
            "the start)."
        ),
        "",
        "Generated by `python benchmarks/codesign_joint_experiment.py "
        f"--epochs {args.epochs} --seeds {' '.join(map(str, args.seeds))} --budgets "
        f"{' '.join(args.budgets)}`.",
        "",
        "## Summary",
        "",
        markdown_table(summary.columns, summary.itertuples(index=False)),
        "",
        *[f"- {v}" for v in verdicts],
        "",
        "## Every run",
        "",
        markdown_table(
            [c for c in df.columns if c != "baseline_accuracy"],
            df.drop(columns=["baseline_accuracy"], errors="ignore").itertuples(index=False),
        ),
        "",
    ]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(verdicts))
    print(f"wrote {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
