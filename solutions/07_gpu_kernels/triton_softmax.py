"""Reference: row-wise softmax in Triton, one program per row."""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton_checks import check_tensor


@triton.jit
def softmax_kernel(x_ptr, y_ptr, n_cols, x_row_stride, y_row_stride, BLOCK: tl.constexpr):
    """Program `row` = tl.program_id(0) computes y[row, :] = softmax(x[row, :]).

    It loads the whole row as one block of BLOCK (a power of two >= n_cols) lanes; lanes
    n_cols..BLOCK-1 lie past the row and are masked, loaded as -inf so that they change neither
    the max nor (exp(-inf) = 0) the sum, and are not stored.
    """
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)  # (BLOCK,)
    in_row = cols < n_cols
    x = tl.load(x_ptr + row * x_row_stride + cols, mask=in_row, other=-float("inf"))
    # exp(x - max) <= 1: no overflow for large x. A row of only -inf gives -inf - -inf = NaN,
    # which is torch's answer too.
    z = x - tl.max(x, axis=0)
    numerator = tl.exp(z)
    denominator = tl.sum(numerator, axis=0)
    tl.store(y_ptr + row * y_row_stride + cols, numerator / denominator, mask=in_row)


def softmax(x: torch.Tensor) -> torch.Tensor:
    """y = softmax(x) over the last axis; x: (rows, cols) float32 -> y: (rows, cols) float32.

    x may be a view with any row stride (its columns must be adjacent: stride 1).
    """
    check_tensor(x, "x", dtypes=(torch.float32,), ndim=2)
    if x.stride(1) != 1:
        x = x.contiguous()  # the kernel walks a row with stride 1
    rows, cols = x.shape
    y = torch.empty_like(x, memory_format=torch.contiguous_format)
    block = triton.next_power_of_2(cols)
    softmax_kernel[(rows,)](x, y, cols, x.stride(0), y.stride(0), BLOCK=block)
    return y
