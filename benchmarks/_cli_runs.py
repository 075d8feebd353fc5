"""One ``hwsim`` CLI run in a fresh process, timed: what the end-to-end benchmarks measure."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed_cli(args: Sequence[str], env: Mapping[str, str] | None = None) -> dict:
    """``hwsim ARGS`` (stdout discarded) in a fresh process: ``wall_s``, the child's
    ``cpu_s`` (user + system), and the load averages ``load_before`` / ``load_after``."""
    cmd = [sys.executable, "-m", "sweeps.cli", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()
    start = time.perf_counter()
    subprocess.run(
        cmd, check=True, env={**os.environ, **(env or {})}, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
        "load_before": [round(v, 2) for v in load],
        "load_after": [round(v, 2) for v in os.getloadavg()],
    }
