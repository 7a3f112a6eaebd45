"""Model answers to the exercises of notebooks/01_ml_basics.py, used when
ML_REFRESHER_IMPL=solutions so that CI runs each exercise's check."""

import numpy as np


def lloyd_step(X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    # Assign each point to its nearest centroid, then move each centroid to its points' mean.
    d2 = ((X[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)  # (n, k)
    labels = d2.argmin(axis=1)  # ties go to the lower index
    new = centroids.copy()  # an empty cluster keeps its centroid
    for j in range(len(centroids)):
        if np.any(labels == j):
            new[j] = X[labels == j].mean(axis=0)
    return new


def softmax_rows(z: np.ndarray) -> np.ndarray:
    # Subtract each row's max first: exp of a large logit would overflow to inf.
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)
