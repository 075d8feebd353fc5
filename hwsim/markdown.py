"""GitHub markdown tables, the one formatter every report and benchmark result uses.

pandas' own ``DataFrame.to_markdown`` needs the optional ``tabulate``; a frame goes in as
``markdown_table(df.columns, df.itertuples(index=False))``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def markdown_table(
    header: Sequence[Any], rows: Iterable[Sequence[Any]], floatfmt: str = "{:.4g}"
) -> str:
    """A pipe table: one ``| a | b |`` line per row under ``header``; floats via ``floatfmt``,
    everything else via ``str``. No trailing newline."""

    def cell(value: Any) -> str:
        return floatfmt.format(value) if isinstance(value, float | np.floating) else str(value)

    head = [str(h) for h in header]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
