"""``hwsim sweep SPEC.toml --out DIR``: run (or resume) a design-space sweep."""

from __future__ import annotations

import argparse

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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hwsim.errors import Interrupted
    from sweeps.run import run_sweep

    try:
        s = run_sweep(
            args.spec,
            args.out,
            executor=args.executor,
            workers=args.workers,
            scheduler=args.scheduler,
            jobs=args.jobs,
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
    print(
        f"{s.written} points written ({s.failed} failed), {s.skipped} already done, "
        f"{s.points} in the spec; {s.layer_rows} layer rows; {s.seconds:.1f} s "
        f"({s.points_per_s:,.0f} points/s) -> {s.out}"
    )
    return 0
