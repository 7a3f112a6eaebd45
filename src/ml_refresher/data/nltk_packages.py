"""Finding NLTK packages: $NLTK_DATA, NLTK's usual places, and the data directory's nltk_data/."""

from __future__ import annotations

import nltk

from ml_refresher.data.settings import DataMissingError, nltk_dir

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
    return None


def nltk_ready(*packages: str) -> None:
    """Make sure NLTK finds every named package, or raise DataMissingError naming the missing."""
    add_data_dir_to_nltk_path()
    missing = [package for package in packages if find_package(package) is None]
    if missing:
        raise DataMissingError(f"NLTK data {', '.join(missing)}", nltk.data.path)
