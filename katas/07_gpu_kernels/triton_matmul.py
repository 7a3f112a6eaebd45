"""Kata: tiled matmul in Triton with tl.dot, one program per (BLOCK_M, BLOCK_N) tile of C.

Lesson: katas/07_gpu_kernels/README.md. Tests: pytest katas/07_gpu_kernels/test_triton_matmul.py
Without an NVIDIA GPU the tests run your kernel through Triton's interpreter on CPU tensors.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton_checks import check_same_device, check_tensor  # noqa: F401  (given: use them)

# Tile sizes: tl.dot needs each of them >= 16. 32 keeps the interpreter quick on small tests.
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
    A[rows, k : k+BLOCK_K] @ B[k : k+BLOCK_K, cols], in a float32 accumulator (tl.zeros).

    Element (i, j) of A is at a_ptr + i * stride_am + j * stride_ak (B, C likewise). Each step
    of the K loop loads a (BLOCK_M, BLOCK_K) block of A and a (BLOCK_K, BLOCK_N) block of B
    (pointer blocks built with rows[:, None] and cols[None, :]), adds tl.dot(a, b) to the
    accumulator, and moves both pointer blocks BLOCK_K along K. Rows >= M, cols >= N and
    k >= K are masked and loaded as 0 (they add nothing); store only the part of the tile
    inside C, converted to C's dtype.
    """
    # Write the kernel body here (the launcher below calls it).


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """c = a @ b; a: (M, K), b: (K, N), both float32 or both float16 -> c: (M, N) in their dtype.

    Products are summed in float32 for float16 inputs too. Any strides (e.g. a.T) are fine:
    pass each tensor's own strides. Check the inputs first (check_tensor, check_same_device; a
    TypeError if the dtypes differ, a ValueError if K does not agree), then launch matmul_kernel
    on the grid (triton.cdiv(M, BLOCK_M), triton.cdiv(N, BLOCK_N)).
    """
    raise NotImplementedError("katas/07_gpu_kernels/triton_matmul.py: write matmul()")
