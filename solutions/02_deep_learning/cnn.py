"""Reference: conv2d and max-pooling in NumPy via im2col, and a small CNN in torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml_refresher.data import load_fashion_mnist
from ml_refresher.training import apply_overrides, plot_history, seed_everything, train_loop


def output_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def im2col(x, kh, kw, stride=1, padding=0):
    n, c, h, w = x.shape
    out_h, out_w = output_size(h, kh, stride, padding), output_size(w, kw, stride, padding)
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((n, c, kh, kw, out_h, out_w), dtype=x.dtype)
    # kh*kw strided copies instead of N*out_h*out_w window extractions: the loop is over the
    # few kernel offsets, each iteration moves a whole image-sized block.
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = x_pad[
                :, :, i : i + stride * out_h : stride, j : j + stride * out_w : stride
            ]
    # Rows (n, out_y, out_x), columns (c, i, j): the order of a (C_out, C, kh, kw) weight.
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * out_h * out_w, c * kh * kw)


def col2im(cols, x_shape, kh, kw, stride=1, padding=0):
    n, c, h, w = x_shape
    out_h, out_w = output_size(h, kh, stride, padding), output_size(w, kw, stride, padding)
    cols = cols.reshape(n, out_h, out_w, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)
    x_pad = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            # += because overlapping windows read the same pixel: its gradients add up.
            x_pad[:, :, i : i + stride * out_h : stride, j : j + stride * out_w : stride] += cols[
                :, :, i, j
            ]
    return x_pad[:, :, padding : padding + h, padding : padding + w]


def conv2d_forward(x, weight, bias, stride=1, padding=0):
    n, _, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    out_h, out_w = output_size(h, kh, stride, padding), output_size(w, kw, stride, padding)
    rows = im2col(x, kh, kw, stride, padding) @ weight.reshape(c_out, -1).T + bias
    return rows.reshape(n, out_h, out_w, c_out).transpose(0, 3, 1, 2)


def conv2d_backward(grad_out, x, weight, stride=1, padding=0):
    c_out, _, kh, kw = weight.shape
    grad_rows = grad_out.transpose(0, 2, 3, 1).reshape(-1, c_out)
    cols = im2col(x, kh, kw, stride, padding)
    grad_weight = (grad_rows.T @ cols).reshape(weight.shape)
    grad_bias = grad_rows.sum(axis=0)
    grad_x = col2im(grad_rows @ weight.reshape(c_out, -1), x.shape, kh, kw, stride, padding)
    return grad_x, grad_weight, grad_bias


def _windows(x, size):
    n, c, h, w = x.shape
    windows = x.reshape(n, c, h // size, size, w // size, size).transpose(0, 1, 2, 4, 3, 5)
    return windows.reshape(n, c, h // size, w // size, size * size)


def maxpool2d_forward(x, size=2):
    return _windows(x, size).max(axis=-1)


def maxpool2d_backward(grad_out, x, size=2):
    n, c, h, w = x.shape
    winner = _windows(x, size).argmax(axis=-1)  # the first maximum, as torch picks
    grad_windows = np.zeros((n, c, h // size, w // size, size * size), dtype=grad_out.dtype)
    np.put_along_axis(grad_windows, winner[..., None], grad_out[..., None], axis=-1)
    grad_windows = grad_windows.reshape(n, c, h // size, w // size, size, size)
    return grad_windows.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)


class SmallCNN(nn.Module):
    def __init__(self, in_channels=3, n_classes=10, image_size=32, width=32):
        super().__init__()

        def block(c_in, c_out):
            # Batch norm after each convolution lets a higher learning rate train stably.
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
                nn.MaxPool2d(2),
            )

        self.features = nn.Sequential(block(in_channels, width), block(width, 2 * width))
        flat = 2 * width * (image_size // 4) ** 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(flat, 128),
            nn.ReLU(),
            nn.Linear(128, n_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


@torch.no_grad()
def evaluate(model, x, y, batch_size=1000):
    model.eval()  # batch norm uses its running statistics, dropout is off
    loss = correct = 0.0
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size])
        target = y[start : start + batch_size]
        loss += F.cross_entropy(logits, target, reduction="sum").item()
        correct += (logits.argmax(dim=1) == target).sum().item()
    return loss / len(x), correct / len(x)


def train_classifier(
    model,
    x_train,
    y_train,
    x_test,
    y_test,
    epochs=5,
    batch_size=64,
    lr=1e-3,
    seed=0,
    progress=False,
):
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * -(-len(x_train) // batch_size)
    # One-cycle: warm up, then anneal to ~0; reaches a given accuracy in fewer epochs.
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps)

    def batches(epoch):
        return torch.randperm(len(x_train), generator=generator).split(batch_size)

    def loss(batch):
        return F.cross_entropy(model(x_train[batch]), y_train[batch])

    def test_metrics():
        test_loss, test_accuracy = evaluate(model, x_test, y_test)
        return {"test_loss": test_loss, "test_accuracy": test_accuracy}

    return train_loop(
        model,
        optimiser,
        batches,
        loss,
        epochs=epochs,
        scheduler=schedule,
        evaluate=test_metrics,
        progress=progress,
        desc="cnn",
    )


def to_tensor_images(images):
    x = torch.as_tensor(images, dtype=torch.float32) / 255.0
    return x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)


@dataclass
class Config:
    """`kata train cnn --set name=value` changes one of these."""

    epochs: int = 6
    batch_size: int = 128
    lr: float = 3e-3
    width: int = 32
    seed: int = 0


def train(out_dir, overrides=None):
    config = apply_overrides(Config(), overrides)
    seed_everything(config.seed)
    data = load_fashion_mnist()
    x_train, x_test = to_tensor_images(data.x_train), to_tensor_images(data.x_test)
    # Standardise with the training set's statistics only.
    mean, std = x_train.mean(), x_train.std()
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    model = SmallCNN(in_channels=1, n_classes=10, image_size=28, width=config.width)
    history = train_classifier(
        model,
        x_train,
        torch.as_tensor(data.y_train),
        x_test,
        torch.as_tensor(data.y_test),
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        seed=config.seed,
        progress=True,
    )
    plot_history(history, Path(out_dir) / "curves.png", "Small CNN on Fashion-MNIST")
    return {
        "data": "Fashion-MNIST 60,000 / 10,000",
        "test_accuracy": round(history.last("test_accuracy"), 4),
        "epochs": config.epochs,
    }
