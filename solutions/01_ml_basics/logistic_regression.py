"""Reference: logistic regression with a stable sigmoid and a cross-entropy taken from logits."""

from __future__ import annotations

import numpy as np

from ml_refresher.checks import as_matrix, as_vector, positive


def sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    # exp of a non-positive number never overflows: use exp(-z) where z >= 0 and exp(z) elsewhere.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(z):
    # log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)): the exp argument is never positive.
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def binary_cross_entropy(z, y):
    z = np.asarray(z, dtype=np.float64)
    return float(np.mean(_softplus(z) - np.asarray(y, dtype=np.float64) * z))


def _checked_labels(X, y):
    X = as_matrix(X, "X")
    y = as_vector(y, "y", len(X))
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"y must contain only 0 and 1, got values {np.unique(y)[:5]}")
    return X, y


def loss_and_gradient(X, y, w, b, l2=0.0):
    X, y = _checked_labels(X, y)
    w = as_vector(w, "w", X.shape[1])
    z = X @ w + b
    error = sigmoid(z) - y
    loss = binary_cross_entropy(z, y) + 0.5 * l2 * float(w @ w)
    return loss, X.T @ error / len(X) + l2 * w, float(error.mean())


def fit(X, y, lr=0.5, n_steps=500, l2=0.0):
    X, y = _checked_labels(X, y)
    positive(lr, "lr")
    w, b = np.zeros(X.shape[1]), 0.0
    losses = []
    for _ in range(n_steps):
        loss, grad_w, grad_b = loss_and_gradient(X, y, w, b, l2)
        losses.append(loss)
        w, b = w - lr * grad_w, b - lr * grad_b
    return w, b, losses


def predict_proba(X, w, b):
    return sigmoid(as_matrix(X, "X") @ as_vector(w, "w") + b)


def predict(X, w, b, threshold=0.5):
    return (predict_proba(X, w, b) >= threshold).astype(np.int64)
