"""The calibration's measurements: micro-benchmarks of this CPU (the AND + POPCNT peak, the
read bandwidth of each cache level, a BLAS fp32 rate), the timed kernel calls the fits read,
the shapes they are timed on, and what sysfs and ``/proc/cpuinfo`` say about the caches and
the clock. Every timing is :func:`hwsim.timing.best_time`'s."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

from hwsim.timing import best_time

KIB = 1024


def measure_popcount_rate(quick: bool = False) -> float:
    """AND + POPCNT words per second on all threads (L1-resident words)."""
    from numba import get_num_threads

    from hwsim.kernels.popcount import popcount_throughput_kernel

    words = np.random.default_rng(0).integers(0, 2**63, 2048, dtype=np.uint64)
    chunks = get_num_threads()
    passes = 2000 if quick else 8000
    t = best_time(lambda: popcount_throughput_kernel(words, chunks, passes), 3 if quick else 5)
    return words.size * chunks * passes / t


@njit(cache=True, fastmath=True)
def _read_words(a: np.ndarray, reps: int) -> float:
    """Sum of every element of ``a``, ``reps`` times: a pure streaming read. ``fastmath`` lets
    the reduction reorder, so it runs on vector loads and measures the cache level, not the
    adder: a scalar loop read 21-25 GB/s at every level here, the vector one 209 GB/s from L1,
    110 from L2, 88 from L3, 27 from DRAM (one thread)."""
    total = 0.0
    for _ in range(reps):
        s = 0.0
        for i in range(a.shape[0]):
            s += a[i]
        total += s
    return total


def measure_bandwidths(quick: bool = False) -> dict[str, float]:
    """Read bandwidth (bytes/s, one thread) at array sizes inside L1, L2, L3 and DRAM."""
    sizes = {
        "l1": 16 * KIB,
        "l2": 256 * KIB,
        "l3": 4 * 1024 * KIB,
        "dram": (64 if quick else 256) * 1024 * KIB,
    }
    out = {}
    for level, nbytes in sizes.items():
        a = np.ones(nbytes // 8, dtype=np.float64)
        reps = max(1, (512 * 1024 * KIB) // nbytes // (8 if quick else 1))
        out[level] = nbytes * reps / best_time(lambda a=a, reps=reps: _read_words(a, reps), 3)
    return out


def measure_fp32_rate(quick: bool = False) -> float:
    n = 256 if quick else 512
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return n**3 / best_time(lambda: a @ b, 20)


CALIBRATION_SHAPES: tuple[tuple[int, int, int, int, int], ...] = (
    # (M, N, K, w_bits, a_bits): a spread of words, plane pairs and packing, each a few ms so
    # that a best-of finds undisturbed runs on a shared machine
    (512, 128, 1024, 1, 1),
    (512, 128, 1024, 2, 2),
    (256, 256, 2048, 1, 2),
    (1024, 64, 576, 2, 1),
    (128, 512, 4096, 1, 1),
    (256, 128, 1152, 3, 3),
    (64, 256, 2304, 2, 2),
    (2048, 64, 256, 1, 1),
    (4096, 16, 1024, 1, 1),  # packing-dominated: many activation rows, few outputs
    (8192, 32, 576, 1, 2),
    # conv-like layers (none of them the benchmark's held-out shapes), so that the word rate
    # is fitted where real layers spend their time
    (1568, 96, 864, 1, 1),
    (392, 192, 1728, 2, 2),
    (98, 384, 3456, 1, 2),
    (128, 768, 3072, 3, 3),
    # small calls that the kernel runs on one thread (below PARALLEL_MIN_WORDS), and a GEMV
    # it splits along N, so that the thread split is fitted, not assumed
    (1, 2048, 1024, 2, 2),
    (8, 512, 1024, 1, 2),
    (1, 4096, 4096, 1, 2),
    # GEMVs whose packed weights (1.5-2 MiB) outgrow a core's L2
    (1, 1024, 4096, 4, 4),
    (2, 1536, 3072, 3, 2),
)

ROUNDS = 3
"""Passes over the fit shapes (each keeps its best time): a burst of load on a shared
machine spoils a pass, rarely all of them."""


BASELINE_GEMM_SHAPES: tuple[tuple[int, int, int], ...] = (
    # (M, N, K) timed on torch's int8 and fp32 GEMMs: square, tall-skinny, batch-1 GEMVs and
    # conv-like shapes (none of them a benchmark's held-out shape)
    (512, 512, 512),
    (1024, 1024, 1024),
    (2048, 128, 1024),
    (128, 2048, 1024),
    (4096, 64, 576),
    (1, 1024, 1024),
    (1, 4096, 4096),
    (8, 512, 2048),
    (64, 1024, 4096),
    (1568, 96, 864),
    (392, 192, 1728),
    (98, 384, 3456),
    (16, 16, 64),
    # weight streams from cache-resident to well beyond the L3 (the DRAM term and the cache
    # size it starts at), and small layers around the size where a library stops splitting a
    # call across threads
    (1, 512, 512),
    (1, 3072, 1024),
    (1, 1024, 5120),
    (1, 1536, 4096),
    (1, 2048, 4096),
    (1, 4096, 8192),
    (2, 1024, 2048),
    (16, 256, 512),
    (32, 128, 256),
)

BASELINE_CONV_SHAPES: tuple[tuple[int, int, int, int, int, int], ...] = (
    # (batch, in channels, height = width, out channels, kernel, stride) timed on torch's
    # quantized (int8) and fp32 convolutions
    (1, 32, 64, 32, 3, 1),
    (1, 96, 32, 96, 3, 1),
    (1, 192, 16, 192, 3, 1),
    (1, 384, 8, 384, 3, 1),
    (1, 48, 64, 96, 3, 2),
    (1, 256, 16, 512, 1, 1),
    (4, 64, 32, 64, 3, 1),
)


def time_bitserial(m: int, n: int, k: int, w_bits: int, a_bits: int, repeats: int = 20) -> float:
    """Wall time of one deployed bit-serial GEMM: uint8 activation codes packed on first use
    against pre-packed weights (``hwsim.kernels.bitserial_linear``)."""
    from hwsim.kernels import bitserial_linear, pack_operand

    rng = np.random.default_rng(m * 7 + n * 13 + k + w_bits * 101 + a_bits)
    a = rng.integers(0, 2**a_bits, (m, k)).astype(np.uint8 if a_bits <= 8 else np.int64)
    w = rng.integers(-(2 ** (w_bits - 1)), 2 ** (w_bits - 1), (n, k))
    wp = pack_operand(w, w_bits, signed=True)
    return best_time(lambda: bitserial_linear(a, wp, a_bits), repeats)


STREAM_SHAPES: tuple[tuple[int, int, int, int], ...] = (
    (1, 64, 256, 1),
    (1, 1024, 1024, 2),
    (1, 4096, 4096, 1),
    (1, 4096, 4096, 2),
    (1, 4096, 4096, 4),
    (1, 11008, 4096, 2),
    (4, 4096, 4096, 2),
    (16, 1024, 4096, 4),
    (8, 2048, 2048, 3),
    (1, 512, 8192, 4),
)
"""``(M, N, K, w_bits)`` timed for the weight-stream kernels (8-bit signed activations):
GEMVs from cache-resident to weight-streaming, and small-M GEMMs."""


def time_stream(kind: str, m: int, n: int, k: int, w_bits: int, repeats: int = 20) -> float:
    """Time of one call of a weight-stream kernel (``kind``: ``lut``, ``hwsim.kernels.lut``, or
    ``vnni``, ``hwsim.kernels.vnni``): int8 activation codes against packed weights whose
    kernel view is built once."""
    from hwsim.kernels import lut_linear, lut_weights, pack_operand, vnni_linear, vnni_weights

    rng = np.random.default_rng(m * 7 + n * 13 + k + w_bits * 101)
    a = rng.integers(-128, 128, (m, k)).astype(np.int8)
    half = 2 ** (w_bits - 1)
    packed = pack_operand(rng.integers(-half, half, (n, k)), w_bits, signed=True)
    if kind == "lut":
        lw = lut_weights(packed)
        return best_time(lambda: lut_linear(a, lw, 8, a_signed=True), repeats)
    vw = vnni_weights(packed)
    return best_time(lambda: vnni_linear(a, vw, 8, a_signed=True), repeats)


def cache_sizes(cpu: int = 0) -> dict[int, int]:
    """Data / unified cache bytes per level of ``cpu`` as the kernel reports them (sysfs), the
    L3 whole and L1 / L2 per core; empty where sysfs says nothing (then the presets' defaults
    stand)."""
    sizes: dict[int, int] = {}
    root = Path(f"/sys/devices/system/cpu/cpu{cpu}/cache")
    units = {"K": KIB, "M": KIB * KIB, "G": KIB**3}
    for index in sorted(root.glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction" or not text:
            continue
        scale = units.get(text[-1], 1)
        try:
            sizes[level] = int(text.rstrip("KMG")) * scale
        except ValueError:
            continue
    return sizes


def _cpu_frequency_hz() -> float:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) * 1e6
    except OSError:
        pass
    return 2.5e9
