"""Where the data lives, and the errors a loader raises when it is not there or not intact.

The data directory is $ML_REFRESHER_DATA, else a per-user cache directory. Its layout is the one
`kata setup` writes (and the prepared copies use): fashion-mnist/*.gz, imdb/reviews.jsonl.gz,
mnist/*.gz, cifar-10-batches-py/..., and nltk_data/ for NLTK packages.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "ML_REFRESHER_DATA"
SETUP_COMMAND = "kata setup"


def data_dir() -> Path:
    """$ML_REFRESHER_DATA, else ~/.cache/ml-refresher (honouring $XDG_CACHE_HOME)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "ml-refresher"


def nltk_dir() -> Path:
    """The data directory's own NLTK folder, searched in addition to $NLTK_DATA."""
    return data_dir() / "nltk_data"


class DataMissingError(FileNotFoundError):
    """A dataset is not where the loaders look; the message says where and how to fetch it."""

    def __init__(self, dataset: str, looked_in: list[str | Path], offline: str = ""):
        places = "\n".join(f"    {place}" for place in looked_in)
        super().__init__(
            f"{dataset} not found. Looked in:\n{places}\n"
            f"  Fetch it with `{SETUP_COMMAND}` (online), or `{SETUP_COMMAND} --from DIR` from a "
            f"prepared copy; ${DATA_ENV} chooses the data directory."
            + (f"\n  Offline, use {offline} instead." if offline else "")
        )
        self.dataset = dataset


class DataCorruptError(OSError):
    """A data file exists but is truncated or malformed: used silently, it would train on junk."""

    def __init__(self, path: Path, problem: str):
        super().__init__(
            f"{path} is damaged ({problem}). Run `{SETUP_COMMAND}`: it checks every file and "
            "replaces damaged ones."
        )
        self.path = path
