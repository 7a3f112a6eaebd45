"""Kata: layer norm forward in Triton, one program per row, statistics in float32.

Lesson: katas/07_gpu_kernels/README.md. Tests: pytest katas/07_gpu_kernels/test_triton_layernorm.py
Without an NVIDIA GPU the tests run your kernel through Triton's interpreter on CPU tensors.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton_checks import check_same_device, check_tensor  # noqa: F401  (given: use them)


@triton.jit
def layer_norm_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr, n_cols, x_row_stride, y_row_stride, eps, BLOCK: tl.constexpr
):
    """Program `row` = tl.program_id(0) computes
    y[row] = (x[row] - mean) / sqrt(var + eps) * w + b, mean and (biased: divide by n) var over
    the row, both in float32 whatever x's dtype.

    It loads the row, w and b as blocks of BLOCK (a power of two >= n_cols) lanes, masking
    lanes >= n_cols; the masked lanes must count in neither the mean nor the variance
    (tl.where). Store y in y's dtype (y_ptr.dtype.element_ty), masked.
    """
    # Write the kernel body here (the launcher below calls it).


def layer_norm(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last axis.

    x: (..., n) float32 or float16; weight, bias: (n,) in x's dtype -> y: x's shape and dtype.
    Check the inputs (check_tensor, check_same_device, the shapes of weight and bias, eps > 0),
    view x as rows = x.reshape(-1, n), launch one program per row with its row stride, and
    reshape the result back.
    """
    raise NotImplementedError("katas/07_gpu_kernels/triton_layernorm.py: write layer_norm()")
