"""Per-layer cost tables ``[layer, w option, a option]`` that the bitwidth searches read.

A search only needs to know what each layer costs at each candidate pair of bit widths. The
cost can be a proxy from the papers (BitOps = MACs x w x a; model size = params x w) or a
simulated metric (latency, energy, memory) from :func:`hwsim.cost_table`. All of them become a
:class:`LayerCostTable`, so a search never knows which one it is minimizing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from hwsim.errors import HwsimError, check, check_bits
from hwsim.workload import Workload


@dataclass(frozen=True, eq=False)
class LayerCostTable:
    """Cost of every layer at every (weight bits, activation bits) option.

    ``values[l, i, j]`` is the cost of layer ``layer_names[l]`` at ``w_bits[i]`` weight bits
    and ``a_bits[j]`` activation bits; finite and non-negative, in any unit.
    """

    layer_names: tuple[str, ...]
    w_bits: tuple[int, ...]
    a_bits: tuple[int, ...]
    values: np.ndarray
    unit: str = ""

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.layer_names)
        check(len(names) > 0, "layer_names", names, "need at least one layer")
        check(len(set(names)) == len(names), "layer_names", names, "names must be unique")
        w = tuple(check_bits("w_bits", b, allow_float=True) for b in self.w_bits)
        a = tuple(check_bits("a_bits", b, allow_float=True) for b in self.a_bits)
        check(len(w) > 0, "w_bits", w, "need at least one option")
        check(len(a) > 0, "a_bits", a, "need at least one option")
        check(len(set(w)) == len(w), "w_bits", w, "options must be distinct")
        check(len(set(a)) == len(a), "a_bits", a, "options must be distinct")
        values = self.values
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        values = np.array(values, dtype=np.float64)
        want = (len(names), len(w), len(a))
        check(
            values.shape == want,
            "values.shape",
            values.shape,
            f"must be [layers, w options, a options] = {want}",
        )
        check(
            bool(np.all(np.isfinite(values))),
            "values",
            "non-finite entries",
            "costs must be finite",
        )
        check(
            bool(np.all(values >= 0)), "values", float(values.min()), "costs must be non-negative"
        )
        values.setflags(write=False)
        object.__setattr__(self, "layer_names", names)
        object.__setattr__(self, "w_bits", w)
        object.__setattr__(self, "a_bits", a)
        object.__setattr__(self, "values", values)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.values.shape  # type: ignore[return-value]

    def tensor(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The values as a torch tensor (a copy), for use inside a loss."""
        return torch.tensor(self.values, dtype=dtype)

    def w_index(self, bits: int) -> int:
        if bits not in self.w_bits:
            raise HwsimError("w_bits", bits, f"not an option of this table {self.w_bits}")
        return self.w_bits.index(bits)

    def a_index(self, bits: int) -> int:
        if bits not in self.a_bits:
            raise HwsimError("a_bits", bits, f"not an option of this table {self.a_bits}")
        return self.a_bits.index(bits)

    def total(self, bits: dict[str, tuple[int, int]]) -> float:
        """Network cost when each layer runs at ``bits[layer] = (w, a)``."""
        missing = [n for n in self.layer_names if n not in bits]
        check(not missing, "bits", missing[:10], "no bits for these layers of the table")
        return float(
            sum(
                self.values[l, self.w_index(bits[n][0]), self.a_index(bits[n][1])]
                for l, n in enumerate(self.layer_names)
            )
        )

    def uniform_total(self, w_bits: int, a_bits: int) -> float:
        """Network cost with every layer at the same ``(w_bits, a_bits)``."""
        return float(self.values[:, self.w_index(w_bits), self.a_index(a_bits)].sum())

    def select(self, layer_names: Sequence[str]) -> LayerCostTable:
        """The rows of ``layer_names``, in that order (to align with a model's layer order)."""
        index = {n: i for i, n in enumerate(self.layer_names)}
        missing = [n for n in layer_names if n not in index]
        check(
            not missing,
            "layer_names",
            missing[:10],
            f"not in the cost table (which has {list(self.layer_names)[:10]})",
        )
        rows = [index[n] for n in layer_names]
        return LayerCostTable(
            tuple(layer_names), self.w_bits, self.a_bits, self.values[rows], self.unit
        )


def _options(name: str, bits: Sequence[int]) -> tuple[int, ...]:
    opts = tuple(check_bits(name, b) for b in bits)
    check(len(opts) > 0, name, bits, "need at least one option")
    return opts


def bitops_table(
    workload: Workload, w_bits: Sequence[int], a_bits: Sequence[int]
) -> LayerCostTable:
    """BitOps per layer: MACs x w_bits x a_bits (the EBS / EdMIPS / HAWQ-V3 proxy)."""
    check(
        isinstance(workload, Workload),
        "workload",
        type(workload).__name__,
        "must be a hwsim.Workload",
    )
    w, a = _options("w_bits", w_bits), _options("a_bits", a_bits)
    macs = workload.macs.astype(np.float64)
    values = macs[:, None, None] * np.array(w, float)[None, :, None] * np.array(a, float)
    return LayerCostTable(workload.layer_names, w, a, values, "bitops")


def size_table(
    workload: Workload, w_bits: Sequence[int], a_bits: Sequence[int] = (32,)
) -> LayerCostTable:
    """Weight storage per layer in bits: params x w_bits, the same for every activation option
    (BSQ's model-size proxy)."""
    check(
        isinstance(workload, Workload),
        "workload",
        type(workload).__name__,
        "must be a hwsim.Workload",
    )
    w = _options("w_bits", w_bits)
    a = tuple(check_bits("a_bits", b, allow_float=True) for b in a_bits)
    params = workload.weight_elems.astype(np.float64)
    values = np.broadcast_to(
        params[:, None, None] * np.array(w, float)[None, :, None], (len(params), len(w), len(a))
    )
    return LayerCostTable(workload.layer_names, w, a, values, "bits")


def from_hwsim(table, metric: str = "latency") -> LayerCostTable:
    """Adapter from a :class:`hwsim.CostTable` of one hardware config: take ``metric`` by name
    (``latency``, ``energy``, ``memory`` or any hwsim METRICS key)."""
    for attr in ("metric", "layer_names", "w_bits", "a_bits"):
        check(
            hasattr(table, attr),
            "table",
            type(table).__name__,
            f"not a hwsim.CostTable (no {attr!r})",
        )
    values = np.asarray(table.metric(metric), dtype=np.float64)
    check(
        values.ndim == 3,
        "table",
        values.shape,
        "has several hardware configs; pass one config's table ([layer, w, a])",
    )
    unit = {"latency": "s", "energy": "J", "memory": "bits"}.get(metric, metric)
    return LayerCostTable(
        tuple(table.layer_names),
        tuple(int(b) for b in table.w_bits),
        tuple(int(b) for b in table.a_bits),
        values,
        unit,
    )


def as_cost_table(table, metric: str = "latency") -> LayerCostTable:
    """Accept a :class:`LayerCostTable` as is, or adapt a :class:`hwsim.CostTable`."""
    if isinstance(table, LayerCostTable):
        return table
    return from_hwsim(table, metric)


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
    mean weight and activation bits (BB's average code rate)."""
    w, a = policy.arrays(workload)
    params = workload.weight_elems
    return {
        "bitops": float((workload.macs.astype(np.float64) * w * a).sum()),
        "compression": weight_compression(params, w),
        "mean_w_bits": float(w.mean()),
        "mean_a_bits": float(a.mean()),
    }
