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
        return {"name": name, "kind": "linear", "batch": batch,
                "in_channels": draw(st.integers(1, 4096)),
                "out_channels": draw(st.integers(1, 4096))}
    groups = draw(st.sampled_from([1, 1, 1, 2]))
    cin = groups * draw(st.integers(1, max_channels // groups))
    cout = groups * draw(st.integers(1, max_channels // groups))
    k = draw(st.sampled_from([1, 3, 5]))
    stride = draw(st.sampled_from([1, 2]))
    pad = k // 2
    hw = draw(st.integers(k, max_hw))
    out = (hw + 2 * pad - k) // stride + 1
    return {"name": name, "kind": "conv", "batch": batch, "in_channels": cin,
            "out_channels": cout, "groups": groups, "in_h": hw, "in_w": hw, "out_h": out,
            "out_w": out, "kernel_h": k, "kernel_w": k, "stride_h": stride, "stride_w": stride,
            "pad_h": pad, "pad_w": pad}


@st.composite
def workloads(draw, min_layers: int = 1, max_layers: int = 6):
    """A random ``hwsim.Workload`` of conv and linear layers."""
    from hwsim import Workload

    n = draw(st.integers(min_layers, max_layers))
    return Workload.from_layers("random", [draw(layer_dicts(name=f"l{i}")) for i in range(n)])
