"""Model answers to the exercises of notebooks/07_gpu_kernels.py, used when
ML_REFRESHER_IMPL=solutions so that CI runs each exercise's check. Loaded after the notebook's
first cell, so @triton.jit here sees the same TRITON_INTERPRET setting as the katas."""

import math

import torch
import triton
import triton.language as tl

BLOCK = 256


@triton.jit
def add_scaled_kernel(x_ptr, y_ptr, out_ptr, n, alpha, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offsets = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n  # the last program's block runs past the end
    x = tl.load(x_ptr + offsets, mask=mask)
    y = tl.load(y_ptr + offsets, mask=mask)
    tl.store(out_ptr + offsets, x + alpha * y, mask=mask)


def add_scaled(x: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    # One program per BLOCK elements; contiguous inputs, so element i lies at x_ptr + i.
    x, y = x.contiguous(), y.contiguous()
    out = torch.empty_like(x)
    n = x.numel()
    add_scaled_kernel[(triton.cdiv(n, BLOCK),)](x, y, out, n, alpha, BLOCK=BLOCK)
    return out


def merge_softmax_stats(m1: float, l1: float, m2: float, l2: float) -> tuple[float, float]:
    # Each l is a sum of exp(s - m_i); re-base both on the common max m before adding, exactly
    # as flash attention rescales its running sum when a block raises the max.
    m = max(m1, m2)
    return m, l1 * math.exp(m1 - m) + l2 * math.exp(m2 - m)
