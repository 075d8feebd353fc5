"""Reproduce the Bitwise Bottleneck's qualitative claims on digits (MLP 64-256-128-10).

Claims (docs/methods.md, section 1): at ~4-5 bits the accuracy stays within ~1 point of the n0-bit
baseline; accuracy falls as the budget tightens. Two ways to set the rates: the paper's
per-layer PSNR-loss budget, and hwsim's greedy allocation under an average rate. One
quantization-aware training (8-bit codes) per seed serves every budget. Re-run with
``python benchmarks/repro_bottleneck.py``.
"""

from __future__ import annotations

import itertools
import time

import _repro

from hwsim.markdown import markdown_table
from quant import bottleneck as bb
from quant.costs import policy_metrics
from quant.train import evaluate

N0, QAT_EPOCHS, FINETUNE_EPOCHS = 8, 3, 3
PSNR_LOSSES = (8.0, 24.0, 40.0)
AVG_RATES = (6, 4, 3)


def main() -> None:
    start = time.perf_counter()
    settings = [("8-bit codes (baseline)", {"avg_rate": N0})]
    settings += [(f"PSNR loss {t:g} dB", {"psnr_loss_db": t}) for t in PSNR_LOSSES]
    settings += [(f"average rate {r}", {"avg_rate": r}) for r in AVG_RATES]
    runs: dict[str, list] = {name: [] for name, _ in settings}
    fp_acc = []
    for seed in _repro.SEEDS:
        data, fp, workload = _repro.setup(seed)
        fp_acc.append(evaluate(fp, data))
        qat = bb.bottleneck_search(
            fp,
            data,
            avg_rate=N0,
            n0=N0,
            qat_epochs=QAT_EPOCHS,
            finetune_epochs=0,
            seed=seed,
            progress=False,
        ).model
        for name, budget in settings:
            r = bb.bottleneck_search(
                qat,
                data,
                **budget,
                qat_epochs=0,
                finetune_epochs=FINETUNE_EPOCHS,
                seed=seed,
                progress=False,
            )
            runs[name].append(
                (evaluate(r.model, data), r.policy, policy_metrics(workload, r.policy))
            )
            print(f"seed {seed} {name}: {runs[name][-1][0]:.4f} {r.policy.bits}", flush=True)
    rows = [["fp32", _repro.mean_spread(fp_acc), "-", "-"]]
    for name, rs in runs.items():
        rows.append(
            [
                name,
                _repro.mean_spread([r[0] for r in rs]),
                _repro.bits_text([r[1] for r in rs]),
                _repro.mean_spread([r[2]["mean_a_bits"] for r in rs], 1.0, 2),
            ]
        )
    table = (
        markdown_table(
            [
                "budget",
                "test acc % (mean ± sd, 3 seeds)",
                "per-layer bits (a = code rate)",
                "mean code rate",
            ],
            rows,
        )
        + "\n"
    )
    acc = {name: sum(r[0] for r in rs) / len(rs) for name, rs in runs.items()}
    rate = {name: sum(r[2]["mean_a_bits"] for r in rs) / len(rs) for name, rs in runs.items()}
    base = acc[settings[0][0]]
    near = [n for n in runs if 3.5 <= rate[n] <= 5.5]
    within = [n for n in near if acc[n] >= base - 0.01]

    def monotone(names: list[str]) -> bool:
        # Accuracy may not rise as the rate falls (0.5 point slack: 3 test images).
        ordered = sorted(names, key=lambda n: -rate[n])
        return all(acc[b] <= acc[a] + 0.005 for a, b in itertools.pairwise(ordered))

    psnr_names = [settings[0][0]] + [n for n in runs if n.startswith("PSNR")]
    avg_names = [settings[0][0]] + [n for n in runs if n.startswith("average")]
    kept = [
        n
        for n in workload.layer_names
        if all(r[1].bits[n][1] == N0 for rs in runs.values() for r in rs)
    ]
    text = (
        "# Bitwise Bottleneck on digits (reproduction)\n\n"
        f"Model `{_repro.MODEL}`; a bottleneck on the input of every layer, {N0}-bit "
        f"sign-magnitude codes (per-sample max-abs step); weights 8-bit; {QAT_EPOCHS} epochs "
        f"of quantization-aware training, then per budget a Lasso fit and {FINETUNE_EPOCHS} "
        "fine-tuning epochs with the coefficients fixed (Adam 1e-3). Rates: the paper's "
        "per-layer PSNR-loss search, or the greedy average-rate allocation.\n\n"
        + table
        + "\n## Reading\n\n"
        + "".join(
            f"- {n}: mean rate {rate[n]:.2f}, accuracy {100 * (acc[n] - base):+.1f} "
            "points vs the 8-bit codes.\n"
            for n in runs
            if n != settings[0][0]
        )
        + f"- Accuracy does not rise as the budget tightens: PSNR-loss budgets "
        f"**{monotone(psnr_names)}**, average-rate budgets **{monotone(avg_names)}**.\n"
        f"- Within 1 point of the 8-bit codes at a mean rate of 3.5-5.5: "
        f"{', '.join(within) if within else 'no'} (settings in that range: "
        f"{', '.join(near) if near else 'none'}): the paper's claim "
        + (
            "holds here.\n"
            if within
            else "does not hold here (this small MLP has no "
            "BatchNorm or residual path to absorb the error, and only 3 fine-tuning epochs)."
            "\n"
        )
        + f"- Layers that keep all {N0} planes in every setting: {', '.join(kept) or 'none'}. "
        "The greedy allocation balances per-layer reconstruction error, not accuracy, so it "
        "takes planes from the layers whose error grows slowest (the image input and the "
        "last layer), which is not what the loss would choose.\n"
        "- Shrinkage: the Lasso shrinks the coefficients it keeps, so its PSNR falls fast "
        "with lambda; PSNR-loss budgets of tens of dB are needed before planes drop (the "
        "authors' 8 and 16 dB were for 5-bit codes on ImageNet activations).\n"
        f"\nRun time: {time.perf_counter() - start:.0f} s.\n"
    )
    _repro.write("repro_bottleneck", text)


if __name__ == "__main__":
    main()
