"""A sweep killed with SIGKILL at a random moment, then resumed, has exactly the rows of an
uninterrupted run: none lost, none twice."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from sweeps.store import load_results

HERE = Path(__file__).parent


def _spec(root: Path) -> Path:
    path = root / "spec.toml"
    path.write_text(
        'name = "kill"\nseed = 5\nchunk_size = 8\nplugins = ["toy_family"]\n'
        'workloads = ["toynet.npz"]\n'
        '[[hardware]]\nbase = "toy"\n'
        "grid = { rows = [2, 4, 8, 16, 32], cols = [4, 8, 16], delay_s = [0.02] }\n"
        "random = { samples = 3, sram_kib = { low = 8.0, high = 512.0, log = true } }\n"
        "[policies]\nw_bits = [2, 4, 8]\na_bits = [4, 8]\n"
    )
    return path


def _sweep(spec: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.getcwd()])}
    return subprocess.Popen(
        [sys.executable, "-m", "sweeps.cli", "sweep", str(spec), "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_sigkill_then_resume_equals_uninterrupted(toy_dir):
    import toy_family

    toy_family.toy_workload().save(toy_dir / "toynet.npz")
    spec = _spec(toy_dir)
    full = _sweep(spec, toy_dir / "full")
    assert full.wait(timeout=120) == 0, full.stderr.read().decode()
    expected = load_results(toy_dir / "full")
    assert len(expected) == 45 * 6

    rng = random.Random()
    victim = _sweep(spec, toy_dir / "killed")
    time.sleep(rng.uniform(1.0, 4.0))
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    partial = len(load_results(toy_dir / "killed")) if (toy_dir / "killed").exists() else 0
    resumed = _sweep(spec, toy_dir / "killed")
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read().decode()
    got = load_results(toy_dir / "killed")
    assert got["point_hash"].is_unique
    assert partial <= len(got)
    pd.testing.assert_frame_equal(got, expected)
