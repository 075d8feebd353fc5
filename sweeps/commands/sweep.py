"""``hwsim sweep SPEC.toml --out DIR``: run (or resume) a design-space sweep."""

from __future__ import annotations

import argparse
import sys

from sweeps.executors import EXECUTORS


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run or resume a design-space sweep",
        description="Evaluate every point of a sweep spec; re-running on the same --out "
        "resumes and skips the points already stored.",
    )
    p.add_argument("spec", help="sweep spec TOML")
    p.add_argument("--out", required=True, help="results folder (Parquet parts)")
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="serial",
        help="where general-path points run (default: serial)",
    )
    p.add_argument("--scheduler", default=None, help="Dask scheduler address")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="process / Dask workers (default: one per CPU; a local Dask cluster: 1)",
    )
    p.add_argument(
        "--jobs", type=int, default=1, help="processes for the analytic fast path (default: 1)"
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="evaluate again the points stored as failed (a resume skips them otherwise)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit status 0 when every point of the folder is ok, 1 when any point failed."""
    from hwsim.errors import Interrupted
    from sweeps.run import run_sweep

    try:
        s = run_sweep(
            args.spec,
            args.out,
            executor=args.executor,
            processes=args.workers,
            scheduler=args.scheduler,
            jobs=args.jobs,
            retry_failed=args.retry_failed,
        )
    except KeyboardInterrupt:
        from sweeps.store import ResultStore

        store = ResultStore(args.out)
        kept = len(store.done)
        store.close()
        raise Interrupted(
            f"{kept:,} points are stored in {args.out}; run the same command again to resume "
            "(stored points are skipped)"
        ) from None
    retried = f", {s.retried} failed points retried" if s.retried else ""
    outside = f"{s.excluded} outside the spec's constraints (not stored), " if s.excluded else ""
    print(
        f"{s.written} points written ({s.failed} failed{retried}), {outside}"
        f"{s.skipped} already done, "
        f"{s.points} in the spec; {s.layer_rows} layer rows; {s.seconds:.1f} s "
        f"({s.points_per_s:,.0f} points/s) -> {s.out}"
    )
    if s.failures.empty:
        return 0
    print(failure_report(s.failures, s.failed), file=sys.stderr)
    return 1


def failure_report(failures, failed_this_run: int, shown: int = 5) -> str:
    """Every distinct failure reason with its count and the first points it hit."""
    earlier = len(failures) - failed_this_run
    lines = [
        f"{len(failures)} point(s) failed"
        + (f" ({earlier} stored by an earlier run)" if earlier > 0 else "")
        + ":"
    ]
    for message, g in failures.groupby("message", sort=False):
        points = ", ".join(str(p) for p in g["point"].head(shown))
        more = f" and {len(g) - shown} more" if len(g) > shown else ""
        cases = g[["workload", "policy", "hw_name"]].drop_duplicates()
        where = "; ".join(" / ".join(map(str, c)) for c in cases.head(3).itertuples(index=False))
        lines.append(f"  {len(g)} x {message}")
        lines.append(f"      points {points}{more} (workload / policy / hardware: {where})")
    lines.append("fix the cause, then re-run with --retry-failed to evaluate them again")
    return "\n".join(lines)
