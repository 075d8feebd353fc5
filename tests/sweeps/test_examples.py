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
