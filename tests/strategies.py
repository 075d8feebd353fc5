"""Hypothesis strategies shared across the test tree: bits, shapes, integer codes, layers."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

bits = st.integers(min_value=1, max_value=16)
small_bits = st.integers(min_value=1, max_value=8)
signedness = st.booleans()


def code_range(n_bits: int, signed: bool) -> tuple[int, int]:
    """Inclusive range of an ``n_bits`` integer code (two's complement when signed)."""
    if signed:
        return -(1 << (n_bits - 1)), (1 << (n_bits - 1)) - 1
    return 0, (1 << n_bits) - 1


@st.composite
def codes(draw, shape, n_bits: int, signed: bool) -> np.ndarray:
    """An int64 array of valid ``n_bits`` codes of ``shape``, edge values included."""
    lo, hi = code_range(n_bits, signed)
    return draw(hnp.arrays(np.int64, shape, elements=st.integers(lo, hi)))


@st.composite
def encoded(draw, shape, enc: str, n_bits: int) -> np.ndarray:
    """int64 values of ``shape`` in encoding ``enc`` (``unsigned``, ``signed``; ``bipolar``:
    only -1 and +1)."""
    if enc == "bipolar":
        return draw(hnp.arrays(np.int64, shape, elements=st.sampled_from([-1, 1])))
    return draw(codes(shape, n_bits, enc == "signed"))


# GEMM shapes: K hits 1, non-multiples of 64 and multi-word lengths; M, N hit 1.
gemm_m = st.integers(1, 17)
gemm_n = st.integers(1, 17)
gemm_k = st.one_of(st.integers(1, 70), st.sampled_from([63, 64, 65, 127, 128, 129, 300]))


@st.composite
def layer_dicts(draw, name: str = "layer", max_channels: int = 64, max_hw: int = 32) -> dict:
    """A conv or linear layer as a ``Workload.from_layers`` row with consistent geometry."""
    kind = draw(st.sampled_from(["conv", "linear"]))
    batch = draw(st.integers(1, 4))
    if kind == "linear":
        return {
            "name": name,
            "kind": "linear",
            "batch": batch,
            "in_channels": draw(st.integers(1, 4096)),
            "out_channels": draw(st.integers(1, 4096)),
        }
    groups = draw(st.sampled_from([1, 1, 1, 2]))
    cin = groups * draw(st.integers(1, max_channels // groups))
    cout = groups * draw(st.integers(1, max_channels // groups))
    k = draw(st.sampled_from([1, 3, 5]))
    stride = draw(st.sampled_from([1, 2]))
    pad = k // 2
    hw = draw(st.integers(k, max_hw))
    out = (hw + 2 * pad - k) // stride + 1
    return {
        "name": name,
        "kind": "conv",
        "batch": batch,
        "in_channels": cin,
        "out_channels": cout,
        "groups": groups,
        "in_h": hw,
        "in_w": hw,
        "out_h": out,
        "out_w": out,
        "kernel_h": k,
        "kernel_w": k,
        "stride_h": stride,
        "stride_w": stride,
        "pad_h": pad,
        "pad_w": pad,
    }


@st.composite
def workloads(draw, min_layers: int = 1, max_layers: int = 6):
    """A random ``hwsim.Workload`` of conv and linear layers."""
    from hwsim import Workload

    n = draw(st.integers(min_layers, max_layers))
    return Workload.from_layers("random", [draw(layer_dicts(name=f"l{i}")) for i in range(n)])


# Bit-serial kernels: reductions past one word, including the long ones layers really have.
long_gemm_k = st.one_of(gemm_k, st.sampled_from([300, 1000]))


@st.composite
def conv2d_geometry(draw, max_channels: int = 6, max_hw: int = 9) -> dict:
    """A small conv2d case: input/weight shapes plus stride, padding, dilation and groups
    that give at least one output pixel."""
    groups = draw(st.integers(1, 3))
    cg = draw(st.integers(1, max(1, max_channels // groups)))
    og = draw(st.integers(1, max(1, max_channels // groups)))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    # Smallest input that still fits the dilated kernel after padding.
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), max_hw))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), max_hw))
    return {
        "x_shape": (draw(st.integers(1, 2)), groups * cg, h, w),
        "w_shape": (groups * og, cg, kh, kw),
        "stride": (sh, sw),
        "padding": (ph, pw),
        "dilation": (dh, dw),
        "groups": groups,
    }


SKELETON_FAMILIES: tuple[str, ...] = (
    "bitparallel",
    "stripes",
    "loom",
    "bismo",
    "pragmatic",
    "laconic",
)


@st.composite
def skeleton_configs(draw, family: str | None = None):
    """A random spatial-array hardware config (any skeleton family unless ``family``)."""
    from hwsim.hardware import get_family

    fam = family or draw(st.sampled_from(SKELETON_FAMILIES))
    kw = {
        "rows": draw(st.integers(1, 64)),
        "cols": draw(st.integers(1, 32)),
        "lanes": draw(st.integers(1, 64)),
        "frequency_hz": draw(st.sampled_from([2e8, 1e9, 9.8e8])),
        # Up to 4 MiB: tests grow a buffer up to 8x and stay inside the CACTI table
        # (hwsim.hardware.sram: banks of 64 B .. 64 MiB at 64-bit words).
        "weight_buffer_bytes": float(2 ** draw(st.integers(8, 22))),
        "act_buffer_bytes": float(2 ** draw(st.integers(8, 22))),
        "out_buffer_bytes": float(2 ** draw(st.integers(8, 22))),
        "out_bits": draw(st.sampled_from([0, 8, 16, 32])),
        "fill_cycles": draw(st.sampled_from([0.0, 0.0, 10.0])),
    }
    # Whole bytes per cycle at the clock, as the presets give them.
    kw["dram_bytes_per_s"] = draw(st.sampled_from([1.0, 8.0, 64.0, 512.0])) * kw["frequency_hz"]
    if fam == "loom":
        kw["a_bits_per_cycle"] = draw(st.sampled_from([1, 2, 4]))
    if fam == "bitparallel":
        kw["precision"] = 16
    if fam == "pragmatic":
        kw["sync_lanes"] = draw(st.sampled_from([1, 4, 16]))
    return get_family(fam).config_type(**kw)
