"""Finding NLTK packages: $NLTK_DATA, NLTK's usual places, and the data directory's nltk_data/."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import nltk

from ml_refresher.data.settings import DataCorruptError, DataMissingError, nltk_dir

# The NLTK data folders a package can live in; a package name is unique across them.
CATEGORIES = ("corpora", "tokenizers", "taggers", "models", "chunkers", "grammars", "misc")


def add_data_dir_to_nltk_path() -> None:
    path = str(nltk_dir())
    if path not in nltk.data.path:
        nltk.data.path.append(path)


def find_package(package: str) -> str | None:
    """Where NLTK finds `package` ("stopwords", "punkt_tab", ...), as a path, or None."""
    # Packages come as zips (which NLTK reads directly) or unpacked folders (punkt_tab).
    for category in CATEGORIES:
        for resource in (f"{category}/{package}.zip", f"{category}/{package}"):
            try:
                return str(nltk.data.find(resource))
            except LookupError:
                continue
            # NLTK opens a zip to find a resource in it: a damaged one fails here already.
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                raise DataCorruptError(
                    _on_path(resource), f"not a complete zip: {error}"
                ) from error
    return None


def _on_path(resource: str) -> Path:
    """The first file `resource` names on NLTK's search path (the one NLTK opened)."""
    for folder in nltk.data.path:
        if (Path(folder) / resource).is_file():
            return Path(folder) / resource
    return Path(resource)


# Zips already checked in this process, by (path, size, mtime): a corpus is read many times.
_intact_zips: set[tuple[str, int, int]] = set()


def zip_problem(path: str | Path) -> str | None:
    """Why an NLTK package zip cannot be read (truncated, not a zip, a member failing its
    CRC-32), or None when it is intact. Unpacked packages (folders) are not checked."""
    path = Path(path)
    if path.suffix != ".zip" or not path.is_file():
        return None
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _intact_zips:
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # reads every member: its CRC-32 catches damage
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError) as error:
        return f"not a complete zip: {error}"
    if bad is not None:
        return f"its member {bad} fails its CRC-32"
    _intact_zips.add(key)
    return None


def nltk_ready(*packages: str) -> None:
    """Make sure NLTK finds every named package, intact, or raise DataMissingError naming the
    missing, or DataCorruptError naming a damaged zip (`kata setup` replaces it)."""
    add_data_dir_to_nltk_path()
    found = {package: find_package(package) for package in packages}
    missing = [package for package, path in found.items() if path is None]
    if missing:
        raise DataMissingError(f"NLTK data {', '.join(missing)}", nltk.data.path)
    for path in found.values():
        problem = zip_problem(path)
        if problem:
            raise DataCorruptError(Path(path), problem)
