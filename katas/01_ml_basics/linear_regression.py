"""Kata 01_ml_basics/linear_regression: fit y ~ X w + b three ways.

Lesson: katas/01_ml_basics/README.md, section "Linear regression".
Run the tests:  pytest katas/01_ml_basics/test_linear_regression.py
Shapes: X (n, d) samples in rows, y (n,), w (d,), b a float.
"""

from __future__ import annotations

import numpy as np

from ml_refresher.checks import as_matrix, as_vector, positive  # noqa: F401 (yours to use)


def predict(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """y_hat = X w + b.  X: (n, d), w: (d,) -> (n,)."""
    raise NotImplementedError("katas/01_ml_basics/linear_regression.py: write predict()")


def mse(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    """Mean squared error: mean((X w + b - y)^2), a float. y must be (n,): validate it with
    as_vector(y, "y", len(X)), which raises ValueError("y must be 1-D, got shape (n, 1)") for a
    column; unchecked, (n,) - (n, 1) broadcasts to an (n, n) residual."""
    raise NotImplementedError("katas/01_ml_basics/linear_regression.py: write mse()")


def mse_gradient(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> tuple[np.ndarray, float]:
    """Gradient of mse() with respect to (w, b): ((2/n) X^T r, (2/n) sum(r)) with r = X w + b - y.
    Returns (grad_w: (d,), grad_b: float)."""
    raise NotImplementedError("katas/01_ml_basics/linear_regression.py: write mse_gradient()")


def fit_closed_form(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Least squares via the normal equations: append a ones column to X, then solve
    (X^T X) theta = X^T y. Prefer np.linalg.lstsq or solve over inverting X^T X (see lesson).
    Validate inputs with as_matrix(X, "X") and as_vector(y, "y", len(X)).
    Returns (w: (d,), b: float)."""
    raise NotImplementedError("katas/01_ml_basics/linear_regression.py: write fit_closed_form()")


def fit_gradient_descent(
    X: np.ndarray, y: np.ndarray, lr: float = 0.1, n_steps: int = 500
) -> tuple[np.ndarray, float, list[float]]:
    """Batch gradient descent on mse() from w = 0, b = 0; n_steps updates of size lr.
    Returns (w, b, losses) where losses[i] is the MSE before step i (len(losses) == n_steps)."""
    raise NotImplementedError(
        "katas/01_ml_basics/linear_regression.py: write fit_gradient_descent()"
    )


def fit_sgd(
    X: np.ndarray,
    y: np.ndarray,
    lr: float = 0.05,
    epochs: int = 50,
    batch_size: int = 32,
    seed: int = 0,
) -> tuple[np.ndarray, float, list[float]]:
    """Mini-batch SGD from w = 0, b = 0: each epoch shuffles the rows with
    np.random.default_rng(seed) (one generator for the whole run), then steps on consecutive
    batches of batch_size rows (the last one may be smaller).
    Returns (w, b, losses) where losses[e] is the full-data MSE after epoch e."""
    raise NotImplementedError("katas/01_ml_basics/linear_regression.py: write fit_sgd()")


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination: 1 - sum((y - y_hat)^2) / sum((y - mean(y))^2)."""
    raise NotImplementedError("katas/01_ml_basics/linear_regression.py: write r2_score()")
