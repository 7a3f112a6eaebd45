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
    # Far from the origin |x|^2 ~ 3e4 and the expansion loses ~1e-11 to rounding: a point's
    # distance to itself comes out as +-1e-11, negative for 12 of these 50 points unless clipped.
    far = X + 100.0
    same = squared_distances(far, far)
    assert_true(
        (same >= 0).all(),
        "squared_distances must never be negative",
        [f"min value {same.min():.3g}"],
        hint="clip rounding error at 0",
    )


def test_assign_update_and_inertia_on_a_hand_case():
    X = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 2.0]])
    centroids = np.array([[1.0, 1.0], [9.0, 1.0]])
    given = centroids.copy()
    labels = assign(X, centroids)
    assert_equal(labels, [0, 0, 1, 1], "assign: nearest centroid")
    assert_close(
        update_centroids(X, labels, centroids),
        [[0.0, 1.0], [10.0, 1.0]],
        "update_centroids: mean of each cluster",
        atol=1e-12,
        hint="sum each cluster's points with np.add.at (sums[labels] += X adds one point per "
        "label), then divide by the counts",
    )
    assert_equal(
        centroids,
        given,
        "update_centroids must not modify the centroids it was given",
        hint="start from a copy: lloyd compares the old centroids with the new ones",
    )
    assert_close(
        inertia(X, centroids, labels), 4 * 2.0, "inertia: 4 points at distance^2 2", atol=1e-12
    )


def test_assign_breaks_ties_towards_the_lower_index():
    # Every distance here is a small integer, so the ties are exact in floating point.
    X = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    centroids = np.array([[5.0, 5.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 4.0], [0.0, 2.0]])
    # (0, 0) is 1 from centroids 1 and 2; (2, 0) is nearest to 1 alone; (0, 3) is 1 from 3 and 4.
    assert_equal(
        assign(X, centroids),
        [1, 1, 3],
        "assign with ties",
        hint="a tie goes to the lower centroid index, as argmin does",
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


def test_kmeans_plus_plus_draws_with_probability_proportional_to_d_squared():
    # Three points on a line. After a first seed at 0, D^2 = (0, 1, 9): the second seed is 3
    # with probability 0.9 (0.75 with D, 0.5 with uniform sampling); after 1, D^2 = (1, 0, 4)
    # gives 0 with 0.2; after 3, D^2 = (9, 4, 0) gives 0 with 9/13. The first seed is uniform.
    X = np.array([[0.0], [1.0], [3.0]])
    draws = np.array(
        [kmeans_plus_plus(X, 2, np.random.default_rng(seed))[:, 0] for seed in range(3000)]
    )
    first_share = [float(np.mean(draws[:, 0] == x)) for x in (0.0, 1.0, 3.0)]
    # 3,000 draws: the standard error of a share of 1/3 is 0.009, so 0.05 is over 5 of them.
    assert_close(
        first_share,
        [1 / 3] * 3,
        "share of runs whose first seed is 0, 1, 3",
        atol=0.05,
        hint="the first seed is a uniformly random point: X[rng.integers(len(X))]",
    )
    second_share, expected = [], [0.9, 0.2, 9 / 13]
    for first, target in [(0.0, 3.0), (1.0, 0.0), (3.0, 0.0)]:
        after = draws[draws[:, 0] == first, 1]
        second_share.append(float(np.mean(after == target)))
    # About 1,000 runs per first seed: standard errors 0.01-0.015; D instead of D^2 is off by
    # 0.09-0.15 and uniform sampling by more, so 0.06 catches both at this fixed seed range.
    assert_close(
        second_share,
        expected,
        "P(second seed = 3 | first 0), P(0 | first 1), P(0 | first 3)",
        atol=0.06,
        hint="p = D^2 / D^2.sum(), D the distance to the nearest seed chosen so far",
    )


def test_lloyd_makes_the_steps_it_is_asked_for():
    X = planted_blobs(std=2.0, seed=1)
    # All four starting points in one blob: Lloyd needs several updates to spread them out.
    start = X[np.argsort(np.linalg.norm(X - CENTRES[0], axis=1))[:4]]
    centroids, labels, history = lloyd(X, start, max_iter=1)
    hint = "one update = update_centroids from the current labels, then assign again"
    step = update_centroids(X, assign(X, start), start)
    # The same arithmetic as the test's own call of update_centroids: equal to rounding.
    assert_close(
        centroids, step, "lloyd(max_iter=1): centroids after one update", atol=1e-12, hint=hint
    )
    centroids, labels, history = lloyd(X, start, max_iter=2)
    assert_equal(
        len(history),
        3,
        "lloyd(max_iter=2) from a bad start: inertia after the first assignment and 2 updates",
        hint="history[i] is the inertia after the i-th assignment; max_iter counts updates",
    )
    assert_equal(
        labels,
        assign(X, centroids),
        "lloyd: the labels returned are the nearest centroid of the centroids returned",
        hint="assign again after the last update",
    )
    assert_close(
        history[-1],
        inertia(X, centroids, labels),
        "lloyd: the last inertia in history is that of the returned centroids and labels",
        atol=1e-9,
    )


def test_lloyd_stops_at_a_fixed_point():
    X = planted_blobs(std=2.0, seed=1)
    start = X[np.argsort(np.linalg.norm(X - CENTRES[0], axis=1))[:4]]
    centroids, labels, _ = lloyd(X, start, tol=1e-6)
    moved = np.linalg.norm(update_centroids(X, labels, centroids) - centroids, axis=1).max()
    # Converged means one more update moves no centroid by more than tol.
    assert_true(
        moved <= 1e-6,
        "lloyd: after it stops, one more update moves no centroid by more than tol",
        [f"one more update moves a centroid by {moved:.3g}"],
        hint="stop when the largest centroid shift is <= tol, not when it is above",
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


def test_kmeans_keeps_the_best_of_its_restarts():
    X, _ = make_blobs(n_samples=300, centers=8, cluster_std=2.0, random_state=1)
    result = kmeans(X, k=8, n_init=6, seed=0)
    # The docstring's recipe, replayed with your own kmeans_plus_plus and lloyd: one generator,
    # n_init seedings drawn from it one after the other.
    rng = np.random.default_rng(0)
    runs = [lloyd(X, kmeans_plus_plus(X, 8, rng)) for _ in range(6)]
    inertias = [history[-1] for _, _, history in runs]
    assert_true(
        len(set(np.round(inertias, 6))) > 1,
        "the test's data: the six restarts end in different local optima",
        [f"inertias {np.round(inertias, 2).tolist()}"],
        hint="kmeans_plus_plus must draw its seeds from the rng it is given",
    )
    best = int(np.argmin(inertias))
    hint = (
        "one np.random.default_rng(seed) for all restarts, each restart seeded from it in turn; "
        "keep the lowest inertia"
    )
    # The same computations in the same order: equal to rounding.
    assert_close(
        result.inertia,
        inertias[best],
        "kmeans inertia vs the best restart",
        atol=1e-9,
        hint=f"{hint}; the restarts scored {np.round(inertias, 2).tolist()}",
    )
    assert_close(
        result.centroids,
        runs[best][0],
        "kmeans centroids vs the best restart",
        atol=1e-9,
        hint=hint,
    )
    assert_equal(result.n_iter, len(runs[best][2]) - 1, "kmeans n_iter: updates of the best run")


@pytest.mark.parametrize("k", [4, 0])
def test_kmeans_rejects_k_outside_1_to_n(k):
    # The docstring's message: it names k, the number of points and the value given.
    expected = f"k must be between 1 and the number of points (3), got {k}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        kmeans(np.zeros((3, 2)), k=k)


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
