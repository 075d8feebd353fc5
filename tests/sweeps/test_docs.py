"""The examples in docs/user-guide.md work as written: the sweep spec parses and runs, the
hardware TOML loads, the policy JSON reads back."""

import json
import re
import tomllib
from pathlib import Path

import pytest

import hwsim
from hwsim import BitPolicy
from sweeps.run import run_sweep
from sweeps.spec import parse_spec
from sweeps.store import load_results

GUIDE = Path(__file__).parents[2] / "docs" / "user-guide.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", GUIDE.read_text(), flags=re.S)


def test_sweep_example_runs_as_written(tmp_path):
    spec_text = next(b for b in _blocks("toml") if "[[hardware]]" in b)
    (tmp_path / "guide.toml").write_text(spec_text)
    spec = parse_spec(tomllib.loads(spec_text), root=tmp_path, default_name="guide")
    # The guide states the count: 2 rows x 2 samples of Stripes + 2 zipped Bit Fusion configs,
    # times 3 x 2 uniform policies.
    assert spec.n_points == 36
    summary = run_sweep(spec, tmp_path / "out")
    df = load_results(tmp_path / "out")
    assert summary.written == 36 and len(df) == 36
    assert (df["status"] == "ok").all(), df.loc[df["status"] != "ok", "message"].tolist()
    assert {"hw.rows", "hw.dram_bytes_per_s", "hw.wbuf_bytes"} <= set(df.columns)


def test_hardware_toml_example_loads(tmp_path):
    text = next(b for b in _blocks("toml") if b.startswith('family = "stripes"'))
    path = tmp_path / "wide.toml"
    path.write_text(text)
    cfg = hwsim.load_hardware(path)
    data = tomllib.loads(text)
    assert cfg.family == "stripes"
    for key, value in data.items():
        if key not in ("family", "sources"):
            assert getattr(cfg, key) == value
    assert cfg.sources == data["sources"]


def test_policy_json_example_reads_back():
    text = next(b for b in _blocks("json") if "hwsim.BitPolicy/1" in b)
    data = json.loads(text)
    policy = BitPolicy.from_dict(data)
    assert set(policy) == set(data["layers"])
    assert json.loads(json.dumps(policy.to_dict())) == data


@pytest.mark.parametrize("doc", ["user-guide.md", "models.md", "methods.md"])
def test_relative_links_resolve(doc):
    path = GUIDE.parent / doc
    for target in re.findall(r"\]\(([^)#:]+?)(?:#[^)]*)?\)", path.read_text()):
        assert (path.parent / target).exists(), target


def test_constraints_example_parses_with_the_sweep_example(tmp_path):
    """The guide's [objectives] / [constraints] block, added to its sweep example, parses to
    the constraints it states."""
    spec_text = next(b for b in _blocks("toml") if "[[hardware]]" in b)
    block = next(b for b in _blocks("toml") if "[constraints]" in b)
    data = tomllib.loads(spec_text)
    data.update(tomllib.loads(block))
    spec = parse_spec(data, root=tmp_path)
    assert dict(spec.objectives) == {"latency_s": "min", "area_mm2": "min"}
    assert [str(c) for c in spec.constraints] == [
        "area_mm2 <= 3",
        "power_w > 0.05",
        "power_w <= 1.5",
        "hw.rows >= 16",
    ]
