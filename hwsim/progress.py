"""Progress a user sees on any stream: one line per stage on stderr, with the time elapsed.

tqdm bars (``disable=None``) show only on a terminal; these lines show everywhere (a CI log, a
file, a pipe), so a long run is never silent. They go through ``tqdm.write`` so that a live bar
is redrawn below them rather than torn.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class StageLog:
    """``log("fine-tuning 3 policies")`` prints ``[   12.3 s] codesign: fine-tuning 3 policies``
    to stderr; the clock starts when the log is made."""

    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self.name = name
        self.stream = stream
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, message: str) -> None:
        from tqdm import tqdm

        line = f"[{self.elapsed:7.1f} s] {self.name}: {message}"
        tqdm.write(line, file=self.stream or sys.stderr)
        (self.stream or sys.stderr).flush()
