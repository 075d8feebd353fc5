"""Codesign figures on a built result (no training): pareto.png's labels stay clear of each
other and of the frame, its x axis is the budgeted metric, its legend shows every marker;
bits.png shows the bits the hardware ran beside the bits asked for."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import models
from hwsim import BitPolicy, load_hardware, simulate
from quant.codesign import CodesignConfig
from quant.codesign.plots import bits_figure, pareto_figure
from quant.codesign.run import CodesignResult, cost_row
from quant.search.hardware_aware import REPORT_KEYS


@pytest.fixture(scope="module")
def workload():
    with torch.device("meta"):
        net = models.build("resnet_digits")
    return models.extract_workload(net, models.example_input("resnet_digits", 1).to("meta"))


def make_result(workload, metric: str, accuracies, bits_seed: int = 0) -> CodesignResult:
    hw = load_hardware("bitfusion")
    rng = np.random.default_rng(bits_seed)
    policies = {f"uniform w{b}a{b}": BitPolicy.uniform(workload, b, b) for b in (2, 4, 8)}
    for label in ["knapsack (simulated)", "knapsack (proxy: BitOps)", "knapsack (proxy) + repair"]:
        policies[label] = BitPolicy(
            {n: (int(rng.integers(2, 9)), int(rng.integers(2, 9))) for n in workload.layer_names}
        )
    ref = simulate(workload, policies["uniform w8a8"], hw).totals
    budgets = {metric: 0.5 * ref[REPORT_KEYS[metric]]}
    rows, run_bits = [], {}
    for (label, policy), acc in zip(policies.items(), accuracies, strict=True):
        costs, run_bits[label] = cost_row(policy, workload, hw, budgets, ref)
        rows.append({"method": label, "accuracy": acc, "accuracy_before_finetune": acc, **costs})
    config = CodesignConfig(budgets={metric: 0.5}, hardware="bitfusion")
    return CodesignResult(
        config,
        pd.DataFrame(rows),
        policies,
        budgets,
        {},
        0.9,
        workload.layer_names,
        [],
        1.0,
        hw.name,
        run_bits,
    )


@settings(max_examples=8)
@given(
    metric=st.sampled_from(["latency", "energy", "memory"]),
    # Accuracies bunched within half a point: labels must still find free space.
    accuracies=st.lists(st.floats(0.9, 0.905), min_size=6, max_size=6),
)
def test_pareto_labels_clear_and_budgeted_axis(workload, metric, accuracies):
    import matplotlib.pyplot as plt

    fig = pareto_figure(make_result(workload, metric, accuracies))
    try:
        ax = fig.axes[0]
        renderer = fig.canvas.get_renderer()
        frame = ax.get_window_extent(renderer)
        boxes = [t.get_window_extent(renderer) for t in ax.texts]
        assert len(boxes) == 6
        for a, b in itertools.combinations(boxes, 2):
            assert not a.overlaps(b)
        for b in boxes:
            assert frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1
        axis = {"latency": "latency", "energy": "energy", "memory": "weight memory"}[metric]
        assert axis in ax.get_xlabel()
        legend = fig.legends[0]
        entries = [t.get_text() for t in legend.get_texts()]
        assert f"{metric} budget" in entries and "uniform bits" in entries
        # 4 kinds of marker, the budget and the float baseline
        assert len(legend.legend_handles) == len(entries) == 6
        assert any(e.startswith("float baseline") for e in entries)
    finally:
        plt.close(fig)


def test_bits_figure_shows_what_bit_fusion_ran(workload):
    import matplotlib.pyplot as plt

    result = make_result(workload, "latency", [0.9] * 6, bits_seed=3)
    fig = bits_figure(result)
    try:
        searched = [k for k in result.policies if not k.startswith("uniform")]
        for side, ax in enumerate(fig.axes[:2]):
            ran = [p.get_height() for p in ax.patches if p.get_gid() == "ran"]
            asked = [p.get_height() for p in ax.patches if p.get_gid() != "ran"]
            want_asked = [
                result.policies[k][n][side] for k in searched for n in workload.layer_names
            ]
            # Bit Fusion's fusion units run 2, 4, 8 or 16 bits: a request rounds up to the next.
            want_ran = [next(b for b in (2, 4, 8, 16) if b >= a) for a in want_asked]
            assert asked == want_asked and ran == want_ran
            assert any(r > a for r, a in zip(ran, asked, strict=True))  # e.g. 6 ran as 8
    finally:
        plt.close(fig)


def test_codesign_logs_its_stages_and_ctrl_c_is_one_line(monkeypatch, capsys, tmp_path):
    import quant.codesign.run as run
    from hwsim.errors import Interrupted

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "prepare", interrupted)
    monkeypatch.setenv("HWSIM_CACHE", str(tmp_path))  # no cached baseline here
    with pytest.raises(Interrupted, match="run the same command again"):
        run.run_codesign(CodesignConfig(hardware="bitfusion"))
    err = capsys.readouterr().err  # captured: not a terminal, yet the stage line is there
    assert "codesign: resnet_digits on digits, hardware bitfusion" in err
    assert err.lstrip().startswith("[")


def test_pareto_draws_the_float_baseline(workload):
    plt = pytest.importorskip("matplotlib.pyplot")
    result = make_result(workload, "latency", [0.5, 0.6, 0.7, 0.8, 0.85, 0.86])
    fig = pareto_figure(result)
    try:
        ax = fig.axes[0]
        want = 100 * result.baseline_accuracy
        lines = [
            line
            for line in ax.get_lines()
            if "float baseline" in str(line.get_label()) and np.allclose(line.get_ydata(), want)
        ]
        assert len(lines) == 1
        low, high = ax.get_ylim()
        assert low < want < high  # inside the frame, not clipped away
    finally:
        plt.close(fig)
