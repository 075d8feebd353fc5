"""The one markdown-table helper: every cell lands in its row and column, formatted once."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from hwsim.markdown import markdown_table

# Cells without the pipe or a newline, which would need escaping in any pipe table.
_text = st.text(
    st.characters(blacklist_characters="|\n\r", blacklist_categories=("Cs",)), max_size=8
)
_cell = st.one_of(_text, st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False))


@given(
    st.integers(1, 5).flatmap(
        lambda n: st.tuples(
            st.lists(_text, min_size=n, max_size=n),
            st.lists(st.lists(_cell, min_size=n, max_size=n), max_size=6),
        )
    )
)
def test_cells_round_trip(table):
    header, rows = table
    text = markdown_table(header, rows, floatfmt="{:.3f}")
    lines = text.split("\n")
    assert len(lines) == 2 + len(rows)
    assert lines[1] == "|" + "---|" * len(header)

    def cells(line: str) -> list[str]:
        assert line.startswith("| ") and line.endswith(" |")
        return line[2:-2].split(" | ")

    assert cells(lines[0]) == header
    for line, row in zip(lines[2:], rows, strict=True):
        want = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        assert cells(line) == want


def test_numpy_floats_use_the_float_format():
    text = markdown_table(["x", "n"], [(np.float32(0.5), np.int64(3))], floatfmt="{:.2f}")
    assert text.splitlines()[2] == "| 0.50 | 3 |"
