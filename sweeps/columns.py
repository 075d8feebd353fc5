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
from sweeps.spec import canonical_json


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
