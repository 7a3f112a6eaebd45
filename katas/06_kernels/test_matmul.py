"""Tests for the C++ matmul kernel (kernels/matmul.cpp), through ml_refresher.kernels.

Lesson: katas/06_kernels/README.md. Run: pytest katas/06_kernels/test_matmul.py
Editing kernels/matmul.cpp is enough: the next import rebuilds the module.
"""

import numpy as np
import pytest
import torch

from ml_refresher import kernels
from ml_refresher.testing import assert_close

SHAPES = [(1, 1, 1), (1, 7, 1), (3, 5, 7), (17, 13, 31), (64, 64, 64), (65, 129, 33)]


def random_matrix(rows, cols, seed):
    return np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)


@pytest.mark.parametrize(("m", "k", "n"), SHAPES)
def test_matmul_agrees_with_torch(m, k, n):
    a, b = random_matrix(m, k, 0), random_matrix(k, n, 1)
    expected = torch.from_numpy(a) @ torch.from_numpy(b)
    # float32 sums of k products with O(1) terms: rounding grows like sqrt(k) * 6e-8 per term
    # times |terms|; 1e-4 absolute covers k <= 129 with a wide margin for any summation order.
    assert_close(kernels.matmul(a, b), expected, f"matmul {m}x{k} @ {k}x{n} vs torch", atol=1e-4)


def test_matmul_accepts_torch_tensors_and_returns_one():
    a, b = torch.randn(4, 3), torch.randn(3, 2)
    got = kernels.matmul(a, b)
    assert isinstance(got, torch.Tensor), f"expected a torch.Tensor back, got {type(got).__name__}"
    assert_close(got, a @ b, "matmul on torch tensors", atol=1e-5)
