"""Time torch's own CPU kernels: the int8 and fp32 baselines a CPU user would pick instead.

``hwsim`` never imports torch, so the measurements are taken here and handed to
:func:`hwsim.calibrate.fit_baseline`, which fits the shape-aware ``cpu-int8`` / ``cpu-fp32``
models. What is timed, each on pre-made operands (weights prepared once, as deployed):

- **int8 GEMM**: ``torch._int_mm`` (int8 x int8 -> int32; oneDNN, AVX-512 VNNI where present);
- **int8 conv**: ``torch.ao.nn.quantized.Conv2d`` on a quint8 input (the x86 quantized
  engine, fbgemm / oneDNN), requantization to quint8 included, as a quantized network runs it;
- **fp32 GEMM / conv**: ``torch.matmul`` and ``torch.nn.functional.conv2d`` (channels-last).

Every time is the best of several calls after a warm-up, on the threads torch is set to.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from numba import njit, prange

from hwsim.errors import check
from hwsim.timing import best_time

IMPLEMENTATIONS: tuple[str, ...] = ("int8", "fp32")


@njit(parallel=True, cache=True)
def _start_numba_pool(n: int) -> int:
    total = 0
    for i in prange(n):
        total += i
    return total


def use_threads(threads: int) -> None:
    """Run Numba and torch on ``threads`` threads, in the order that keeps torch's kernels
    fast: Numba's threads set and its pool started first, torch's last.
    ``numba.set_num_threads`` after ``torch.set_num_threads`` resets the OpenMP runtime both
    use, and torch's int8 kernels then run 40-80x slower (measured here); and a pool that
    starts between two timings of torch would put them in different states. Every script
    that times torch against the models calls this once before the first timing."""
    import numba

    check(threads >= 1, "threads", threads, "must be at least 1")
    numba.set_num_threads(threads)
    _start_numba_pool(64 * threads)
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class ConvShape:
    """A batch-``n`` conv layer: ``c`` input channels at ``hw x hw``, ``o`` outputs, ``k x k``
    kernel, ``stride``, padding ``k // 2``."""

    n: int
    c: int
    hw: int
    o: int
    k: int
    stride: int = 1

    @property
    def out_hw(self) -> int:
        return (self.hw + 2 * (self.k // 2) - self.k) // self.stride + 1

    def gemm(self) -> tuple[int, int, int]:
        """``(M, N, K)`` of this layer as a GEMM (what the cost model sees)."""
        return self.n * self.out_hw**2, self.o, self.c * self.k * self.k


def gemm_call(m: int, n: int, k: int, impl: str) -> Callable[[], Any]:
    """A call of torch's ``impl`` GEMM ``[M, K] x [K, N]`` on fresh random operands."""
    gen = torch.Generator().manual_seed(m * 31 + n * 7 + k)
    if impl == "int8":
        a = torch.randint(-128, 128, (m, k), dtype=torch.int8, generator=gen)
        b = torch.randint(-128, 128, (k, n), dtype=torch.int8, generator=gen)
        return lambda: torch._int_mm(a, b)
    a = torch.randn(m, k, generator=gen)
    b = torch.randn(k, n, generator=gen)
    return lambda: torch.matmul(a, b)


def conv_call(shape: ConvShape, impl: str) -> Callable[[], Any]:
    """A call of torch's ``impl`` convolution of ``shape`` on a fresh random input."""
    gen = torch.Generator().manual_seed(shape.c * 31 + shape.hw * 7 + shape.o)
    x = torch.randn(shape.n, shape.c, shape.hw, shape.hw, generator=gen)
    x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(shape.o, shape.c, shape.k, shape.k, generator=gen) * 0.1
    pad = shape.k // 2
    if impl == "fp32":
        return lambda: torch.nn.functional.conv2d(x, w, stride=shape.stride, padding=pad)
    from torch.ao.nn import quantized as nnq

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized tensors are deprecated, still the int8 path
        qx = torch.quantize_per_tensor(x, 0.05, 64, torch.quint8)
        qw = torch.quantize_per_tensor(w, 0.01, 0, torch.qint8)
        conv = nnq.Conv2d(shape.c, shape.o, shape.k, stride=shape.stride, padding=pad)
        conv.set_weight_bias(qw, None)
    conv.scale, conv.zero_point = 0.1, 64
    return lambda: conv(qx)


def measure(
    gemms: list[tuple[int, int, int]],
    convs: list[ConvShape],
    repeats: int = 20,
    rounds: int = 1,
) -> list[dict[str, Any]]:
    """One row per (implementation, shape): ``impl``, ``op`` (gemm / conv), ``M``, ``N``,
    ``K`` (the GEMM form) and ``seconds``, the best over ``rounds`` passes (a burst of load
    on a shared machine spoils a pass, rarely all of them). Each implementation's shapes are
    timed in a block of their own, so torch's thread pool never shares the cores with another
    library's."""
    rows = []
    for impl in IMPLEMENTATIONS:
        calls = [("gemm", (m, n, k), gemm_call(m, n, k, impl)) for m, n, k in gemms]
        calls += [("conv", s.gemm(), conv_call(s, impl)) for s in convs]
        best = [float("inf")] * len(calls)
        for _ in range(rounds):
            for i, (_, _, fn) in enumerate(calls):
                best[i] = min(best[i], best_time(fn, repeats))
        for (op, (m, n, k), _), t in zip(calls, best, strict=True):
            rows.append({"impl": impl, "op": op, "M": m, "N": n, "K": k, "seconds": t})
    return rows
