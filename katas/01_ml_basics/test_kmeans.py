"""Tests for kmeans, from distances to a clustering and its picture.

Lesson: katas/01_ml_basics/README.md. Run: pytest katas/01_ml_basics/test_kmeans.py
"""

import re

import numpy as np
import pytest
from kmeans import (
    assign,
    inertia,
    kmeans,
    kmeans_plus_plus,
    lloyd,
    plot_clusters,
    squared_distances,
    update_centroids,
)
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from ml_refresher.testing import assert_close, assert_equal, assert_png, assert_shape, assert_true

CENTRES = np.array([[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0], [0.0, -6.0]])


def planted_blobs(n=800, std=0.5, seed=0):
    X, _ = make_blobs(n_samples=n, centers=CENTRES, cluster_std=std, random_state=seed)
    return X


def test_squared_distances_agree_with_scipy():
    rng = np.random.default_rng(0)
    X, C = rng.standard_normal((50, 3)), rng.standard_normal((4, 3))
    # float64 expansion |x|^2 - 2x.c + |c|^2 loses a few ulps of |x|^2 ~ 10: 1e-12 is ample.
    assert_close(
        squared_distances(X, C),
        cdist(X, C, "sqeuclidean"),
        "squared_distances vs scipy cdist",
        atol=1e-12,
    )
    same = squared_distances(X, X[:3])
    assert_true(
        (same >= 0).all(),
        "squared_distances must never be negative",
        [f"min value {same.min():.3g}"],
        hint="clip rounding error at 0",
    )


def test_assign_update_and_inertia_on_a_hand_case():
    X = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 2.0]])
    centroids = np.array([[1.0, 1.0], [9.0, 1.0]])
    labels = assign(X, centroids)
    assert_equal(labels, [0, 0, 1, 1], "assign: nearest centroid")
    assert_close(
        update_centroids(X, labels, centroids),
        [[0.0, 1.0], [10.0, 1.0]],
        "update_centroids: mean of each cluster",
        atol=1e-12,
    )
    assert_close(
        inertia(X, centroids, labels), 4 * 2.0, "inertia: 4 points at distance^2 2", atol=1e-12
    )


def test_an_empty_cluster_keeps_its_centroid():
    X = np.array([[0.0, 0.0], [1.0, 0.0]])
    centroids = np.array([[0.5, 0.0], [100.0, 100.0]])
    updated = update_centroids(X, np.array([0, 0]), centroids)
    assert_close(
        updated,
        [[0.5, 0.0], [100.0, 100.0]],
        "update_centroids with an empty cluster",
        atol=1e-12,
        hint="dividing by a zero count gives NaN: skip empty clusters",
    )


def test_kmeans_plus_plus_spreads_the_seeds_over_the_blobs():
    X = planted_blobs(std=0.1)
    for seed in range(20):
        seeds = kmeans_plus_plus(X, 4, np.random.default_rng(seed))
        assert_shape(seeds, (4, 2), "kmeans_plus_plus(X, 4): one seed a row")
        on_data = cdist(seeds, X).min(axis=1)
        assert_true(
            np.allclose(on_data, 0),
            "kmeans_plus_plus: every seed is a data point",
            [f"distances to the nearest point: {on_data}"],
        )
        # Blobs 12 apart with std 0.1: D^2 sampling lands in an empty blob with probability
        # > 0.999 each draw, whereas uniform sampling would hit all four only 9% of the time.
        hit = np.unique(assign(seeds, CENTRES))
        assert_true(
            hit.size == 4,
            f"kmeans_plus_plus (seed {seed}): one seed per blob",
            [f"blobs hit: {hit.tolist()} of [0, 1, 2, 3]"],
            hint="draw with probability proportional to the squared distance "
            "to the nearest centroid so far",
        )


def test_lloyd_inertia_never_increases():
    X = planted_blobs(std=2.0, seed=1)
    start = X[np.random.default_rng(0).choice(len(X), 4, replace=False)]
    _, labels, history = lloyd(X, start)
    rises = np.flatnonzero(np.diff(history) > 1e-9)
    assert_true(
        rises.size == 0,
        "lloyd: inertia went up",
        [f"history: {np.round(history[:10], 3).tolist()} ..."],
    )
    assert_shape(labels, (len(X),), "lloyd: one label per point")


def test_kmeans_recovers_planted_centres():
    result = kmeans(planted_blobs(), k=4, seed=0)
    # Match each planted centre to its nearest found centroid; 200 points of std 0.5 per blob
    # put the mean within ~0.04 of the centre, so 0.1 is a safe bound.
    found = result.centroids[cdist(CENTRES, result.centroids).argmin(axis=1)]
    assert_close(found, CENTRES, "kmeans: centroids vs planted centres", atol=0.1)


def test_kmeans_inertia_within_one_percent_of_sklearn():
    X, _ = make_blobs(n_samples=600, centers=6, cluster_std=1.5, random_state=3)
    reference = KMeans(n_clusters=6, n_init=10, random_state=0).fit(X).inertia_
    result = kmeans(X, k=6, n_init=10, seed=0)
    recomputed = inertia(X, result.centroids, result.labels)
    assert_close(
        result.inertia, recomputed, "KMeansResult.inertia vs its centroids and labels", atol=1e-6
    )
    # Both run 10 k-means++ restarts; both reach the same local optimum or one within 1%.
    assert_true(
        result.inertia <= 1.01 * reference,
        "kmeans: inertia within 1% of sklearn",
        [f"sklearn: {reference:.2f}, yours: {result.inertia:.2f}"],
    )


def test_kmeans_rejects_more_clusters_than_points():
    with pytest.raises(ValueError) as error:
        kmeans(np.zeros((3, 2)), k=4)
    # The message must be about k (not, say, X): it names k and the value given.
    message = str(error.value)
    assert_true(
        re.search(r"\bk\b", message) is not None and "4" in message,
        "kmeans(X of 3 points, k=4): the ValueError names k and its value",
        [f"got: {message!r}"],
        hint="check 1 <= k <= len(X) before anything else and say so, e.g. "
        "'k must be between 1 and the number of points (3), got 4'",
    )


def test_plot_clusters_writes_a_png_of_the_stated_size(tmp_path):
    X = planted_blobs(n=200)
    result = kmeans(X, k=4, n_init=2, seed=0)
    path = plot_clusters(X, result, tmp_path / "clusters.png", size_inches=4, dpi=50)
    assert_png(
        path,
        "plot_clusters: 4 in x 4 in at 50 dpi",
        size=(200, 200),
        hint="save with the figure's own dpi and no bbox_inches='tight'",
    )
