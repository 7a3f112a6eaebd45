"""Kata 01_ml_basics/kmeans: k-means++ seeding, Lloyd iterations, restarts, and a plot.

Lesson: katas/01_ml_basics/README.md, section "k-means".
Run the tests:  pytest katas/01_ml_basics/test_kmeans.py
Shapes: points X (n, d), centroids (k, d), labels (n,) int64 in [0, k).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml_refresher.checks import as_matrix, positive  # noqa: F401 (yours to use)


@dataclass
class KMeansResult:
    centroids: np.ndarray  # (k, d)
    labels: np.ndarray  # (n,) int64
    inertia: float  # sum of squared distances of each point to its centroid
    n_iter: int  # Lloyd iterations of the best run


def squared_distances(X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """|x_i - c_j|^2 for every point and centroid, shape (n, k), never negative."""
    raise NotImplementedError("katas/01_ml_basics/kmeans.py: write squared_distances()")


def kmeans_plus_plus(X: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: the first centroid is a uniformly random point; each next one is a point
    drawn with probability proportional to its squared distance to the nearest chosen centroid.
    Returns (k, d) centroids, each a copy of a row of X."""
    raise NotImplementedError("katas/01_ml_basics/kmeans.py: write kmeans_plus_plus()")


def assign(X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid for each point, (n,) int64; a tie goes to the lower index
    (as np.argmin does)."""
    raise NotImplementedError("katas/01_ml_basics/kmeans.py: write assign()")


def update_centroids(X: np.ndarray, labels: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Each centroid becomes the mean of its points; a centroid with no points stays where it was.
    Returns a new (k, d) array (the input is not modified)."""
    raise NotImplementedError("katas/01_ml_basics/kmeans.py: write update_centroids()")


def inertia(X: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> float:
    """Sum over points of the squared distance to the centroid of its label."""
    raise NotImplementedError("katas/01_ml_basics/kmeans.py: write inertia()")


def lloyd(
    X: np.ndarray, centroids: np.ndarray, max_iter: int = 300, tol: float = 1e-6
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Alternate assign / update_centroids from the given centroids until no centroid moves more
    than tol (Euclidean) or max_iter updates were made. Returns (centroids, labels, history):
    history[i] is the inertia after the i-th assignment; the last labels fit the last centroids."""
    raise NotImplementedError("katas/01_ml_basics/kmeans.py: write lloyd()")


def kmeans(
    X: np.ndarray, k: int, n_init: int = 10, max_iter: int = 300, tol: float = 1e-6, seed: int = 0
) -> KMeansResult:
    """n_init runs of kmeans_plus_plus + lloyd with one np.random.default_rng(seed), each run
    seeded from it in turn; keep the run with the lowest inertia. Validate X with as_matrix(X, "X")
    and k first: unless 1 <= k <= n, raise
    ValueError(f"k must be between 1 and the number of points ({n}), got {k}")."""
    raise NotImplementedError("katas/01_ml_basics/kmeans.py: write kmeans()")


def plot_clusters(
    X: np.ndarray, result: KMeansResult, path: str | Path, size_inches: float = 6, dpi: int = 100
) -> Path:
    """Scatter the first two coordinates of X coloured by cluster, centroids as large crosses, and
    save a PNG of size_inches x size_inches at dpi (so 600 x 600 pixels by default). Use the Agg
    backend (no screen needed): `fig = matplotlib.figure.Figure(...)`, then `fig.savefig(path)`.
    Returns the path."""
    raise NotImplementedError("katas/01_ml_basics/kmeans.py: write plot_clusters()")
