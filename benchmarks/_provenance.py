"""What a results file records about its run: the commit measured and the machine's load.

Every benchmark writer stamps its output with :func:`provenance` (CSV columns, JSON keys) or
:func:`provenance_line` (a Markdown line), so a figure can be traced to the code that produced
it and to how busy the machine was while it ran.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def git_commit() -> str:
    """The checked-out commit (short hash), with ``-dirty`` when tracked files differ from it
    (the run then measured uncommitted code); ``unknown`` outside a git checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def provenance(load_before: float | None = None) -> dict[str, object]:
    """``git_commit``, ``load_avg_1min`` (the larger of ``load_before``, taken when the timing
    started, and now), ``cpus`` and ``measured_utc``."""
    load = os.getloadavg()[0]
    if load_before is not None:
        load = max(load, load_before)
    return {
        "git_commit": git_commit(),
        "load_avg_1min": round(load, 2),
        "cpus": os.cpu_count(),
        "measured_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
    }


def stamp(df, load_before: float | None = None):
    """``df`` with the :func:`provenance` columns added (every row the same)."""
    for key, value in provenance(load_before).items():
        df[key] = value
    return df


def provenance_line(load_before: float | None = None) -> str:
    """One Markdown line: the commit, the load and the date of this run."""
    p = provenance(load_before)
    return (
        f"Measured at commit `{p['git_commit']}` on {p['measured_utc']} UTC, load average "
        f"{p['load_avg_1min']:.1f} on {p['cpus']} CPUs."
    )
