"""Atomic file writes (a temp file in the target folder, then a rename) and the TOML writer.

A temp file from ``tempfile.mkstemp`` is private (0600) whatever the umask; before the rename
it gets the mode a plain ``open(path, "w")`` would have given (0666 less the umask), so
results are as readable as any other file the user creates.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def new_file_mode() -> int:
    """The permission bits ``open()`` gives a new file: ``0o666`` less the process umask."""
    try:
        # Linux reports the umask without changing it (no window where it is 0).
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def publish(tmp: str | Path, path: str | Path) -> None:
    """Give the finished temp file ``tmp`` the usual new-file mode and rename it to ``path``."""
    os.chmod(tmp, new_file_mode())
    os.replace(tmp, path)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def toml_value(value: Any, key: str = "value") -> str:
    """One TOML value: a bool, int, float (``inf`` and ``nan`` as TOML spells them), string,
    or a list of those."""
    from hwsim.errors import HwsimError

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v, key) for v in value) + "]"
    raise HwsimError(key, value, "cannot be written as TOML")


def toml_text(
    values: Mapping[str, Any],
    sources: Mapping[str, str] | None = None,
    comment: str | None = None,
    key_prefix: str = "",
) -> str:
    """The one TOML writer: ``# comment``, then ``key = value`` per entry (an entry that is
    ``None`` is left out, so it reads back as its default), then a ``[sources]`` table saying
    where each number comes from. ``key_prefix`` names a bad value's field
    (``"hardware."``)."""
    lines = [f"# {comment}"] if comment else []
    for key, value in values.items():
        if value is not None:
            lines.append(f"{key} = {toml_value(value, key_prefix + key)}")
    if sources:
        lines += ["", "[sources]"]
        lines += [f"{key} = {toml_value(str(src), key)}" for key, src in sources.items()]
    return "\n".join(lines) + "\n"


def hardware_toml(hardware) -> str:
    """A hardware config as TOML text that :func:`hwsim.load_hardware` reads back: every field
    of ``hardware.to_dict()``, the family first, and the config's sources."""
    return toml_text(hardware.to_dict(), hardware.sources, key_prefix="hardware.")
