"""hwsim.bits against independent references: Python integer arithmetic and brute-force counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hwsim import HwsimError, LayerStats
from hwsim.bits import (
    dequantize,
    from_bitplanes,
    group_stats,
    layer_stats,
    pack_bitplanes,
    plane_density,
    plane_weights,
    quantize,
    to_bitplanes,
)
from tests.strategies import code_range, codes, gemm_k, gemm_m, signedness, small_bits

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6)


def python_bit(code: int, plane: int, n_bits: int) -> int:
    """Bit ``plane`` of ``code`` in ``n_bits``-bit two's complement, by Python integers."""
    return ((code % (1 << n_bits)) >> plane) & 1


@given(data=st.data(), n_bits=st.integers(1, 16), signed=signedness, shape=shapes)
def test_bitplanes_match_python_bits_and_round_trip(data, n_bits, signed, shape):
    c = data.draw(codes(shape, n_bits, signed))
    planes = to_bitplanes(c, n_bits, signed)
    assert planes.dtype == np.uint8 and planes.shape == (n_bits, *shape)
    for idx in np.ndindex(*shape):
        for p in range(n_bits):
            assert planes[(p, *idx)] == python_bit(int(c[idx]), p, n_bits)
    np.testing.assert_array_equal(from_bitplanes(planes, signed), c)


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("n_bits", [1, 2, 5, 16])
def test_plane_weights_are_powers_of_two_with_negative_sign_plane(n_bits, signed):
    w = plane_weights(n_bits, signed)
    expected = [2**i for i in range(n_bits)]
    if signed:
        expected[-1] = -expected[-1]
    assert w.tolist() == expected


@given(data=st.data(), n_bits=small_bits, signed=signedness, rows=gemm_m, k=gemm_k)
def test_pack_bitplanes_matches_word_by_word_construction(data, n_bits, signed, rows, k):
    c = data.draw(codes((rows, k), n_bits, signed))
    packed = pack_bitplanes(c, n_bits, signed)
    n_words = -(-k // 64)
    assert packed.dtype == np.uint64 and packed.shape == (n_bits, rows, n_words)
    for p in range(n_bits):
        for r in range(rows):
            for wi in range(n_words):
                word = sum(
                    python_bit(int(c[r, lane]), p, n_bits) << (lane - 64 * wi)
                    for lane in range(64 * wi, min(64 * wi + 64, k))
                )
                assert int(packed[p, r, wi]) == word


def brute_group_stats(c: np.ndarray, n_bits: int, group_size: int):
    rows = c.reshape(-1, c.shape[-1])
    essential = [0] * (n_bits + 1)
    precision = [0] * (n_bits + 1)
    total = 0
    for row in rows.tolist():
        for g0 in range(0, len(row), group_size):
            group = [abs(v) for v in row[g0 : g0 + group_size]]
            essential[max(v.bit_count() for v in group)] += 1
            precision[max(v.bit_length() for v in group)] += 1
            total += sum(v.bit_count() for v in group)
    n_groups = sum(essential)
    return ([e / n_groups for e in essential], [p / n_groups for p in precision], total / rows.size)


@given(
    data=st.data(), n_bits=small_bits, signed=signedness, shape=shapes, group_size=st.integers(1, 8)
)
def test_group_stats_match_brute_force(data, n_bits, signed, shape, group_size):
    c = data.draw(codes(shape, n_bits, signed))
    essential, precision, mean = group_stats(c, n_bits, signed, group_size)
    want_e, want_p, want_mean = brute_group_stats(c, n_bits, group_size)
    np.testing.assert_allclose(essential, want_e)
    np.testing.assert_allclose(precision, want_p)
    assert mean == pytest.approx(want_mean)


@given(data=st.data(), w_bits=small_bits, a_bits=small_bits, a_signed=signedness)
def test_layer_stats_fields(data, w_bits, a_bits, a_signed):
    w = data.draw(codes((3, 20), w_bits, True))
    a = data.draw(codes((2, 20), a_bits, a_signed))
    stats = layer_stats(w, a, w_bits, a_bits, a_signed=a_signed, group_size=4)
    assert isinstance(stats, LayerStats) and stats.group_size == 4
    for p in range(w_bits):
        want = np.mean([python_bit(int(v), p, w_bits) for v in w.ravel()])
        assert stats.w_plane_density[p] == pytest.approx(want)
    for p in range(a_bits):
        want = np.mean([python_bit(int(v), p, a_bits) for v in a.ravel()])
        assert stats.a_plane_density[p] == pytest.approx(want)
    want_e, want_p, want_mean = brute_group_stats(a, a_bits, 4)
    np.testing.assert_allclose(stats.a_group_max_essential, want_e)
    np.testing.assert_allclose(stats.a_group_max_precision, want_p)
    assert stats.a_mean_essential == pytest.approx(want_mean)


@given(data=st.data(), n_bits=small_bits, signed=signedness)
def test_group_stats_along_channel_axis_equal_channels_last(data, n_bits, signed):
    c = data.draw(codes((2, 5, 3, 2), n_bits, signed))
    along_c = group_stats(c, n_bits, signed, 4, axis=1)
    channels_last = group_stats(np.transpose(c, (0, 2, 3, 1)), n_bits, signed, 4)
    want_e, want_p, want_mean = brute_group_stats(np.transpose(c, (0, 2, 3, 1)), n_bits, 4)
    for got in (along_c, channels_last):
        np.testing.assert_allclose(got[0], want_e)
        np.testing.assert_allclose(got[1], want_p)
        assert got[2] == pytest.approx(want_mean)


def test_plane_density_of_known_codes():
    # 3 = 0b011 and 4 = 0b100: plane 0 and 1 set in half, plane 2 in half.
    np.testing.assert_allclose(plane_density(np.array([3, 4]), 3, False), [0.5, 0.5, 0.5])
    # -1 in 4-bit two's complement sets every plane.
    np.testing.assert_allclose(plane_density(np.array([-1, 0]), 4, True), [0.5] * 4)


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@given(
    x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=finite),
    n_bits=st.integers(2, 12),
    signed=signedness,
    per_channel=st.booleans(),
)
def test_quantize_error_bound_and_code_range(x, n_bits, signed, per_channel):
    axis = x.ndim - 1 if per_channel else None
    c, scale = quantize(x, n_bits, signed=signed, axis=axis)
    assert c.dtype == np.int64 and c.shape == x.shape
    qmax = (1 << (n_bits - 1)) - 1 if signed else (1 << n_bits) - 1
    assert c.max(initial=0) <= qmax and c.min(initial=0) >= (-qmax if signed else 0)
    deq = dequantize(c, scale)
    inside = np.ones_like(x, dtype=bool) if signed else x >= 0
    bound = np.broadcast_to(scale, x.shape) / 2
    assert (np.abs(x - deq)[inside] <= bound[inside] * (1 + 1e-9) + 1e-12).all()
    if not signed:
        assert (deq[~inside] == 0).all()
    if per_channel:
        flat = scale.reshape(-1)
        np.testing.assert_allclose(dequantize(c, flat, axis=axis), deq)


def test_quantize_per_channel_scales_follow_each_channel():
    x = np.array([[1.0, -2.0], [10.0, 20.0]])
    c, scale = quantize(x, 4, signed=True, axis=0)
    np.testing.assert_allclose(scale.ravel(), [2.0 / 7, 20.0 / 7])
    np.testing.assert_array_equal(c, [[4, -7], [4, 7]])


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: to_bitplanes(np.array([8]), 3, False), "codes"),
        (lambda: to_bitplanes(np.array([-5]), 3, True), "codes"),
        (lambda: to_bitplanes(np.array([-1]), 3, False), "codes"),
        (lambda: to_bitplanes(np.array([1.0]), 3, False), "codes.dtype"),
        (lambda: to_bitplanes(np.array([True]), 3, False), "codes.dtype"),
        (lambda: to_bitplanes(np.array([1]), 0, False), "bits"),
        (lambda: to_bitplanes(np.array([1]), 17, False), "bits"),
        (lambda: pack_bitplanes(np.array([1, 2]), 2, False), "codes.shape"),
        (lambda: pack_bitplanes(np.array([[2**63]], dtype=np.uint64), 16, False), "codes"),
        (lambda: from_bitplanes(np.array([[2]]), False), "planes"),
        (lambda: quantize(np.array([np.nan]), 4, signed=True), "x"),
        (lambda: quantize(np.array([1.0]), 1, signed=True), "bits"),
        (lambda: quantize(np.ones((2, 2)), 4, signed=True, axis=2), "axis"),
        (lambda: dequantize(np.ones((2, 3), int), np.ones(2), axis=1), "scale"),
        (lambda: group_stats(np.array([1]), 2, False, group_size=0), "group_size"),
        (lambda: layer_stats(np.array([[9]]), np.array([[1]]), 4, 2), "w_codes"),
        (lambda: layer_stats(np.array([[1]]), np.array([[-1]]), 4, 2), "a_codes"),
        (lambda: layer_stats(np.array([[1]]), np.array([[1]]), 4, 20), "a_bits"),
    ],
)
def test_bad_input_raises_hwsim_error_naming_the_field(call, field):
    with pytest.raises(HwsimError) as info:
        call()
    assert info.value.field == field


def test_code_range_helper_agrees_with_validation():
    lo, hi = code_range(5, True)
    to_bitplanes(np.array([lo, hi]), 5, True)
    with pytest.raises(HwsimError):
        to_bitplanes(np.array([hi + 1]), 5, True)
