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
# # 02 Deep learning: the NumPy MLP - gradient check, loss curves, confusion matrix
#
# This notebook runs **your** `katas/02_deep_learning/mlp.py` (open it with
# `kata notebook 02_deep_learning`). How it works:
#
# - The first cell calls `setup()`: `from mlp import MLP` then resolves exactly as in the tests -
#   your stub by default, the reference with `ML_REFRESHER_USE_REFERENCE=mlp kata notebook
#   02_deep_learning`, or every kata with `ML_REFRESHER_IMPL=solutions`.
# - A cell that reaches a function you have not written yet prints one line - which kata to
#   finish, and how to look at the reference instead - and the cells after it still run.
# - **Exercises**: two cells ask you for a small function (`raise NotImplementedError(EXERCISE)`
#   marks the blank); the cell after checks it and says "not done yet" while the blank is there.
#   With `ML_REFRESHER_IMPL=solutions` the check runs on the model answer in
#   `solutions/notebooks/02_deep_learning.py`: that is how CI executes every notebook, check
#   cells included (`pytest tests/test_notebooks.py`).

# %%
# ruff: noqa: E402 (the kata modules are imported after setup(), cell by cell)
from ml_refresher.notebooks import EXERCISE, check_exercise, setup

setup("02_deep_learning")

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ml_refresher.testing import assert_close, assert_equal, numerical_gradient

TOPIC = "02_deep_learning"

# %% [markdown]
# ## Gradient check: your backward passes against central differences
#
# For each parameter tensor, compare the gradient your `backward` filled in with
# (L(p + eps) - L(p - eps)) / (2 eps), one coordinate at a time (float64, eps = 1e-6: the
# difference is O(eps^2) + O(1e-16 / eps), so a relative error above ~1e-6 is a bug).

# %%
from mlp import MLP, cross_entropy

rng = np.random.default_rng(0)
x_small, y_small = rng.normal(size=(5, 4)), np.array([0, 2, 1, 2, 0])
model = MLP([4, 6, 3], seed=0)
loss, grad_logits = cross_entropy(model.forward(x_small), y_small)
model.backward(grad_logits)
print(f"{'parameter':>10} {'shape':>8} {'max |analytic - numeric|':>26} {'relative':>10}")
for index, (param, grad) in enumerate(zip(model.parameters(), model.gradients(), strict=True)):

    def loss_at(value, param=param):
        saved = param.copy()
        param[...] = value
        result = cross_entropy(model.forward(x_small), y_small)[0]
        param[...] = saved
        return result

    numeric = numerical_gradient(loss_at, param.copy())
    error = np.abs(grad - numeric).max()
    relative = error / max(np.abs(numeric).max(), 1e-12)
    print(f"{index:>10} {str(param.shape):>8} {error:>26.2e} {relative:>10.1e}")

# %% [markdown]
# ## Training on 8x8 digits: loss curves and a confusion matrix
#
# scikit-learn's 1797 digit images (no download), 64 pixels in [0, 16] scaled to [0, 1].

# %%
digits = load_digits()
x_train, x_test, y_train, y_test = train_test_split(
    digits.data / 16.0, digits.target, test_size=0.3, random_state=0, stratify=digits.target
)

# %%
from mlp import accuracy, train_mlp

net = MLP([64, 64, 10], seed=0)
history = train_mlp(net, x_train, y_train, x_test, y_test, epochs=8, batch_size=32, lr=0.05)
print(
    f"test accuracy after {len(history['test_accuracy'])} epochs: "
    f"{accuracy(net.forward(x_test), y_test):.1%}"
)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
axes[0].plot(history["train_loss"], label="train")
axes[0].plot(history["test_loss"], label="test")
axes[0].set(title="cross-entropy per epoch", xlabel="epoch")
axes[0].legend()
axes[1].plot(history["test_accuracy"], marker=".")
axes[1].set(title="test accuracy", xlabel="epoch")
fig.tight_layout()
plt.show()

predicted = net.forward(x_test).argmax(axis=1)
counts = np.zeros((10, 10), dtype=int)
np.add.at(counts, (y_test, predicted), 1)
fig, ax = plt.subplots(figsize=(4.2, 4))
ax.imshow(counts, cmap="Blues")
for t in range(10):
    for p in range(10):
        if counts[t, p]:
            ax.text(p, t, counts[t, p], ha="center", va="center", fontsize=7)
ax.set(
    xlabel="predicted",
    ylabel="true",
    title="confusion matrix (test)",
    xticks=range(10),
    yticks=range(10),
)
plt.show()

# %% [markdown]
# ## Exercise 1: one-hot labels
#
# `one_hot(y, k)`: (B,) class ids -> (B, k) float rows with a single 1 at column y[i]. The
# cross-entropy gradient is (softmax(z) - one_hot(y)) / B.


# %%
def one_hot(y: np.ndarray, k: int) -> np.ndarray:
    raise NotImplementedError(EXERCISE)


# %%
def check_one_hot(one_hot):
    got = one_hot(np.array([2, 0, 3]), 4)  # 4 classes, 3 rows: not square, not a palindrome
    expected = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    assert_close(
        got,
        expected,
        "one_hot([2, 0, 3], 4)",
        atol=0,
        hint="rows are examples, columns classes: out[arange(B), y] = 1",
    )


check_exercise(TOPIC, one_hot, check_one_hot)

# %% [markdown]
# ## Exercise 2: the confusion matrix
#
# `confusion_matrix(y_true, y_pred, k)`: (k, k) int counts, row = true class, column = predicted.


# %%
def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    raise NotImplementedError(EXERCISE)


# %%
def check_confusion_matrix(confusion_matrix):
    y_true, y_pred = np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2])
    # by hand: class 0 -> 0 once, 1 once; class 1 -> 1; class 2 -> 2 twice, 0 once
    expected = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert_equal(
        confusion_matrix(y_true, y_pred, 3),
        expected,
        "confusion_matrix",
        hint="rows are the true class; repeated pairs must each count (np.add.at)",
    )


check_exercise(TOPIC, confusion_matrix, check_confusion_matrix)
