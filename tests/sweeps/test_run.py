import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import workloads
from toy_family import toy_spec

import hwsim
from hwsim import BitPolicy, HwsimError
from sweeps.run import TOTALS, run_sweep
from sweeps.spec import parse_spec
from sweeps.store import PARTS, load_results


def _reference(spec, df: pd.DataFrame, workload) -> None:
    """Every ok row equals an independent per-point hwsim.simulate of its config."""
    for row in df.itertuples(index=False):
        hw = spec.hardware.config(int(row.hw_index))
        policy = BitPolicy({n: (row.w_bits, row.a_bits) for n in workload.layer_names})
        totals = dict(hwsim.simulate(workload, policy, hw).totals)
        # The stated definition: TOPS = 2 x MACs / latency / 1e12.
        tops = 2 * workload.macs.sum() / totals["latency_s"] / 1e12
        totals["tops_per_mm2"] = tops / totals["area_mm2"]
        totals["tops_per_w"] = tops / totals["power_w"]
        for k in TOTALS:
            assert getattr(row, k) == pytest.approx(totals[k], rel=1e-12, nan_ok=True), k


@settings(max_examples=8)
@given(
    wl=workloads(max_layers=4),
    w_bits=st.lists(st.integers(1, 16), min_size=1, max_size=3, unique=True),
    a_bits=st.lists(st.integers(1, 16), min_size=1, max_size=2, unique=True),
    chunk=st.integers(1, 40),
)
def test_fast_path_matches_per_point_simulate(tmp_path_factory, wl, w_bits, a_bits, chunk):
    root = tmp_path_factory.mktemp("fast")
    wl.save(root / "w.npz")
    spec = parse_spec(
        toy_spec(
            chunk_size=chunk, workloads=["w.npz"], policies={"w_bits": w_bits, "a_bits": a_bits}
        ),
        root=root,
    )
    summary = run_sweep(spec, root / "out")
    df = load_results(root / "out")
    assert summary.written == len(df) == spec.n_points
    assert summary.layer_rows == len(df) * len(wl)
    assert (df["status"] == "ok").all() and (df["path"] == "fast").all()
    assert df["point"].tolist() == list(range(spec.n_points))
    assert df["point_hash"].is_unique
    _reference(spec, df, wl)


def test_fast_and_general_paths_give_the_same_rows(toy_dir):
    spec = parse_spec(toy_spec(), root=toy_dir)
    run_sweep(spec, toy_dir / "fast")
    run_sweep(spec, toy_dir / "general", force_general=True)
    fast, general = load_results(toy_dir / "fast"), load_results(toy_dir / "general")
    assert (general["path"] == "general").all()
    same = [c for c in fast.columns if c not in TOTALS and c != "path"]
    pd.testing.assert_frame_equal(fast[same], general[same])
    np.testing.assert_allclose(fast[list(TOTALS)], general[list(TOTALS)], rtol=1e-12)


def test_resume_skips_done_and_restores_lost_parts(toy_dir):
    spec = parse_spec(toy_spec(), root=toy_dir)
    out = toy_dir / "out"
    run_sweep(spec, out)
    full = load_results(out)
    again = run_sweep(spec, out)
    assert again.written == 0 and again.skipped == spec.n_points
    parts = sorted((out / PARTS).glob("part-*.parquet"))
    assert len(parts) > 2
    for p in parts[::2]:
        p.unlink()
    (out / PARTS / ".part-x.parquet.123.tmp").write_bytes(b"half a file")
    resumed = run_sweep(spec, out)
    assert 0 < resumed.written < spec.n_points
    pd.testing.assert_frame_equal(load_results(out), full)
    assert not list((out / PARTS).glob(".*.tmp"))


def test_failed_points_are_rows(toy_dir):
    wl_bits = {"w_bits": [2, 8], "a_bits": [4]}
    grid = {"max_bits": [4, 16], "rows": [4, 8]}
    spec = parse_spec(
        toy_spec(hardware=[{"base": "toy", "grid": grid}], policies=wl_bits), root=toy_dir
    )
    s = run_sweep(spec, toy_dir / "out")
    df = load_results(toy_dir / "out")
    failed = df[df["status"] == "failed"]
    assert s.failed == len(failed) == 2  # w8 on both max_bits=4 configs, nothing else
    assert (failed["w_bits"] == 8).all() and (failed["hw.max_bits"] == 4).all()
    assert failed["message"].str.contains("cannot run w_bits > 4").all()
    assert failed[list(TOTALS)].isna().all(axis=None)
    assert (df.loc[df["status"] == "ok", "latency_s"] > 0).all()


FLAKY = {"fail": True}


def _flaky_trainer(workload, hardware, params, seed):
    """Fails while ``FLAKY["fail"]`` is set (a cause the user then fixes)."""
    if FLAKY["fail"]:
        raise RuntimeError("flaky trainer: not ready")
    return BitPolicy({n: (4, 4) for n in workload.layer_names}), {"accuracy": 0.5}


def test_retry_failed_runs_failed_points_again_and_keeps_ok_rows_once(toy_dir):
    from sweeps.general import TRAINERS
    from sweeps.run import register_trainer

    register_trainer("flaky", _flaky_trainer)
    FLAKY["fail"] = True
    try:
        spec = parse_spec(toy_spec(train=[{"method": "flaky", "workload": "toynet"}]), root=toy_dir)
        out = toy_dir / "out"
        first = run_sweep(spec, out)
        before = load_results(out)
        failed = before[before["status"] == "failed"]
        n_train = len(spec.hardware)  # one [[train]] point per config
        assert first.failed == len(failed) == len(first.failures) == n_train
        assert failed["message"].str.contains("flaky trainer: not ready").all()
        assert first.failures["point"].tolist() == sorted(failed["point"])
        FLAKY["fail"] = False  # the cause is fixed
        resumed = run_sweep(spec, out)  # a plain resume skips stored (failed) points
        assert resumed.written == 0 and len(resumed.failures) == n_train
        retried = run_sweep(spec, out, retry_failed=True)
        assert retried.retried == n_train and retried.written == n_train
        assert retried.failed == 0 and retried.failures.empty
        after = load_results(out)
        assert len(after) == spec.n_points and after["point_hash"].is_unique
        assert (after["status"] == "ok").all()
        ok_before = before[before["status"] == "ok"].reset_index(drop=True)
        ok_after = after[after["point"].isin(ok_before["point"])].reset_index(drop=True)
        pd.testing.assert_frame_equal(ok_after, ok_before)
        assert (after.loc[after["point"].isin(failed["point"]), "accuracy"] == 0.5).all()
    finally:
        TRAINERS.pop("flaky", None)


def test_mismatched_policy_file_fails_its_points_only(toy_dir):
    BitPolicy({"c1": (4, 4), "other": (8, 8)}).save(toy_dir / "bad.json")
    BitPolicy({"c1": (4, 2), "fc": (8, 8)}).save(toy_dir / "good.json")
    spec = parse_spec(
        toy_spec(policies={"files": ["bad.json", "good.json"], "pairs": [[4, 4]]}), root=toy_dir
    )
    run_sweep(spec, toy_dir / "out")
    df = load_results(toy_dir / "out")
    by_policy = df.groupby("policy")["status"].agg(set).to_dict()
    assert by_policy == {
        "file:" + toy_dir.name + "/bad": {"failed"},
        "file:" + toy_dir.name + "/good": {"ok"},
        "w4a4": {"ok"},
    }
    good = df[df["policy"].str.endswith("/good")]
    assert (good["w_bits"] == -1).all()
    wl = hwsim.Workload.load(toy_dir / "toynet.npz")
    for row in good.itertuples(index=False):
        hw = spec.hardware.config(int(row.hw_index))
        ref = hwsim.simulate(wl, BitPolicy.load(toy_dir / "good.json"), hw).totals
        assert row.energy_j == pytest.approx(ref["energy_j"], rel=1e-12)


def test_duplicate_points_are_stored_once(toy_dir):
    spec = parse_spec(
        toy_spec(hardware=[{"base": "toy", "grid": {"rows": [8, 4, 8]}}]), root=toy_dir
    )
    s = run_sweep(spec, toy_dir / "out")
    df = load_results(toy_dir / "out")
    assert len(df) == s.written == 2 * 4 and s.skipped == 4
    assert df["point_hash"].is_unique


def test_train_points_use_the_registered_trainer(toy_dir):
    from hwsim.errors import HwsimError

    absent = {"method": "absent", "workload": "toynet"}
    toy = {"method": "toy", "workload": "toynet", "params": {"bits": [3, 5]}}
    with pytest.raises(HwsimError, match=r"train\.method='absent'"):  # refused before any work
        parse_spec(toy_spec(train=[toy, absent]), root=toy_dir)
    spec = parse_spec(toy_spec(train=[toy]), root=toy_dir)
    run_sweep(spec, toy_dir / "out")
    df = load_results(toy_dir / "out")
    assert len(df) == spec.n_points
    toy = df[df["policy"] == "train:toy"]
    assert len(toy) == len(spec.hardware) and (toy["status"] == "ok").all()
    assert toy["accuracy"].between(0, 1).all() and toy["accuracy"].nunique() > 1


def test_fast_path_in_processes_gives_the_same_rows(toy_dir):
    grid = {"rows": [4, 8, 8, 16], "cols": [8, 16]}  # a repeated value: duplicate points
    spec = parse_spec(
        toy_spec(chunk_size=4, hardware=[{"base": "toy", "grid": grid}]), root=toy_dir
    )
    one = run_sweep(spec, toy_dir / "one")
    two = run_sweep(spec, toy_dir / "two", jobs=2)
    assert (one.written, one.skipped) == (two.written, two.skipped) == (24, 8)
    pd.testing.assert_frame_equal(load_results(toy_dir / "one"), load_results(toy_dir / "two"))


def test_one_writer_per_folder(tmp_path):
    from hwsim import HwsimError
    from sweeps.store import ResultStore

    first = ResultStore(tmp_path / "out")
    with pytest.raises(HwsimError, match="another sweep"):
        ResultStore(tmp_path / "out")
    first.close()
    ResultStore(tmp_path / "out").close()


def test_a_per_cycle_bandwidth_key_in_a_spec_is_refused_naming_it(toy_dir):
    """Bandwidth is bytes per second in every family: ``dram_bytes_per_cycle`` is refused at
    parse time, naming where the spec gives it."""
    spec = {
        "name": "old",
        "workloads": ["toynet.npz"],
        "hardware": [{"base": "stripes", "grid": {"dram_bytes_per_cycle": [8, 64]}}],
        "policies": {"w_bits": [4, 8], "a_bits": [8]},
    }
    with pytest.raises(HwsimError) as err:
        parse_spec(spec, root=toy_dir)
    assert err.value.field.endswith("grid.dram_bytes_per_cycle")


def test_fast_path_with_attention_products_matches_simulate(tmp_path):
    """A transformer's act x act rows store no weights on the sweep's fast path as in a
    CostReport: ``total_mem_w_bits`` counts only the rows with weights."""
    import models

    wl = models.extract_workload(models.build("vit_digits"), models.example_input("vit_digits"))
    wl.save(tmp_path / "w.npz")
    spec = parse_spec(
        toy_spec(workloads=["w.npz"], policies={"w_bits": [2, 8], "a_bits": [4]}), root=tmp_path
    )
    run_sweep(spec, tmp_path / "out")
    df = load_results(tmp_path / "out")
    assert (df["status"] == "ok").all() and (df["path"] == "fast").all()
    _reference(spec, df, wl)
    held = int((wl.N * wl.K)[~wl.is_act_matmul].sum())
    assert sorted(df["total_mem_w_bits"].unique()) == [2 * held, 8 * held]
