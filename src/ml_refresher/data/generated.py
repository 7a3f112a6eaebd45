"""Tasks generated on the spot: no files, any size, the same pairs for the same seed."""

from __future__ import annotations

import numpy as np
from num2words import num2words


def translation_pairs(n: int, seed: int = 0, max_number: int = 9_999) -> list[tuple[str, str]]:
    """n (English, French) pairs of number words, e.g. ("seventy-one", "soixante et onze"), for
    numbers drawn uniformly from 0..max_number. A translation task with real structure (French
    counts in twenties from 60 to 99, puts "et" in 21, 31, ... and pluralises "cents") that
    needs no corpus."""
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    numbers = np.random.default_rng(seed).integers(0, max_number + 1, size=n)
    return [(num2words(int(k), lang="en"), num2words(int(k), lang="fr")) for k in numbers]
