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
    # Predictions 1, 2, 3 against targets 1, 3, 2: residuals 0, -1, 1, squared errors 0, 1, 1.
    # The targets differ on purpose: with constant targets an (n, n) residual matrix from
    # (n,) - (n, 1) has the same mean as the right one and would hide the broadcast.
    got = mse(X, np.array([1.0, 3.0, 2.0]), np.array([1.0]), 0.0)
    assert_true(
        np.ndim(got) == 0,
        "mse returns one number",
        [f"got an array of shape {np.shape(got)}"],
        hint="mean over all residuals: float(np.mean(r**2))",
    )
    # Exact in float64: sums of small integers divided by 3.
    assert_close(
        got,
        2.0 / 3.0,
        "mse: mean of squared residuals",
        atol=1e-12,
        hint="4/3 here is the mean of a (3, 3) residual matrix: predictions of shape (n, 1) "
        "minus targets of shape (n,) broadcast to (n, n); keep both (n,)",
    )


def test_mse_and_closed_form_reject_a_column_of_targets():
    X = np.array([[1.0], [2.0], [3.0]])
    y_column = np.array([[1.0], [3.0], [2.0]])  # (3, 1): the shape the kata does not accept
    # The message of the given as_vector(y, "y", len(X)): it names y and the shape it got.
    expected = "y must be 1-D, got shape (3, 1)"
    for name, call in [
        ("mse", lambda: mse(X, y_column, np.array([1.0]), 0.0)),
        ("fit_closed_form", lambda: fit_closed_form(X, y_column)),
    ]:
        try:
            call()
            message = None
        except ValueError as error:
            message = str(error)
        assert_true(
            message is not None and expected in message,
            f"{name}(X, y of shape (3, 1)): a ValueError that names y's shape",
            [f"expected: ValueError({expected!r})", f"got:      {message!r}"],
            hint="validate y with as_vector(y, 'y', len(X)); an unchecked (n, 1) y broadcasts "
            "(n,) - (n, 1) into an (n, n) residual",
        )


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


def test_gradient_descent_two_steps_by_hand():
    X = np.array([[1.0], [2.0], [3.0]])
    y = np.array([1.0, 3.0, 2.0])
    w, b, losses = fit_gradient_descent(X, y, lr=0.1, n_steps=2)
    # From w = b = 0: r = (-1, -3, -2), loss 14/3, grad_w = (2/3)(-13) = -26/3, grad_b = -4,
    # so w = 13/15, b = 2/5. Then r = (4/15, -13/15, 1), loss 82/135, grad_w = 46/45,
    # grad_b = 4/15, so w = 13/15 - 46/450 = 172/225 and b = 2/5 - 2/75 = 28/75.
    hint = "losses[i] is the loss before step i; w and b both take a step of -lr * gradient"
    assert_equal(len(losses), 2, "fit_gradient_descent(n_steps=2): one loss per step", hint=hint)
    # A few float64 operations on numbers of size ~1: rounding only.
    assert_close(losses, [14 / 3, 82 / 135], "losses before steps 0 and 1", atol=1e-12, hint=hint)
    assert_close(w, [172 / 225], "weights after two steps", atol=1e-12, hint=hint)
    assert_close(b, 28 / 75, "bias after two steps", atol=1e-12, hint=hint)


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


def test_sgd_steps_on_every_batch_including_the_last_smaller_one():
    # Five identical rows (x = 2, y = 3): every batch has the same gradient whatever the order,
    # so the result depends only on the number and size of the steps. With lr = 0.05 each step
    # halves the residual r = 2w + b - 3 (the prediction moves by lr (2r*2*2 + 2r) = r/2).
    X, y = np.full((5, 1), 2.0), np.full(5, 3.0)
    w, b, losses = fit_sgd(X, y, lr=0.05, epochs=2, batch_size=2, seed=0)
    # batch_size 2 on 5 rows is 3 steps an epoch (2 + 2 + 1): r = -3/8 after the first epoch,
    # -3/64 after the second; the prediction 2w + b splits as w = 2b (steps 4r and 2r).
    hint = (
        "ceil(5 / 2) = 3 steps an epoch, the last on one row; each step's gradient is the mean "
        "over its batch; losses[e] is the full-data MSE after epoch e"
    )
    # Exact binary fractions: float64 reproduces them to the last bit or two.
    assert_close(
        losses, [9 / 64, 9 / 4096], "fit_sgd losses after epochs 1 and 2", atol=1e-12, hint=hint
    )
    prediction = 3 - 3 / 64
    assert_close(w, [2 * prediction / 5], "fit_sgd weight after 2 epochs", atol=1e-12, hint=hint)
    assert_close(b, prediction / 5, "fit_sgd bias after 2 epochs", atol=1e-12, hint=hint)


def test_sgd_reshuffles_every_epoch():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((60, 2))
    y = X @ np.array([1.5, -0.5]) + 0.3 + 0.5 * rng.standard_normal(60)
    _, _, losses = fit_sgd(X, y, lr=0.05, epochs=40, batch_size=4, seed=0)
    # With the same order every epoch (or full-data steps) an epoch is one fixed affine map that
    # contracts by about 0.9^15 = 0.2, so the epoch losses settle geometrically: over the last
    # 10 epochs they would agree to 1e-10. Reshuffled batches keep them moving: for seeds 0-19
    # the largest change over the last 10 epochs is at least 7e-4, so 1e-5 separates the two.
    moves = np.abs(np.diff(losses[-10:]))
    assert_true(
        moves.max() > 1e-5,
        "fit_sgd: the epoch losses still move, as reshuffled mini-batches make them",
        [f"largest change over the last 10 epochs: {moves.max():.3g} (expected > 1e-5)"],
        hint="draw a new permutation from the one generator at the start of every epoch, and "
        "step on X[batch], y[batch], not on the full data",
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
