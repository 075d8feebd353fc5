"""Arrow columns shared by both execution paths, so every part has one schema.

Repeated strings (status, labels, resolved configs) are dictionary-encoded; each varying
hardware field becomes an ``hw.<name>`` column, numeric where every value is a number.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from hwsim.errors import HwsimError
from sweeps.spec import Condition, canonical_json


def dict_array(codes: np.ndarray, labels: list[str]):
    """A dictionary-encoded string column: ``labels[codes[i]]`` in row ``i``."""
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(codes, np.int32)), pa.array(labels, pa.string())
    )


def strings(values: list[str]):
    """A dictionary-encoded column of ``values``."""
    labels, codes = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    return dict_array(codes, [str(x) for x in labels])


def hw_columns(space, hw_idx: np.ndarray, canon: list[dict], take: np.ndarray) -> dict:
    """Per-config columns (family, name, resolved JSON, varying fields) repeated by ``take``."""
    import pyarrow as pa

    take_pa = pa.array(take)
    out = {
        "hw_index": np.asarray(hw_idx, np.int64)[take],
        "hw_family": strings([c.get("family", "") for c in canon]).take(take_pa),
        "hw_name": strings([str(c.get("name", "")) for c in canon]).take(take_pa),
        "hw_config": strings([canonical_json(c) for c in canon]).take(take_pa),
    }
    for name in space.varying:
        values = [c.get(name) for c in canon]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            arr = pa.array(np.asarray(values, dtype=np.int64))
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            arr = pa.array(np.asarray(values, dtype=np.float64))
        else:
            arr = pa.array([json.dumps(v) if v is not None else None for v in values], pa.string())
        out[f"hw.{name}"] = arr.take(take_pa)
    return out


def table_of(cols: Mapping[str, Any]):
    """A ``pyarrow.Table`` of named columns."""
    import pyarrow as pa

    return pa.table(dict(cols))


def n_failed(table) -> int:
    """Rows of a part whose status is ``failed``."""
    return int(np.sum(table.column("status").to_pandas().to_numpy() == "failed"))


def error_message(exc: BaseException) -> str:
    """A failed row's message: an HwsimError as it reads, anything else with its type."""
    return str(exc) if isinstance(exc, HwsimError) else f"{type(exc).__name__}: {exc}"


def config_price(config) -> tuple[float, float]:
    """``(area mm², leakage W)`` of a config: one call per hardware config, never per point.
    The area is NaN where the family has no area model (the CPU presets) or a buffer lies
    outside the SRAM table (:func:`hwsim.hardware.pricing.price`)."""
    from hwsim.hardware.pricing import price

    area, leakage, _ = price(config)
    return float(area), float(leakage)


def priced(
    totals: Mapping[str, np.ndarray], area_mm2: np.ndarray, leakage_w: np.ndarray
) -> dict[str, np.ndarray]:
    """The price and efficiency columns of network totals (arrays of any one shape) on
    configs of area ``area_mm2`` and leakage ``leakage_w`` (broadcast against them):

    - ``area_mm2``, ``leakage_w``: the config's;
    - ``power_w``: network energy / network latency + leakage (the average power of the run);
    - ``tops_per_mm2``: TOPS / area, with TOPS = 2 x MACs / latency / 1e12 (a MAC is two
      operations, counted at the asked bits);
    - ``tops_per_w``: TOPS / power.
    """
    energy = np.asarray(totals["energy_j"], np.float64)
    latency = np.asarray(totals["latency_s"], np.float64)
    ops = 2.0 * np.asarray(totals["total_macs"], np.float64)
    area = np.broadcast_to(np.asarray(area_mm2, np.float64), energy.shape)
    leak = np.broadcast_to(np.asarray(leakage_w, np.float64), energy.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        power = energy / latency + leak
        tops = ops / latency / 1e12
        return {
            "area_mm2": area.copy(),
            "leakage_w": leak.copy(),
            "power_w": power,
            "tops_per_mm2": tops / area,
            "tops_per_w": tops / power,
        }


def config_value(column: str, canon: Mapping[str, Any], area_mm2: float) -> Any:
    """The value of a config-level column (``area_mm2``, ``hw.<field>``) of one resolved
    config (NaN for a field it does not have)."""
    if column == "area_mm2":
        return area_mm2
    return canon.get(column.removeprefix("hw."), float("nan"))


def satisfies(conditions: list[Condition], column_of) -> np.ndarray | bool:
    """True where every condition holds; ``column_of(name)`` gives a column's values."""
    keep: np.ndarray | bool = True
    for cond in conditions:
        keep = keep & cond.mask(column_of(cond.column))
    return keep
