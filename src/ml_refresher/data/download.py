"""Downloads for online learners: a progress bar, the published checksum verified on every
download, and atomic writes, so that the data directory never holds a partial or damaged file."""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from urllib.request import Request, urlopen

from tqdm import tqdm

CHUNK_BYTES = 1 << 20


class DownloadError(OSError):
    """A download failed or did not match its published checksum; nothing was written."""


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False)  # md5: integrity, not security
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def matches(path: Path, digests: tuple[str, ...]) -> bool:
    """True if the file's digest equals any of `digests` ("sha256:<hex>" or "md5:<hex>")."""
    for expected in digests:
        algorithm, value = expected.split(":")
        if file_digest(path, algorithm) == value:
            return True
    return False


def gzip_intact(path: Path) -> bool:
    """True if the file is one complete gzip stream: its CRC-32 catches truncation and damage."""
    try:
        with gzip.open(path, "rb") as file:
            while file.read(CHUNK_BYTES):
                pass
    except (OSError, EOFError, zlib.error):
        return False
    return True


def zip_intact(path: Path) -> bool:
    """True if the file is a complete zip archive whose members all match their CRC-32."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error):
        return False


def intact(path: Path, kind: str | None = None) -> bool:
    """The check for a file without a published checksum: the CRC-32 its container carries.
    `kind` is ".gz" or ".zip" (default: the file's suffix)."""
    checks = {".gz": gzip_intact, ".zip": zip_intact}
    kind = kind or path.suffix
    if kind not in checks:
        raise ValueError(f"{path}: no published checksum and no CRC-32 to check it by")
    return checks[kind](path)


def write_atomically(dest: Path, write, check: Callable[[Path], bool] | None = None) -> Path:
    """Call write(binary_file) on a temporary file next to `dest`, then rename it into place, so
    that an interrupted run leaves the old file or none, never half a file. A `check` that
    fails on the written file discards it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
        if check is not None and not check(Path(temporary)):
            raise DownloadError(f"{dest.name} arrived incomplete or damaged; it was discarded")
        os.replace(temporary, dest)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return dest


def fetch(url: str, dest: Path, digests: tuple[str, ...], headers: dict | None = None) -> Path:
    """`dest`, downloaded from `url` unless a copy matching one of `digests` is already there.
    A copy that does not match (partial, damaged) is replaced, never used. With no `digests`
    (the source publishes none) the CRC-32 of the gzip or zip container is the check."""
    check = None if digests else (lambda path: intact(path, dest.suffix))
    if dest.is_file():
        if matches(dest, digests) if digests else intact(dest):
            return dest
        print(f"{dest} does not match its checksum: downloading it again")

    def download(file) -> None:
        # Digest while streaming: a second pass over a 170 MB archive would double the wait.
        algorithms = {expected.split(":")[0] for expected in digests}
        hashers = {name: hashlib.new(name, usedforsecurity=False) for name in algorithms}
        request = Request(url, headers=headers) if headers else url
        with urlopen(request, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as progress:
                while chunk := response.read(CHUNK_BYTES):
                    file.write(chunk)
                    for hasher in hashers.values():
                        hasher.update(chunk)
                    progress.update(len(chunk))
        got = {f"{name}:{hasher.hexdigest()}" for name, hasher in hashers.items()}
        if digests and got.isdisjoint(digests):
            raise DownloadError(
                f"{url} does not match its published checksum ({', '.join(digests)}); "
                f"it was discarded and {dest} left as it was. Try again later, or copy the data "
                "from a prepared directory with `kata setup --from DIR`."
            )

    return write_atomically(dest, download, check)
