"""Tests for logistic_regression, from the sigmoid to a real dataset.

Lesson: katas/01_ml_basics/README.md. Run: pytest katas/01_ml_basics/test_logistic_regression.py
"""

import re

import numpy as np
import pytest
import torch
from logistic_regression import (
    binary_cross_entropy,
    fit,
    loss_and_gradient,
    predict,
    predict_proba,
    sigmoid,
)
from scipy.special import expit
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from ml_refresher.testing import assert_close, assert_equal, assert_true, numerical_gradient

STABILITY_HINT = "never call exp() on a large positive number: see the lesson's stable forms"


def make_classification(n=300, d=4, seed=0):
    """Labels drawn from a known logistic model, so the best accuracy is known to be high."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.uniform(-3, 3, size=d)
    y = (rng.uniform(size=n) < expit(X @ w + 0.5)).astype(np.float64)
    return X, y, w


def test_sigmoid_on_hand_values():
    got = sigmoid(np.array([0.0, np.log(3.0), -np.log(3.0)]))
    assert_close(got, [0.5, 0.75, 0.25], "sigmoid at 0, log 3, -log 3", atol=1e-12)


def test_sigmoid_is_stable_at_extreme_logits():
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with np.errstate(over="raise", invalid="raise"):
        got = sigmoid(z)
    # scipy's expit is the stable reference; in float64 the values agree to the last bits.
    assert_close(
        got, expit(z), "sigmoid at |z| up to 1000 vs scipy expit", atol=1e-15, hint=STABILITY_HINT
    )


def test_cross_entropy_agrees_with_torch_including_huge_logits():
    rng = np.random.default_rng(1)
    z = np.concatenate([rng.normal(0, 5, 20), [1000.0, -1000.0, 800.0, -800.0]])
    y = rng.integers(0, 2, size=z.size).astype(np.float64)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = binary_cross_entropy(z, y)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(z), torch.from_numpy(y)
    )
    # Both are float64 evaluations of the same stable formula: agreement to ~1e-12 relative.
    assert_close(
        got, expected, "binary_cross_entropy vs torch BCEWithLogits", atol=1e-9, hint=STABILITY_HINT
    )


@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_gradient_matches_finite_differences(l2):
    X, y, _ = make_classification(n=40, d=3)
    w, b = np.array([0.2, -0.4, 0.1]), -0.3
    _, grad_w, grad_b = loss_and_gradient(X, y, w, b, l2)
    theta = np.append(w, b)
    numeric = numerical_gradient(lambda t: loss_and_gradient(X, y, t[:-1], t[-1], l2)[0], theta)
    # Central differences with eps=1e-6 on a smooth loss of O(1): error ~1e-10.
    hint = "grad_w = X^T (sigmoid(z) - y) / n + l2 * w; the bias gets no l2 term"
    assert_close(
        grad_w, numeric[:-1], f"grad_w (l2={l2}) vs finite differences", atol=1e-7, hint=hint
    )
    assert_close(grad_b, numeric[-1], f"grad_b (l2={l2}) vs finite differences", atol=1e-7)


def test_l2_penalises_the_weights_and_not_the_bias():
    X, y, _ = make_classification(n=40, d=3)
    w, b, l2 = np.array([0.2, -0.4, 0.1]), -0.3, 0.3
    plain_loss, plain_w, plain_b = loss_and_gradient(X, y, w, b, 0.0)
    loss, grad_w, grad_b = loss_and_gradient(X, y, w, b, l2)
    # The penalty is (l2 / 2)|w|^2 = 0.15 * 0.21 = 0.0315 on the loss and l2 w on grad_w;
    # nothing on the bias. Differences of O(1) float64 numbers: rounding only.
    hint = "loss + (l2/2)|w|^2, grad_w + l2 w; the bias is not penalised, not even by b^2"
    assert_close(loss - plain_loss, 0.15 * 0.21, "loss(l2=0.3) - loss(l2=0)", atol=1e-12, hint=hint)
    assert_close(grad_w - plain_w, l2 * w, "grad_w(l2=0.3) - grad_w(l2=0)", atol=1e-12, hint=hint)
    assert_close(grad_b, plain_b, "grad_b with l2=0.3 vs without", atol=1e-12, hint=hint)


def test_fit_one_step_by_hand():
    X = np.array([[1.0, 2.0], [3.0, -1.0], [0.0, 1.0]])
    y = np.array([1.0, 0.0, 1.0])
    w, b, losses = fit(X, y, lr=0.5, n_steps=1)
    # At w = 0, b = 0 every sigmoid is 1/2: the loss is ln 2 and sigmoid - y = (-1/2, 1/2, -1/2),
    # so grad_w = X^T (sigmoid - y) / 3 = (1/3, -2/3) and grad_b = -1/6. One step of 0.5 gives
    # w = (-1/6, 1/3), b = 1/12.
    hint = "losses[i] is the loss before step i; w and b both take a step of -lr * gradient"
    assert_equal(len(losses), 1, "fit(n_steps=1): one loss", hint=hint)
    # A handful of float64 operations on numbers of size ~1: rounding only.
    assert_close(losses[0], np.log(2), "the loss before the first step", atol=1e-12, hint=hint)
    assert_close(w, [-1 / 6, 1 / 3], "weights after one step", atol=1e-12, hint=hint)
    assert_close(b, 1 / 12, "bias after one step", atol=1e-12, hint=hint)


def test_fit_reaches_the_regularised_optimum():
    X, y, _ = make_classification(n=200, seed=5)
    w, b, _ = fit(X, y, lr=0.5, n_steps=500, l2=0.3)
    _, grad_w, grad_b = loss_and_gradient(X, y, w, b, l2=0.3)
    # l2 = 0.3 makes the loss 0.3-strongly convex and its Hessian is at most 0.3 + max eig of
    # X^T X / 4n (about 0.35 here), so a step of 0.5 shrinks the error by <= 0.85 a step: after
    # 500 steps the gradient is below 1e-20 in exact arithmetic, and rounding leaves ~1e-15.
    hint = "fit must pass l2 to the gradient and update the bias too"
    assert_close(grad_w, np.zeros(4), "gradient (l2=0.3) at fit's weights", atol=1e-8, hint=hint)
    assert_close(grad_b, 0.0, "gradient (l2=0.3) of the bias at fit's result", atol=1e-8, hint=hint)


def test_loss_never_increases_under_a_small_step():
    X, y, _ = make_classification(seed=2)
    _, _, losses = fit(X, y, lr=0.1, n_steps=200)
    increases = np.flatnonzero(np.diff(losses) > 1e-12)
    assert_true(
        increases.size == 0,
        "fit: the loss went up under a small step",
        [f"first increase at step {increases[0] + 1}" if increases.size else ""],
    )


def test_predict_thresholds_the_probability_on_a_hand_case():
    X = np.array([[0.0], [0.2], [-0.2], [0.7]])
    w, b = np.array([1.0]), 0.0
    # Probabilities 0.5, 0.550, 0.450, 0.668: the logits 0 and 0.2 are below 0.5 but their
    # probabilities are not, and 0.5 itself is class 1 (>=).
    hint = "1 where sigmoid(z) >= threshold: compare the probability, not the logit z"
    assert_equal(predict(X, w, b), [1, 1, 0, 1], "predict at the default threshold", hint=hint)
    assert_equal(predict(X, w, b, threshold=0.6), [0, 0, 0, 1], "predict(threshold=0.6)", hint=hint)


def test_predict_and_predict_proba_agree():
    X, y, _ = make_classification(n=50, seed=3)
    w, b, _ = fit(X, y, n_steps=50)
    proba = predict_proba(X, w, b)
    labels = predict(X, w, b)
    assert_true(labels.dtype == np.int64, "predict returns int64 labels", [f"got {labels.dtype}"])
    assert_equal(labels, (proba >= 0.5).astype(np.int64), "predict vs predict_proba >= 0.5")


def test_learns_a_generated_problem():
    X, y, w_true = make_classification(n=1000, seed=4)
    w, b, _ = fit(X, y, lr=0.5, n_steps=300)
    accuracy = float(np.mean(predict(X, w, b) == y))
    best = float(np.mean((X @ w_true + 0.5 >= 0) == y))
    # The true model's own accuracy is the best any classifier can expect; a correct fit of 1000
    # points lands within a couple of points of it.
    assert_true(
        accuracy >= best - 0.03,
        "fit: training accuracy on a problem drawn from a known logistic model",
        [f"the true model scores {best:.3f}; expected >= {best - 0.03:.3f}, got {accuracy:.3f}"],
    )


def test_breast_cancer_accuracy_close_to_sklearn():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    reference = LogisticRegression(max_iter=1000).fit(X_train, y_train).score(X_test, y_test)
    w, b, _ = fit(X_train, y_train, lr=0.5, n_steps=1000, l2=1e-3)
    accuracy = float(np.mean(predict(X_test, w, b) == y_test))
    # 171 test points: 2 points of accuracy is about 3 samples, the stated margin.
    assert_true(
        accuracy >= reference - 0.02,
        "fit on breast cancer (standardised): accuracy within 2 points of sklearn",
        [f"sklearn: {reference:.3f}, yours: {accuracy:.3f}"],
    )


def test_fit_rejects_labels_other_than_0_and_1():
    X, y, _ = make_classification(n=10)
    # The docstring's message, followed by the first few distinct values given.
    with pytest.raises(ValueError, match=re.escape("y must contain only 0 and 1, got values")):
        fit(X, y * 2 - 1)
