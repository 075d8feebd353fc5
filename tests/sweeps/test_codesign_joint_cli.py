"""``hwsim codesign --hardware-space`` end to end on a tiny space, and a joint search as a
sweep's ``[[train]]`` points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hwsim
from hwsim import BitPolicy
from hwsim.errors import HwsimError
from sweeps.cli import main

SPACE = """
[[hardware]]
base = "stripes"
grid = { cols = [8, 16] }
[[hardware]]
base = "loom"
"""

FAST = [
    "--model",
    "resnet_digits",
    "--baseline-epochs",
    "1",
    "--finetune-steps",
    "2",
    "--samples",
    "32",
    "--candidates",
    "2,4,8",
]


def _workload():
    import models

    return models.extract_workload(
        models.build("resnet_digits"), models.example_input("resnet_digits", batch=None)
    )


@pytest.mark.slow
def test_cli_writes_every_output_and_they_read_back(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HWSIM_CACHE", str(tmp_path / "cache"))
    (tmp_path / "space.toml").write_text(SPACE)
    out = tmp_path / "run"
    args = [
        "codesign",
        "--hardware-space",
        str(tmp_path / "space.toml"),
        "--budget",
        "latency=0.6",
        "--finetune-top",
        "1",
        *FAST,
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert "Pareto front" in capsys.readouterr().out
    designs = pd.read_csv(out / "designs.csv")
    assert len(designs) == 3
    assert set(designs["pareto"]) <= {True, False}
    for name in ("report.md", "accuracy_latency.png"):
        assert (out / name).stat().st_size > 0
    wl = _workload()
    stripes = hwsim.load_hardware("stripes")
    budget = 0.6 * hwsim.simulate(wl, BitPolicy.uniform(wl, 8, 8), stripes).totals["latency_s"]
    folders = sorted((out / "pareto").iterdir())
    assert len(folders) == int(designs["pareto"].sum()) >= 1
    for folder in folders:
        hw = hwsim.load_hardware(folder / "hardware.toml")
        policy = BitPolicy.load(folder / "policy.json")
        row = designs.set_index("design").loc[int(folder.name[1:4])]
        # The files reproduce the row and keep the budget relative to the reference.
        latency = hwsim.simulate(wl, policy, hw).totals["latency_s"]
        assert latency == pytest.approx(row["latency_s"], rel=1e-9)
        assert latency <= budget * (1 + 1e-9)
    # One distinct policy was fine-tuned: every design with an accuracy shares it.
    tuned = designs[designs["accuracy"].notna()]
    assert len(tuned) >= 1 and tuned["predicted_loss"].nunique() == 1
    # The same command again resumes from the stages, says which, and gives the same table.
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "reused float baseline, sensitivity, joint search, 1 of 1 fine-tunings" in err
    assert "reused" in (out / "report.md").read_text()
    again = pd.read_csv(out / "designs.csv")
    pd.testing.assert_frame_equal(designs, again)


def test_cli_refuses_joint_options_without_a_space(capsys):
    assert main(["codesign", "--max-area", "2"]) != 0
    assert "give --hardware-space too" in capsys.readouterr().err
    assert main(["codesign", "--hardware", "stripes", "--hardware-space", "x.toml"]) != 0
    assert "not both" in capsys.readouterr().err


def test_a_joint_train_table_gets_the_spec_space_and_checks_its_params(tmp_path):
    from sweeps.spec import parse_spec

    data = {
        "workloads": ["resnet_digits"],
        "hardware": [{"base": "stripes", "grid": {"cols": [8, 16]}}],
        "train": [
            {
                "method": "joint",
                "workload": "resnet_digits",
                "params": {"budgets": {"latency": "2us"}, "finetune_top": 1},
            }
        ],
        "seed": 3,
    }
    spec = parse_spec(data, root=tmp_path)
    params = spec.train[0].params
    assert params["space"] == data["hardware"] and params["space_seed"] == 3
    bad = {**data, "train": [{**data["train"][0], "params": {"max_area": -1}}]}
    with pytest.raises(HwsimError, match="max_area"):
        parse_spec(bad, root=tmp_path)
    bad = {**data, "train": [{**data["train"][0], "params": {"warp": 9}}]}
    with pytest.raises(HwsimError, match=r"train\.params\.warp"):
        parse_spec(bad, root=tmp_path)


@pytest.mark.slow
def test_a_sweep_runs_the_joint_search_one_design_per_point(tmp_path, monkeypatch):
    """Each point is one design of the spec's own space, the same as the joint run's row."""
    from quant.codesign.joint import JointConfig, run_joint
    from sweeps.hwspace import configs, parse_space, reference
    from sweeps.run import run_sweep
    from sweeps.spec import parse_spec
    from sweeps.store import load_results

    monkeypatch.setenv("HWSIM_CACHE", str(tmp_path / "cache"))
    tables = [{"base": "stripes", "grid": {"cols": [8, 16]}}, {"base": "loom"}]
    params = {
        "budgets": {"latency": 0.6},
        "finetune_top": 1,
        "baseline_epochs": 1,
        "finetune_steps": 2,
        "samples": 32,
        "candidates": [2, 4, 8],
        "out": str(tmp_path / "joint"),
    }
    spec = parse_spec(
        {
            "workloads": ["resnet_digits"],
            "hardware": tables,
            "train": [{"method": "joint", "workload": "resnet_digits", "params": params}],
        },
        root=tmp_path,
    )
    run_sweep(spec, tmp_path / "sweep")
    df = load_results(tmp_path / "sweep")

    space = parse_space(tables)
    hw = configs(space)
    cfg = JointConfig(
        hardware="stripes",
        budgets={"latency": 0.6},
        finetune_top=1,
        baseline_epochs=1,
        finetune_steps=2,
        samples=32,
        candidates=(2, 4, 8),
    )
    result = run_joint(cfg, hw, reference=reference(space), out=tmp_path / "joint")
    ok = result.designs[result.designs["status"] == "ok"]
    got = df[df["status"] == "ok"].sort_values("design")
    assert list(got["design"].astype(int)) == list(ok["design"])
    np.testing.assert_allclose(got["latency_s"], ok["latency_s"], rtol=1e-9)
    np.testing.assert_allclose(got["predicted_loss"], ok["predicted_loss"], rtol=1e-9)
    assert list(got["pareto"] == 1.0) == list(ok["pareto"])


def test_an_unreachable_budget_or_area_is_refused_before_any_training(tmp_path, capsys):
    from models.data import load_dataset
    from quant.codesign.run import data_workload

    (tmp_path / "space.toml").write_text(SPACE)
    wl = data_workload("resnet_digits", load_dataset("digits"), "digits")
    cands = [2, 3, 4, 6, 8]
    # The least latency any policy reaches on any configuration, as a fraction of 8-bit on
    # the reference (the first base at its default size), computed here from the tables.
    configs = [hwsim.load_hardware("stripes").replace(cols=c) for c in (8, 16)]
    configs.append(hwsim.load_hardware("loom"))
    table = hwsim.cost_table(wl, configs, cands, cands)
    lowest = table.flat("latency_s").min(axis=-1).sum(axis=-1).min()
    ref = hwsim.simulate(wl, BitPolicy.uniform(wl, 8, 8), "stripes").totals["latency_s"]
    out = tmp_path / "run"
    base = ["codesign", "--hardware-space", str(tmp_path / "space.toml"), "--out", str(out)]
    assert main([*base, "--budget", f"latency={float(0.9 * lowest / ref)!r}"]) != 0
    err = capsys.readouterr().err
    assert f"the lowest reachable is {lowest / ref:.3g}x" in err
    assert main([*base, "--max-area", "1e-6"]) != 0
    assert "no configuration of the space fits" in capsys.readouterr().err
    assert not out.exists()  # refused before any stage was written


def test_a_space_file_expands_like_a_sweep_spec(tmp_path):
    from hwsim.io import hardware_toml
    from sweeps.hwspace import configs, load_space, reference

    (tmp_path / "wide.toml").write_text(hardware_toml(hwsim.load_hardware("stripes")))
    (tmp_path / "space.toml").write_text(
        'seed = 4\n[[hardware]]\nbase = "wide.toml"\ngrid = { cols = [8, 16, 32] }\n'
        '[[hardware]]\nbase = "loom"\nrandom = { samples = 2, rows = { low = 64, high = 256 } }\n'
    )
    space = load_space(tmp_path / "space.toml")
    got = configs(space)
    assert [h.cols for h in got[:3]] == [8, 16, 32]
    assert all(h.family == "loom" and 64 <= h.rows <= 256 for h in got[3:]) and len(got) == 5
    assert reference(space) == hwsim.load_hardware("stripes")
    assert [h.rows for h in configs(load_space(tmp_path / "space.toml"))] == [h.rows for h in got]
    (tmp_path / "bad.toml").write_text('[[hardware]]\nbase = "stripes"\n[policies]\nw_bits = [2]\n')
    with pytest.raises(HwsimError, match="unknown key"):
        load_space(tmp_path / "bad.toml")
