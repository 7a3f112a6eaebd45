"""Kata 02_deep_learning/cnn: conv2d and max-pooling in NumPy via im2col, then a CNN in torch.

Lesson: katas/02_deep_learning/README.md, section "CNN".
Run the tests:  pytest katas/02_deep_learning/test_cnn.py
Shapes (torch's layout): images x (N, C, H, W); a convolution weight (C_out, C, kh, kw), its bias
(C_out,); the output (N, C_out, H_out, W_out) with H_out = (H + 2*padding - kh) // stride + 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: F401 (yours to use)
from torch import nn

from ml_refresher.data import load_fashion_mnist  # noqa: F401 (for train)
from ml_refresher.training import (  # noqa: F401 (given)
    History,
    apply_overrides,
    plot_history,
    seed_everything,
    train_loop,
)


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """(size + 2*padding - kernel) // stride + 1: how many window positions fit."""
    raise NotImplementedError("katas/02_deep_learning/cnn.py: write output_size()")


def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Every (kh, kw) window of the zero-padded x as one row: (N*H_out*W_out, C*kh*kw). Rows are
    ordered (n, out_y, out_x) and columns (c, i, j), the order of weight.reshape(C_out, -1).
    Loop over the kh*kw kernel offsets (not over the windows) and copy strided slices."""
    raise NotImplementedError("katas/02_deep_learning/cnn.py: write im2col()")


def col2im(
    cols: np.ndarray, x_shape: tuple, kh: int, kw: int, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """The adjoint of im2col: add every row's values back to the pixels its window came from
    (overlapping windows add up), then drop the padding. (N*H_out*W_out, C*kh*kw) -> x_shape."""
    raise NotImplementedError("katas/02_deep_learning/cnn.py: write col2im()")


def conv2d_forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Cross-correlation, as torch.nn.functional.conv2d: one matrix product
    im2col(x) @ weight.reshape(C_out, -1)^T + bias, reshaped to (N, C_out, H_out, W_out)."""
    raise NotImplementedError("katas/02_deep_learning/cnn.py: write conv2d_forward()")


def conv2d_backward(
    grad_out: np.ndarray, x: np.ndarray, weight: np.ndarray, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of conv2d_forward given grad_out = dL/dout (N, C_out, H_out, W_out): the
    backward of a matrix product, then col2im for the input. Returns (dL/dx, dL/dweight,
    dL/dbias) shaped like x, weight and bias."""
    raise NotImplementedError("katas/02_deep_learning/cnn.py: write conv2d_backward()")


def maxpool2d_forward(x: np.ndarray, size: int = 2) -> np.ndarray:
    """Max over non-overlapping size x size windows (stride = size; H and W divisible by size):
    (N, C, H, W) -> (N, C, H/size, W/size). No loops: reshape and take the max."""
    raise NotImplementedError("katas/02_deep_learning/cnn.py: write maxpool2d_forward()")


def maxpool2d_backward(grad_out: np.ndarray, x: np.ndarray, size: int = 2) -> np.ndarray:
    """dL/dx: each window's gradient goes to its maximum (the first one on a tie, as in torch),
    zeros elsewhere. grad_out: (N, C, H/size, W/size) -> (N, C, H, W)."""
    raise NotImplementedError("katas/02_deep_learning/cnn.py: write maxpool2d_backward()")


class SmallCNN(nn.Module):
    """Two blocks [Conv2d(3x3, padding=1) -> BatchNorm2d -> ReLU -> MaxPool2d(2)] with width and
    2*width channels, then Flatten -> Dropout(0.3) -> Linear(., 128) -> ReLU -> Linear(128,
    n_classes). Each pool halves the side, so the flattened size is 2*width*(image_size//4)^2.
    Keep the two parts as self.features and self.classifier."""

    def __init__(
        self, in_channels: int = 3, n_classes: int = 10, image_size: int = 32, width: int = 32
    ):
        super().__init__()
        raise NotImplementedError("katas/02_deep_learning/cnn.py: write SmallCNN.__init__()")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, image_size, image_size) -> logits (N, n_classes)."""
        raise NotImplementedError("katas/02_deep_learning/cnn.py: write SmallCNN.forward()")


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over (x, y) in eval mode (model.eval(): batch norm uses
    its running statistics, dropout is off), under torch.no_grad(), batch by batch."""
    raise NotImplementedError("katas/02_deep_learning/cnn.py: write evaluate()")


def train_classifier(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> History:
    """Train with Adam(lr) and a OneCycleLR schedule (max_lr=lr, total_steps = epochs times the
    number of batches, stepped after every batch) on F.cross_entropy, through the given
    train_loop(model, optimiser, batches, loss_fn, epochs=..., scheduler=..., evaluate=...,
    progress=...). Seed with torch.manual_seed(seed); batches(epoch) shuffles with
    torch.randperm(n, generator=g), one g = torch.Generator().manual_seed(seed) for the run, and
    cuts the permutation into batch_size index tensors; loss_fn(batch) is the cross-entropy of
    that batch; evaluate() returns {"test_loss": ..., "test_accuracy": ...} from evaluate above.
    Returns train_loop's History: "train_loss" per step, the two test metrics per epoch."""
    raise NotImplementedError("katas/02_deep_learning/cnn.py: write train_classifier()")


def to_tensor_images(images: np.ndarray) -> torch.Tensor:
    """uint8 images to float32 in [0, 1] with channels first: (N, H, W) -> (N, 1, H, W) and
    (N, H, W, C) -> (N, C, H, W)."""
    raise NotImplementedError("katas/02_deep_learning/cnn.py: write to_tensor_images()")


@dataclass
class Config:
    """Given: the settings of the full run; `kata train cnn --set name=value` changes one."""

    epochs: int = 6
    batch_size: int = 128
    lr: float = 3e-3
    width: int = 32
    seed: int = 0


def train(out_dir: Path, overrides: dict[str, str] | None = None) -> dict:
    """The full run (`kata train cnn`, 2 minutes on 2 idle cores): config =
    apply_overrides(Config(), overrides), seed_everything(config.seed); SmallCNN(1, 10, 28,
    width) on load_fashion_mnist(), standardised with the training images' mean and std, trained
    by train_classifier with the config's epochs, batch_size, lr and seed, with a progress bar;
    save the curves with plot_history to out_dir/curves.png and return the final test
    accuracy."""
    raise NotImplementedError("katas/02_deep_learning/cnn.py: write train()")
