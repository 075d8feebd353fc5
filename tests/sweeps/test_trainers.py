import pytest
from hypothesis import given
from hypothesis import strategies as st
from toy_family import ToyConfig

from hwsim import load_hardware
from hwsim.hardware import preset_names
from sweeps.trainers import hardware_toml


@given(
    rows=st.integers(1, 512),
    sram=st.floats(1e-3, 1e9),
    name=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=12),
)
def test_hardware_toml_round_trips(tmp_path_factory, rows, sram, name):
    cfg = ToyConfig(name=name, rows=rows, sram_kib=sram)
    path = tmp_path_factory.mktemp("hw") / "c.toml"
    path.write_text(hardware_toml(cfg))
    assert load_hardware(path) == cfg


@pytest.mark.parametrize("preset", preset_names())
def test_presets_round_trip(tmp_path, preset):
    cfg = load_hardware(preset)
    (tmp_path / "c.toml").write_text(hardware_toml(cfg))
    assert load_hardware(tmp_path / "c.toml") == cfg


@pytest.mark.slow
def test_codesign_trainer_point(tmp_path):
    from sweeps.run import run_sweep
    from sweeps.spec import parse_spec
    from sweeps.store import load_results

    params = {
        "data": "digits",
        "epochs": 0,
        "baseline_epochs": 1,
        "seed": 0,
        "uniform": [],
        "samples": 32,
    }
    spec = parse_spec(
        {
            "workloads": ["mlp_digits"],
            "hardware": [{"base": "bitfusion"}],
            "train": [{"method": "codesign", "workload": "mlp_digits", "params": params}],
        }
    )
    run_sweep(spec, tmp_path / "out")
    df = load_results(tmp_path / "out")
    assert df["status"].tolist() == ["ok"], df["message"].tolist()
    assert 0 < df["accuracy"].iloc[0] <= 1 and 0 < df["baseline_accuracy"].iloc[0] <= 1
    assert df["latency_s"].iloc[0] > 0
