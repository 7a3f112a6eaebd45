"""Reference: k-means with k-means++ seeding, Lloyd iterations, restarts and a PNG plot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ml_refresher.checks import as_matrix, positive


@dataclass
class KMeansResult:
    centroids: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int


def squared_distances(X, centroids):
    # |x|^2 - 2 x.c + |c|^2 is one matrix product instead of an (n, k, d) temporary; rounding can
    # make it slightly negative, hence the clip.
    cross = X @ centroids.T
    d2 = (X**2).sum(axis=1)[:, None] - 2.0 * cross + (centroids**2).sum(axis=1)[None, :]
    return np.maximum(d2, 0.0)


def kmeans_plus_plus(X, k, rng):
    centroids = [X[rng.integers(len(X))]]
    nearest = squared_distances(X, centroids[0][None, :])[:, 0]
    for _ in range(1, k):
        total = nearest.sum()
        # All points coincide with chosen centroids: any point is as good as another.
        p = nearest / total if total > 0 else None
        centroids.append(X[rng.choice(len(X), p=p)])
        nearest = np.minimum(nearest, squared_distances(X, centroids[-1][None, :])[:, 0])
    return np.array(centroids, dtype=np.float64)


def assign(X, centroids):
    return squared_distances(X, centroids).argmin(axis=1).astype(np.int64)


def update_centroids(X, labels, centroids):
    k = len(centroids)
    counts = np.bincount(labels, minlength=k)
    sums = np.zeros_like(centroids, dtype=np.float64)
    np.add.at(sums, labels, X)
    updated = centroids.astype(np.float64, copy=True)
    filled = counts > 0
    updated[filled] = sums[filled] / counts[filled, None]
    return updated


def inertia(X, centroids, labels):
    return float(((X - centroids[labels]) ** 2).sum())


def lloyd(X, centroids, max_iter=300, tol=1e-6):
    centroids = np.asarray(centroids, dtype=np.float64)
    labels = assign(X, centroids)
    history = [inertia(X, centroids, labels)]
    for _ in range(max_iter):
        updated = update_centroids(X, labels, centroids)
        shift = np.linalg.norm(updated - centroids, axis=1).max()
        centroids = updated
        labels = assign(X, centroids)
        history.append(inertia(X, centroids, labels))
        if shift <= tol:
            break
    return centroids, labels, history


def kmeans(X, k, n_init=10, max_iter=300, tol=1e-6, seed=0):
    X = as_matrix(X, "X")
    if not 1 <= k <= len(X):
        raise ValueError(f"k must be between 1 and the number of points ({len(X)}), got {k}")
    positive(n_init, "n_init")
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(n_init):
        centroids, labels, history = lloyd(X, kmeans_plus_plus(X, k, rng), max_iter, tol)
        if best is None or history[-1] < best.inertia:
            best = KMeansResult(centroids, labels, history[-1], len(history) - 1)
    return best


def plot_clusters(X, result, path, size_inches=6, dpi=100):
    fig = Figure(figsize=(size_inches, size_inches), dpi=dpi)
    ax = fig.add_subplot()
    ax.scatter(X[:, 0], X[:, 1], c=result.labels, cmap="tab10", s=8, alpha=0.7)
    ax.scatter(*result.centroids[:, :2].T, marker="x", s=200, linewidths=3, c="black")
    ax.set_title(f"k-means, k={len(result.centroids)}, inertia={result.inertia:.1f}")
    path = Path(path)
    fig.savefig(path)
    return path
