"""Human units: every value prints with a prefix that puts it in [1, 1000) (1024 for bytes) and
reads back to itself."""

from __future__ import annotations

import math
import re

from hypothesis import given
from hypothesis import strategies as st

from hwsim.units import column_scale, format_quantity

# Independent of the code's table: what each printed prefix means.
PREFIX = {"p": 1e-12, "n": 1e-9, "µ": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}
BINARY = {"": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def parse(text: str, unit: str) -> tuple[float, float]:
    """(mantissa, value) of a printed quantity."""
    m = re.fullmatch(rf"(-?[\d.e+-]+) (\w*?|µ){re.escape(unit)}", text)
    assert m, text
    table = BINARY if unit == "B" else PREFIX
    return float(m.group(1)), float(m.group(1)) * table[m.group(2)]


@given(exp=st.floats(-11.5, 5.5), unit=st.sampled_from(["s", "J"]))
def test_si_quantities_read_back_in_range(exp, unit):
    value = 10.0**exp
    mantissa, back = parse(format_quantity(value, unit), unit)
    assert 1 <= mantissa < 1000.5  # 999.97 rounds to "1000" at 4 digits
    assert math.isclose(back, value, rel_tol=5e-4)


@given(value=st.floats(1.0, 2.0**42))
def test_bytes_use_binary_prefixes(value):
    text = format_quantity(value, "B")
    mantissa, back = parse(text, "B")
    assert 1 <= mantissa < 1024.5 and "KB" not in text and "kB" not in text
    assert math.isclose(back, value, rel_tol=5e-4)


def test_the_issue_examples_and_edges():
    assert format_quantity(0.001669e-3, "s") == "1.669 µs"
    assert format_quantity(1.662e05 * 1e-6, "J") == "166.2 mJ"
    assert format_quantity(1e-6, "s") == "1 µs"  # not 1000 ns
    assert format_quantity(1536, "B") == "1.5 KiB"
    assert format_quantity(0.0, "J") == "0 J"
    assert format_quantity(4.1e9, "MACs") == "4.1 GMACs"
    assert format_quantity(0.5, "MACs") == "0.5 MACs"  # counts never go to milli


@given(values=st.lists(st.floats(1e-9, 1e3), min_size=1, max_size=20))
def test_a_column_takes_the_scale_of_its_largest_value(values):
    divisor, label = column_scale(values, "s")
    assert 1 - 1e-9 <= max(values) / divisor < 1000 * (1 + 1e-9)
    assert PREFIX[label.removesuffix("s")] == divisor
