"""Reference: linear regression by least squares, gradient descent and mini-batch SGD."""

from __future__ import annotations

import numpy as np

from ml_refresher.checks import as_matrix, as_vector, positive


def predict(X, w, b):
    return as_matrix(X, "X") @ as_vector(w, "w") + b


def _residual(X, y, w, b):
    X = as_matrix(X, "X")
    return X, predict(X, w, b) - as_vector(y, "y", len(X))


def mse(X, y, w, b):
    _, r = _residual(X, y, w, b)
    return float(np.mean(r**2))


def mse_gradient(X, y, w, b):
    X, r = _residual(X, y, w, b)
    n = len(X)
    return 2.0 / n * (X.T @ r), float(2.0 / n * r.sum())


def fit_closed_form(X, y):
    X = as_matrix(X, "X")
    y = as_vector(y, "y", len(X))
    design = np.hstack([X, np.ones((len(X), 1))])
    # lstsq factorises the design matrix (SVD) instead of forming and inverting X^T X, whose
    # condition number is the square of X's: fewer digits lost, and rank deficiency handled.
    theta, *_ = np.linalg.lstsq(design, y, rcond=None)
    return theta[:-1], float(theta[-1])


def fit_gradient_descent(X, y, lr=0.1, n_steps=500):
    X = as_matrix(X, "X")
    y = as_vector(y, "y", len(X))
    positive(lr, "lr")
    w, b = np.zeros(X.shape[1]), 0.0
    losses = []
    for _ in range(n_steps):
        losses.append(mse(X, y, w, b))
        grad_w, grad_b = mse_gradient(X, y, w, b)
        w, b = w - lr * grad_w, b - lr * grad_b
    return w, b, losses


def fit_sgd(X, y, lr=0.05, epochs=50, batch_size=32, seed=0):
    X = as_matrix(X, "X")
    y = as_vector(y, "y", len(X))
    positive(lr, "lr")
    positive(batch_size, "batch_size")
    rng = np.random.default_rng(seed)
    w, b = np.zeros(X.shape[1]), 0.0
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            batch = order[start : start + batch_size]
            grad_w, grad_b = mse_gradient(X[batch], y[batch], w, b)
            w, b = w - lr * grad_w, b - lr * grad_b
        losses.append(mse(X, y, w, b))
    return w, b, losses


def r2_score(y_true, y_pred):
    y_true = as_vector(y_true, "y_true")
    y_pred = as_vector(y_pred, "y_pred", len(y_true))
    total = np.sum((y_true - y_true.mean()) ** 2)
    if total == 0:
        raise ValueError("y_true is constant, so R^2 is undefined")
    return float(1.0 - np.sum((y_true - y_pred) ** 2) / total)
