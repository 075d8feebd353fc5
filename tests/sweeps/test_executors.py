import pandas as pd
import pytest
from toy_family import toy_spec

from sweeps.executors import make_executor
from sweeps.run import run_sweep
from sweeps.spec import parse_spec
from sweeps.store import load_results

# Point-identifying columns and results; completion order and the executor must not matter.
TRAIN = [{"method": "toy", "workload": "toynet", "params": {"bits": [2, 4, 8]}}]


def _spec(root):
    return parse_spec(
        toy_spec(train=TRAIN, hardware=[{"base": "toy", "grid": {"rows": [4, 16]}}]), root=root
    )


def _rows(root, **kw):
    run_sweep(_spec(root), root / "out", force_general=True, **kw)
    df = load_results(root / "out")
    assert df["status"].eq("ok").all()
    return df


def test_process_pool_gives_the_serial_rows(toy_dir, tmp_path):
    serial = _rows(toy_dir)
    (tmp_path / "p").mkdir()
    import shutil

    shutil.copy(toy_dir / "toynet.npz", tmp_path / "p" / "toynet.npz")
    proc = _rows(tmp_path / "p", executor="process", processes=2)
    pd.testing.assert_frame_equal(serial, proc)
    assert serial["accuracy"].notna().sum() == 2  # the train points, one per config


def test_dask_gives_the_serial_rows(toy_dir, tmp_path):
    # Not an importorskip: the dev extra installs Dask, so a missing Dask is a broken install.
    import distributed

    serial = _rows(toy_dir)
    (tmp_path / "d").mkdir()
    import shutil

    shutil.copy(toy_dir / "toynet.npz", tmp_path / "d" / "toynet.npz")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        # The --scheduler path: the executor connects its own client to the address.
        dask_rows = _rows(tmp_path / "d", executor="dask", scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(serial, dask_rows)


def test_bad_executor_arguments():
    from hwsim import HwsimError

    with pytest.raises(HwsimError, match="executor"):
        make_executor("threads")
    with pytest.raises(HwsimError, match="processes"):
        make_executor("process", processes=0)
    with pytest.raises(HwsimError, match="scheduler"):
        make_executor("serial", scheduler="tcp://x:1")
