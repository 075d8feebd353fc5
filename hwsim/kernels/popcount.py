"""A popcount that Numba lowers to the ``llvm.ctpop.i64`` intrinsic (x86 ``popcnt``)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.core.extending import intrinsic


@intrinsic
def popcount(typingctx, word):
    """Number of set bits of a uint64 word, as int64, in one ``llvm.ctpop.i64``."""
    if word != types.uint64:
        return None
    sig = types.int64(types.uint64)

    def codegen(context, builder, signature, args):
        # ctpop of a 64-bit word is at most 64, so it is the same bits as an int64.
        return builder.ctpop(args[0])

    return sig, codegen


@njit(cache=True, parallel=True)
def popcount_throughput_kernel(words: np.ndarray, chunks: int, passes: int) -> int:
    """Sum of ``popcount(word AND key)`` over ``words`` (L1-resident), ``passes`` times in each
    of ``chunks`` parallel chunks: ``words.size * chunks * passes`` word operations.

    Each step is one AND and one popcount on a 64-bit word, the same work as one word of a
    binary matmul. The plain reduction lets LLVM vectorize it to the widest popcount the CPU
    has (``vpopcntq`` with AVX-512 VPOPCNTDQ, a nibble lookup on AVX2), so this is the
    machine's practical AND + popcount peak. The unsigned index skips Numba's negative-index
    wrap, which would otherwise stop the vectorizer; the key changes every pass so the
    compiler cannot hoist a pass out of the loop.
    """
    n = words.shape[0]
    total = 0
    for chunk in prange(chunks):
        acc = 0
        for p in range(passes):
            key = np.uint64(chunk * passes + p) | np.uint64(1)
            for i in range(n):
                acc += popcount(words[np.uint64(i)] & key)
        total += acc
    return total
