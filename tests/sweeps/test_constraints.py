"""Spec constraints and pareto filters: parsing, errors, and a constrained sweep that stores
exactly the points an unconstrained one would keep after filtering."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from toy_family import toy_spec

from hwsim import HwsimError
from sweeps.pareto import where
from sweeps.run import run_sweep
from sweeps.spec import load_spec, parse_condition, parse_spec
from sweeps.store import load_results


@pytest.mark.parametrize(
    ("text", "column", "op", "value"),
    [
        ("area_mm2<=2", "area_mm2", "<=", 2.0),
        ("  power_w  >  1.5e-3 ", "power_w", ">", 1.5e-3),
        ("latency < 1e-3", "latency_s", "<", 1e-3),  # the spec's alias
        ("area != 0", "area_mm2", "!=", 0.0),
        ("policy==w4a4", "policy", "==", "w4a4"),
        ("hw_name = 'bitfusion'", "hw_name", "==", "bitfusion"),  # = reads as ==
        ("hw.rows >= 32", "hw.rows", ">=", 32.0),
    ],
)
def test_conditions_parse(text, column, op, value):
    cond = parse_condition(text)
    assert (cond.column, cond.op, cond.value) == (column, op, value)


@pytest.mark.parametrize(
    "text", ["area_mm2", "area_mm2 << 2", "<= 2", "policy <= w4a4", "a ~ 1", "x == nan", ""]
)
def test_bad_condition_names_the_expression(text):
    with pytest.raises(HwsimError) as info:
        parse_condition(text, "where")
    assert info.value.field == "where" and info.value.value == text


def test_spec_constraints_parse_with_aliases_and_ranges(toy_dir):
    spec = parse_spec(
        toy_spec(
            constraints={"area_mm2": "<= 3.0", "power": ["> 0.001", "<= 2"], "hw.rows": ">= 8"}
        ),
        root=toy_dir,
    )
    got = [(c.column, c.op, c.value) for c in spec.constraints]
    assert got == [
        ("area_mm2", "<=", 3.0),
        ("power_w", ">", 0.001),
        ("power_w", "<=", 2.0),
        ("hw.rows", ">=", 8.0),
    ]
    # Objectives take the new columns and their aliases too.
    spec = parse_spec(toy_spec(objectives={"area": "min", "tops_per_w": "max"}), root=toy_dir)
    assert dict(spec.objectives) == {"area_mm2": "min", "tops_per_w": "max"}


@pytest.mark.parametrize(
    ("constraints", "field", "value"),
    [
        ({"area_mm2": 3.0}, "constraints.area_mm2", 3.0),
        ({"area_mm2": "3.0"}, "constraints.area_mm2", "area_mm2 3.0"),
        ({"area_mm2": "<= big"}, "constraints.area_mm2", "area_mm2 <= big"),
        ({"area_mm2": "== small"}, "constraints.area_mm2", "== small"),
        ({"area_mm2": []}, "constraints.area_mm2", []),
        ({"aera_mm2": "<= 3"}, "constraints", "aera_mm2"),
        ("area_mm2 <= 3", "constraints", "area_mm2 <= 3"),
    ],
)
def test_bad_constraint_names_key_and_value(toy_dir, constraints, field, value):
    with pytest.raises(HwsimError) as info:
        parse_spec(toy_spec(constraints=constraints), root=toy_dir)
    assert info.value.field == field
    assert info.value.value == value


def test_constraints_in_toml(toy_dir):
    (toy_dir / "s.toml").write_text(
        'plugins = ["toy_family"]\nworkloads = ["toynet.npz"]\n'
        '[[hardware]]\nbase = "toy"\ngrid = { rows = [4, 8] }\n'
        "[policies]\nw_bits = [4]\na_bits = [4, 8]\n"
        '[objectives]\nlatency_s = "min"\narea_mm2 = "min"\n'
        '[constraints]\narea_mm2 = "<= 3.0"\n'
    )
    spec = load_spec(toy_dir / "s.toml")
    assert [str(c) for c in spec.constraints] == ["area_mm2 <= 3"]


def test_where_filters_numbers_and_text():
    df = pd.DataFrame(
        {
            "policy": ["w4a4", "w8a8", "w4a4", "w4a4"],
            "area_mm2": [1.0, 2.0, np.nan, 3.0],
            "hw.rows": [8, 16, 32, 64],
        }
    )
    assert where(df, ["area_mm2<=2"]).index.tolist() == [0, 1]  # NaN never qualifies
    assert where(df, ["area_mm2<=2", "policy==w4a4"]).index.tolist() == [0]
    assert where(df, ["policy != w4a4"]).index.tolist() == [1]
    assert where(df, ["rows > 8"]).index.tolist() == [1, 2, 3]  # hw.<field> by its name
    assert where(df, ["area > 1.5"]).index.tolist() == [1, 3]  # the alias
    for bad, reason in [
        ("aera <= 2", "not a column"),
        ("policy == 4", "holds text"),
        ("area_mm2 == big", "holds numbers"),
        ("area_mm2 <=", "expected COLUMN OP VALUE"),
    ]:
        with pytest.raises(HwsimError, match=reason) as info:
            where(df, [bad])
        assert info.value.field == "where" and info.value.value == bad


# ------------------------------------------------------------------------------ sweeps
@pytest.fixture(scope="module")
def unconstrained(tmp_path_factory):
    import toy_family

    root = tmp_path_factory.mktemp("free")
    toy_family.toy_workload().save(root / "toynet.npz")
    spec = parse_spec(toy_spec(), root=root)
    run_sweep(spec, root / "out")
    df = load_results(root / "out")
    assert (df["status"] == "ok").all() and df["area_mm2"].notna().all()
    return root, df


@settings(max_examples=6, deadline=None)
@given(
    q_area=st.floats(0.0, 1.0),
    q_power=st.floats(0.0, 1.0),
    general=st.booleans(),
)
def test_constrained_sweep_equals_filtering_the_unconstrained_one(
    unconstrained, tmp_path_factory, q_area, q_power, general
):
    root, free = unconstrained
    area_max = float(np.quantile(free["area_mm2"], q_area))
    power_min = float(np.quantile(free["power_w"], q_power))
    constraints = {"area_mm2": f"<= {area_max!r}", "power_w": f">= {power_min!r}"}
    spec = parse_spec(toy_spec(constraints=constraints), root=root)
    out = tmp_path_factory.mktemp("constrained") / "out"
    summary = run_sweep(spec, out, force_general=general)
    # The reference: plain pandas comparisons on the unconstrained results.
    want = free[(free["area_mm2"] <= area_max) & (free["power_w"] >= power_min)]
    got = load_results(out) if summary.written else pd.DataFrame(columns=free.columns)
    assert summary.written == len(want)
    assert summary.excluded == len(free) - len(want)
    assert got["point_hash"].tolist() == want["point_hash"].tolist()
    if len(want):
        cols = [c for c in free.columns if c != "path"]
        pd.testing.assert_frame_equal(
            got[cols].reset_index(drop=True),
            want[cols].reset_index(drop=True),
            check_dtype=False,
            rtol=1e-12,
        )


def test_a_constraint_on_a_field_prunes_configs_and_a_resume_adds_the_rest(unconstrained):
    root, free = unconstrained
    out = root / "pruned"
    tight = parse_spec(toy_spec(constraints={"hw.rows": "<= 8"}), root=root)
    s1 = run_sweep(tight, out)
    assert s1.written == int((free["hw.rows"] <= 8).sum()) and s1.excluded == len(free) - s1.written
    # Loosening the constraint evaluates only the new points: point hashes ignore constraints.
    s2 = run_sweep(parse_spec(toy_spec(), root=root), out)
    assert s2.written == len(free) - s1.written and s2.skipped == s1.written
    assert sorted(load_results(out)["point_hash"]) == sorted(free["point_hash"])


def test_constraints_in_worker_processes(unconstrained):
    """With --jobs 2 the workers apply the constraints and report what they left out."""
    root, free = unconstrained
    area_max = float(np.median(free["area_mm2"]))
    power_max = float(np.median(free["power_w"]))
    spec = parse_spec(
        toy_spec(constraints={"area_mm2": f"<= {area_max!r}", "power_w": f"<= {power_max!r}"}),
        root=root,
    )
    summary = run_sweep(spec, root / "jobs2", jobs=2)
    want = free[(free["area_mm2"] <= area_max) & (free["power_w"] <= power_max)]
    assert summary.written == len(want) and summary.excluded == len(free) - len(want)
    assert sorted(load_results(root / "jobs2")["point_hash"]) == sorted(want["point_hash"])


@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["<", "<=", ">", "!="]))
def test_a_condition_reads_back_from_its_text(value, op):
    """sweep.json records constraints as text and hwsim pareto parses them again: exactly."""
    cond = parse_condition(f"area_mm2 {op} {value!r}")
    again = parse_condition(str(cond))
    assert (again.column, again.op, again.value) == (cond.column, cond.op, value)
