"""The register-tile inner loop of the bit-serial kernels, written as LLVM vector IR.

Numba marks no array as ``noalias``, so a tile accumulator kept in a NumPy array is stored and
reloaded on every K step (LLVM cannot prove the operands do not alias it). Here the tile is
LLVM vector values (``<8 x i64>``, one 512-bit register each on AVX-512) held in stack slots
that ``mem2reg`` turns into registers; they stay in registers over the whole K loop and over
every plane pair, and the output is written once per tile. On a machine without AVX-512 LLVM
splits the vectors and lowers the vector popcount to what the target has; results are the same.

:func:`tile_kernel` builds one ``@intrinsic`` per tile height ``R`` (1..ROW_TILE rows), so a
batch-1 layer runs a 1-row tile instead of wasting seven eighths of an 8-row one.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.extending import intrinsic

LANES = 8
"""int64 lanes per vector: one 512-bit register."""

VECTORS = 2
"""Vectors per tile row: the tile is ``R x LANES*VECTORS`` = ``R x 16`` outputs."""

COLS = LANES * VECTORS

_I64 = ir.IntType(64)
_VEC = ir.VectorType(_I64, LANES)


def _splat(builder: ir.IRBuilder, scalar: ir.Value, vec_t: ir.VectorType) -> ir.Value:
    undef = ir.Constant(vec_t, ir.Undefined)
    one = builder.insert_element(undef, scalar, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), vec_t.count), [0] * vec_t.count)
    return builder.shuffle_vector(one, undef, zeros)


def _vector_ctpop(builder: ir.IRBuilder, vec: ir.Value) -> ir.Value:
    fn = builder.module.declare_intrinsic(
        f"llvm.ctpop.v{LANES}i64", fnty=ir.FunctionType(_VEC, [_VEC])
    )
    return builder.call(fn, [vec])


def _load_vec(builder: ir.IRBuilder, ptr: ir.Value) -> ir.Value:
    return builder.load(builder.bitcast(ptr, _VEC.as_pointer()), align=8)


def _store_vec(builder: ir.IRBuilder, value: ir.Value, ptr: ir.Value) -> None:
    builder.store(value, builder.bitcast(ptr, _VEC.as_pointer()), align=8)


_TILE_CACHE: dict[tuple[int, bool, bool], object] = {}

_ARRAY_U64 = types.Array(types.uint64, 1, "C")
_ARRAY_I64 = types.Array(types.int64, 1, "C")


def tile_kernel(rows: int, xor: bool = False, bias: bool = False):
    """The ``rows x 16`` tile intrinsic (cached per height and variant). Its arguments, all
    int64 offsets counted in words:

    ``(a, a_base, a_row_stride, a_plane_stride, a_planes, k_off,
       w, w_base, w_k_stride, w_plane_stride, w_planes, k_begin, k_end,
       coef, out, out_base, out_row_stride, accumulate, tiles, w_tile_stride)``

    and, with ``bias``, four more: ``(row_bias, row_bias_base, col_bias, col_bias_base)``.
    It runs ``tiles`` column tiles side by side, a panel: tile ``t`` reads its weights from
    ``w_base + t * w_tile_stride`` and its column bias and output ``t * 16`` lanes further
    on. One call per panel rather than per tile matters: a Numba call passes each array as a
    struct of fields, and at two plane pairs and K = 1024 that cost was a tenth of the run.
    For each tile it computes, for tile rows ``r < rows`` and lanes ``c < 16``,

        total[r, c] = sum_{i < a_planes, j < w_planes} coef[i * w_planes + j] *
            sum_{k_begin <= k < k_end} popcount(a[a_base + i*a_plane_stride + k_off[k]
                                                  + r*a_row_stride]
                                                OP w[w_base + j*w_plane_stride + k*w_k_stride + c])

    with OP = AND, plus ``row_bias[row_bias_base + r] + col_bias[col_bias_base + c]`` with
    ``bias``. The XOR variant (``xor``, always with ``bias``: the +-1 x +-1 product of one plane
    pair) computes ``col_bias[col_bias_base + c] - 2 * sum_k popcount(a XOR w)``, i.e.
    ``K - 2 popcount`` with ``K`` in the column bias; it reads neither ``coef`` nor the row
    bias. It
    stores ``out[out_base + r*out_row_stride + c] = total`` (``+=`` when ``accumulate``).
    The activation word of a row is addressed through the offset table ``k_off``, so a plain
    GEMM (``k_off[k] = k * stride``) and a direct convolution over a packed feature map
    (``k_off`` walks the kernel taps and channel words) share this loop. The caller guarantees
    every address is in bounds: nothing here checks.
    """
    key = (rows, bool(xor), bool(bias))
    if key in _TILE_CACHE:
        return _TILE_CACHE[key]
    i64 = types.int64
    arg_types = [
        _ARRAY_U64, i64, i64, i64, i64, _ARRAY_I64,
        _ARRAY_U64, i64, i64, i64, i64, i64, i64,
        _ARRAY_I64, _ARRAY_I64, i64, i64, types.boolean, i64, i64,
    ]  # fmt: skip
    if bias:
        arg_types += [_ARRAY_I64, i64, _ARRAY_I64, i64]
    sig = types.void(*arg_types)
    codegen = _tile_codegen(rows, bool(xor), bool(bias))

    if bias:

        @intrinsic
        def _tile(typingctx, a, a_base, a_row_stride, a_plane_stride, a_planes, k_off, w,
                  w_base, w_k_stride, w_plane_stride, w_planes, k_begin, k_end, coef, out,
                  out_base, out_row_stride, accumulate, tiles, w_tile_stride, row_bias,
                  row_bias_base, col_bias, col_bias_base):  # fmt: skip
            return sig, codegen

    else:

        @intrinsic
        def _tile(typingctx, a, a_base, a_row_stride, a_plane_stride, a_planes, k_off, w,
                  w_base, w_k_stride, w_plane_stride, w_planes, k_begin, k_end, coef, out,
                  out_base, out_row_stride, accumulate, tiles, w_tile_stride):  # fmt: skip
            return sig, codegen

    _TILE_CACHE[key] = _tile
    return _tile


def _tile_codegen(rows: int, xor: bool, bias: bool):
    """The LLVM code generator of one tile variant (see :func:`tile_kernel`)."""

    def codegen(context, builder, signature, args):
        (
            a_arr, a_base_v, a_rs, a_ps, a_np, koff_arr,
            w_arr, w_panel_base, w_ks, w_ps, w_np, k0, k1,
            coef_arr, out_arr, out_panel_base, out_rs, acc_flag, tiles, w_tile_stride,
        ) = args[:20]  # fmt: skip
        tys = signature.args
        a_ptr = context.make_array(tys[0])(context, builder, a_arr).data
        koff_ptr = context.make_array(tys[5])(context, builder, koff_arr).data
        w_ptr = context.make_array(tys[6])(context, builder, w_arr).data
        coef_ptr = context.make_array(tys[13])(context, builder, coef_arr).data
        out_ptr = context.make_array(tys[14])(context, builder, out_arr).data
        if bias:
            rb_arr, rb_base, cb_arr, cb_panel_base = args[20:24]
            rb_ptr = context.make_array(tys[20])(context, builder, rb_arr).data
            cb_ptr = context.make_array(tys[22])(context, builder, cb_arr).data
        zero_vec = ir.Constant(_VEC, [0] * LANES)
        # Stack slots in the entry block: mem2reg promotes them to registers (phis).
        total = [[cgutils.alloca_once(builder, _VEC) for _ in range(VECTORS)] for _ in range(rows)]
        acc = [[cgutils.alloca_once(builder, _VEC) for _ in range(VECTORS)] for _ in range(rows)]
        with cgutils.for_range(builder, tiles) as loop_t:
            lanes_on = builder.mul(loop_t.index, ir.Constant(_I64, COLS))
            w_base_v = builder.add(w_panel_base, builder.mul(loop_t.index, w_tile_stride))
            out_base_v = builder.add(out_panel_base, lanes_on)
            for r in range(rows):
                for v in range(VECTORS):
                    builder.store(zero_vec, total[r][v])
            with cgutils.for_range(builder, a_np) as loop_i:
                i = loop_i.index
                a_plane = builder.add(a_base_v, builder.mul(i, a_ps))
                with cgutils.for_range(builder, w_np) as loop_j:
                    j = loop_j.index
                    w_plane = builder.add(w_base_v, builder.mul(j, w_ps))
                    for r in range(rows):
                        for v in range(VECTORS):
                            builder.store(zero_vec, acc[r][v])
                    count = builder.sub(k1, k0)
                    with cgutils.for_range(builder, count) as loop_k:
                        k = builder.add(k0, loop_k.index)
                        a_off = builder.add(a_plane, builder.load(builder.gep(koff_ptr, [k])))
                        w_off = builder.add(w_plane, builder.mul(k, w_ks))
                        wv = [
                            _load_vec(
                                builder,
                                builder.gep(
                                    w_ptr, [builder.add(w_off, ir.Constant(_I64, v * LANES))]
                                ),
                            )
                            for v in range(VECTORS)
                        ]
                        for r in range(rows):
                            row_off = builder.add(a_off, builder.mul(ir.Constant(_I64, r), a_rs))
                            aw = _splat(builder, builder.load(builder.gep(a_ptr, [row_off])), _VEC)
                            for v in range(VECTORS):
                                both = builder.xor(aw, wv[v]) if xor else builder.and_(aw, wv[v])
                                cnt = _vector_ctpop(builder, both)
                                builder.store(builder.add(builder.load(acc[r][v]), cnt), acc[r][v])
                    c = builder.load(builder.gep(coef_ptr, [builder.add(builder.mul(i, w_np), j)]))
                    cv = _splat(builder, c, _VEC)
                    for r in range(rows):
                        for v in range(VECTORS):
                            # XOR: the one plane pair's weight is -2, applied once below.
                            weighted = (
                                builder.load(acc[r][v])
                                if xor
                                else builder.mul(builder.load(acc[r][v]), cv)
                            )
                            builder.store(
                                builder.add(builder.load(total[r][v]), weighted), total[r][v]
                            )
            if bias:
                cb_base = builder.add(cb_panel_base, lanes_on)
                col = [
                    _load_vec(
                        builder,
                        builder.gep(cb_ptr, [builder.add(cb_base, ir.Constant(_I64, v * LANES))]),
                    )
                    for v in range(VECTORS)
                ]
            if bias and xor:
                # K - 2 popcount(a XOR w): a shift and a subtract from the column bias (K); the
                # row bias is zero for +-1 x +-1 and not read.
                one = ir.Constant(_VEC, [1] * LANES)
                for r in range(rows):
                    for v in range(VECTORS):
                        twice = builder.shl(builder.load(total[r][v]), one)
                        builder.store(builder.sub(col[v], twice), total[r][v])
            elif bias:
                for r in range(rows):
                    rv = builder.load(
                        builder.gep(rb_ptr, [builder.add(rb_base, ir.Constant(_I64, r))])
                    )
                    rs = _splat(builder, rv, _VEC)
                    for v in range(VECTORS):
                        biased = builder.add(builder.add(builder.load(total[r][v]), rs), col[v])
                        builder.store(biased, total[r][v])
            stores = []
            for r in range(rows):
                row_base = builder.add(out_base_v, builder.mul(ir.Constant(_I64, r), out_rs))
                for v in range(VECTORS):
                    ptr = builder.gep(
                        out_ptr, [builder.add(row_base, ir.Constant(_I64, v * LANES))]
                    )
                    stores.append((ptr, builder.load(total[r][v])))
            with builder.if_else(acc_flag) as (add_to_out, overwrite):
                with add_to_out:
                    for ptr, value in stores:
                        _store_vec(builder, builder.add(_load_vec(builder, ptr), value), ptr)
                with overwrite:
                    for ptr, value in stores:
                        _store_vec(builder, value, ptr)
        return context.get_dummy_value()

    return codegen
