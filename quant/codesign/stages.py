"""What a codesign run keeps between attempts: each stage's result in ``<out>/stages/``.

The float baseline (``baseline.pt`` and ``baseline.json``), the sensitivity table
(``sensitivity.npy``), the searched policies (``search.json``) and each policy's fine-tuned
accuracy (``finetune-<n>.json``) are written atomically as soon as they exist. A run with the
same ``--out`` reads back what is there and does only the rest; ``config.json`` records the
run's config, and a different config is refused rather than mixed in; the run-time settings
(:class:`quant.runtime.Runtime`: device, threads, workers) are not part of it and may change
between attempts.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from hwsim.errors import HwsimError
from hwsim.io import atomic_write_bytes, atomic_write_text

# Fields derived from the others (the method's config, from ``method`` and ``method_params``).
DERIVED_FIELDS = ("method_config",)


def config_record(cfg: Any) -> dict[str, Any]:
    """The config as JSON-able fields, without :data:`DERIVED_FIELDS`, with the values the
    run uses where the config leaves a default to the run (:func:`resolved`)."""
    fields = resolved(asdict(cfg))
    return json.loads(
        json.dumps({k: v for k, v in fields.items() if k not in DERIVED_FIELDS}, default=str)
    )


def resolved(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` (a config as a dict) with each default the run fills in written out:
    ``baseline_epochs`` None means the cached baseline's default epochs, unless a
    ``checkpoint`` is the baseline (then no baseline is trained, and it stays None)."""
    from quant.baseline import DEFAULT_EPOCHS

    out = dict(fields)
    if out.get("baseline_epochs") is None and out.get("checkpoint") is None:
        out["baseline_epochs"] = DEFAULT_EPOCHS
    return out


def with_runtime(fields: dict[str, Any], runtime: Any) -> dict[str, Any]:
    """``fields`` (a config as a dict) with ``runtime``'s settings (a
    :class:`quant.runtime.Runtime`) by the user's names, where a run's report lists them:
    ``device`` after ``checkpoint``; ``workers``, ``threads`` and ``processes`` after
    ``image_size``."""
    settings = runtime.as_params()
    out: dict[str, Any] = {}
    for key, value in fields.items():
        out[key] = value
        if key == "checkpoint":
            out["device"] = settings.pop("device")
        elif key == "image_size":
            out.update({n: settings.pop(n) for n in ("workers", "threads", "processes")})
    out.update(settings)  # a config without those fields: the settings at the end
    return out


class Stages:
    """The stage files of one run folder (``out=None``: keep nothing, resume nothing)."""

    def __init__(self, out: str | Path | None, cfg: Any) -> None:
        self.folder = None if out is None else Path(out) / "stages"
        self.reused: list[str] = []  # the stage files read back, in order
        if self.folder is None:
            return
        record = config_record(cfg)
        path = self.folder / "config.json"
        if path.is_file():
            before = resolved(json.loads(path.read_text()))  # older runs recorded None
            differ = sorted(k for k in set(before) | set(record) if before.get(k) != record.get(k))
            if differ:
                raise HwsimError(
                    "out",
                    str(out),
                    f"holds a run of another config (differs in {differ}); use another --out, "
                    "or delete its stages/ folder to start over",
                )
        # Written with the first stage, so a run refused before any work leaves no folder.
        self._record = None if path.is_file() else record

    STAGE_NAMES: ClassVar[dict[str, str]] = {
        "baseline.pt": "float baseline",
        "sensitivity.npy": "sensitivity",
        "search.json": "search",
        "joint_search.json": "joint search",
    }

    def reused_names(self, finetunes: int = 0, policies: int = 0) -> list[str]:
        """The finished stages this run read back, in words (``finetunes`` of ``policies``
        fine-tunings were reused too)."""
        names = [self.STAGE_NAMES[n] for n in self.reused if n in self.STAGE_NAMES]
        if finetunes:
            names.append(f"{finetunes} of {policies} fine-tunings")
        return list(dict.fromkeys(names))

    def _hit(self, name: str, value: Any) -> Any:
        if value is not None:
            self.reused.append(name)
        return value

    def _path(self, name: str) -> Path | None:
        return None if self.folder is None else self.folder / name

    def _claim(self) -> None:
        if self._record is not None:
            atomic_write_text(
                self.folder / "config.json", json.dumps(self._record, indent=2) + "\n"
            )
            self._record = None

    def read_json(self, name: str) -> Any | None:
        path = self._path(name)
        if path is None or not path.is_file():
            return None
        return self._hit(name, json.loads(path.read_text()))

    def write_json(self, name: str, value: Any) -> None:
        path = self._path(name)
        if path is not None:
            self._claim()
            atomic_write_text(path, json.dumps(value, indent=2) + "\n")

    def read_array(self, name: str) -> np.ndarray | None:
        path = self._path(name)
        if path is None or not path.is_file():
            return None
        return self._hit(name, np.load(path, allow_pickle=False))

    def write_array(self, name: str, value: np.ndarray) -> None:
        path = self._path(name)
        if path is not None:
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(value), allow_pickle=False)
            self._claim()
            atomic_write_bytes(path, buffer.getvalue())

    def read_state(self, name: str) -> dict[str, torch.Tensor] | None:
        path = self._path(name)
        if path is None or not path.is_file():
            return None
        return self._hit(name, torch.load(path, map_location="cpu", weights_only=True))

    def write_state(self, name: str, model: torch.nn.Module) -> None:
        path = self._path(name)
        if path is not None:
            buffer = io.BytesIO()
            torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
            self._claim()
            atomic_write_bytes(path, buffer.getvalue())
