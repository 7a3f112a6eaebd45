"""Kata 01_ml_basics/logistic_regression: binary classification with a loss that never overflows.

Lesson: katas/01_ml_basics/README.md, section "Logistic regression".
Run the tests:  pytest katas/01_ml_basics/test_logistic_regression.py
Shapes: X (n, d), labels y (n,) in {0, 1}, weights w (d,), bias b a float, logits z = X w + b (n,).
"""

from __future__ import annotations

import numpy as np

from ml_refresher.checks import as_matrix, as_vector, positive  # noqa: F401 (yours to use)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) element-wise, with no overflow for any finite z (try z = -1000)."""
    raise NotImplementedError("katas/01_ml_basics/logistic_regression.py: write sigmoid()")


def binary_cross_entropy(z: np.ndarray, y: np.ndarray) -> float:
    """Mean BCE computed from logits z (not probabilities): mean(log(1 + exp(z)) - y z).
    Finite for every finite z, including |z| = 1000."""
    raise NotImplementedError(
        "katas/01_ml_basics/logistic_regression.py: write binary_cross_entropy()"
    )


def loss_and_gradient(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, l2: float = 0.0
) -> tuple[float, np.ndarray, float]:
    """Loss = binary_cross_entropy(X w + b, y) + (l2 / 2) |w|^2 (the bias is not penalised).
    Returns (loss, grad_w: (d,), grad_b: float); grad_w = X^T (sigmoid(z) - y) / n + l2 w."""
    raise NotImplementedError(
        "katas/01_ml_basics/logistic_regression.py: write loss_and_gradient()"
    )


def fit(
    X: np.ndarray, y: np.ndarray, lr: float = 0.5, n_steps: int = 500, l2: float = 0.0
) -> tuple[np.ndarray, float, list[float]]:
    """Batch gradient descent from w = 0, b = 0 on loss_and_gradient (with l2). Validate y with
    as_vector(y, "y", len(X)), then its values: anything but 0 and 1 (e.g. -1/+1 labels) is
    ValueError(f"y must contain only 0 and 1, got values {np.unique(y)[:5]}").
    Returns (w, b, losses) with losses[i] the loss before step i (losses[0] = ln 2)."""
    raise NotImplementedError("katas/01_ml_basics/logistic_regression.py: write fit()")


def predict_proba(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """P(y = 1 | x) for each row: sigmoid(X w + b), shape (n,)."""
    raise NotImplementedError("katas/01_ml_basics/logistic_regression.py: write predict_proba()")


def predict(X: np.ndarray, w: np.ndarray, b: float, threshold: float = 0.5) -> np.ndarray:
    """Class labels: 1 where predict_proba >= threshold, else 0; int64, shape (n,)."""
    raise NotImplementedError("katas/01_ml_basics/logistic_regression.py: write predict()")
