import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from toy_family import toy_spec

from hwsim import HwsimError
from sweeps.spec import load_spec, parse_spec


def test_toy_spec_counts(toy_dir):
    spec = parse_spec(toy_spec(), root=toy_dir)
    assert len(spec.hardware) == 12
    assert spec.n_points == 12 * 4
    assert [p.label for p in spec.policies] == ["w2a4", "w2a8", "w8a4", "w8a8"]


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        ({"bogus": 1}, "bogus", 1),
        # An unknown key is refused at every level of the spec, naming its path and value.
        ({"hardware": [{"base": "toy", "gird": {}}]}, "hardware[0].gird", {}),
        (
            {"hardware": [{"base": "toy", "random": {"rows": {"low": 1, "hi": 4}}}]},
            "hardware[0].random.rows.hi",
            4,
        ),
        ({"workloads": [{"path": "toynet.npz", "btach": 2}]}, "workloads[0].btach", 2),
        ({"policies": {"w_bits": [2], "a_bits": [8], "pair": []}}, "policies.pair", []),
        ({"policies": {"files": [{"path": "p.json", "opt": 1}]}}, "policies.files[0].opt", 1),
        ({"train": [{"method": "toy", "workload": "toynet", "prams": 3}]}, "train[0].prams", 3),
        ({"seed": -1}, "seed", -1),
        ({"engine": "magic"}, "engine", "magic"),
        ({"workloads": ["missing.npz"]}, "workloads[missing].path", None),
        ({"workloads": ["no_such_net"]}, "workloads[no_such_net]", "no_such_net"),
        ({"hardware": [{"base": "toy", "grid": {"rows": [4, 0]}}]}, "hardware[0].grid.rows", 0),
        ({"hardware": [{"base": "toy", "grid": {"nope": [1]}}]}, "hardware[0].grid.nope", 1),
        ({"hardware": [{"base": "no-such-preset"}]}, "hardware[0].base", "no-such-preset"),
        (
            {"hardware": [{"base": "toy", "zip": {"rows": [4, 8], "cols": [8]}}]},
            "hardware[0].zip",
            None,
        ),
        (
            {"hardware": [{"base": "toy", "random": {"dram_gbps": {"low": 5.0, "high": 1.0}}}]},
            "hardware[0].random.dram_gbps.high",
            1.0,
        ),
        (
            {"hardware": [{"base": "toy", "random": {"dram_gbps": {"low": -1.0, "high": 1.0}}}]},
            "hardware[0].random.dram_gbps",
            -1.0,
        ),
        ({"policies": {"w_bits": [2, 17], "a_bits": [8]}}, "policies[w17a8].w_bits", 17),
        ({"policies": {"files": ["nope.json"]}}, "policies.files[0]", None),
        ({"objectives": {"latency_s": "fastest"}}, "objectives.latency_s", "fastest"),
        ({"objectives": {"latncy_s": "min"}}, "objectives", "latncy_s"),
        ({"train": [{"method": "toy", "workload": "other"}]}, "train[toy].workload", "other"),
        (
            {"train": [{"method": "codesign", "workload": "toynet", "params": {"epochs": -1}}]},
            "epochs",
            -1,
        ),
    ],
)
def test_bad_spec_names_key_and_value(toy_dir, change, field, value):
    with pytest.raises(HwsimError) as info:
        parse_spec(toy_spec(**change), root=toy_dir)
    assert info.value.field == field
    if value is not None:
        assert info.value.value == value


def test_load_spec_from_toml(toy_dir):
    (toy_dir / "s.toml").write_text(
        'plugins = ["toy_family"]\nworkloads = ["toynet.npz"]\n'
        '[[hardware]]\nbase = "toy"\ngrid = { rows = [4, 8] }\n'
        "[policies]\nw_bits = [4]\na_bits = [4, 8]\n"
    )
    spec = load_spec(toy_dir / "s.toml")
    assert spec.name == "s" and spec.n_points == 4
    (toy_dir / "bad.toml").write_text("workloads = [")
    with pytest.raises(HwsimError, match="invalid TOML"):
        load_spec(toy_dir / "bad.toml")


@given(
    rows=st.lists(st.integers(1, 64), min_size=1, max_size=4),
    cols=st.lists(st.integers(1, 64), min_size=1, max_size=3),
    sram=st.lists(st.floats(1.0, 1e4), min_size=1, max_size=3),
)
def test_grid_enumerates_the_product(tmp_path_factory, rows, cols, sram):
    root = tmp_path_factory.getbasetemp()
    data = toy_spec(
        hardware=[
            {
                "base": "toy",
                "grid": {"rows": rows, "cols": cols},
                "zip": {"sram_kib": sram, "dram_gbps": [2.0] * len(sram)},
            }
        ]
    )
    import toy_family

    toy_family.toy_workload().save(root / "toynet.npz")
    space = parse_spec(data, root=root).hardware
    got = [(c.rows, c.cols, c.sram_kib) for c in (space.config(i) for i in range(len(space)))]
    want = [(r, c, s) for r, c, s in itertools.product(rows, cols, sram)]
    assert got == want


@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 20),
    low=st.floats(0.01, 10.0),
    span=st.floats(0.0, 100.0),
)
def test_random_samples_seeded_and_in_range(tmp_path_factory, seed, n, low, span):
    root = tmp_path_factory.getbasetemp()
    import toy_family

    toy_family.toy_workload().save(root / "toynet.npz")
    rnd = {
        "samples": n,
        "dram_gbps": {"low": low, "high": low + span, "log": True},
        "rows": {"low": 1, "high": 32},
    }
    data = toy_spec(seed=seed, hardware=[{"base": "toy", "random": rnd}])
    a = parse_spec(data, root=root).hardware
    b = parse_spec(data, root=root).hardware
    va = [a.config(i) for i in range(len(a))]
    assert va == [b.config(i) for i in range(len(b))]
    assert len(va) == n
    for c in va:
        assert low * (1 - 1e-12) <= c.dram_gbps <= (low + span) * (1 + 1e-12)
        assert isinstance(c.rows, int) and 1 <= c.rows <= 32


def test_onnx_workloads_in_a_spec(tmp_path):
    onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
    from models.onnx_import import from_onnx
    from tests.onnx_graphs import qonnx_graph

    onnx.save(qonnx_graph(4, 4, 4, 4, bipolar=True), str(tmp_path / "brevitas.onnx"))
    (tmp_path / "s.toml").write_text(
        'workloads = ["brevitas.onnx", { path = "brevitas.onnx", label = "again" }]\n'
        '[[hardware]]\nbase = "stripes"\n[policies]\nw_bits = [4]\na_bits = [4]\n'
    )
    spec = load_spec(tmp_path / "s.toml")
    assert [w.label for w in spec.workloads] == ["brevitas", "again"]
    for ref in spec.workloads:
        assert ref.load() == from_onnx(tmp_path / "brevitas.onnx")
