"""The papers' proxy costs as :class:`hwsim.CostTable` s, the one table every search reads.

A search only needs to know what each layer costs at each candidate pair of bit widths. The
cost can be a proxy from the papers (``bitops`` = MACs x w x a; ``weight_bits`` = params x w,
the model size) or a simulated metric (latency, energy, weight bits) from
:func:`hwsim.cost_table`. Both are a ``CostTable``, so a search never knows which one it is
minimizing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hwsim.errors import check, check_bits
from hwsim.hardware.report import CostTable
from hwsim.workload import Workload


def _options(name: str, bits: Sequence[int]) -> tuple[int, ...]:
    opts = tuple(check_bits(name, b) for b in bits)
    check(len(opts) > 0, name, bits, "need at least one option")
    return opts


def bitops_table(workload: Workload, w_bits: Sequence[int], a_bits: Sequence[int]) -> CostTable:
    """``bitops`` per layer: MACs x w_bits x a_bits (the EBS / EdMIPS / HAWQ-V3 proxy)."""
    check(
        isinstance(workload, Workload),
        "workload",
        type(workload).__name__,
        "must be a hwsim.Workload",
    )
    w, a = _options("w_bits", w_bits), _options("a_bits", a_bits)
    macs = workload.macs.astype(np.float64)
    values = macs[:, None, None] * np.array(w, float)[None, :, None] * np.array(a, float)
    return CostTable(workload.layer_names, w, a, {"bitops": values})


def size_table(
    workload: Workload, w_bits: Sequence[int], a_bits: Sequence[int] = (32,)
) -> CostTable:
    """``weight_bits`` per layer: params x w_bits, the same for every activation option (BSQ's
    model-size proxy; hwsim's ``weight_bits`` is the same footprint at the run precision)."""
    check(
        isinstance(workload, Workload),
        "workload",
        type(workload).__name__,
        "must be a hwsim.Workload",
    )
    w = _options("w_bits", w_bits)
    a = tuple(check_bits("a_bits", b, allow_float=True) for b in a_bits)
    params = workload.param_elems.astype(np.float64)
    values = np.broadcast_to(
        params[:, None, None] * np.array(w, float)[None, :, None], (len(params), len(w), len(a))
    )
    return CostTable(workload.layer_names, w, a, {"weight_bits": values})


def weight_compression(
    params: Sequence[int] | np.ndarray, w_bits: Sequence[int] | np.ndarray
) -> float:
    """BSQ's compression ratio: 32 x total weights / sum of (weights x bits) per layer."""
    p = np.asarray(params, dtype=np.float64)
    b = np.asarray(w_bits, dtype=np.float64)
    check(
        p.shape == b.shape and p.ndim == 1,
        "w_bits",
        b.shape,
        f"need one bit width per layer ({p.shape})",
    )
    stored = float((p * b).sum())
    check(stored > 0, "w_bits", b.tolist(), "no weight bits stored")
    return 32.0 * float(p.sum()) / stored


def policy_metrics(workload: Workload, policy) -> dict[str, float]:
    """The papers' proxies of one policy: BitOps (MACs x w x a), weight compression over fp32,
    mean weight and activation bits (BB's average code rate). Weight figures count the rows
    that store weights: an act x act product's ``w_bits`` are its second activation's."""
    w, a = policy.arrays(workload)
    held = ~workload.is_act_matmul
    return {
        "bitops": float((workload.macs.astype(np.float64) * w * a).sum()),
        "compression": weight_compression(workload.param_elems[held], w[held]),
        "mean_w_bits": float(w[held].mean()),
        "mean_a_bits": float(a.mean()),
    }
