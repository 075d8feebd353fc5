"""Sweep specs: a TOML file that declares a design space, validated before any work starts.

A spec crosses three axes: hardware configs (a preset or family with grids, zipped lists and
seeded random samples of any config field), workloads (zoo names, saved ``.npz`` files, ONNX /
QONNX ``.onnx`` files) and bit policies (uniform bit sets, policy JSON files, the zoo's published
bits). Optional ``[[train]]`` tables add points whose policy comes from a quantization method.
Example::

    name = "stripes-demo"
    seed = 0
    workloads = ["resnet18", { path = "net.npz" }]
    [objectives]
    latency_s = "min"
    area_mm2 = "min"
    [constraints]                         # the budget: points outside are not stored
    area_mm2 = "<= 3.0"
    [[hardware]]
    base = "stripes"                      # preset, TOML path or family name
    # grid: every combination; zip: lists varied together; random: seeded samples
    grid = { rows = [128, 256], cols = [8, 16] }
    zip = { act_buffer_bytes = [1048576, 2097152], dram_bytes_per_s = [2.5e11, 5e11] }
    random = { samples = 4, frequency_hz = { low = 2e8, high = 1e9, log = true } }
    [policies]
    w_bits = [2, 4, 8]                    # crossed with a_bits: 9 uniform policies
    a_bits = [2, 4, 8]
    files = [{ path = "policy.json", workload = "resnet18", optional = true }]

The hardware space is enumerated lazily: config ``i`` is decoded from its index (mixed radix
over grid x zip x samples), so a spec of 10^6 points never holds 10^6 objects.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import random
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.errors import HwsimError, check, check_bits
from hwsim.hardware.report import METRICS
from hwsim.policy import bits_label

ENGINES: tuple[str, ...] = ("analytic", "event")
SENSES: tuple[str, ...] = ("min", "max")
OBJECTIVE_ALIASES: dict[str, str] = {
    "latency": "latency_s",
    "energy": "energy_j",
    "memory": "weight_bits",
    "bops": "total_bops",
    "area": "area_mm2",
    "power": "power_w",
}
PRICES: tuple[str, ...] = ("area_mm2", "leakage_w", "power_w")
"""What a design costs: its area and leakage (per hardware config) and its average power over
the run (network energy / network latency + leakage)."""
DERIVED: tuple[str, ...] = ("tops_per_mm2", "tops_per_w")
"""Efficiency columns: TOPS = 2 x MACs / latency / 1e12 (a MAC counts as two operations, at
the asked bits); ``tops_per_mm2`` divides it by the area, ``tops_per_w`` by the power."""
SUMMED: tuple[str, ...] = tuple(
    m for m in METRICS if m not in ("utilization", "w_bits_run", "a_bits_run", *PRICES)
)
TOTALS: tuple[str, ...] = (
    *SUMMED,
    "total_macs",
    "total_bops",
    "total_mem_w_bits",
    "total_mem_o_bits",
    "utilization",
    *PRICES,
    *DERIVED,
)
"""Result columns of every point: the keys of ``CostReport.totals`` and the derived
efficiencies."""
OBJECTIVE_COLUMNS: frozenset[str] = frozenset(
    (*TOTALS, "accuracy", "baseline_accuracy", "analytic_latency_s")
)
"""Columns an objective may name (besides ``hw.<field>`` and a trainer's own columns)."""
CONSTRAINT_COLUMNS: frozenset[str] = OBJECTIVE_COLUMNS | {"w_bits", "a_bits"}
"""Columns a ``[constraints]`` entry may name (besides ``hw.<field>``)."""
CONFIG_COLUMNS: frozenset[str] = frozenset({"area_mm2"})
"""Result columns known from the hardware config alone (like ``hw.<field>``): a constraint on
one of them skips a config before any of its points is evaluated."""

_TOP_KEYS = {
    "name",
    "seed",
    "chunk_size",
    "engine",
    "plugins",
    "objectives",
    "constraints",
    "hardware",
    "workloads",
    "policies",
    "train",
}


def canonical_json(obj: Any) -> str:
    """Sorted, compact JSON: the text a content hash is taken of."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, tuple | set | frozenset | np.ndarray):
        return list(obj)
    return str(obj)


def hash64(obj: Any) -> int:
    """A stable 64-bit content hash (first 8 bytes of SHA-256 of the canonical JSON)."""
    digest = hashlib.sha256(canonical_json(obj).encode()).digest()
    return int.from_bytes(digest[:8], "little", signed=False)


# ---------------------------------------------------------------------------- hardware
@dataclass(frozen=True)
class RandomField:
    """How one config field is sampled: uniform (or log-uniform) in [low, high], or a choice."""

    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.choices:
            check(
                self.low is None and self.high is None,
                self.key,
                self.choices,
                "give either choices or low/high, not both",
            )
            return
        for side in ("low", "high"):
            v = getattr(self, side)
            check(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
                f"{self.key}.{side}",
                v,
                "must be a finite number",
            )
        check(self.low <= self.high, f"{self.key}.high", self.high, f"must be >= low={self.low}")
        if self.log:
            check(self.low > 0, f"{self.key}.low", self.low, "log sampling needs low > 0")

    def draw(self, rng: random.Random) -> Any:
        if self.choices:
            return self.choices[rng.randrange(len(self.choices))]
        u = rng.random()
        if self.log:
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        if self.integer:
            return int(min(max(round(value), math.ceil(self.low)), math.floor(self.high)))
        return value

    def extremes(self) -> tuple[Any, ...]:
        if self.choices:
            return self.choices
        if self.integer:
            return (math.ceil(self.low), math.floor(self.high))
        return (self.low, self.high)


@dataclass(frozen=True)
class HardwareBlock:
    """One ``[[hardware]]`` table: a base config and how its fields vary.

    Configs are the product grid x zip x samples, decoded from an index on demand.
    """

    base: str
    key: str  # where in the spec this block is, for error messages
    grid: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    zipped: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    random: tuple[RandomField, ...] = ()
    samples: int = 1
    seed: int = 0
    block_index: int = 0

    def __post_init__(self) -> None:
        base = self.base_config  # raises for an unknown preset / family
        for name, values in self.grid.items():
            check(len(values) > 0, f"{self.key}.grid.{name}", list(values), "empty list")
        lengths = {len(v) for v in self.zipped.values()}
        check(
            len(lengths) <= 1,
            f"{self.key}.zip",
            {k: len(v) for k, v in self.zipped.items()},
            "zipped lists must have equal lengths",
        )
        check(not lengths or lengths != {0}, f"{self.key}.zip", dict(self.zipped), "empty lists")
        check(
            isinstance(self.samples, int) and self.samples >= 1,
            f"{self.key}.random.samples",
            self.samples,
            "must be an integer >= 1",
        )
        names = list(self.varying)
        dup = [n for n in names if names.count(n) > 1]
        check(
            not dup,
            f"{self.key}.{dup[0] if dup else ''}",
            dup,
            "a field may vary in only one of grid, zip, random",
        )
        # Every value must give a valid config on its own: a bad value fails here, not mid-run.
        for section, values_by_name in (("grid", self.grid), ("zip", self.zipped)):
            for name, values in values_by_name.items():
                for v in values:
                    _try_replace(base, {name: v}, f"{self.key}.{section}.{name}")
        for r in self.random:
            name = r.key.rsplit(".", 1)[-1]
            current = getattr(base, name, None)
            if isinstance(current, int) and not isinstance(current, bool) and not r.choices:
                object.__setattr__(r, "integer", True)
            for v in r.extremes():
                _try_replace(base, {name: v}, r.key)

    @cached_property
    def base_config(self):
        return resolve_base(self.base, f"{self.key}.base")

    @cached_property
    def base_dict(self) -> dict[str, Any]:
        return self.base_config.to_dict()

    @property
    def varying(self) -> tuple[str, ...]:
        """Names of the fields this block varies, as the spec spells them."""
        return (*self.grid, *self.zipped, *(r.key.rsplit(".", 1)[-1] for r in self.random))

    @property
    def varying_fields(self) -> tuple[str, ...]:
        """The config fields this block varies."""
        return self.varying

    def __len__(self) -> int:
        n_grid = math.prod(len(v) for v in self.grid.values())
        n_zip = len(next(iter(self.zipped.values()))) if self.zipped else 1
        return n_grid * n_zip * (self.samples if self.random else 1)

    def overrides(self, i: int) -> dict[str, Any]:
        """The field values of config ``i`` (index into grid x zip x samples), in the config's
        current fields and units."""
        n_samples = self.samples if self.random else 1
        i, s = divmod(i, n_samples)
        n_zip = len(next(iter(self.zipped.values()))) if self.zipped else 1
        i, z = divmod(i, n_zip)
        out: dict[str, Any] = {}
        for name in reversed(list(self.grid)):
            values = self.grid[name]
            i, g = divmod(i, len(values))
            out[name] = values[g]
        out = dict(reversed(list(out.items())))
        for name, values in self.zipped.items():
            out[name] = values[z]
        if self.random:
            # Seeded per sample from (seed, block, sample): any config decodes on its own,
            # in any order or process. random.Random is ~20x cheaper to seed than numpy's.
            rng = random.Random(f"{self.seed}/{self.block_index}/{s}")
            for r in self.random:
                out[r.key.rsplit(".", 1)[-1]] = r.draw(rng)
        return out


def resolve_base(base: str, key: str = "hardware.base"):
    """A preset name, a hardware TOML path, or a family name (its default config)."""
    from hwsim.hardware import families, load_hardware, preset_names

    check(isinstance(base, str) and base != "", key, base, "must be a preset, path or family")
    if base in preset_names() or base.endswith(".toml") or Path(base).exists():
        return load_hardware(base)
    fams = families()
    if base in fams:
        try:
            return fams[base].config_type()
        except TypeError as exc:
            raise HwsimError(key, base, f"family has no default config: {exc}") from exc
    raise HwsimError(
        key, base, f"not a preset {preset_names()}, TOML file or family {sorted(fams)}"
    )


def _try_replace(base, overrides: Mapping[str, Any], key: str):
    try:
        return base.replace(**overrides)
    except HwsimError as exc:
        value = next(iter(overrides.values())) if len(overrides) == 1 else dict(overrides)
        raise HwsimError(key, value, exc.reason) from exc
    except TypeError as exc:
        raise HwsimError(key, dict(overrides), str(exc)) from exc


class HardwareSpace:
    """All hardware configs of a spec, blocks concatenated, decoded from an index on demand."""

    def __init__(self, blocks: Sequence[HardwareBlock]) -> None:
        self.blocks = tuple(blocks)
        self.offsets = np.cumsum([0, *(len(b) for b in self.blocks)])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, i: int) -> tuple[HardwareBlock, int]:
        check(0 <= i < len(self), "hardware index", i, f"must be in 0..{len(self) - 1}")
        b = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return self.blocks[b], i - int(self.offsets[b])

    def resolved(self, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(canonical dict, overrides)`` of config ``i``: what its hash is taken of."""
        block, j = self.locate(i)
        ov = block.overrides(j)
        return {**block.base_dict, **ov}, ov

    def config(self, i: int, overrides: Mapping[str, Any] | None = None):
        """The validated config ``i`` (raises :class:`HwsimError` if the values clash);
        ``overrides`` from :meth:`resolved` saves decoding them again."""
        block, j = self.locate(i)
        return block.base_config.replace(**(overrides or block.overrides(j)))

    @cached_property
    def varying(self) -> tuple[str, ...]:
        """Field names that vary anywhere in the space (result columns ``hw.<name>``)."""
        seen: dict[str, None] = {}
        for b in self.blocks:
            seen.update(dict.fromkeys(b.varying_fields))
        return tuple(seen)


# ---------------------------------------------------------------------------- workloads
@dataclass(frozen=True)
class WorkloadRef:
    """A zoo network (extracted at ``batch``; None = the entry's usual batch) or a saved file."""

    label: str
    zoo: str | None = None
    path: str | None = None
    batch: int | None = None

    def __post_init__(self) -> None:
        check(
            (self.zoo is None) != (self.path is None),
            f"workloads[{self.label}]",
            self.label,
            "give exactly one of a zoo name or a path",
        )
        if self.batch is not None:
            check(
                isinstance(self.batch, int)
                and not isinstance(self.batch, bool)
                and self.batch >= 1,
                f"workloads[{self.label}].batch",
                self.batch,
                "must be an integer >= 1",
            )
        if self.path is not None:
            check(
                Path(self.path).is_file(),
                f"workloads[{self.label}].path",
                self.path,
                "no such file",
            )
        else:
            import models

            check(
                self.zoo in models.names(),
                f"workloads[{self.label}]",
                self.zoo,
                f"not in the zoo {models.names()}",
            )

    def load(self):
        """The :class:`hwsim.Workload` (extracting a zoo model imports torch)."""
        from hwsim import Workload

        if self.path is not None and self.path.lower().endswith(".onnx"):
            from models.onnx_import import from_onnx

            return from_onnx(self.path, batch=self.batch)
        if self.path is not None:
            return Workload.load(self.path)
        import models

        return models.extract_workload(
            models.build(self.zoo), models.example_input(self.zoo, self.batch)
        )


def workload_hash(workload) -> int:
    """Content hash of a workload: its name, layer names and every geometry column."""
    cols = {k: np.asarray(v).tolist() for k, v in sorted(workload.columns.items())}
    return hash64({"name": workload.name, "layers": list(workload.layer_names), "cols": cols})


# ---------------------------------------------------------------------------- policies
@dataclass(frozen=True)
class PolicyRef:
    """One policy axis entry: uniform ``(w, a)`` bits, a policy JSON file or the zoo's bits.

    ``workload`` restricts a file policy to the workload whose layers it names.
    """

    label: str
    kind: str  # "uniform" | "file" | "default"
    w_bits: int = 0
    a_bits: int = 0
    path: str | None = None
    workload: str | None = None

    def __post_init__(self) -> None:
        check(
            self.kind in ("uniform", "file", "default"),
            "policies",
            self.kind,
            "unknown policy kind",
        )
        if self.kind == "uniform":
            check_bits(f"policies[{self.label}].w_bits", self.w_bits, allow_float=True)
            check_bits(f"policies[{self.label}].a_bits", self.a_bits, allow_float=True)

    def load(self, workload_ref: WorkloadRef, workload):
        """The :class:`hwsim.BitPolicy` for ``workload`` (None: uniform, built by the caller)."""
        from hwsim import BitPolicy

        if self.kind == "file":
            return BitPolicy.load(self.path)
        if self.kind == "default":
            import models.zoo

            check(
                workload_ref.zoo is not None,
                "policies.default",
                workload_ref.label,
                "published bits exist only for zoo networks",
            )
            bits = models.zoo.entry(workload_ref.zoo).default_bits
            check(
                bits is not None,
                "policies.default",
                workload_ref.zoo,
                "this zoo network has no published bits",
            )
            return BitPolicy(dict(bits))
        return BitPolicy({n: (self.w_bits, self.a_bits) for n in workload.layer_names})

    def applies_to(self, workload_ref: WorkloadRef) -> bool:
        return self.workload is None or self.workload == workload_ref.label


# ---------------------------------------------------------------------------- train
@dataclass(frozen=True)
class TrainSpec:
    """A ``[[train]]`` table: a quantization method run per point on the general path."""

    method: str
    workload: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        check(
            isinstance(self.method, str) and self.method != "",
            "train.method",
            self.method,
            "must name a quantization method",
        )
        check(
            isinstance(self.params, Mapping),
            f"train[{self.method}].params",
            self.params,
            "must be a table",
        )
        if not self.label:
            object.__setattr__(self, "label", f"train:{self.method}")
        from sweeps.trainer_registry import validate_params

        validate_params(self.method, self.params)


# ---------------------------------------------------------------------------- conditions
OPERATORS: tuple[str, ...] = ("<=", ">=", "==", "!=", "<", ">")
_CONDITION = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|==|!=|=|<|>)\s*([^\s<>=!](?:.*\S)?)\s*$")


@dataclass(frozen=True)
class Condition:
    """``column OP value``: a spec constraint or a ``hwsim pareto --where`` filter.

    Numbers compare as floats (a missing value, NaN, never satisfies a condition); ``==`` and
    ``!=`` also compare text columns such as ``policy`` or ``hw_name``.
    """

    column: str
    op: str
    value: float | str
    text: str  # as written, for messages

    def __str__(self) -> str:
        value = self.value
        if isinstance(value, float):  # shortest exact text: it is parsed back (sweep.json)
            value = repr(value).removesuffix(".0")
        return f"{self.column} {self.op} {value}"

    def mask(self, values: Any) -> np.ndarray:
        """Which of ``values`` (a column) satisfy the condition."""
        arr = np.asarray(values)
        if isinstance(self.value, str):
            text = np.array([str(v) for v in arr.ravel()], dtype=object).reshape(arr.shape)
            return (text == self.value) if self.op == "==" else (text != self.value)
        try:
            x = np.asarray(arr, dtype=np.float64)
        except (TypeError, ValueError):
            raise HwsimError("where", self.text, f"{self.column} is not a numeric column") from None
        with np.errstate(invalid="ignore"):
            out = {
                "<=": lambda: x <= self.value,
                ">=": lambda: x >= self.value,
                "<": lambda: x < self.value,
                ">": lambda: x > self.value,
                "==": lambda: x == self.value,
                "!=": lambda: x != self.value,
            }[self.op]()
        return out & ~np.isnan(x)


def parse_condition(text: Any, field: str = "where") -> Condition:
    """``"area_mm2 <= 2"``, ``"policy==w4a4"`` (``=`` reads as ``==``); the column's aliases
    (``latency``, ``area``, ...) are accepted. Raises :class:`HwsimError` naming ``field``."""
    check(isinstance(text, str), field, text, "must be a string 'COLUMN OP VALUE'")
    m = _CONDITION.match(text)
    check(
        m is not None,
        field,
        text,
        f"expected COLUMN OP VALUE with OP one of {' '.join(OPERATORS)}, "
        "e.g. 'area_mm2 <= 2' or 'policy == w4a4'",
    )
    column, op, raw = m.group(1), m.group(2), m.group(3)
    op = "==" if op == "=" else op
    column = OBJECTIVE_ALIASES.get(column, column)
    value: float | str
    try:
        value = float(raw)
    except ValueError:
        value = raw.strip("'\"")
        check(
            op in ("==", "!="),
            field,
            text,
            f"{raw!r} is not a number; {op} needs a number (text compares with == or !=)",
        )
    if isinstance(value, float):
        check(not math.isnan(value), field, text, "the value must not be NaN")
    return Condition(column, op, value, text)


def _parse_constraints(table: Any, any_column: bool = False) -> tuple[Condition, ...]:
    """``[constraints]``: ``column = "OP number"`` or a list of them (a range)."""
    check(
        isinstance(table, Mapping),
        "constraints",
        table,
        "must be a table of column = '<= number' (or a list of such strings)",
    )
    out = []
    for name, spec in table.items():
        key = f"constraints.{name}"
        items = spec if isinstance(spec, list) else [spec]
        check(len(items) > 0, key, spec, "empty list")
        for item in items:
            check(
                isinstance(item, str),
                key,
                item,
                "must be a string 'OP number' such as '<= 3.0' (OP: < <= > >= == !=)",
            )
            cond = parse_condition(f"{name} {item}", key)
            check(
                isinstance(cond.value, float),
                key,
                item,
                "a constraint compares with a number",
            )
            check(
                cond.column in CONSTRAINT_COLUMNS or cond.column.startswith("hw.") or any_column,
                "constraints",
                name,
                f"not a result column; known: {sorted(CONSTRAINT_COLUMNS)} and hw.<field>",
            )
            out.append(cond)
    return tuple(out)


def on_config(cond: Condition) -> bool:
    """Whether ``cond`` reads only the hardware config (decidable before evaluation)."""
    return cond.column in CONFIG_COLUMNS or cond.column.startswith("hw.")


# ---------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: the hardware space, workloads, policies, objectives and seed."""

    name: str
    hardware: HardwareSpace
    workloads: tuple[WorkloadRef, ...]
    policies: tuple[PolicyRef, ...]
    objectives: Mapping[str, str]
    seed: int = 0
    constraints: tuple[Condition, ...] = ()
    chunk_size: int = 16384
    engine: str = "analytic"
    train: tuple[TrainSpec, ...] = ()
    plugins: tuple[str, ...] = ()
    source: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        check(
            isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0,
            "seed",
            self.seed,
            "must be an integer >= 0",
        )
        check(
            isinstance(self.chunk_size, int) and self.chunk_size >= 1,
            "chunk_size",
            self.chunk_size,
            "must be an integer >= 1",
        )
        check(self.engine in ENGINES, "engine", self.engine, f"must be one of {ENGINES}")
        check(len(self.hardware) > 0, "hardware", [], "need at least one [[hardware]] table")
        check(len(self.workloads) > 0, "workloads", [], "need at least one workload")
        check(
            len(self.policies) > 0 or len(self.train) > 0,
            "policies",
            {},
            "need at least one policy or [[train]] table",
        )
        labels = [w.label for w in self.workloads]
        check(len(set(labels)) == len(labels), "workloads", labels, "labels must be unique")
        for p in self.policies:
            check(
                p.workload is None or p.workload in labels,
                f"policies[{p.label}].workload",
                p.workload,
                f"not a workload of this spec {labels}",
            )
        for t in self.train:
            check(
                t.workload in labels,
                f"train[{t.method}].workload",
                t.workload,
                f"not a workload of this spec {labels}",
            )
        for name, sense in self.objectives.items():
            check(sense in SENSES, f"objectives.{name}", sense, f"must be one of {SENSES}")
            check(
                name in OBJECTIVE_COLUMNS or name.startswith("hw.") or len(self.train) > 0,
                "objectives",
                name,
                f"not a result column; known: {sorted(OBJECTIVE_COLUMNS)} and hw.<field>",
            )

    @property
    def n_points(self) -> int:
        """Points the spec declares (before skipping what is done or not applicable)."""
        per_hw = sum(sum(p.applies_to(w) for p in self.policies) for w in self.workloads)
        return len(self.hardware) * (per_hw + len(self.train))


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a spec TOML; relative paths inside it are relative to its folder."""
    path = Path(path)
    check(path.is_file(), "spec", str(path), "no such file")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise HwsimError("spec", str(path), f"invalid TOML: {exc}") from exc
    return parse_spec(data, root=path.parent, default_name=path.stem)


def parse_spec(
    data: Mapping[str, Any], root: str | Path = ".", default_name: str = "sweep"
) -> SweepSpec:
    """Validate a spec given as a mapping (the parsed TOML)."""
    root = Path(root)
    _check_keys(data, _TOP_KEYS, "")
    seed = data.get("seed", 0)
    plugins = tuple(_list(data.get("plugins", []), "plugins"))
    import_plugins(plugins)

    hw_tables = data.get("hardware", [])
    if isinstance(hw_tables, Mapping):
        hw_tables = [hw_tables]
    check(isinstance(hw_tables, list), "hardware", hw_tables, "must be [[hardware]] tables")
    blocks = [_parse_block(t, i, seed, root) for i, t in enumerate(hw_tables)]

    wl_items = _list(data.get("workloads", []), "workloads")
    workloads = tuple(_parse_workload(w, i, root) for i, w in enumerate(wl_items))
    policies = _parse_policies(data.get("policies", {}), root)

    objectives = data.get("objectives", {"latency_s": "min", "energy_j": "min"})
    check(
        isinstance(objectives, Mapping),
        "objectives",
        objectives,
        "must be a table of column = 'min' | 'max'",
    )
    objectives = {OBJECTIVE_ALIASES.get(k, k): v for k, v in objectives.items()}

    train_items = data.get("train", [])
    check(isinstance(train_items, list), "train", train_items, "must be [[train]] tables")
    # A trainer may add columns of its own, so with [[train]] any column name is accepted.
    constraints = _parse_constraints(data.get("constraints", {}), any_column=bool(train_items))
    train = []
    for i, t in enumerate(train_items):
        check(isinstance(t, Mapping), f"train[{i}]", t, "must be a table")
        _check_keys(t, {"method", "workload", "params", "label"}, f"train[{i}]")
        params = t.get("params", {})
        if t.get("method") == "joint" and isinstance(params, Mapping):
            # A joint search's space is this spec's hardware axis; each point one design.
            from sweeps.trainer_registry import joint_space_params

            params = {**params, **joint_space_params(hw_tables, seed, root)}
        train.append(
            TrainSpec(
                method=t.get("method"),
                workload=t.get("workload"),
                params=params,
                label=t.get("label", ""),
            )
        )
    return SweepSpec(
        name=str(data.get("name", default_name)),
        hardware=HardwareSpace(blocks),
        workloads=workloads,
        policies=policies,
        objectives=objectives,
        constraints=constraints,
        seed=seed,
        chunk_size=data.get("chunk_size", 16384),
        engine=data.get("engine", "analytic"),
        train=tuple(train),
        plugins=plugins,
        source=dict(data),
    )


def import_plugins(plugins: Sequence[str]) -> None:
    """Import modules that register extra hardware families or trainers."""
    from importlib import import_module

    for name in plugins:
        try:
            import_module(name)
        except ImportError as exc:
            raise HwsimError("plugins", name, f"cannot import: {exc}") from exc


def _check_keys(table: Mapping[str, Any], known: set[str], where: str) -> None:
    """Refuse the first key of ``table`` (at ``where`` in the spec) not in ``known``."""
    unknown = sorted(set(table) - known)
    if unknown:
        field = f"{where}.{unknown[0]}" if where else unknown[0]
        raise HwsimError(field, table[unknown[0]], f"unknown key; known: {sorted(known)}")


def _list(value: Any, key: str) -> list:
    check(isinstance(value, list | tuple), key, value, "must be a list")
    return list(value)


def _parse_block(t: Any, i: int, seed: int, root: Path) -> HardwareBlock:
    key = f"hardware[{i}]"
    check(isinstance(t, Mapping), key, t, "must be a table")
    _check_keys(t, {"base", "grid", "zip", "random"}, key)
    base = t.get("base")
    check(isinstance(base, str), f"{key}.base", base, "must be a preset, TOML path or family")
    if base.endswith(".toml") and not Path(base).is_absolute():
        base = str(root / base)

    def lists(section: str) -> dict[str, tuple]:
        table = t.get(section, {})
        check(isinstance(table, Mapping), f"{key}.{section}", table, "must be a table")
        out = {}
        for name, values in table.items():
            check(isinstance(values, list), f"{key}.{section}.{name}", values, "must be a list")
            out[name] = tuple(values)
        return out

    rand = dict(t.get("random", {}))
    samples = rand.pop("samples", 1)
    fields = []
    for name, how in rand.items():
        fkey = f"{key}.random.{name}"
        check(
            isinstance(how, Mapping), fkey, how, "must be a table {low, high[, log]} or {choices}"
        )
        _check_keys(how, {"low", "high", "log", "choices"}, fkey)
        fields.append(
            RandomField(
                fkey,
                how.get("low"),
                how.get("high"),
                bool(how.get("log")),
                False,
                tuple(how.get("choices", ())),
            )
        )
    return HardwareBlock(
        base=base,
        key=key,
        grid=lists("grid"),
        zipped=lists("zip"),
        random=tuple(fields),
        samples=samples,
        seed=seed,
        block_index=i,
    )


def _parse_workload(w: Any, i: int, root: Path) -> WorkloadRef:
    if isinstance(w, str):
        if w.endswith((".npz", ".onnx")):
            return WorkloadRef(label=Path(w).stem, path=str(root / w))
        return WorkloadRef(label=w, zoo=w)
    check(isinstance(w, Mapping), f"workloads[{i}]", w, "must be a name or a table")
    _check_keys(w, {"zoo", "path", "batch", "label"}, f"workloads[{i}]")
    path = str(root / w["path"]) if "path" in w else None
    label = w.get("label") or w.get("zoo") or Path(str(w.get("path", f"w{i}"))).stem
    return WorkloadRef(label=label, zoo=w.get("zoo"), path=path, batch=w.get("batch"))


def _parse_policies(p: Any, root: Path) -> tuple[PolicyRef, ...]:
    check(isinstance(p, Mapping), "policies", p, "must be a table")
    _check_keys(p, {"w_bits", "a_bits", "pairs", "files", "default"}, "policies")
    out: list[PolicyRef] = []
    if "w_bits" in p or "a_bits" in p:
        w_list = _list(p.get("w_bits", []), "policies.w_bits")
        a_list = _list(p.get("a_bits", []), "policies.a_bits")
        check(len(w_list) > 0, "policies.w_bits", w_list, "need at least one value")
        check(len(a_list) > 0, "policies.a_bits", a_list, "need at least one value")
        for w, a in itertools.product(w_list, a_list):
            out.append(PolicyRef(bits_label(w, a), "uniform", w, a))
    for j, pair in enumerate(_list(p.get("pairs", []), "policies.pairs")):
        check(
            isinstance(pair, list) and len(pair) == 2,
            f"policies.pairs[{j}]",
            pair,
            "must be [w_bits, a_bits]",
        )
        out.append(PolicyRef(bits_label(*pair), "uniform", pair[0], pair[1]))
    for j, f in enumerate(_list(p.get("files", []), "policies.files")):
        entry = {"path": f} if isinstance(f, str) else f
        check(
            isinstance(entry, Mapping) and "path" in entry,
            f"policies.files[{j}]",
            f,
            "must be a path or {path, workload, optional}",
        )
        _check_keys(entry, {"path", "workload", "optional", "label"}, f"policies.files[{j}]")
        path = root / entry["path"]
        if path.is_dir():  # a search result folder holds its policy.json
            path = path / "policy.json"
        if not path.is_file():
            if entry.get("optional", False):
                continue
            raise HwsimError(f"policies.files[{j}]", str(path), "no such policy file")
        from hwsim import BitPolicy

        BitPolicy.load(path)  # fails now on a bad file, naming it
        label = entry.get("label") or f"file:{path.parent.name}/{path.stem}"
        out.append(PolicyRef(label, "file", path=str(path), workload=entry.get("workload")))
    default = p.get("default", False)
    check(isinstance(default, bool), "policies.default", default, "must be true or false")
    if default:
        out.append(PolicyRef("default", "default"))
    labels = [r.label for r in out]
    dup = [x for x in labels if labels.count(x) > 1]
    check(not dup, "policies", dup[0] if dup else None, "duplicate policy")
    return tuple(out)


def spec_fields(spec: SweepSpec) -> dict[str, Any]:
    """A JSON-able summary of a spec (what a results folder records)."""
    return {
        "name": spec.name,
        "seed": spec.seed,
        "engine": spec.engine,
        "objectives": dict(spec.objectives),
        "constraints": [str(c) for c in spec.constraints],
        "n_hardware": len(spec.hardware),
        "workloads": [dataclasses.asdict(w) for w in spec.workloads],
        "policies": [dataclasses.asdict(p) for p in spec.policies],
        "train": [dataclasses.asdict(t) for t in spec.train],
        "n_points": spec.n_points,
    }
