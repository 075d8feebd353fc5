"""Workloads: a network's compute layers in GEMM form, as columnar arrays Numba can read.

Every layer is ``M x K`` activations times ``K x N`` weights: ``M`` is output pixels times
batch, ``N`` output channels, ``K`` the reduction length (``in_channels/groups * kh * kw``).
``MACs = M * N * K`` is already corrected for groups. The conv geometry is kept beside the GEMM
dimensions because memory traffic and some accelerators (Bit Fusion) need it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.errors import HwsimError, check

KINDS: tuple[str, ...] = ("conv", "depthwise", "linear", "matmul", "act_matmul")
"""Layer kinds; ``Workload.kind`` stores the index into this tuple (append only: saved files
store the index). ``matmul`` is a weight GEMM that is not a layer's own (Bit Fusion's recurrent
benchmarks); ``act_matmul`` multiplies two activations (attention scores and values): no
weights, ``batch`` independent ``[out_h, K] @ [K, N]`` products, each with its own second
operand."""

CONV = KINDS.index("conv")
DEPTHWISE = KINDS.index("depthwise")
LINEAR = KINDS.index("linear")
MATMUL = KINDS.index("matmul")
ACT_MATMUL = KINDS.index("act_matmul")
"""The index of each kind in :data:`KINDS`, as ``Workload.kind`` stores it (Numba kernels
compare against these)."""

INT_COLUMNS: tuple[str, ...] = (
    "kind",
    "M",
    "N",
    "K",
    "groups",
    "batch",
    "in_channels",
    "out_channels",
    "in_h",
    "in_w",
    "out_h",
    "out_w",
    "kernel_h",
    "kernel_w",
    "stride_h",
    "stride_w",
    "pad_h",
    "pad_w",
    "dilation_h",
    "dilation_w",
    "first",
)
"""The int64 columns of a workload. ``first`` is 1 where the layer reads the network input."""

POSITIVE_COLUMNS: tuple[str, ...] = tuple(
    c for c in INT_COLUMNS if c not in ("kind", "pad_h", "pad_w", "first")
)
"""The columns that must be >= 1 in every row."""

_GEOMETRY_DEFAULTS = {
    "groups": 1,
    "in_h": 1,
    "in_w": 1,
    "out_h": 1,
    "out_w": 1,
    "kernel_h": 1,
    "kernel_w": 1,
    "stride_h": 1,
    "stride_w": 1,
    "pad_h": 0,
    "pad_w": 0,
    "dilation_h": 1,
    "dilation_w": 1,
    "first": 0,
}


@dataclass(frozen=True, eq=False)
class Workload:
    """The compute layers of one network, one row per layer, stored column-wise.

    Build one with :meth:`from_layers` (a list of per-layer dicts) or
    ``models.extract_workload``; columns are read-only int64 numpy arrays.
    """

    name: str
    layer_names: tuple[str, ...]
    columns: Mapping[str, np.ndarray] = field(repr=False)

    def __post_init__(self) -> None:
        n = len(self.layer_names)
        check(n > 0, "workload.layers", n, "a workload needs at least one layer")
        check(
            len(set(self.layer_names)) == n,
            "workload.layer_names",
            _first_duplicate(self.layer_names),
            "layer names must be unique",
        )
        cols: dict[str, np.ndarray] = {}
        for key in INT_COLUMNS:
            if key not in self.columns:
                raise HwsimError(f"workload.{key}", None, "missing column")
            arr = np.ascontiguousarray(np.asarray(self.columns[key], dtype=np.int64))
            check(arr.shape == (n,), f"workload.{key}", arr.shape, f"expected shape ({n},)")
            arr.setflags(write=False)
            cols[key] = arr
        object.__setattr__(self, "columns", cols)
        self._validate()

    def _validate(self) -> None:
        c = self.columns
        kind_ok = (c["kind"] >= 0) & (c["kind"] < len(KINDS))
        _check_rows(self, kind_ok, "kind", f"kind index must be in 0..{len(KINDS) - 1}")
        for key in POSITIVE_COLUMNS:
            _check_rows(self, c[key] >= 1, key, "must be >= 1")
        _check_rows(self, (c["pad_h"] >= 0) & (c["pad_w"] >= 0), "pad_h", "padding must be >= 0")
        _check_rows(self, (c["first"] == 0) | (c["first"] == 1), "first", "must be 0 or 1")
        _check_rows(
            self, c["in_channels"] % c["groups"] == 0, "in_channels", "must be divisible by groups"
        )
        _check_rows(
            self,
            c["out_channels"] % c["groups"] == 0,
            "out_channels",
            "must be divisible by groups",
        )
        _check_rows(self, c["N"] == c["out_channels"], "N", "must equal out_channels")
        k_expected = c["in_channels"] // c["groups"] * c["kernel_h"] * c["kernel_w"]
        _check_rows(self, c["K"] == k_expected, "K", "must equal in_channels/groups*kh*kw")
        _check_rows(
            self,
            c["M"] == c["batch"] * c["out_h"] * c["out_w"],
            "M",
            "must equal batch*out_h*out_w",
        )

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_layers(cls, name: str, layers: Iterable[Mapping[str, Any]]) -> Workload:
        """Build from per-layer dicts with ``name``, ``kind`` (a string of :data:`KINDS`) and
        the geometry; ``M``/``N``/``K`` are derived when absent, unspecified geometry defaults
        to a 1x1, stride-1, unpadded layer."""
        rows = list(layers)
        check(len(rows) > 0, "workload.layers", rows, "a workload needs at least one layer")
        names = []
        data: dict[str, list[int]] = {k: [] for k in INT_COLUMNS}
        for i, row in enumerate(rows):
            if "name" not in row:
                raise HwsimError(f"layers[{i}].name", None, "every layer needs a name")
            names.append(str(row["name"]))
            kind = row.get("kind", "conv")
            if kind not in KINDS:
                raise HwsimError(f"layers[{i}].kind", kind, f"must be one of {KINDS}")
            full = {**_GEOMETRY_DEFAULTS, **row}
            for key in ("batch", "in_channels", "out_channels"):
                if key not in full:
                    raise HwsimError(f"layers[{i}].{key}", None, "missing")
            full["kind"] = KINDS.index(kind)
            # Check what was given before deriving M/N/K, so an error names the given field.
            for key in INT_COLUMNS:
                value = full.get(key, 0)
                if isinstance(value, bool) or not isinstance(value, int | np.integer):
                    raise HwsimError(f"layers[{i}].{key}", value, "must be an integer")
            full.setdefault("N", full["out_channels"])
            full.setdefault(
                # max(): groups=0 is reported by validation, not as a ZeroDivisionError here
                "K",
                full["in_channels"] // max(full["groups"], 1) * full["kernel_h"] * full["kernel_w"],
            )
            full.setdefault("M", full["batch"] * full["out_h"] * full["out_w"])
            for key in INT_COLUMNS:
                data[key].append(int(full[key]))
        return cls(name=name, layer_names=tuple(names), columns=data)

    @classmethod
    def concat(cls, name: str, workloads: Sequence[Workload], prefix: bool = True) -> Workload:
        """Stack several workloads; with ``prefix`` layer names become ``"<workload>/<layer>"``."""
        check(len(workloads) > 0, "workloads", workloads, "nothing to concatenate")
        names: list[str] = []
        for w in workloads:
            names += [f"{w.name}/{n}" if prefix else n for n in w.layer_names]
        cols = {k: np.concatenate([w.columns[k] for w in workloads]) for k in INT_COLUMNS}
        return cls(name=name, layer_names=tuple(names), columns=cols)

    # ----------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.layer_names)

    def __getattr__(self, key: str) -> np.ndarray:
        # Columns read as attributes: ``workload.M``, ``workload.kernel_h``...
        cols = self.__dict__.get("columns")
        if cols is not None and key in cols:
            return cols[key]
        raise AttributeError(key)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(KINDS[k] for k in self.columns["kind"])

    @property
    def macs(self) -> np.ndarray:
        """Multiply-accumulates per layer (int64)."""
        return self.columns["M"] * self.columns["N"] * self.columns["K"]

    @property
    def total_macs(self) -> int:
        return int(self.macs.sum())

    @property
    def weight_elems(self) -> np.ndarray:
        """Elements of the second operand: the weights, or for an ``act_matmul`` row the
        second activation, one ``K x N`` matrix per batch element."""
        return self.columns["N"] * self.columns["K"] * self.independent_gemms

    @property
    def param_elems(self) -> np.ndarray:
        """Stored weight parameters per row: :attr:`weight_elems`, and 0 for an ``act_matmul``
        row (its second operand is an activation, computed at run time: nothing is stored).
        What every memory and model-size figure counts as weights."""
        return np.where(self.is_act_matmul, 0, self.weight_elems)

    @property
    def is_act_matmul(self) -> np.ndarray:
        """Rows whose second operand is an activation (no weights to reuse or pre-pack)."""
        return self.columns["kind"] == ACT_MATMUL

    @property
    def independent_gemms(self) -> np.ndarray:
        """GEMMs a row is made of that share no operand: an ``act_matmul`` row's batch
        (each batch element has its own second operand), 1 for every weight GEMM (its rows all
        meet the same weights)."""
        return np.where(self.is_act_matmul, self.columns["batch"], 1)

    @property
    def input_elems(self) -> np.ndarray:
        c = self.columns
        return c["batch"] * c["in_channels"] * c["in_h"] * c["in_w"]

    @property
    def output_elems(self) -> np.ndarray:
        return self.columns["M"] * self.columns["N"]

    def index(self, layer_name: str) -> int:
        try:
            return self.layer_names.index(layer_name)
        except ValueError:
            raise HwsimError(
                "layer", layer_name, f"not a layer of workload {self.name!r}"
            ) from None

    def select(self, layer_names: Iterable[str]) -> Workload:
        idx = np.array([self.index(n) for n in layer_names], dtype=np.int64)
        return Workload(
            name=self.name,
            layer_names=tuple(self.layer_names[i] for i in idx),
            columns={k: v[idx] for k, v in self.columns.items()},
        )

    def to_dataframe(self):  # -> pandas.DataFrame
        import pandas as pd

        df = pd.DataFrame({k: np.asarray(v) for k, v in self.columns.items()})
        df.insert(0, "name", list(self.layer_names))
        df["kind"] = list(self.kinds)
        df["macs"] = self.macs
        return df

    # ----------------------------------------------------------------- files
    def save(self, path: str | Path) -> Path:
        """Write as ``.npz`` (columns plus names), atomically."""
        import io

        from hwsim.io import atomic_write_bytes

        path = Path(path)
        buf = io.BytesIO()
        np.savez(
            buf,
            __name__=np.array(self.name),
            __layer_names__=np.array(self.layer_names),
            **{k: np.asarray(v) for k, v in self.columns.items()},
        )
        atomic_write_bytes(path, buf.getvalue())
        return path

    @classmethod
    def load(cls, path: str | Path) -> Workload:
        path = Path(path)
        if not path.is_file():
            raise HwsimError("workload path", str(path), "no such file")
        try:
            with np.load(path, allow_pickle=False) as f:
                name = str(f["__name__"])
                names = tuple(str(s) for s in f["__layer_names__"])
                cols = {k: f[k] for k in INT_COLUMNS}
        except (KeyError, ValueError, OSError) as exc:
            raise HwsimError("workload path", str(path), f"not a saved workload: {exc}") from exc
        return cls(name=name, layer_names=names, columns=cols)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Workload):
            return NotImplemented
        return (
            self.name == other.name
            and self.layer_names == other.layer_names
            and all(np.array_equal(self.columns[k], other.columns[k]) for k in INT_COLUMNS)
        )

    __hash__ = None  # type: ignore[assignment]


def _first_duplicate(names: Sequence[str]) -> str | None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            return n
        seen.add(n)
    return None


def _check_rows(w: Workload, ok: np.ndarray, key: str, reason: str) -> None:
    if not bool(np.all(ok)):
        i = int(np.flatnonzero(~ok)[0])
        raise HwsimError(f"workload.{key}[{w.layer_names[i]}]", int(w.columns[key][i]), reason)
