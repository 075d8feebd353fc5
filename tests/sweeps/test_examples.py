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
    example's budgets must be reachable at the candidate bits on every hardware config."""
    import models
    from quant.codesign import CodesignConfig
    from quant.search.hardware_aware import hardware_costs

    spec = load_spec(path)
    for train in spec.train:
        if train.method != "codesign":
            continue
        config = CodesignConfig(hardware="spec-check", **train.params)
        name = train.params.get("model", train.workload)
        wl = models.extract_workload(models.build(name), models.example_input(name))
        cands = config.candidates
        for i in range(len(spec.hardware)):
            hw = spec.hardware.config(i)
            costs = hardware_costs(wl, hw, cands, cands)
            for metric, fraction in config.budgets.items():
                c = costs[metric].reshape(len(wl), -1)
                eight = c[:, cands.index(8) * len(cands) + cands.index(8)].sum()
                assert c.min(axis=1).sum() <= fraction * eight, (hw.name, i, metric, fraction)


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
