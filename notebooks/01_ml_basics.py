# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 ML basics: regression, logistic regression, k-means - on your code
#
# This notebook runs **your** katas from `katas/01_ml_basics/` (open it with
# `kata notebook 01_ml_basics`). How it works:
#
# - The first cell calls `setup()`: `from kmeans import assign` then resolves exactly as in the
#   tests - your stub by default, the reference for some katas with
#   `ML_REFRESHER_USE_REFERENCE=kmeans kata notebook 01_ml_basics`, or every kata with
#   `ML_REFRESHER_IMPL=solutions`.
# - A cell that reaches a function you have not written yet prints one line - which kata to
#   finish, and how to look at the reference instead - and the cells after it still run.
# - **Exercises**: a few cells ask you for a small function (`raise NotImplementedError(EXERCISE)`
#   marks the blank). The cell after checks it with the project's assertions and says
#   "not done yet" while the blank is there. With `ML_REFRESHER_IMPL=solutions` the check runs on
#   the model answer in `solutions/notebooks/01_ml_basics.py` instead: that is how CI executes
#   every notebook, check cells included (`pytest tests/test_notebooks.py`).
#
# Edit this notebook freely; the copy in git is `notebooks/01_ml_basics.py` (jupytext), the
# `.ipynb` is generated from it.

# %%
# ruff: noqa: E402 (the kata modules are imported after setup(), cell by cell)
from ml_refresher.notebooks import EXERCISE, check_exercise, save_figure, setup

setup("01_ml_basics")

import matplotlib.pyplot as plt
import numpy as np

from ml_refresher.testing import assert_close, assert_equal

TOPIC = "01_ml_basics"

# %% [markdown]
# ## Linear regression: three fits of the same line
#
# Data: y = 3 x0 - 2 x1 + 1 + noise. The closed form solves the normal equations
# (X^T X) theta = X^T y; gradient descent and SGD should walk to the same place.

# %%
rng = np.random.default_rng(0)
X_lin = rng.normal(size=(200, 2))
y_lin = X_lin @ np.array([3.0, -2.0]) + 1.0 + 0.3 * rng.normal(size=200)

# %%
from linear_regression import fit_closed_form, fit_gradient_descent, fit_sgd, predict, r2_score

w_cf, b_cf = fit_closed_form(X_lin, y_lin)
w_gd, b_gd, losses_gd = fit_gradient_descent(X_lin, y_lin, lr=0.1, n_steps=100)
w_sgd, b_sgd, losses_sgd = fit_sgd(X_lin, y_lin, lr=0.05, epochs=30, batch_size=16)
r2 = r2_score(y_lin, predict(X_lin, w_cf, b_cf))
print(f"closed form w={np.round(w_cf, 3)} b={b_cf:.3f}  R^2={r2:.3f}")
print(f"grad. desc. w={np.round(w_gd, 3)} b={b_gd:.3f}")
print(f"SGD         w={np.round(w_sgd, 3)} b={b_sgd:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
axes[0].semilogy(losses_gd)
axes[0].set(title="gradient descent: MSE before each step", xlabel="step", ylabel="MSE")
axes[1].semilogy(losses_sgd, marker=".")
axes[1].set(title="SGD: full-data MSE after each epoch", xlabel="epoch")
for ax in axes:
    ax.axhline(0.09, color="grey", ls="--", lw=1)  # the noise variance 0.3^2: the floor
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Logistic regression: loss curve and decision boundary
#
# Two Gaussian blobs; the boundary is the line w . x + b = 0, where sigmoid(z) = 0.5.

# %%
X_log = np.vstack([rng.normal([-1.0, -0.5], 0.8, (100, 2)), rng.normal([1.2, 0.8], 0.8, (100, 2))])
y_log = np.repeat([0, 1], 100)

# %%
from logistic_regression import fit, predict_proba
from logistic_regression import predict as predict_class

w_lr, b_lr, losses_lr = fit(X_log, y_log, lr=0.5, n_steps=300)
accuracy = (predict_class(X_log, w_lr, b_lr) == y_log).mean()
print(f"w={np.round(w_lr, 3)} b={b_lr:.3f}; training accuracy {accuracy:.1%}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
axes[0].plot(losses_lr)
axes[0].axhline(np.log(2), color="grey", ls="--", lw=1)  # w = 0: every p = 0.5, loss ln 2
axes[0].set(title="BCE before each step (starts at ln 2)", xlabel="step")
g0, g1 = np.meshgrid(np.linspace(-4, 4, 200), np.linspace(-4, 4, 200))
p = predict_proba(np.c_[g0.ravel(), g1.ravel()], w_lr, b_lr).reshape(g0.shape)
axes[1].contourf(g0, g1, p, levels=20, cmap="RdBu_r", alpha=0.6)
axes[1].contour(g0, g1, p, levels=[0.5], colors="k")
axes[1].scatter(*X_log.T, c=y_log, cmap="RdBu_r", edgecolor="k", s=12)
axes[1].set(title="P(y=1 | x) and the boundary p = 0.5", aspect="equal")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## k-means: watch Lloyd's iterations
#
# Seed with k-means++, then alternate *assign* (nearest centroid) and *update* (mean of each
# cluster). Each panel is one iteration: colours are the assignments, crosses the centroids.
# Lloyd only finds a local optimum: with this seed two centroids share the top-right blob while
# two blobs share one centroid, and no iteration can fix it. That is why `kmeans` restarts from
# several seedings and keeps the lowest inertia (compare the last line's inertia with the panels).

# %%
from sklearn.datasets import make_blobs

X_km, _ = make_blobs(n_samples=300, centers=4, cluster_std=1.1, random_state=3)

# %%
from kmeans import assign, inertia, kmeans, kmeans_plus_plus, update_centroids

centroids = kmeans_plus_plus(X_km, 4, np.random.default_rng(1))
fig, axes = plt.subplots(1, 4, figsize=(13, 3.4), sharex=True, sharey=True)
for iteration, ax in enumerate(axes):
    labels = assign(X_km, centroids)
    ax.scatter(*X_km.T, c=labels, cmap="tab10", vmin=0, vmax=9, s=8)
    ax.scatter(*centroids.T, marker="x", s=150, c="k", linewidths=3)
    ax.set_title(f"iteration {iteration}: inertia {inertia(X_km, centroids, labels):.0f}")
    centroids = update_centroids(X_km, labels, centroids)
fig.tight_layout()
save_figure(fig, "kmeans_iterations")  # docs/notebook_kmeans_iterations.png, when asked
plt.show()

best = kmeans(X_km, 4, n_init=5, seed=0)
print(f"best of 5 restarts: inertia {best.inertia:.1f} after {best.n_iter} Lloyd iterations")

# %% [markdown]
# ## Exercise 1: one Lloyd step
#
# Write `lloyd_step(X, centroids)`: assign each point of X (n, d) to its nearest centroid
# (k, d) (a tie goes to the lower index), then return the new (k, d) centroids, each the mean of
# its points; a centroid with no points stays where it was. Do not modify `centroids`.


# %%
def lloyd_step(X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    raise NotImplementedError(EXERCISE)


# %%
def check_lloyd_step(lloyd_step):
    X = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 10.0], [10.0, 12.0], [0.0, 3.0]])
    start = np.array([[0.0, 1.0], [10.0, 11.0], [-50.0, -50.0]])  # the third one gets no point
    before = start.copy()
    # by hand: points 0, 1, 4 -> centroid 0 (mean (1/3, 1)); points 2, 3 -> centroid 1
    expected = np.array([[1 / 3, 1.0], [10.0, 11.0], [-50.0, -50.0]])
    got = lloyd_step(X, start)
    assert_close(
        got,
        expected,
        "lloyd_step centroids",
        atol=1e-12,  # exact maths, 3 divisions
        hint="mean over the points of each cluster (axis 0); keep an empty cluster",
    )
    assert_equal(start, before, "lloyd_step must not modify its input centroids")


check_exercise(TOPIC, lloyd_step, check_lloyd_step)

# %% [markdown]
# ## Exercise 2: softmax over each row, without overflow
#
# Multiclass logistic regression turns logits z (n, k) into probabilities
# softmax(z)_ij = exp(z_ij) / sum_l exp(z_il). Make it work for z = 1000 too.


# %%
def softmax_rows(z: np.ndarray) -> np.ndarray:
    raise NotImplementedError(EXERCISE)


# %%
def check_softmax_rows(softmax_rows):
    z = np.array([[0.0, np.log(3.0)], [1000.0, 1000.0], [2.0, -np.inf]])
    # by hand: [1, 3] / 4; two equal logits -> 1/2 each even at 1000; exp(-inf) = 0
    expected = np.array([[0.25, 0.75], [0.5, 0.5], [1.0, 0.0]])
    assert_close(
        softmax_rows(z),
        expected,
        "softmax_rows",
        atol=1e-12,  # float64 rounding only
        hint="subtract each row's max before exp; sum over axis=1 with keepdims",
    )


check_exercise(TOPIC, softmax_rows, check_softmax_rows)
