"""``hwsim codesign`` end to end on a tiny setting: run folder, budgets, honest totals."""

from __future__ import annotations

import pandas as pd
import pytest

import hwsim
from hwsim import BitPolicy
from sweeps.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("codesign") / "run"
    code = main(
        [
            "codesign",
            "--model",
            "mlp_digits",
            "--hardware",
            "bitfusion",
            "--epochs",
            "1",
            "--candidates",
            "2,4,8",
            "--budget",
            "latency=0.6",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out


def _workload():
    import models

    return models.extract_workload(
        models.build("mlp_digits"), models.example_input("mlp_digits", batch=None)
    )


def test_run_folder_has_every_artifact(run_dir):
    for name in ("report.md", "results.csv", "policy.json", "pareto.png", "bits.png"):
        assert (run_dir / name).stat().st_size > 0, name
    assert "accuracy vs simulated latency" in (run_dir / "report.md").read_text()


def test_chosen_policy_fits_the_budget_when_resimulated(run_dir):
    wl = _workload()
    policy = BitPolicy.load(run_dir / "policy.json")
    policy.check_matches(wl)
    latency = hwsim.simulate(wl, policy, "bitfusion").totals["latency_s"]
    ref = hwsim.simulate(wl, BitPolicy.uniform(wl, 8, 8), "bitfusion").totals["latency_s"]
    assert latency <= 0.6 * ref * (1 + 1e-9)


def test_results_table_matches_the_simulator(run_dir, capsys):
    df = pd.read_csv(run_dir / "results.csv")
    wl = _workload()
    rows = df.set_index("method")
    for b in (2, 4, 8):
        sim = hwsim.simulate(wl, BitPolicy.uniform(wl, b, b), "bitfusion").totals
        assert rows.loc[f"uniform w{b}a{b}", "latency_s"] == pytest.approx(sim["latency_s"])
        assert rows.loc[f"uniform w{b}a{b}", "energy_j"] == pytest.approx(sim["energy_j"])
    assert bool(rows.loc["knapsack (simulated)", "within_budget"])
    assert any(m.startswith("knapsack (proxy") for m in df["method"])
    assert df["accuracy"].between(0, 1).all()


def test_bad_budget_is_a_clean_error(tmp_path, capsys):
    code = main(["codesign", "--budget", "speed=0.5", "--out", str(tmp_path / "x")])
    assert code == 2
    assert "--budget" in capsys.readouterr().err
