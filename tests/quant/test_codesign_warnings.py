"""What a codesign run warns about and records: a float baseline near chance, fine-tuning that
loses accuracy, the stages a resumed run reused, the config values the run used, and notes
that give the figures of the row they sit on."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import torch

import models
from quant.baseline import DEFAULT_EPOCHS
from quant.codesign import CodesignConfig, run_codesign
from quant.codesign.run import chance_warning, finetune_warnings
from quant.codesign.stages import config_record


@pytest.mark.parametrize(
    ("accuracy", "classes", "warns"),
    [(0.333, 3, True), (0.36, 3, True), (0.5, 3, False), (0.1, 10, True), (0.95, 10, False)],
)
def test_chance_warning_thresholds(accuracy, classes, warns):
    text = chance_warning(accuracy, classes)
    assert (text is not None) == warns
    if warns:
        assert f"{100 / classes:.1f} % for {classes} classes" in text


def test_finetune_warning_names_the_row_and_both_figures():
    df = pd.DataFrame(
        {
            "method": ["a", "b"],
            "accuracy": [0.9816, 0.99],
            "accuracy_before_finetune": [0.985, 0.98],
        }
    )
    out = finetune_warnings(df, "4 epochs", 5e-4)
    assert len(out) == 1
    assert out[0].startswith("a: ") and "98.50 % to 98.16 %" in out[0]


def test_recorded_config_holds_the_baseline_epochs_used(tmp_path):
    assert config_record(CodesignConfig())["baseline_epochs"] == DEFAULT_EPOCHS
    assert config_record(CodesignConfig(baseline_epochs=3))["baseline_epochs"] == 3
    ckpt = CodesignConfig(checkpoint=str(tmp_path / "x.pt"))
    assert config_record(ckpt)["baseline_epochs"] is None  # no baseline is trained


@pytest.fixture
def chance_checkpoint(tmp_path):
    """A float mlp_digits that always answers class 0: accuracy at chance, built here."""
    torch.manual_seed(0)
    net = models.build("mlp_digits", num_classes=10)
    last = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.bias.zero_()
        last.bias[0] = 1e4
    path = tmp_path / "chance.pt"
    torch.save(net.state_dict(), path)
    return path


def test_chance_baseline_and_lost_finetuning_warn_and_resume_lists_reuse(
    chance_checkpoint, tmp_path, monkeypatch, capsys
):
    import quant.codesign.run as run

    def fake_finetune(policy, base, data, **kwargs):
        return 0.08, 0.1  # (after, before): fine-tuning "lost" two points

    monkeypatch.setattr(run, "finetuned_accuracy", fake_finetune)
    cfg = CodesignConfig(
        model="mlp_digits",
        hardware="bitfusion",
        budgets={"latency": 0.6},
        checkpoint=str(chance_checkpoint),
        epochs=1,
        candidates=(2, 4, 8),
        uniform=(8,),
        samples=32,
    )
    out = tmp_path / "run"
    result = run_codesign(cfg, progress=False, out=out)
    assert result.baseline_accuracy < 0.2  # the premise: class 0 only
    warns = [n for n in result.notes if n.startswith("warning:")]
    assert any("near chance" in w and "10 classes" in w for w in warns)
    lost = [w for w in warns if "lowered its test accuracy from 10.00 % to 8.00 %" in w]
    assert len(lost) == len(result.policies)  # one per row
    err = capsys.readouterr().err
    assert "warning: the float baseline's accuracy" in err
    assert result.reused == ()
    # Notes on a row give that row's own figures (as in the table's x/8b columns).
    rows = result.results.set_index("method")
    matched = 0
    for note in result.notes:
        m = re.match(r"(.+?): latency ([0-9.]+) x 8-bit \(budget", note)
        if m and m.group(1) in rows.index:
            matched += 1
            assert float(m.group(2)) == pytest.approx(
                rows.loc[m.group(1), "latency_vs_8bit"], abs=5e-4
            )
    assert matched  # the proxy's choice is over the real budget here: a repair note
    # The same command again reuses every finished stage and says so.
    again = run_codesign(cfg, progress=False, out=out)
    n = len(again.policies)
    assert again.reused == ("float baseline", "sensitivity", "search", f"{n} of {n} fine-tunings")
    assert f"reused float baseline, sensitivity, search, {n} of {n}" in capsys.readouterr().err
    record = json.loads((out / "stages" / "config.json").read_text())
    assert record["checkpoint"] == str(chance_checkpoint) and record["baseline_epochs"] is None


def test_a_methods_per_layer_notes_come_once_with_their_count():
    from quant.codesign.run import once_per_run

    lines = [f"l{i}: w7a5 rounded up to the candidates as w8a8" for i in range(20)]
    out = once_per_run([*lines, "argmax over its own budget"])
    assert len(out) == 2 and out[0] == "argmax over its own budget"
    assert out[1].startswith("20 layers: l0: ") and "(17 more)" in out[1]
    assert once_per_run(lines[:2]) == lines[:2]  # a few stay as they are
