"""Reference: layer norm forward in Triton, one program per row, statistics in float32."""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton_checks import check_same_device, check_tensor


@triton.jit
def layer_norm_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr, n_cols, x_row_stride, y_row_stride, eps, BLOCK: tl.constexpr
):
    """Program `row` = tl.program_id(0) computes
    y[row] = (x[row] - mean) / sqrt(var + eps) * w + b, mean and (biased) var over the row.

    It loads the row, w and b as blocks of BLOCK (a power of two >= n_cols) lanes, masking
    lanes >= n_cols; the masked lanes must count in neither the mean nor the variance.
    """
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)  # (BLOCK,)
    in_row = cols < n_cols
    # float32 statistics whatever x's dtype: a float16 sum of a long row overflows or rounds.
    x = tl.load(x_ptr + row * x_row_stride + cols, mask=in_row, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=0) / n_cols  # masked lanes are 0: they add nothing
    # ... but x - mean is -mean there: zero it, or every masked lane adds mean^2 to the variance.
    centred = tl.where(in_row, x - mean, 0.0)
    var = tl.sum(centred * centred, axis=0) / n_cols  # biased (divide by n), as torch does
    inv_std = 1.0 / tl.sqrt(var + eps)
    w = tl.load(w_ptr + cols, mask=in_row, other=0.0).to(tl.float32)
    b = tl.load(b_ptr + cols, mask=in_row, other=0.0).to(tl.float32)
    y = centred * inv_std * w + b
    tl.store(y_ptr + row * y_row_stride + cols, y.to(y_ptr.dtype.element_ty), mask=in_row)


def layer_norm(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last axis.

    x: (..., n) float32 or float16; weight, bias: (n,) in x's dtype -> y: x's shape and dtype.
    """
    dtypes = (torch.float32, torch.float16)
    check_tensor(x, "x", dtypes=dtypes)
    check_tensor(weight, "weight", dtypes=(x.dtype,), ndim=1)
    check_tensor(bias, "bias", dtypes=(x.dtype,), ndim=1)
    check_same_device(x=x, weight=weight, bias=bias)
    n = x.shape[-1]
    for name, t in (("weight", weight), ("bias", bias)):
        if t.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) (x's last axis), got {tuple(t.shape)}")
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps > 0:
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    rows = x.reshape(-1, n)  # a view when it can be: a row stride is all the kernel needs
    if rows.stride(1) != 1:
        rows = rows.contiguous()
    weight, bias = weight.contiguous(), bias.contiguous()
    y = torch.empty(rows.shape, dtype=x.dtype, device=x.device)
    layer_norm_kernel[(rows.shape[0],)](
        rows,
        weight,
        bias,
        y,
        n,
        rows.stride(0),
        y.stride(0),
        float(eps),
        BLOCK=triton.next_power_of_2(n),
    )
    return y.reshape(x.shape)
