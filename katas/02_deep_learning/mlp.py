"""Kata 02_deep_learning/mlp: a multi-layer perceptron in NumPy, backward passes by hand.

Lesson: katas/02_deep_learning/README.md, section "MLP".
Run the tests:  pytest katas/02_deep_learning/test_mlp.py
Shapes: a batch x is (B, features) float64, labels y are (B,) int64 class ids, logits (B, K).
Every layer has forward(x) -> y and backward(dL/dy) -> dL/dx; backward also fills the layer's
parameter gradients, which parameters() and gradients() return in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm  # noqa: F401 (yours to use)

from ml_refresher.data import load_fashion_mnist  # noqa: F401 (for train)
from ml_refresher.training import apply_overrides, plot_history  # noqa: F401 (given, for train)


class Linear:
    """y = x W + b with W: (in_features, out_features), b: (out_features,)."""

    def __init__(self, in_features: int, out_features: int, rng: np.random.Generator):
        """He initialisation W = rng.standard_normal((in, out)) * sqrt(2 / in), b = 0; also
        zero arrays grad_W and grad_b of the same shapes."""
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write Linear.__init__()")

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (B, in) -> (B, out). Keep x: backward needs it."""
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write Linear.forward()")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out = dL/dy (B, out). Fill grad_W = x^T grad_out and grad_b = sum over the batch
        of grad_out, in place (grad_W[...] = ...); return dL/dx = grad_out W^T (B, in)."""
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write Linear.backward()")

    def parameters(self) -> list[np.ndarray]:
        """[W, b]: the arrays themselves, which the optimiser updates in place."""
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write Linear.parameters()")

    def gradients(self) -> list[np.ndarray]:
        """[grad_W, grad_b], in the order of parameters()."""
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write Linear.gradients()")


class ReLU:
    """y = max(x, 0) element-wise; no parameters."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write ReLU.forward()")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """dL/dx = dL/dy where x > 0, else 0."""
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write ReLU.backward()")

    def parameters(self) -> list[np.ndarray]:
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write ReLU.parameters()")

    def gradients(self) -> list[np.ndarray]:
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write ReLU.gradients()")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax(z)_k = exp(z_k) / sum_j exp(z_j), computed from z - max(z) so that exp
    never overflows. (B, K) -> (B, K), rows sum to 1."""
    raise NotImplementedError("katas/02_deep_learning/mlp.py: write softmax()")


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy L = -mean_i log softmax(z_i)[y_i] and its gradient
    dL/dz = (softmax(z) - one_hot(y)) / B. Use log_softmax = z - logsumexp(z) with the max
    subtracted, never log(softmax(z)). Returns (loss: float, grad: (B, K))."""
    raise NotImplementedError("katas/02_deep_learning/mlp.py: write cross_entropy()")


class MLP:
    """Linear -> ReLU -> ... -> Linear, one Linear per consecutive pair of sizes, a ReLU between
    them and none after the last (it outputs logits). sizes = [784, 128, 10] has two Linears."""

    def __init__(self, sizes: list[int], seed: int = 0):
        """Build self.layers, drawing every Linear's weights from one
        np.random.default_rng(seed), first layer first."""
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write MLP.__init__()")

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (B, sizes[0]) -> logits (B, sizes[-1])."""
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write MLP.forward()")

    def backward(self, grad_logits: np.ndarray) -> np.ndarray:
        """Backpropagate dL/dlogits through the layers in reverse; returns dL/dx."""
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write MLP.backward()")

    def parameters(self) -> list[np.ndarray]:
        """All layers' parameters, first layer first."""
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write MLP.parameters()")

    def gradients(self) -> list[np.ndarray]:
        """All layers' gradients, in the order of parameters()."""
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write MLP.gradients()")


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum, torch.optim.SGD's convention:
    v = momentum * v + g;  p = p - lr * v. Velocities start at zero."""

    def __init__(self, params: list[np.ndarray], lr: float = 0.1, momentum: float = 0.9):
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write SGD.__init__()")

    def step(self, grads: list[np.ndarray]) -> None:
        """Update every parameter in place (p -= ...), grads in the order of params."""
        raise NotImplementedError("katas/02_deep_learning/mlp.py: write SGD.step()")


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    """Share of rows whose largest logit is at the true class."""
    raise NotImplementedError("katas/02_deep_learning/mlp.py: write accuracy()")


def flatten_images(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W) -> float64 rows (N, H*W) scaled to [0, 1]."""
    raise NotImplementedError("katas/02_deep_learning/mlp.py: write flatten_images()")


def train_mlp(
    model: MLP,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 0.05,
    momentum: float = 0.9,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, list[float]]:
    """Mini-batch training with SGD(model.parameters(), lr, momentum). Each epoch: shuffle with
    np.random.default_rng(seed) (one generator for the whole run), then for each batch: forward,
    cross_entropy, backward, step. Show a tqdm bar over the batches when progress is True.
    Returns one value per epoch under "train_loss" (mean over the epoch's batches, weighted by
    batch size), "test_loss" and "test_accuracy" (on the whole test set after the epoch)."""
    raise NotImplementedError("katas/02_deep_learning/mlp.py: write train_mlp()")


@dataclass
class Config:
    """Given: the settings of the full run; `kata train mlp --set name=value` changes one."""

    hidden1: int = 256  # widths of the two hidden layers
    hidden2: int = 128
    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.02
    momentum: float = 0.9
    seed: int = 0


def train(out_dir: Path, overrides: dict[str, str] | None = None) -> dict:
    """The full run (`kata train mlp`, half a minute on 2 idle cores): config =
    apply_overrides(Config(), overrides); MLP([784, hidden1, hidden2, 10], seed) on
    load_fashion_mnist() (60,000 / 10,000) with train_mlp and the config's epochs, batch_size,
    lr, momentum and seed, with a progress bar; save the curves with plot_history to
    out_dir/curves.png and return the final and best test accuracy."""
    raise NotImplementedError("katas/02_deep_learning/mlp.py: write train()")
