"""`kata setup`: make the data the ready katas read available."""

from __future__ import annotations


def run(source: str | None = None) -> int:
    # 01_ml_basics generates its data or uses scikit-learn's bundled sets; nothing to fetch yet.
    print("data: the ready katas need no downloaded data")
    return 0
