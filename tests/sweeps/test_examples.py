from importlib import resources

import pytest

from hwsim.hardware import preset_names
from sweeps.spec import load_spec

EXAMPLES = sorted(
    p for p in resources.files("sweeps").joinpath("examples").iterdir() if p.name.endswith(".toml")
)


def test_there_are_examples():
    names = {p.name for p in EXAMPLES}
    assert {"bitfusion_resnet18.toml", "family_comparison.toml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_spec_validates(path):
    spec = load_spec(path)
    assert spec.n_points > 0
    for block in spec.hardware.blocks:
        assert block.base in preset_names()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_training_budgets_are_reachable_on_every_config(path):
    """A [[train]] codesign point whose budget no policy meets can only fail: every shipped
    example's budgets must be reachable at the candidate bits on every hardware config.
    Independent of the codesign code: each layer's cheapest option by ``hwsim.simulate``."""
    import numpy as np

    import hwsim
    from hwsim import BitPolicy
    from models.data import load_dataset
    from quant.codesign import CodesignConfig
    from quant.codesign.run import data_workload

    spec = load_spec(path)
    keys = {"latency": "latency_s", "energy": "energy_j", "memory": "weight_bits"}
    for train in spec.train:
        if train.method != "codesign":
            continue
        config = CodesignConfig(hardware="spec-check", **train.params)
        model = train.params.get("model", train.workload)
        wl = data_workload(model, load_dataset(config.data), config.data)
        for i in range(len(spec.hardware)):
            hw = spec.hardware.config(i)
            runs = {
                (w, a): hwsim.simulate(wl, BitPolicy.uniform(wl, w, a), hw)
                for w in config.candidates
                for a in config.candidates
            }
            for metric, fraction in config.budgets.items():
                per_layer = np.array([r.layers[keys[metric]] for r in runs.values()])
                lowest = per_layer.min(axis=0).sum() / runs[(8, 8)].totals[keys[metric]]
                assert lowest <= fraction, (hw.name, i, metric, fraction, lowest)


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_sweep_finishes_with_no_failed_point(path, tmp_path):
    from sweeps.cli import main
    from sweeps.store import load_results

    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 0
    df = load_results(out)
    assert len(df) == load_spec(path).n_points
    assert (df["status"] == "ok").all(), df.loc[df["status"] != "ok", "message"].tolist()
