"""What a cost model returns: a per-layer :class:`CostReport` and a search's :class:`CostTable`."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hwsim.errors import HwsimError, check, check_bits
from hwsim.hardware.base import HardwareConfig
from hwsim.hardware.pricing import price
from hwsim.policy import bits_label

METRICS: tuple[str, ...] = (
    "cycles",  # total cycles of the layer, stalls included
    "stall_cycles",  # cycles the compute waits on memory (prologue/epilogue included)
    "latency_s",
    "energy_j",
    "compute_energy_j",
    "sram_energy_j",
    "dram_energy_j",
    "dram_read_bytes",
    "dram_write_bytes",
    "dram_bytes",
    "sram_bits",  # on-chip buffer bits read + written
    "weight_bits",  # weight footprint at the bits the hardware runs (act x act rows: 0)
    "activation_bits",  # input + output (+ an act x act row's second operand) footprint
    "utilization",  # useful MACs / (cycles * peak MACs per cycle at the run precision)
    "w_bits_run",  # precision the hardware actually ran (after rounding up)
    "a_bits_run",
)
"""Keys every family's ``evaluate`` returns, each an array ``[hardware, point]``."""

# Row of each metric in a Numba kernel's output array ``[metric, hardware, point]``, derived
# from METRICS so its order lives only there. Numba freezes these module-level ints into the
# compiled kernels, and its on-disk cache is keyed on the kernel's own source file: after
# reordering METRICS, delete the ``__pycache__/*.nbi`` files of hwsim/hardware.
M_CYCLES = METRICS.index("cycles")
M_STALL_CYCLES = METRICS.index("stall_cycles")
M_LATENCY_S = METRICS.index("latency_s")
M_ENERGY_J = METRICS.index("energy_j")
M_COMPUTE_ENERGY_J = METRICS.index("compute_energy_j")
M_SRAM_ENERGY_J = METRICS.index("sram_energy_j")
M_DRAM_ENERGY_J = METRICS.index("dram_energy_j")
M_DRAM_READ_BYTES = METRICS.index("dram_read_bytes")
M_DRAM_WRITE_BYTES = METRICS.index("dram_write_bytes")
M_DRAM_BYTES = METRICS.index("dram_bytes")
M_SRAM_BITS = METRICS.index("sram_bits")
M_WEIGHT_BITS = METRICS.index("weight_bits")
M_ACTIVATION_BITS = METRICS.index("activation_bits")
M_UTILIZATION = METRICS.index("utilization")
M_W_BITS_RUN = METRICS.index("w_bits_run")
M_A_BITS_RUN = METRICS.index("a_bits_run")

_SUMMED = tuple(m for m in METRICS if m not in ("utilization", "w_bits_run", "a_bits_run"))


@dataclass
class CostReport:
    """Per-layer costs of one (workload, policy, hardware) as a DataFrame, plus totals.

    Total keys follow the QONNX ``inference_cost`` vocabulary where one exists
    (``total_macs``, ``total_bops``, ``total_mem_w_bits``, ``total_mem_o_bits``).
    """

    layers: pd.DataFrame
    totals: dict[str, float]
    hardware: HardwareConfig
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_metrics(
        cls,
        workload,
        w_bits: np.ndarray,
        a_bits: np.ndarray,
        hardware: HardwareConfig,
        metrics: Mapping[str, np.ndarray],
    ) -> CostReport:
        df = pd.DataFrame(
            {
                "name": list(workload.layer_names),
                "kind": list(workload.kinds),
                "macs": workload.macs,
                "w_bits": w_bits,
                "a_bits": a_bits,
            }
        )
        for key in METRICS:
            df[key] = np.asarray(metrics[key], dtype=np.float64)
        for key in metrics:  # a family's extra per-layer outputs, after the shared ones
            if key not in METRICS:
                df[key] = np.asarray(metrics[key], dtype=np.float64)
        df["bops"] = df["macs"].astype(np.float64) * df["w_bits"] * df["a_bits"]
        totals: dict[str, float] = {k: float(df[k].sum()) for k in _SUMMED}
        macs = float(df["macs"].sum())
        totals["total_macs"] = macs
        totals["total_bops"] = float(df["bops"].sum())
        totals["total_mem_w_bits"] = float((workload.param_elems * w_bits).sum())
        totals["total_mem_o_bits"] = float((workload.output_elems * a_bits).sum())
        # Utilization over the whole network: MAC-weighted, i.e. weighted by useful work.
        totals["utilization"] = float((df["utilization"] * df["macs"]).sum() / macs)
        totals.update(price_totals(hardware, totals["energy_j"], totals["latency_s"]))
        notes = precision_notes(hardware, df)
        unpriced = price(hardware)[2]
        if unpriced:
            notes.append(unpriced)
        return cls(df, totals, hardware, notes)


def precision_notes(hardware: HardwareConfig, layers: pd.DataFrame) -> list[str]:
    """One note per reason a layer ran at other bits than it asked for, with the layer count.

    The reason comes from the config's ``precision_reason(w, a, w_run, a_run, row)`` when its
    family defines one (Stripes: "runs weights bit-parallel at 16 bits"; cpu-best: "ran int8
    here"), else a generic one."""
    reason_of = getattr(hardware, "precision_reason", None)
    groups: dict[str, list[str]] = {}
    moved = (layers["w_bits"] != layers["w_bits_run"]) | (layers["a_bits"] != layers["a_bits_run"])
    for _, row in layers[moved].iterrows():
        w, a = int(row["w_bits"]), int(row["a_bits"])
        wr, ar = int(row["w_bits_run"]), int(row["a_bits_run"])
        reason = reason_of(w, a, wr, ar, row) if reason_of is not None else ""
        if not reason:
            reason = (
                f"{hardware.name} runs {bits_label(w, a)} as {bits_label(wr, ar)}, "
                "the nearest precision it has"
            )
        groups.setdefault(reason, []).append(str(row["name"]))
    total = len(layers)
    notes = []
    for reason, names in groups.items():
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        notes.append(f"{reason}: {len(names)} of {total} layers ({shown})")
    return notes


def price_totals(hardware: HardwareConfig, energy_j: float, latency_s: float) -> dict[str, float]:
    """``area_mm2`` (NaN for a family without an area model, the CPUs, or a buffer outside
    the CACTI table), ``leakage_w`` and ``power_w`` = energy / latency + leakage, for one
    configuration."""
    total, leak, _ = price(hardware)
    power = energy_j / latency_s + leak if latency_s > 0 else float("nan")
    return {"area_mm2": total, "leakage_w": leak, "power_w": power}


COST_ALIASES: dict[str, str] = {
    "latency": "latency_s",
    "energy": "energy_j",
    "memory": "weight_bits",
}
"""A budget's name and the metric it means: "memory" is always the weight footprint in bits."""


@dataclass(frozen=True, eq=False)
class CostTable:
    """Costs of every (layer, w option, a option) in named metrics: what a bitwidth search reads.

    ``metrics[name]`` is ``[layer, w option, a option]`` for one hardware config, or
    ``[hardware, layer, w option, a option]`` when ``cost_table`` was given several. A table
    from :func:`hwsim.cost_table` holds every ``METRICS`` key (``weight_bits``: the weight
    footprint at the precision the hardware runs) and a family's extra outputs; a proxy table
    (``quant.costs``) holds e.g. ``bitops`` or ``weight_bits`` at the requested bits, with no
    ``hardware``. Lookups by bits go through :meth:`w_index` / :meth:`a_index`, so every
    search indexes the same way.
    """

    layer_names: tuple[str, ...]
    w_bits: tuple[int, ...]
    a_bits: tuple[int, ...]
    metrics: Mapping[str, np.ndarray]
    hardware: tuple[HardwareConfig, ...] = ()

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.layer_names)
        check(len(names) > 0, "layer_names", names, "need at least one layer")
        check(len(set(names)) == len(names), "layer_names", names, "names must be unique")
        w = tuple(check_bits("w_bits", b, allow_float=True) for b in self.w_bits)
        a = tuple(check_bits("a_bits", b, allow_float=True) for b in self.a_bits)
        for field_name, opts in (("w_bits", w), ("a_bits", a)):
            check(len(opts) > 0, field_name, opts, "need at least one option")
            # cost_table evaluates repeated options as asked (equal entries; lookups take the
            # first); in a table built from arrays a repeat could hold two different costs.
            check(
                bool(self.hardware) or len(set(opts)) == len(opts),
                field_name,
                opts,
                "options must be distinct",
            )
        check(len(self.metrics) > 0, "metrics", {}, "need at least one metric")
        want = (len(names), len(w), len(a))
        # One config's table may drop the hardware axis; all metrics share one layout.
        first = np.shape(next(iter(self.metrics.values())))
        shape = (len(self.hardware), *want) if len(first) == 4 and self.hardware else want
        metrics = {}
        for key, values in self.metrics.items():
            arr = np.asarray(values, dtype=np.float64)
            check(
                arr.shape == shape,
                f"metrics[{key}].shape",
                arr.shape,
                f"must be [layers, w options, a options] = {want}, or [hardware, ...] "
                f"with one row per config ({len(self.hardware)})",
            )
            if not self.hardware:
                # A table built from arrays is checked here; cost_table's come from kernels
                # whose inputs were validated, and re-reading them would cost a full pass.
                check(
                    bool(np.all(np.isfinite(arr))),
                    f"metrics[{key}]",
                    "non-finite",
                    "must be finite",
                )
                check(bool(np.all(arr >= 0)), f"metrics[{key}]", float(arr.min()), "must be >= 0")
            metrics[key] = arr
        object.__setattr__(self, "layer_names", names)
        object.__setattr__(self, "w_bits", w)
        object.__setattr__(self, "a_bits", a)
        object.__setattr__(self, "metrics", metrics)

    def metric(self, name: str) -> np.ndarray:
        """A metric by key, or by budget name (``latency``, ``energy``, ``memory``).

        ``power_w`` (each layer's average power at each option: energy / latency + the
        config's leakage) is derived on request from a hardware table's energy and latency."""
        key = COST_ALIASES.get(name, name)
        if key == "power_w" and key not in self.metrics and self._has_power_inputs():
            return self._power_w
        if key not in self.metrics:
            raise HwsimError("metric", name, f"not in this table (it has {sorted(self.metrics)})")
        return self.metrics[key]

    # The price of the design: per config, never per layer -------------------------------
    def _has_power_inputs(self) -> bool:
        return bool(self.hardware) and "energy_j" in self.metrics and "latency_s" in self.metrics

    def _per_config(self, values: list[float]) -> float | np.ndarray:
        arr = np.array(values, dtype=np.float64)
        first = np.shape(next(iter(self.metrics.values())))
        return arr if len(first) == 4 else float(arr[0])

    @functools.cached_property
    def area_mm2(self) -> float | np.ndarray:
        """Chip area of each config (mm^2): shape ``[H]`` for a multi-config table, a scalar
        for one config, NaN for a family without an area model (CPUs)."""
        check(bool(self.hardware), "area_mm2", None, "a table without hardware has no area")
        return self._per_config([price(h)[0] for h in self.hardware])

    @functools.cached_property
    def leakage_w(self) -> float | np.ndarray:
        """Static power of each config (W), shaped like :attr:`area_mm2`."""
        check(bool(self.hardware), "leakage_w", None, "a table without hardware has no power")
        return self._per_config([price(h)[1] for h in self.hardware])

    @functools.cached_property
    def _power_w(self) -> np.ndarray:
        leak = np.asarray(self.leakage_w, dtype=np.float64)
        if leak.ndim:
            leak = leak.reshape(-1, 1, 1, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.metrics["energy_j"] / self.metrics["latency_s"] + leak

    def power_total(self, bits: Mapping[str, tuple[int, int]]) -> float | np.ndarray:
        """Network power (W) with each layer at ``bits[layer]``: total energy over total
        latency plus leakage (one value per config for a multi-config table)."""
        return self.total("energy_j", bits) / self.total("latency_s", bits) + self.leakage_w

    def w_index(self, bits: int) -> int:
        if bits not in self.w_bits:
            raise HwsimError("w_bits", bits, f"not an option of this table {self.w_bits}")
        return self.w_bits.index(bits)

    def a_index(self, bits: int) -> int:
        if bits not in self.a_bits:
            raise HwsimError("a_bits", bits, f"not an option of this table {self.a_bits}")
        return self.a_bits.index(bits)

    @property
    def option_bits(self) -> np.ndarray:
        """``[O, 2]`` (w_bits, a_bits) of each flattened option ``o = i * len(a_bits) + j``."""
        return np.array([(w, a) for w in self.w_bits for a in self.a_bits], dtype=np.int64)

    def flat(self, name: str) -> np.ndarray:
        """Metric ``name`` as ``[..., layer, option]`` (options flattened as in option_bits)."""
        arr = self.metric(name)
        return arr.reshape(*arr.shape[:-2], -1)

    def choice(self, bits: Mapping[str, tuple[int, int]]) -> np.ndarray:
        """Flattened option index per layer of ``bits`` (a BitPolicy or ``{layer: (w, a)}``)."""
        missing = [n for n in self.layer_names if n not in bits]
        check(not missing, "bits", missing[:10], "no bits for these layers of the table")
        na = len(self.a_bits)
        return np.array(
            [self.w_index(bits[n][0]) * na + self.a_index(bits[n][1]) for n in self.layer_names],
            dtype=np.int64,
        )

    def bits(self, choice: np.ndarray) -> dict[str, tuple[int, int]]:
        """``{layer: (w, a)}`` of one flattened option index per layer."""
        opts = self.option_bits[np.asarray(choice, dtype=np.int64)]
        return {n: (int(w), int(a)) for n, (w, a) in zip(self.layer_names, opts, strict=True)}

    def total(self, name: str, bits: Mapping[str, tuple[int, int]]) -> float | np.ndarray:
        """Network total of metric ``name`` with each layer at ``bits[layer] = (w, a)``
        (one total per hardware config for a multi-config table)."""
        rows = np.arange(len(self.layer_names))
        return self._labelled(name, self.flat(name)[..., rows, self.choice(bits)].sum(axis=-1))

    def uniform_total(self, name: str, w_bits: int, a_bits: int) -> float | np.ndarray:
        """Network total of metric ``name`` with every layer at ``(w_bits, a_bits)`` (one
        total per hardware config, labelled with the configs' names, for a multi-config
        table)."""
        arr = self.metric(name)
        total = arr[..., self.w_index(w_bits), self.a_index(a_bits)].sum(axis=-1)
        return self._labelled(name, total)

    def _labelled(self, name: str, totals):
        if np.ndim(totals) != 1 or len(self.hardware) != len(totals):
            return totals
        return HardwareTotals.of(totals, tuple(h.name for h in self.hardware), name)

    def __repr__(self) -> str:
        """One line: the table's extents, configs and metrics (never its arrays)."""
        hw = (
            f", hardware=[{', '.join(h.name for h in self.hardware)}]"
            if self.hardware
            else ", proxy (no hardware)"
        )
        metrics = ", ".join(self.metrics)
        return (
            f"CostTable({len(self.layer_names)} layers x w_bits {self.w_bits} x a_bits "
            f"{self.a_bits}{hw}; metrics: {metrics})"
        )

    def to_frame(self) -> pd.DataFrame:
        """Every entry as one row: ``hardware`` (a multi-config table's config name), ``layer``,
        ``w_bits``, ``a_bits``, then one column per metric; cycle counts as integers."""
        n_l, n_w, n_a = len(self.layer_names), len(self.w_bits), len(self.a_bits)
        first = np.shape(next(iter(self.metrics.values())))
        n_h = len(self.hardware) if len(first) == 4 else 0
        reps = max(n_h, 1)
        cols: dict[str, np.ndarray] = {}
        if n_h:
            cols["hardware"] = np.repeat([h.name for h in self.hardware], n_l * n_w * n_a)
        cols["layer"] = np.tile(np.repeat(np.array(self.layer_names), n_w * n_a), reps)
        cols["w_bits"] = np.tile(np.repeat(np.array(self.w_bits, dtype=np.int64), n_a), reps * n_l)
        cols["a_bits"] = np.tile(np.array(self.a_bits, dtype=np.int64), reps * n_l * n_w)
        for key, arr in self.metrics.items():
            flat = np.asarray(arr).reshape(-1)
            if key in CYCLE_KEYS:
                flat = np.rint(flat).astype(np.int64)
            cols[key] = flat
        return pd.DataFrame(cols)

    def select(self, layer_names: Sequence[str]) -> CostTable:
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
        return CostTable(
            tuple(layer_names),
            self.w_bits,
            self.a_bits,
            {k: v[..., rows, :, :] for k, v in self.metrics.items()},
            self.hardware,
        )


CYCLE_KEYS: tuple[str, ...] = ("cycles", "stall_cycles", "compute_cycles")
"""Metrics that count cycles: whole numbers wherever a table is shown (to_frame, the CLI)."""


class HardwareTotals(np.ndarray):
    """One network total per hardware config, labelled with the configs' names.

    A plain ``float64`` array in every computation (indexing by position, arithmetic,
    ``float()`` of one entry); ``labels`` name its entries and ``to_series()`` gives a
    ``pandas.Series`` indexed by them. Prints as ``stripes: 1.2e-03, bitfusion: 3.4e-03``."""

    labels: tuple[str, ...] | None
    metric: str

    @classmethod
    def of(cls, values, labels: tuple[str, ...], metric: str = "") -> HardwareTotals:
        out = np.asarray(values, dtype=np.float64).view(cls)
        out.labels, out.metric = tuple(labels), metric
        return out

    def __array_finalize__(self, obj) -> None:
        labels = getattr(obj, "labels", None)
        # A slice or a reduction no longer lines up with the configs: drop the labels.
        self.labels = labels if labels is not None and self.shape == (len(labels),) else None
        self.metric = getattr(obj, "metric", "")

    def to_series(self) -> pd.Series:
        return pd.Series(
            np.asarray(self), index=list(self.labels or range(len(self))), name=self.metric or None
        )

    def __repr__(self) -> str:
        if self.labels is None:
            return repr(np.asarray(self))
        body = ", ".join(
            f"{n}: {v:.4g}" for n, v in zip(self.labels, np.asarray(self), strict=True)
        )
        return f"{self.metric or 'totals'} per hardware ({body})"

    __str__ = __repr__
