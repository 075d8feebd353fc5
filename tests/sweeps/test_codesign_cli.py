"""``hwsim codesign`` end to end on a tiny setting: run folder, budgets, honest totals."""

from __future__ import annotations

import pandas as pd
import pytest

import hwsim
from hwsim import BitPolicy
from hwsim.workload import KINDS
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


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if anything trains a baseline."""
    import quant.baseline

    def refuse(*args, **kwargs):
        raise AssertionError("trained before the input was checked")

    monkeypatch.setattr(quant.baseline, "pretrained", refuse)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("hwsim: error")]
    assert len(errors) == 1, err  # one line (beside the stage log), no traceback
    return errors[0]


def test_a_model_that_cannot_take_the_data_is_refused_before_training(
    tmp_path, capsys, no_training
):
    assert main(["codesign", "--model", "resnet18", "--out", str(tmp_path / "x")]) == 2
    line = _error_line(capsys)
    assert line.startswith("hwsim: error: model='resnet18': cannot take digits samples of shape")
    assert "(1, 8, 8)" in line
    from tests.models.test_data import write_mnist

    write_mnist(tmp_path / "mnist")
    args = ["codesign", "--model", "mlp_digits", "--data", f"mnist:{tmp_path / 'mnist'}"]
    assert main([*args, "--out", str(tmp_path / "y")]) == 2
    assert "cannot take mnist" in _error_line(capsys) and not (tmp_path / "y").exists()


def _lowest_reachable_by_simulation(wl, hw, cands, metric="latency_s"):
    """Independent of the cost table: simulate every uniform (w, a), take each layer's
    cheapest, relative to uniform 8-bit."""
    per_layer = []
    for w in cands:
        for a in cands:
            layers = hwsim.simulate(wl, BitPolicy.uniform(wl, w, a), hw).layers
            per_layer.append(layers.set_index("name")[metric])
    ref = hwsim.simulate(wl, BitPolicy.uniform(wl, 8, 8), hw).totals[metric]
    return float(pd.concat(per_layer, axis=1).min(axis=1).sum() / ref)


def test_an_infeasible_budget_is_refused_in_the_users_terms_before_training(
    tmp_path, capsys, no_training
):
    args = ["codesign", "--model", "mlp_digits", "--hardware", "stripes"]
    assert main([*args, "--budget", "latency=0.5", "--out", str(tmp_path / "x")]) == 2
    low = _lowest_reachable_by_simulation(_workload(), "stripes", (2, 3, 4, 6, 8))
    assert low > 0.5
    assert _error_line(capsys) == (
        "hwsim: error: budget='latency=0.5': latency=0.5 x uniform 8-bit is infeasible on "
        f"stripes for mlp_digits; the lowest reachable is {low:.2f}x"
    )


def test_the_workload_comes_from_the_datas_sample_shape(tmp_path):
    """resnet_digits on 28x28 MNIST: its convolutions see (28/8)^2 = 12.25x the output pixels
    of the 8x8 example input (the FC layer after global pooling is unchanged)."""
    import models
    from models.data import load_dataset
    from quant.codesign.run import data_workload
    from tests.models.test_data import write_mnist

    write_mnist(tmp_path / "mnist")
    data = load_dataset(f"mnist:{tmp_path / 'mnist'}")
    small = models.extract_workload(
        models.build("resnet_digits"), models.example_input("resnet_digits")
    )
    big = data_workload("resnet_digits", data, "mnist")
    assert big.layer_names == small.layer_names
    for i in range(len(small)):
        scale = 12.25 if KINDS[small.kind[i]] != "linear" else 1.0
        assert big.M[i] == small.M[i] * scale and big.K[i] == small.K[i]


@pytest.mark.slow
def test_codesign_simulates_the_datas_real_sample_shape(tmp_path, monkeypatch, capsys):
    """resnet_digits on 28x28 MNIST: every number of the run is for 28x28 inputs (the
    convolutions see (28/8)^2 = 12.25x the output pixels of the 8x8 example input)."""
    import models
    from tests.models.test_data import write_mnist

    monkeypatch.setenv("HWSIM_CACHE", str(tmp_path / "cache"))
    write_mnist(tmp_path / "mnist", n_train=20, n_test=10)
    out = tmp_path / "run"
    args = ["codesign", "--model", "resnet_digits", "--data", f"mnist:{tmp_path / 'mnist'}"]
    args += ["--hardware", "stripes", "--epochs", "0", "--candidates", "2,8"]
    assert main([*args, "--budget", "latency=0.8", "--out", str(out)]) == 0
    net = models.build("resnet_digits")
    small = models.extract_workload(net, models.example_input("resnet_digits"))
    import torch

    big = models.extract_workload(net, torch.zeros(1, 1, 28, 28))
    for i in range(len(small)):
        scale = 12.25 if KINDS[small.kind[i]] != "linear" else 1.0
        assert big.M[i] == small.M[i] * scale
    df = pd.read_csv(out / "results.csv").set_index("method")
    sim = hwsim.simulate(big, BitPolicy.uniform(big, 8, 8), "stripes").totals
    assert df.loc["uniform w8a8", "latency_s"] == pytest.approx(sim["latency_s"])
    assert BitPolicy.load(out / "policy.json").bits.keys() == set(big.layer_names)
