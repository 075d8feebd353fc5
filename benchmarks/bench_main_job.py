"""The main job's time: ``hwsim codesign`` (and ``--model vit_digits``) end to end.

Each run is the CLI in a fresh process with a fresh ``--out``, timed three ways in order:

- ``first``: as after a fresh install: Numba's on-disk cache (``NUMBA_CACHE_DIR``) and the
  float-baseline cache (``HWSIM_CACHE``) both empty, so the cost-model kernels compile and the
  baseline trains inside the run;
- ``cold``: Numba's cache now warm, the baseline cache empty again (the baseline trains);
- ``warm``: both caches warm (the baseline is loaded), as every later run.

Both caches live in a temporary folder, so the user's own caches neither help nor suffer.
Each row has the wall time and the child's CPU time (user + system): on a shared machine the
wall time stretches with the load and the CPU time much less (the torch work runs on one
thread). The target is 3 minutes of wall time on 2 cores.

    python benchmarks/bench_main_job.py                       # -> results/main_job.json
    python benchmarks/bench_main_job.py --model vit_digits    # -> results/main_job_vit_digits.json
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TARGET_S = 180.0
DEFAULT_MODEL = "resnet_digits"  # what `hwsim codesign` runs with no arguments


def timed_run(args: list[str], out: Path, numba_cache: Path, hwsim_cache: Path) -> dict:
    """Wall and CPU seconds of ``hwsim codesign ARGS --out OUT`` in a fresh process."""
    from _cli_runs import timed_cli

    env = {"NUMBA_CACHE_DIR": str(numba_cache), "HWSIM_CACHE": str(hwsim_cache)}
    run = timed_cli(["codesign", *args, "--out", str(out)], env)
    return {
        "wall_s": run["wall_s"],
        "cpu_s": run["cpu_s"],
        "ratio_target_over_wall": round(TARGET_S / run["wall_s"], 2),
        "loadavg_1min_before_after": [run["load_before"][0], run["load_after"][0]],
        "results_csv": (out / "results.csv").read_text(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL, help="zoo model (default: the main job's)")
    args = ap.parse_args()
    extra = [] if args.model == DEFAULT_MODEL else ["--model", args.model]
    from _provenance import provenance

    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        numba_cache = work / "numba"
        for name, hwsim_cache in (("first", "c1"), ("cold", "c2"), ("warm", "c2")):
            runs[name] = timed_run(extra, work / f"run-{name}", numba_cache, work / hwsim_cache)
            print(
                f"{name}: {runs[name]['wall_s']} s wall, {runs[name]['cpu_s']} s CPU "
                f"(load {runs[name]['loadavg_1min_before_after']})",
                flush=True,
            )
    record = {
        "command": "hwsim codesign" + ("" if not extra else " " + " ".join(extra)),
        "target_s": TARGET_S,
        "runs": runs,
        "runs_mean": {
            "first": "fresh install: Numba compiles the cost models, the float baseline trains",
            "cold": "Numba's cache warm; the float baseline trains",
            "warm": "both caches warm: the float baseline is loaded",
        },
        "machine": platform.processor() or platform.machine(),
        **provenance(max(r["loadavg_1min_before_after"][0] for r in runs.values())),
    }
    suffix = "" if args.model == DEFAULT_MODEL else f"_{args.model}"
    path = RESULTS / f"main_job{suffix}.json"
    from hwsim.io import atomic_write_text

    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
