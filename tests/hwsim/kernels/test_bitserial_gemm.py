"""hwsim.kernels matmul against numpy int64 matmul, exactly, over shapes, bits and signs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hwsim.bits as bits_module
import hwsim.kernels.gemm as gemm
from hwsim import HwsimError
from hwsim.kernels import (
    PackedOperand,
    bitserial_linear,
    bitserial_matmul,
    bitserial_matmul_packed,
    pack_operand,
    plane_pair_coefficients,
    popcount,
)
from tests.strategies import code_range, codes, gemm_m, gemm_n, long_gemm_k, signedness, small_bits


def reference(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    return a.astype(np.int64) @ w.astype(np.int64).T


@given(
    data=st.data(),
    m=gemm_m,
    n=gemm_n,
    k=long_gemm_k,
    a_bits=small_bits,
    w_bits=small_bits,
    a_signed=signedness,
    w_signed=signedness,
)
def test_matmul_equals_integer_matmul(data, m, n, k, a_bits, w_bits, a_signed, w_signed):
    a = data.draw(codes((m, k), a_bits, a_signed))
    w = data.draw(codes((n, k), w_bits, w_signed))
    got = bitserial_matmul(a, w, a_bits, w_bits, a_signed=a_signed, w_signed=w_signed)
    assert got.dtype == np.int64 and got.shape == (m, n)
    np.testing.assert_array_equal(got, reference(a, w))


@given(
    data=st.data(),
    m=gemm_m,
    n=gemm_n,
    k=long_gemm_k,
    a_bits=small_bits,
    w_bits=small_bits,
    a_signed=signedness,
    w_signed=signedness,
)
def test_narrow_codes_equal_integer_matmul(data, m, n, k, a_bits, w_bits, a_signed, w_signed):
    # uint8 / int8 activation codes take the one-byte packer (vector compare per 64 codes).
    a = data.draw(codes((m, k), a_bits, a_signed))
    w = data.draw(codes((n, k), w_bits, w_signed))
    narrow = a.astype(np.int8 if a_signed else np.uint8)
    packed = pack_operand(w, w_bits, signed=w_signed)
    got = bitserial_linear(narrow, packed, a_bits, a_signed=a_signed)
    assert got.dtype == np.int64 and got.shape == (m, n)
    np.testing.assert_array_equal(got, reference(a, w))


@given(
    data=st.data(), a_bits=small_bits, w_bits=small_bits, a_signed=signedness, w_signed=signedness
)
def test_row_and_column_blocking_is_exact(data, a_bits, w_bits, a_signed, w_signed):
    # Tiny buffers force one row tile per packed block and one weight tile per column block,
    # with partial row tiles (25 rows) and several column tiles (37 outputs).
    a = data.draw(codes((25, 700), a_bits, a_signed))
    w = data.draw(codes((37, 700), w_bits, w_signed))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gemm, "PACK_BUFFER_BYTES", 64)
        mp.setattr(gemm, "WEIGHT_BLOCK_BYTES", 64)
        assert gemm.row_block_for(a_bits, 11) == gemm.ROW_TILE
        assert gemm.col_block_for(w_bits, 11) == 1
        got = bitserial_matmul(a, w, a_bits, w_bits, a_signed=a_signed, w_signed=w_signed)
        narrow = a.astype(np.int8 if a_signed else np.uint8)
        got_narrow = bitserial_matmul(
            narrow, w, a_bits, w_bits, a_signed=a_signed, w_signed=w_signed
        )
    np.testing.assert_array_equal(got, reference(a, w))
    np.testing.assert_array_equal(got_narrow, reference(a, w))


@pytest.mark.parametrize(
    ("codes_", "bits", "signed"),
    [
        (np.array([[0, 1, 4, 2]], dtype=np.uint8), 2, False),
        (np.array([[0, 255]], dtype=np.uint8), 7, False),
        (np.array([[1, -3]], dtype=np.int8), 2, True),
        (np.array([[0, 2]], dtype=np.int8), 2, True),
        (np.array([[-128] + [0] * 70], dtype=np.int8), 7, True),
    ],
)
def test_narrow_codes_out_of_range_are_caught_by_the_packer(codes_, bits, signed):
    packed = pack_operand(np.ones((3, codes_.shape[1]), int), 1, signed=False)
    with pytest.raises(HwsimError) as info:
        bitserial_linear(codes_, packed, bits, a_signed=signed)
    assert info.value.field == "a_codes"


@given(data=st.data(), m=gemm_m, n=gemm_n, k=long_gemm_k, a_bits=small_bits, w_bits=small_bits)
def test_threaded_paths_are_exact(data, m, n, k, a_bits, w_bits):
    # Zero thresholds send even tiny problems through the threaded packer and kernel, whose
    # M x N grid of chunks must cover every output exactly once.
    a = data.draw(codes((m, k), a_bits, False))
    w = data.draw(codes((n, k), w_bits, True))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gemm, "PARALLEL_MIN_WORDS", 0)
        mp.setattr(bits_module, "PARALLEL_MIN_LANES", 0)
        got = bitserial_matmul(a, w, a_bits, w_bits)
        got_packed = bitserial_matmul_packed(
            pack_operand(a, a_bits, signed=False), pack_operand(w, w_bits, signed=True)
        )
    np.testing.assert_array_equal(got, reference(a, w))
    np.testing.assert_array_equal(got_packed, reference(a, w))


@pytest.mark.parametrize(("a_bits", "w_bits"), [(1, 1), (8, 8), (16, 16), (16, 1)])
@pytest.mark.parametrize("a_signed", [False, True])
@pytest.mark.parametrize("w_signed", [False, True])
def test_extreme_codes(a_bits, w_bits, a_signed, w_signed):
    k = 1000
    a_lo, a_hi = code_range(a_bits, a_signed)
    w_lo, w_hi = code_range(w_bits, w_signed)
    a = np.array([[a_lo] * k, [a_hi] * k, [a_lo, a_hi] * (k // 2)])
    w = np.array([[w_lo] * k, [w_hi] * k, [w_hi, w_lo] * (k // 2)])
    got = bitserial_matmul(a, w, a_bits, w_bits, a_signed=a_signed, w_signed=w_signed)
    np.testing.assert_array_equal(got, reference(a, w))


@given(data=st.data(), k=long_gemm_k, w_bits=small_bits)
def test_prepacked_weights_serve_many_inputs(data, k, w_bits):
    w = data.draw(codes((6, k), w_bits, True))
    packed = pack_operand(w, w_bits, signed=True)
    for m in (1, 5):
        a = data.draw(codes((m, k), 3, False))
        got = bitserial_matmul_packed(pack_operand(a, 3, signed=False), packed)
        np.testing.assert_array_equal(got, reference(a, w))


@given(data=st.data(), m=gemm_m, k=long_gemm_k, bits=st.integers(1, 8), signed=signedness)
def test_one_byte_codes_pack_as_their_int64_values(data, m, k, bits, signed):
    # pack_operand reads uint8 / int8 codes in place: the same words and row sums as the
    # int64 codes of the same values.
    values = data.draw(codes((m, k), bits, signed))
    narrow = values.astype(np.int8 if signed else np.uint8)
    enc = "signed" if signed else "unsigned"
    got, want = pack_operand(narrow, bits, encoding=enc), pack_operand(values, bits, encoding=enc)
    np.testing.assert_array_equal(got.words, want.words)
    np.testing.assert_array_equal(got.sums, want.sums)
    np.testing.assert_array_equal(got.sums[:m], values.sum(axis=1))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.uint64])
def test_any_integer_dtype_is_accepted(dtype):
    a = np.arange(12, dtype=dtype).reshape(3, 4) % 4
    w = (np.arange(8, dtype=dtype).reshape(2, 4) % 2).astype(dtype)
    got = bitserial_matmul(a, w, 2, 2, w_signed=False)
    np.testing.assert_array_equal(got, reference(a, w))


def test_plane_pair_coefficients_signs():
    coef = plane_pair_coefficients(2, 3, True, True)
    # a = a0 - 2 a1, w = w0 + 2 w1 - 4 w2: the product's pair weights.
    assert coef.tolist() == [[1, 2, -4], [-2, -4, 8]]


def test_popcount_counts_bits():
    from numba import njit

    @njit
    def count(words):
        return np.array([popcount(x) for x in words])

    rng = np.random.default_rng(7)
    words = np.concatenate(
        [
            rng.integers(0, 2**63, 50, dtype=np.uint64) * np.uint64(2) + 1,
            np.array([0, 2**64 - 1, 2**63], dtype=np.uint64),
        ]
    )
    assert count(words).tolist() == [bin(int(x)).count("1") for x in words]
    # The intrinsic must become the hardware instruction, not a bit-twiddling loop.
    asm = next(iter(count.inspect_asm().values()))
    assert "popcnt" in asm


def test_too_long_reduction_is_refused_before_any_work():
    huge = np.broadcast_to(np.zeros((1, 1), dtype=np.int64), (1, 2**30 + 1))
    with pytest.raises(HwsimError) as info:
        bitserial_matmul(huge, huge, 16, 16)
    assert info.value.field == "K"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"a_codes": np.array([[4]]), "a_bits": 2}, "a_codes"),
        ({"w_codes": np.array([[-3]]), "w_bits": 2}, "w_codes"),
        ({"w_codes": np.array([[-1]]), "w_signed": False}, "w_codes"),
        ({"a_codes": np.array([[1.0]])}, "a_codes.dtype"),
        ({"a_codes": np.array([1])}, "a_codes.shape"),
        ({"w_codes": np.ones((1, 1, 1), int)}, "w_codes.shape"),
        ({"w_codes": np.ones((1, 2), int)}, "K"),
        ({"a_bits": 0}, "a_bits"),
        ({"w_bits": 17}, "w_bits"),
        ({"w_bits": 2.0}, "w_bits"),
    ],
)
def test_bad_input_raises_hwsim_error_naming_the_field(kwargs, field):
    args = {"a_codes": np.array([[1]]), "w_codes": np.array([[1]]), "a_bits": 4, "w_bits": 4}
    args.update(kwargs)
    w_signed = args.pop("w_signed", True)
    with pytest.raises(HwsimError) as info:
        bitserial_matmul(
            args["a_codes"], args["w_codes"], args["a_bits"], args["w_bits"], w_signed=w_signed
        )
    assert info.value.field == field


def test_packed_operands_must_share_k():
    a = pack_operand(np.ones((2, 3), int), 1, signed=False)
    w = pack_operand(np.ones((2, 4), int), 1, signed=False)
    with pytest.raises(HwsimError) as info:
        bitserial_matmul_packed(a, w)
    assert info.value.field == "K"


def test_inconsistent_packed_operand_is_refused():
    good = pack_operand(np.ones((5, 70), int), 2, signed=False)
    with pytest.raises(HwsimError) as info:
        PackedOperand(good.words[:, :1].copy(), good.rows, good.k, 2, False)
    assert info.value.field == "packed.words"
    with pytest.raises(HwsimError):
        PackedOperand(good.words.astype(np.int64), good.rows, good.k, 2, False)


@given(
    st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=40),
    st.integers(1, 4),
    st.integers(1, 3),
)
def test_throughput_loop_counts_what_it_claims(values, chunks, passes):
    from hwsim.kernels.popcount import popcount_throughput_kernel

    words = np.array(values, dtype=np.uint64)
    want = sum(
        bin(int(x) & ((c * passes + p) | 1)).count("1")
        for c in range(chunks)
        for p in range(passes)
        for x in values
    )
    assert popcount_throughput_kernel(words, chunks, passes) == want


@pytest.mark.parametrize("rows", [1, 15, 16, 500, 512, 1000, 1024, 2048, 2050])
def test_packed_rows_avoid_aliasing_strides_and_stay_exact(rows):
    # A padded row count of a multiple of 128 from 512 on gets 16 zero rows more (its stride
    # would map a row's words at consecutive K to a few cache sets); results are unchanged.
    w = np.random.default_rng(rows).integers(-2, 2, (rows, 130))
    packed = gemm.pack_operand(w, 2, signed=True)
    tiled = -(-rows // 16) * 16
    extra = 16 if tiled >= 512 and tiled % 128 == 0 else 0
    assert packed.words.shape == (2, 3, tiled + extra)
    assert not packed.words[:, :, rows:].any()
    a = np.random.default_rng(1).integers(0, 4, (3, 130)).astype(np.uint8)
    np.testing.assert_array_equal(bitserial_linear(a, packed, 2), a.astype(np.int64) @ w.T)
