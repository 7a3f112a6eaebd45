"""Reference: a multi-layer perceptron in NumPy with hand-written backward passes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ml_refresher.data import load_fashion_mnist
from ml_refresher.training import apply_overrides, plot_history


class Linear:
    def __init__(self, in_features, out_features, rng):
        # He initialisation: keeps the activations' variance steady through ReLU layers.
        self.W = rng.standard_normal((in_features, out_features)) * np.sqrt(2.0 / in_features)
        self.b = np.zeros(out_features)
        self.grad_W = np.zeros_like(self.W)
        self.grad_b = np.zeros_like(self.b)

    def forward(self, x):
        self.x = x  # the backward pass needs the input
        return x @ self.W + self.b

    def backward(self, grad_out):
        # In-place, so that the optimiser's references to the gradient arrays stay valid.
        self.grad_W[...] = self.x.T @ grad_out
        self.grad_b[...] = grad_out.sum(axis=0)
        return grad_out @ self.W.T

    def parameters(self):
        return [self.W, self.b]

    def gradients(self):
        return [self.grad_W, self.grad_b]


class ReLU:
    def forward(self, x):
        self.positive = x > 0
        return np.where(self.positive, x, 0.0)

    def backward(self, grad_out):
        return np.where(self.positive, grad_out, 0.0)

    def parameters(self):
        return []

    def gradients(self):
        return []


def softmax(logits):
    # Subtracting the row maximum changes nothing mathematically and keeps exp() <= 1.
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def cross_entropy(logits, y):
    n = len(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    # log softmax = shifted - logsumexp(shifted): no exp of a large number, no log of 0.
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(n), y].mean()
    grad = np.exp(log_probs)
    grad[np.arange(n), y] -= 1.0
    return float(loss), grad / n


class MLP:
    def __init__(self, sizes, seed=0):
        rng = np.random.default_rng(seed)
        self.layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            self.layers.append(Linear(n_in, n_out, rng))
            if i < len(sizes) - 2:  # no ReLU after the last layer: it outputs logits
                self.layers.append(ReLU())

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_logits):
        for layer in reversed(self.layers):
            grad_logits = layer.backward(grad_logits)
        return grad_logits

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def gradients(self):
        return [g for layer in self.layers for g in layer.gradients()]


class SGD:
    def __init__(self, params, lr=0.1, momentum=0.9):
        self.params = params
        self.lr = lr
        self.momentum = momentum
        self.velocities = [np.zeros_like(p) for p in params]

    def step(self, grads):
        for p, v, g in zip(self.params, self.velocities, grads, strict=True):
            v *= self.momentum
            v += g
            p -= self.lr * v  # in place: the layers hold these very arrays


def accuracy(logits, y):
    return float(np.mean(logits.argmax(axis=1) == y))


def flatten_images(images):
    return images.reshape(len(images), -1).astype(np.float64) / 255.0


def train_mlp(
    model,
    x_train,
    y_train,
    x_test,
    y_test,
    epochs=10,
    batch_size=64,
    lr=0.05,
    momentum=0.9,
    seed=0,
    progress=False,
):
    rng = np.random.default_rng(seed)
    optimiser = SGD(model.parameters(), lr, momentum)
    history = {"train_loss": [], "test_loss": [], "test_accuracy": []}
    for epoch in range(epochs):
        order = rng.permutation(len(x_train))
        total = 0.0
        batches = range(0, len(order), batch_size)
        for start in tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress):
            batch = order[start : start + batch_size]
            loss, grad = cross_entropy(model.forward(x_train[batch]), y_train[batch])
            model.backward(grad)
            optimiser.step(model.gradients())
            total += loss * len(batch)
        logits = model.forward(x_test)
        history["train_loss"].append(total / len(order))
        history["test_loss"].append(cross_entropy(logits, y_test)[0])
        history["test_accuracy"].append(accuracy(logits, y_test))
    return history


@dataclass
class Config:
    """`kata train mlp --set name=value` changes one of these."""

    hidden1: int = 256  # widths of the two hidden layers
    hidden2: int = 128
    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.02
    momentum: float = 0.9
    seed: int = 0


def train(out_dir, overrides=None):
    config = apply_overrides(Config(), overrides)
    data = load_fashion_mnist()
    x_train, x_test = flatten_images(data.x_train), flatten_images(data.x_test)
    # Both generators (initialisation, batch order) come from the seed: no global state.
    model = MLP([x_train.shape[1], config.hidden1, config.hidden2, 10], seed=config.seed)
    history = train_mlp(
        model,
        x_train,
        data.y_train,
        x_test,
        data.y_test,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        momentum=config.momentum,
        seed=config.seed,
        progress=True,
    )
    plot_history(history, Path(out_dir) / "curves.png", "MLP on Fashion-MNIST")
    return {
        "data": "Fashion-MNIST 60,000 / 10,000",
        "test_accuracy": round(history["test_accuracy"][-1], 4),
        "best_test_accuracy": round(max(history["test_accuracy"]), 4),
        "epochs": config.epochs,
    }
