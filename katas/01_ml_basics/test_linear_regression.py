"""Tests for linear_regression, from the smallest piece to the whole model.

Lesson: katas/01_ml_basics/README.md. Run: pytest katas/01_ml_basics/test_linear_regression.py
"""

import re

import numpy as np
import pytest
from linear_regression import (
    fit_closed_form,
    fit_gradient_descent,
    fit_sgd,
    mse,
    mse_gradient,
    predict,
    r2_score,
)
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score as sklearn_r2

from ml_refresher.testing import assert_close, assert_equal, assert_true, numerical_gradient


def make_regression(n=200, d=3, noise=0.1, seed=0):
    """Standardised features, known weights, Gaussian noise: a well-conditioned problem."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.uniform(-2, 2, size=d)
    b = 0.7
    y = X @ w + b + noise * rng.standard_normal(n)
    return X, y, w, b


def test_predict_on_a_hand_case():
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    got = predict(X, np.array([0.5, -1.0]), 2.0)
    assert_close(got, [0.5 - 2 + 2, 1.5 - 4 + 2], "predict: X w + b", atol=1e-12)


def test_mse_on_a_hand_case():
    X = np.array([[1.0], [2.0], [3.0]])
    # predictions 1, 2, 3 against targets 2, 2, 2: squared errors 1, 0, 1
    got = mse(X, np.array([2.0, 2.0, 2.0]), np.array([1.0]), 0.0)
    assert_close(got, 2.0 / 3.0, "mse: mean of squared residuals", atol=1e-12)


def test_mse_gradient_matches_finite_differences():
    X, y, _, _ = make_regression(n=30, d=4)
    w, b = np.array([0.3, -0.2, 0.1, 0.5]), 0.25
    grad_w, grad_b = mse_gradient(X, y, w, b)
    theta = np.append(w, b)
    # MSE is quadratic, so central differences are exact up to rounding: ~1e-16 / 1e-6 = 1e-10.
    numeric = numerical_gradient(lambda t: mse(X, y, t[:-1], t[-1]), theta)
    assert_close(grad_w, numeric[:-1], "mse_gradient: grad_w vs finite differences", atol=1e-7)
    assert_close(grad_b, numeric[-1], "mse_gradient: grad_b vs finite differences", atol=1e-7)


def test_r2_score_agrees_with_sklearn():
    rng = np.random.default_rng(1)
    y_true = rng.standard_normal(50)
    y_pred = y_true + 0.3 * rng.standard_normal(50)
    assert_close(r2_score(y_true, y_pred), sklearn_r2(y_true, y_pred), "r2_score", atol=1e-12)
    assert_close(r2_score(y_true, y_true), 1.0, "r2_score of a perfect prediction", atol=1e-12)


def test_closed_form_recovers_known_weights_without_noise():
    X, y, w, b = make_regression(noise=0.0)
    got_w, got_b = fit_closed_form(X, y)
    # Noise-free and well conditioned: only rounding error remains (~1e-15 relative).
    assert_close(got_w, w, "fit_closed_form weights on noise-free data", atol=1e-9)
    assert_close(got_b, b, "fit_closed_form bias on noise-free data", atol=1e-9)


def test_closed_form_agrees_with_sklearn():
    X, y, _, _ = make_regression(n=100, d=5, noise=0.5, seed=3)
    reference = LinearRegression().fit(X, y)
    got_w, got_b = fit_closed_form(X, y)
    # Both solve the same least-squares problem exactly; 1e-6 leaves room for a normal-equations
    # solve (condition number squared) while catching any real mistake.
    hint = "did you append a column of ones so the bias is fitted too?"
    assert_close(got_w, reference.coef_, "fit_closed_form weights vs sklearn", atol=1e-6, hint=hint)
    assert_close(got_b, reference.intercept_, "fit_closed_form bias vs sklearn", atol=1e-6)


def test_closed_form_rejects_mismatched_lengths():
    X, y, _, _ = make_regression(n=20)
    # The message of the given as_vector(y, "y", len(X)): it names y and both lengths.
    expected = re.escape("y has 19 entries, expected 20 (one per row of X)")
    with pytest.raises(ValueError, match=expected):
        fit_closed_form(X, y[:-1])


def test_gradient_descent_loss_never_increases():
    X, y, _, _ = make_regression(seed=4)
    _, _, losses = fit_gradient_descent(X, y, lr=0.05, n_steps=200)
    assert_equal(
        len(losses), 200, "fit_gradient_descent(n_steps=200): number of losses, one per step"
    )
    increases = np.flatnonzero(np.diff(losses) > 1e-12)
    assert_true(
        increases.size == 0,
        "fit_gradient_descent: the loss went up under a small step",
        [f"first increase at step {increases[0] + 1}" if increases.size else ""],
        hint="check the sign of the update (w -= lr * grad) and the 2/n factor",
    )


def test_gradient_descent_converges_to_the_closed_form():
    X, y, _, _ = make_regression(seed=5)
    w_exact, b_exact = fit_closed_form(X, y)
    w, b, _ = fit_gradient_descent(X, y, lr=0.1, n_steps=500)
    # Standardised features make the Hessian's eigenvalues ~2, so lr=0.1 contracts the error by
    # about 0.8 per step: after 500 steps it is far below 1e-6.
    assert_close(w, w_exact, "fit_gradient_descent weights vs closed form", atol=1e-6)
    assert_close(b, b_exact, "fit_gradient_descent bias vs closed form", atol=1e-6)


def test_sgd_gets_close_to_the_closed_form():
    X, y, _, _ = make_regression(n=500, noise=0.1, seed=6)
    w_exact, b_exact = fit_closed_form(X, y)
    w, b, losses = fit_sgd(X, y, lr=0.02, epochs=40, batch_size=16, seed=0)
    assert_equal(len(losses), 40, "fit_sgd(epochs=40): number of losses, one per epoch")
    # Constant-step SGD hovers around the optimum; with noise 0.1 and lr 0.02 the wobble of the
    # weights is about 1e-2, so 0.05 separates "converged" from "wrong".
    assert_close(w, w_exact, "fit_sgd weights vs closed form", atol=0.05)
    assert_close(b, b_exact, "fit_sgd bias vs closed form", atol=0.05)
    assert_true(
        losses[-1] < 0.02,
        "fit_sgd: the final training MSE should be close to the noise variance 0.01",
        [f"got {losses[-1]:.4f}"],
    )


def test_sgd_is_reproducible_with_a_seed():
    X, y, _, _ = make_regression(n=100)
    first = fit_sgd(X, y, epochs=3, seed=7)
    second = fit_sgd(X, y, epochs=3, seed=7)
    assert_equal(
        first[0],
        second[0],
        "fit_sgd weights with the same seed twice",
        hint="draw the batch order from np.random.default_rng(seed), not the global generator",
    )
