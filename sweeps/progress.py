"""What a running sweep has done so far: the counts behind its summary and its progress bar."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Tally:
    """Counts of one ``run_sweep`` call, kept in step with its progress bar."""

    bar: Any  # a tqdm bar (or anything with ``update(n)``)
    skipped: int = 0  # points already stored (resumed) or duplicates of another point
    written: int = 0  # rows this run wrote
    failed: int = 0  # of those, rows with status "failed"
    layer_rows: int = 0  # layer evaluations behind the written rows
    excluded: int = 0  # points outside the spec's constraints (not stored)

    def skip(self, n: int) -> None:
        self.skipped += n
        self.bar.update(n)

    def wrote(self, rows: int, failed: int, layer_rows: int) -> None:
        """Count rows stored (the bar moves as points finish: :meth:`advance`)."""
        self.written += rows
        self.failed += failed
        self.layer_rows += layer_rows

    def advance(self, n: int) -> None:
        self.bar.update(n)

    def exclude(self, n: int) -> None:
        """Count points left out by the spec's constraints (the bar moves past them)."""
        self.excluded += n
        self.bar.update(n)
