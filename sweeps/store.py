"""The results store: a folder of immutable Parquet parts, each written atomically.

Every row is one point and carries ``point_hash``, a stable content hash of the point's
canonical configuration. A part is written to a temp file and renamed into ``parts/``, so a part
is either complete or absent; the parts themselves say which hashes are done. A run killed at
any moment loses at most the chunks in flight, and a resumed run skips every hash already on
disk, so nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwsim.errors import HwsimError, check
from hwsim.io import atomic_write_text, publish

PARTS = "parts"
META = "sweep.json"


class ResultStore:
    """Append-only Parquet parts under ``root/parts``; ``done`` is the sorted set of hashes."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.parts = self.root / PARTS
        self.parts.mkdir(parents=True, exist_ok=True)
        self._lock_file = self._lock()
        for tmp in self.parts.glob(".*.tmp"):  # left by a run killed mid-write
            tmp.unlink(missing_ok=True)
        self._done = self._read_done()
        self._fresh: list[np.ndarray] = []

    def _lock(self):
        """One writer per folder: an exclusive advisory lock, freed by the kernel even when
        the process is killed, so a crashed run never blocks its resumption."""
        import fcntl

        f = open(self.root / ".lock", "w")  # held open for the store's lifetime
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise HwsimError(
                "out", str(self.root), "another sweep is writing this folder"
            ) from None
        return f

    def close(self) -> None:
        """Release the folder for another run."""
        if not self._lock_file.closed:
            self._lock_file.close()

    def _read_done(self) -> np.ndarray:
        import pyarrow.parquet as pq

        arrays = [
            pq.read_table(p, columns=["point_hash"]).column(0).to_numpy()
            for p in sorted(self.parts.glob("part-*.parquet"))
        ]
        if not arrays:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(arrays).astype(np.int64))

    @property
    def done(self) -> np.ndarray:
        if self._fresh:
            self._done = np.union1d(self._done, np.concatenate(self._fresh))
            self._fresh = []
        return self._done

    def is_done(self, hashes: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``hashes`` are already stored."""
        done = self.done
        if len(done) == 0:
            return np.zeros(len(hashes), dtype=bool)
        pos = np.minimum(np.searchsorted(done, hashes), len(done) - 1)
        return done[pos] == hashes

    def write_meta(self, meta: Mapping[str, Any]) -> None:
        atomic_write_text(self.root / META, json.dumps(meta, indent=2, default=str) + "\n")

    def claim(self, hashes: np.ndarray) -> None:
        """Count ``hashes`` as done from now on (their part is being written)."""
        if len(hashes):
            self._fresh.append(np.asarray(hashes, np.int64))

    def drop_failed(self) -> int:
        """Forget every stored ``failed`` row, so a resumed run evaluates those points again.

        Each part holding failed rows is replaced, in one atomic rename, by the same part
        without them (or removed when nothing else is left): a kill at any moment leaves every
        ok row stored exactly once. Returns the number of rows dropped.
        """
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        dropped = 0
        for part in sorted(self.parts.glob("part-*.parquet")):
            status = pq.read_table(part, columns=["status"]).column(0).cast("string")
            failed = pc.equal(status, "failed")
            n = int(pc.sum(failed).as_py() or 0)
            if n == 0:
                continue
            kept = pq.read_table(part).filter(pc.invert(failed))
            if kept.num_rows:
                write_part(self.parts, kept, replace=part)
            else:
                part.unlink()
            dropped += n
        self._done = self._read_done()
        self._fresh = []
        return dropped

    def append(self, table) -> Path | None:
        """Write one part (a ``pyarrow.Table`` or DataFrame) atomically; returns its path."""
        path = write_part(self.parts, table)
        if path is not None:
            self.claim(_hashes(table))
        return path


def _hashes(table) -> np.ndarray:
    return table.column("point_hash").to_numpy().astype(np.int64)


def write_part(parts: Path, table, replace: Path | None = None) -> Path | None:
    """Write ``table`` as a new part under ``parts`` (or over the part ``replace``): temp
    file, fsync, rename."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    if table.num_rows == 0:
        return None
    check(
        "point_hash" in table.column_names,
        "results",
        table.column_names,
        "every row needs a point_hash",
    )
    name = replace.name if replace is not None else f"part-{uuid.uuid4().hex}.parquet"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=parts)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="snappy")
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        publish(tmp, parts / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return parts / name


def _plain_strings(df: pd.DataFrame) -> pd.DataFrame:
    """Dictionary-encoded strings come back from Parquet as categoricals: plain objects."""
    for col in df.columns:
        if isinstance(df[col].dtype, pd.CategoricalDtype):
            df[col] = df[col].astype(object)
    return df


def failed_points(root: str | Path) -> pd.DataFrame:
    """The stored points whose status is ``failed``: point, workload, policy, hardware name
    and message, ordered by point (empty when none failed)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    cols = ["point", "workload", "policy", "hw_name", "message"]
    frames = []
    for part in sorted((Path(root) / PARTS).glob("part-*.parquet")):
        table = pq.read_table(part, columns=[*cols, "status"])
        table = table.filter(pc.equal(table.column("status").cast("string"), "failed"))
        if table.num_rows:
            frames.append(table.select(cols).to_pandas())
    if not frames:
        return pd.DataFrame(columns=cols)
    df = _plain_strings(pd.concat(frames, ignore_index=True))
    return df.sort_values("point", kind="stable").reset_index(drop=True)


def load_results(root: str | Path) -> pd.DataFrame:
    """Every stored point of a sweep folder as one DataFrame, ordered by point index."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = sorted((Path(root) / PARTS).glob("part-*.parquet"))
    check(Path(root).is_dir(), "results", str(root), "no such sweep folder")
    if not parts:
        return pd.DataFrame()
    tables = [pq.read_table(p) for p in parts]
    table = pa.concat_tables(tables, promote_options="permissive")
    df = _plain_strings(table.to_pandas())
    sort = ["point"] if "point" in df.columns else ["point_hash"]
    return df.sort_values(sort, kind="stable").reset_index(drop=True)
