"""hwsim.encoding: names, validation, value ranges and the bipolar bit convention."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwsim import HwsimError
from hwsim.encoding import (
    ENCODINGS,
    check_encoding,
    contains,
    from_bits,
    levels,
    resolve,
    to_bits,
    value_range,
    values,
)


def test_names() -> None:
    assert ENCODINGS == ("unsigned", "signed", "bipolar")


@pytest.mark.parametrize("bad", ["Signed", "int", "", None, 1, True])
def test_unknown_name_is_an_error_naming_the_field(bad) -> None:
    with pytest.raises(HwsimError) as err:
        check_encoding("layer.w_encoding", bad)
    assert err.value.field == "layer.w_encoding"


@given(st.integers(2, 16))
def test_bipolar_is_one_bit(bits: int) -> None:
    assert check_encoding("f", "bipolar", 1) == "bipolar"
    with pytest.raises(HwsimError):
        check_encoding("f", "bipolar", bits)


@given(st.integers(1, 16), st.sampled_from(["unsigned", "signed"]))
def test_ranges_are_the_integers_the_bitplanes_sum_to(bits: int, enc: str) -> None:
    # Every bit pattern, summed with plane weights 2^i (the top plane -2^(b-1) when signed).
    if bits > 10:
        bits = 10
    weights = [1 << i for i in range(bits)]
    if enc == "signed":
        weights[-1] = -weights[-1]
    sums = sorted(
        sum(w for w, b in zip(weights, pattern, strict=True) if b)
        for pattern in itertools.product((0, 1), repeat=bits)
    )
    assert value_range(enc, bits) == (sums[0], sums[-1])
    assert levels(enc, bits) == len(set(sums))
    assert values(enc, bits).tolist() == sums


def test_bipolar_values() -> None:
    assert value_range("bipolar", 1) == (-1, 1)
    assert values("bipolar", 1).tolist() == [-1, 1]
    assert levels("bipolar", 1) == 2
    assert contains("bipolar", 1, [1, -1, 1])
    assert not contains("bipolar", 1, [1, 0])


@given(st.lists(st.sampled_from([-1, 1]), max_size=50))
def test_bipolar_bits_round_trip_and_xnor_popcount(v: list[int]) -> None:
    x = np.array(v, dtype=np.int64)
    b = to_bits(x)
    assert set(b.tolist()) <= {0, 1}
    assert from_bits(b).tolist() == v
    # The dot product of two bipolar vectors is 2 * popcount(XNOR) - K.
    y = x[::-1].copy()
    xnor = 1 - (to_bits(x) ^ to_bits(y))
    assert int(x @ y) == 2 * int(xnor.sum()) - len(v)


def test_to_bits_rejects_non_bipolar() -> None:
    with pytest.raises(HwsimError):
        to_bits([1, 0, -1])


def test_resolve_from_shorthand_and_conflicts() -> None:
    assert resolve("a_encoding", None, None, "unsigned") == "unsigned"
    assert resolve("a_encoding", None, True, "unsigned") == "signed"
    assert resolve("w_encoding", None, False, "signed") == "unsigned"
    assert resolve("w_encoding", "bipolar", None, "signed", bits=1) == "bipolar"
    assert resolve("w_encoding", "bipolar", True, "signed", bits=1) == "bipolar"
    with pytest.raises(HwsimError):
        resolve("w_encoding", "bipolar", False, "signed", bits=1)
    with pytest.raises(HwsimError):
        resolve("w_encoding", "bipolar", None, "signed", bits=2)
    with pytest.raises(HwsimError):
        resolve("a_encoding", None, "yes", "unsigned")
