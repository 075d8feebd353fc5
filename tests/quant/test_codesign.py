"""Codesign drives every budgeted method through the registry; what each returns fits the
budget when the simulator prices it (the CLI test covers the knapsack)."""

from __future__ import annotations

import pytest

import hwsim
from hwsim import BitPolicy
from quant.codesign import CodesignConfig, run_codesign


@pytest.mark.slow
@pytest.mark.parametrize("method", ["ebs", "bsq"])
def test_trained_searches_fit_the_simulated_budget(method):
    import models

    cfg = CodesignConfig(
        model="mlp_digits",
        hardware="bitfusion",
        budgets={"latency": 0.6},
        method=method,
        epochs=0,
        candidates=(2, 4, 8),
        uniform=(),
        samples=32,
    )
    result = run_codesign(cfg, progress=False)
    wl = models.extract_workload(
        models.build("mlp_digits"), models.example_input("mlp_digits", batch=None)
    )
    ref = hwsim.simulate(wl, BitPolicy.uniform(wl, 8, 8), "bitfusion").totals["latency_s"]
    for label in (result.chosen, f"{result.chosen.split(' ')[0]} (proxy: bitops) + repair"):
        policy = result.policies[label]
        policy.check_matches(wl)
        assert all(w in (2, 4, 8) and a in (2, 4, 8) for w, a in policy.bits.values())
        latency = hwsim.simulate(wl, policy, "bitfusion").totals["latency_s"]
        assert latency <= 0.6 * ref * (1 + 1e-9), label
    assert list(result.results["method"]) == list(result.policies)


def test_policies_with_the_same_bits_are_fine_tuned_once(monkeypatch, tmp_path):
    import torch

    import quant.codesign.run as run
    from models.data import calibration

    monkeypatch.setenv("HWSIM_CACHE", str(tmp_path))
    tuned = []
    real = run.finetuned_accuracy

    def counted(policy, *args, **kwargs):
        tuned.append(policy.to_dict())
        return real(policy, *args, **kwargs)

    monkeypatch.setattr(run, "finetuned_accuracy", counted)
    # At the whole 8-bit latency the searches have room to agree with each other and with
    # uniform 8-bit.
    cfg = CodesignConfig(
        model="mlp_digits",
        budgets={"latency": 1.0},
        epochs=1,
        baseline_epochs=2,
        candidates=(2, 4, 8),
        uniform=(8,),
        samples=32,
    )
    result = run_codesign(cfg, progress=False, out=tmp_path / "run")
    bits = [p.to_dict() for p in result.policies.values()]
    distinct = [b for i, b in enumerate(bits) if b not in bits[:i]]
    assert len(distinct) < len(bits)  # the case this test is about
    assert tuned == distinct
    rows = result.results.set_index("method")
    for label, policy in result.policies.items():
        first = next(k for k, p in result.policies.items() if p.to_dict() == policy.to_dict())
        for column in ("accuracy", "accuracy_before_finetune"):
            assert rows.loc[label, column] == rows.loc[first, column]
    # Fine-tuning the same bits again gives what was reused: the premise, checked.
    label = next(k for i, k in enumerate(result.policies) if bits[i] in bits[:i])
    prep = run.prepare(cfg)
    x_cal = calibration(prep.data, cfg.samples)[0]
    torch.manual_seed(123)  # whatever the global state, the seeded schedule decides
    again = real(
        result.policies[label],
        prep.base,
        prep.data,
        epochs=1,
        lr=cfg.lr,
        seed=cfg.seed,
        calibration=x_cal,
    )
    assert again == (rows.loc[label, "accuracy"], rows.loc[label, "accuracy_before_finetune"])
