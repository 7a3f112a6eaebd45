"""Writing the files under .kata/ so that two `kata` commands at once (a board beside a watch,
two resets) never leave one half-written: a reader sees the old content or the new, never a mix.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, text: str | bytes) -> Path:
    """Write `text` (str as UTF-8, or bytes) to a temporary file in `path`'s directory, flush it
    to disk, then rename it over `path`. The rename is atomic on one file system (hence the same
    directory), so a concurrent reader or an interrupted command never sees a partial file; of two
    concurrent writers, the last rename wins whole."""
    path = Path(path)
    if not isinstance(text, (str, bytes)):
        raise TypeError(f"text must be str or bytes, got {type(text).__name__}")
    data = text.encode("utf-8") if isinstance(text, str) else text
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def create_exclusively(directory: Path, name: str, data: bytes) -> Path:
    """A new file `directory/name` (or `name-2`, `name-3`, ... if taken) holding `data`, never
    overwriting one that exists, even when another process picks the same name at the same
    moment (O_EXCL). Returns the path written. Used for backups, which must never be lost."""
    for n in range(1, 10_000):
        path = Path(directory) / (name if n == 1 else f"{name}-{n}")
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        return path
    raise FileExistsError(f"{directory}: no free name for {name} after 9,999 tries")
