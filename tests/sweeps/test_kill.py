"""A sweep killed with SIGKILL mid-run (after some of its points are stored, at a seeded random
moment), then resumed, has exactly the rows of an uninterrupted run: none lost, none twice."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from sweeps.store import load_results
from tests.processes import default_sigint

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
    assert full.wait(timeout=300) == 0, full.stderr.read().decode()
    expected = load_results(toy_dir / "full")
    assert len(expected) == 45 * 6

    rng = random.Random(11)
    victim = _sweep(spec, toy_dir / "killed")
    # Wait for the first stored part, then a seeded extra moment (the toy hardware sleeps
    # 20 ms per point, so the run still has seconds to go), and kill it.
    parts = toy_dir / "killed" / "parts"
    deadline = time.monotonic() + 120
    while not list(parts.glob("part-*.parquet")):
        assert victim.poll() is None, victim.stderr.read().decode()
        assert time.monotonic() < deadline, "the sweep stored nothing in 120 s"
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.5))
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=30) == -signal.SIGKILL  # killed, not finished
    partial = len(load_results(toy_dir / "killed"))
    assert 0 < partial < len(expected)  # the kill landed mid-run
    resumed = _sweep(spec, toy_dir / "killed")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    got = load_results(toy_dir / "killed")
    assert got["point_hash"].is_unique
    assert partial <= len(got)
    pd.testing.assert_frame_equal(got, expected)


def test_ctrl_c_stops_in_one_line_then_resumes(toy_dir):
    """SIGINT to the whole process group (what Ctrl-C does), workers included: no traceback,
    one line saying what was kept and how to resume; the resumed run completes the rest."""
    import toy_family

    toy_family.toy_workload().save(toy_dir / "toynet.npz")
    spec = _spec(toy_dir)
    out = toy_dir / "interrupted"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.getcwd()])}
    argv = [sys.executable, "-m", "sweeps.cli", "sweep", str(spec), "--out", str(out)]
    victim = subprocess.Popen(
        [*argv, "--jobs", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_sigint,
    )
    first = victim.stderr.readline()  # the first stage line: the points are planned
    assert "points planned" in first, first
    # Interrupt once the workers run points (a part is stored), not after a fixed time: on a
    # busy machine the workers may still be starting after any fixed wait, and a signal that
    # lands in a starting interpreter is not what this test is about.
    parts = out / "parts"
    deadline = time.monotonic() + 120
    while not list(parts.glob("part-*.parquet")):
        assert victim.poll() is None, first + victim.stderr.read()
        assert time.monotonic() < deadline, "the sweep stored nothing in 120 s"
        time.sleep(0.02)
    os.killpg(victim.pid, signal.SIGINT)
    err = first + victim.stderr.read()
    code = victim.wait(timeout=120)
    assert code == 130, err  # 45 configs x 6 policies at 20 ms each take longer than this
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("hwsim: interrupted: ") and "run the same command again" in last
    kept = len(load_results(out)) if out.exists() else 0
    assert f"{kept:,} points are stored" in last
    resumed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    got = load_results(out)
    assert len(got) == 45 * 6 and got["point_hash"].is_unique
