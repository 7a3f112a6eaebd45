"""Reference: tiled matmul in Triton with tl.dot, one program per (BLOCK_M, BLOCK_N) tile of C."""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton_checks import check_same_device, check_tensor

# Tile sizes: tl.dot needs each of them >= 16. 32 keeps the interpreter quick on small tests; a
# GPU would want 64-128 and autotuning (see the lesson).
BLOCK_M, BLOCK_N, BLOCK_K = 32, 32, 32


@triton.jit
def matmul_kernel(
    a_ptr,
    b_ptr,
    c_ptr,
    M,
    N,
    K,
    stride_am,
    stride_ak,
    stride_bk,
    stride_bn,
    stride_cm,
    stride_cn,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """Program (pid_m, pid_n) = (tl.program_id(0), tl.program_id(1)) computes the tile
    C[pid_m*BLOCK_M : +BLOCK_M, pid_n*BLOCK_N : +BLOCK_N] = sum over k blocks of
    A[rows, k : k+BLOCK_K] @ B[k : k+BLOCK_K, cols], in a float32 accumulator.

    Each step of the K loop loads a (BLOCK_M, BLOCK_K) block of A and a (BLOCK_K, BLOCK_N) block
    of B; rows >= M, cols >= N and k >= K are masked and loaded as 0 (they add nothing), and only
    the part of the tile inside C is stored.
    """
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)  # (BLOCK_M,)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)  # (BLOCK_N,)
    ks = tl.arange(0, BLOCK_K)  # (BLOCK_K,)
    a_ptrs = a_ptr + rows[:, None] * stride_am + ks[None, :] * stride_ak  # (BLOCK_M, BLOCK_K)
    b_ptrs = b_ptr + ks[:, None] * stride_bk + cols[None, :] * stride_bn  # (BLOCK_K, BLOCK_N)
    # float32 whatever the inputs: K products summed in float16 would lose ~log2(K) bits.
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, K, BLOCK_K):
        a = tl.load(a_ptrs, mask=(rows[:, None] < M) & (ks[None, :] + k < K), other=0.0)
        b = tl.load(b_ptrs, mask=(ks[:, None] + k < K) & (cols[None, :] < N), other=0.0)
        # "ieee": exact float32 products; a GPU's default for float32 is TF32 (10-bit mantissa).
        acc = tl.dot(a, b, acc, input_precision="ieee")
        a_ptrs += BLOCK_K * stride_ak  # next block of A's columns ...
        b_ptrs += BLOCK_K * stride_bk  # ... and of B's rows
    c = acc.to(c_ptr.dtype.element_ty)  # round once, at the end
    c_ptrs = c_ptr + rows[:, None] * stride_cm + cols[None, :] * stride_cn
    tl.store(c_ptrs, c, mask=(rows[:, None] < M) & (cols[None, :] < N))


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """c = a @ b; a: (M, K), b: (K, N), both float32 or both float16 -> c: (M, N) in their dtype.

    Products are summed in float32 for float16 inputs too. Any strides (e.g. a.T) are fine.
    """
    check_tensor(a, "a", dtypes=(torch.float32, torch.float16), ndim=2)
    check_tensor(b, "b", dtypes=(torch.float32, torch.float16), ndim=2)
    check_same_device(a=a, b=b)
    if a.dtype != b.dtype:
        raise TypeError(f"a and b must have the same dtype, got a {a.dtype} and b {b.dtype}")
    (m, k), (k_b, n) = a.shape, b.shape
    if k != k_b:
        raise ValueError(
            f"a's columns must match b's rows: a is {tuple(a.shape)}, b {tuple(b.shape)}"
        )
    c = torch.empty((m, n), dtype=a.dtype, device=a.device)
    grid = (triton.cdiv(m, BLOCK_M), triton.cdiv(n, BLOCK_N))
    matmul_kernel[grid](
        a,
        b,
        c,
        m,
        n,
        k,
        a.stride(0),
        a.stride(1),
        b.stride(0),
        b.stride(1),
        c.stride(0),
        c.stride(1),
        BLOCK_M=BLOCK_M,
        BLOCK_N=BLOCK_N,
        BLOCK_K=BLOCK_K,
    )
    return c
