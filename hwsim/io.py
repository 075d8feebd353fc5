"""Atomic file writes: a temp file in the target folder, then a rename.

A temp file from ``tempfile.mkstemp`` is private (0600) whatever the umask; before the rename
it gets the mode a plain ``open(path, "w")`` would have given (0666 less the umask), so
results are as readable as any other file the user creates.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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


def hardware_toml(hardware) -> str:
    """A hardware config as TOML text that :func:`hwsim.load_hardware` reads back (every field
    of ``hardware.to_dict()``, the family first; a field that is ``None`` is left out, so it
    reads back as its default)."""
    import json

    from hwsim.errors import HwsimError

    lines = []
    for key, value in hardware.to_dict().items():
        if value is None:
            continue
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int | float | str | list | tuple):
            lines.append(
                f"{key} = {json.dumps(list(value) if isinstance(value, tuple) else value)}"
            )
        else:
            raise HwsimError(f"hardware.{key}", value, "cannot be written as TOML")
    return "\n".join(lines) + "\n"
