"""Kata: row-wise softmax in Triton, one program per row.

Lesson: katas/07_gpu_kernels/README.md. Tests: pytest katas/07_gpu_kernels/test_triton_softmax.py
Without an NVIDIA GPU the tests run your kernel through Triton's interpreter on CPU tensors.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton_checks import check_tensor  # noqa: F401  (given: use it in softmax())


@triton.jit
def softmax_kernel(x_ptr, y_ptr, n_cols, x_row_stride, y_row_stride, BLOCK: tl.constexpr):
    """Program `row` = tl.program_id(0) computes y[row, :] = softmax(x[row, :]).

    It loads the whole row as one block of BLOCK (a power of two >= n_cols) lanes,
    cols = tl.arange(0, BLOCK), from x_ptr + row * x_row_stride + cols; lanes n_cols..BLOCK-1 lie
    past the row: mask them (cols < n_cols) and load them as -inf, so that they change neither
    the max nor (exp(-inf) = 0) the sum, and do not store them.
    y = exp(x - max) / sum(exp(x - max)): tl.max, tl.exp, tl.sum over axis 0, then tl.store.
    """
    # Write the kernel body here (the launcher below calls it).


def softmax(x: torch.Tensor) -> torch.Tensor:
    """y = softmax(x) over the last axis; x: (rows, cols) float32 -> y: (rows, cols) float32.

    x may be a view with any row stride (its columns must be adjacent: stride 1; copy otherwise).
    Steps: check_tensor(x, "x", dtypes=(torch.float32,), ndim=2); y = an empty contiguous tensor
    like x; launch softmax_kernel[(rows,)](x, y, cols, x.stride(0), y.stride(0),
    BLOCK=triton.next_power_of_2(cols)); return y.
    """
    raise NotImplementedError("katas/07_gpu_kernels/triton_softmax.py: write softmax()")
