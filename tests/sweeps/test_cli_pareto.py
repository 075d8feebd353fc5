"""``hwsim pareto``: fronts per workload, filters, aliases, ties, units and what it says when a
front cannot be drawn."""

import numpy as np
import pytest
from toy_family import toy_spec, toy_workload

from sweeps.cli import main
from sweeps.pareto import pareto_fronts
from sweeps.run import run_sweep
from sweeps.spec import parse_spec
from sweeps.store import PARTS, load_results, write_part


@pytest.fixture(scope="module")
def two_workloads(tmp_path_factory):
    """A toy sweep over two workloads (a small and a 4x wider network)."""
    root = tmp_path_factory.mktemp("pareto")
    toy_workload().save(root / "toynet.npz")
    from hwsim import Workload

    Workload.from_layers(
        "wide", [{"name": "fc", "kind": "linear", "batch": 4, "in_channels": 512,
                  "out_channels": 256}]
    ).save(root / "wide.npz")  # fmt: skip
    spec = parse_spec(toy_spec(workloads=["toynet.npz", "wide.npz"]), root=root)
    run_sweep(spec, root / "out")
    return root / "out"


def _run(capsys, *argv):
    code = main(["pareto", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_one_front_per_workload_by_default_and_merged_on_request(two_workloads, capsys):
    df = load_results(two_workloads)
    code, out, _ = _run(capsys, two_workloads, "--y", "area_mm2")
    assert code == 0
    for wl in ("toynet", "wide"):
        front = pareto_fronts(df[df["workload"] == wl], ["latency_s", "area_mm2"], by=None)
        assert len(front) > 1
        assert f"{wl}: {len(front)} designs on the latency_s / area_mm2 front" in out
    code, out, _ = _run(capsys, two_workloads, "--y", "area_mm2", "--merge")
    merged = pareto_fronts(df, ["latency_s", "area_mm2"], by=None)
    assert f"all workloads: {len(merged)} designs" in out
    assert (two_workloads / "pareto_latency_s_area_mm2.png").stat().st_size > 1000


def test_aliases_filters_and_human_units(two_workloads, capsys):
    code, out, _ = _run(
        capsys, two_workloads, "--x", "latency", "--y", "area", "--where", "policy==w8a8",
        "--where", "area_mm2 <= 0.4",
    )  # fmt: skip
    assert code == 0
    df = load_results(two_workloads)
    keep = (df["policy"] == "w8a8") & (df["area_mm2"] <= 0.4)
    assert f"{keep.sum()} of {len(df)} points satisfy policy==w8a8 and area_mm2 <= 0.4" in out
    assert "latency_s / area_mm2 front" in out
    # Latency in a prefixed unit chosen from the values (µs or ms here), never "1e-05 s".
    assert "latency [µs]" in out or "latency [ms]" in out
    assert "area [mm²]" in out and "e-0" not in out
    assert (two_workloads / "pareto_latency_s_area_mm2.png").is_file()


def test_bad_filter_or_column_is_a_clean_error(two_workloads, capsys):
    code, _, err = _run(capsys, two_workloads, "--where", "area_mm2 =< 2")
    assert code == 2 and "where='area_mm2 =< 2'" in err and "COLUMN OP VALUE" in err
    code, _, err = _run(capsys, two_workloads, "--where", "speed < 2")
    assert code == 2 and "where='speed < 2'" in err and "not a column" in err
    code, _, err = _run(capsys, two_workloads, "--where", "area_mm2 < 0")
    assert code == 2 and "no point satisfies" in err
    code, _, err = _run(capsys, two_workloads, "--x", "sped")
    assert code == 2 and "x='sped'" in err


def test_ties_collapse_and_a_degenerate_front_is_named(two_workloads, capsys):
    # Area and the column count do not depend on the bits or the DRAM sample: each config's
    # 2 samples x 4 policies tie, and the smallest array is best in both.
    code, out, _ = _run(capsys, two_workloads, "--x", "area", "--y", "cols")
    assert code == 0
    df = load_results(two_workloads)
    for wl, part in df.groupby("workload"):
        best = part[part["area_mm2"] == part["area_mm2"].min()]
        assert f"{wl}: 1 design on the area_mm2 / hw.cols front ({len(best)} points:" in out
    assert out.count("degenerate front") == 2
    # What tells the tied points apart: every policy of the spec, and the DRAM samples.
    assert out.count("policy w2a4 / w2a8 / w8a4 / w8a8; hw.dram_gbps ") == 2


def test_empty_axis_and_points_without_a_value(two_workloads, tmp_path, capsys):
    df = load_results(two_workloads)
    # The same results with no area for the 16-row configs, then for every config.
    part = df.assign(area_mm2=np.where(df["hw.rows"] == 16, np.nan, df["area_mm2"]))
    (tmp_path / "some" / PARTS).mkdir(parents=True)
    write_part(tmp_path / "some" / PARTS, part)
    code, out, _ = _run(capsys, tmp_path / "some", "--y", "area")
    assert code == 0
    n = int(((df["hw.rows"] == 16) & (df["workload"] == "toynet")).sum())
    assert f"{n} points have no value of area_mm2" in out
    (tmp_path / "none" / PARTS).mkdir(parents=True)
    write_part(tmp_path / "none" / PARTS, df.assign(area_mm2=np.nan))
    code, _, err = _run(capsys, tmp_path / "none", "--y", "area")
    assert code == 2 and "y='area_mm2'" in err and "no point has a value" in err


def test_failed_points_are_counted(toy_dir, capsys):
    spec = parse_spec(
        toy_spec(hardware=[{"base": "toy", "grid": {"max_bits": [4, 16], "rows": [4, 8]}}]),
        root=toy_dir,
    )
    run_sweep(spec, toy_dir / "out")
    df = load_results(toy_dir / "out")
    n_failed = int((df["status"] == "failed").sum())
    assert n_failed > 0
    code, out, _ = _run(capsys, toy_dir / "out")
    assert code == 0
    assert f"{n_failed} of {len(df)} points failed and are left out" in out
