"""Kata: flash-attention forward in Triton: blocks of queries against blocks of keys, with the
online softmax, never the (T, S) score matrix.

Lesson: katas/07_gpu_kernels/README.md.
Tests: pytest katas/07_gpu_kernels/test_triton_flash_attention.py
Without an NVIDIA GPU the tests run your kernel through Triton's interpreter on CPU tensors.
"""

from __future__ import annotations

import math  # noqa: F401

import torch
import triton
import triton.language as tl
from triton_checks import check_same_device, check_tensor  # noqa: F401  (given: use them)

# Queries per program and keys per step. tl.dot needs >= 16; 32 keeps the interpreter quick.
# The tests read these two: keep them, and launch with them.
BLOCK_M, BLOCK_N = 32, 32


@triton.jit
def attention_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    o_ptr,
    n_heads,
    T,
    S,
    D,
    scale,
    stride_qb,
    stride_qh,
    stride_qt,
    stride_qd,
    stride_kb,
    stride_kh,
    stride_ks,
    stride_kd,
    stride_vb,
    stride_vh,
    stride_vs,
    stride_vd,
    stride_ob,
    stride_oh,
    stride_ot,
    stride_od,
    CAUSAL: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    """Program (pid_m, pid_bh) = (tl.program_id(0), tl.program_id(1)) computes the output rows
    pid_m*BLOCK_M : +BLOCK_M of head pid_bh % n_heads of batch pid_bh // n_heads.

    It loads its (BLOCK_M, BLOCK_D) block of q once, then walks the keys BLOCK_N at a time: a
    (BLOCK_N, BLOCK_D) block of k and of v per step, scores = q k^T * scale, folded into the
    running max m, running sum l and accumulator acc (the online softmax):
        m_new = max(m, rowmax(scores));  p = exp(scores - m_new)
        l = l * exp(m - m_new) + rowsum(p);  acc = acc * exp(m - m_new) + p @ v;  m = m_new
    and finally out = acc / l. Masks: query rows >= T, key rows >= S and feature columns >= D
    (BLOCK_D is a power of two >= D) are loaded as 0; scores of keys >= S, and with CAUSAL of
    keys after the query, are -inf. With CAUSAL, key blocks that lie wholly after the query
    block must not be visited at all.
    """
    # Write the kernel body here (the launcher below calls it).


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False
) -> torch.Tensor:
    """out = softmax(q k^T / sqrt(D)) v per batch and head, query i seeing keys <= i if causal.

    q: (B, H, T, D), k and v: (B, H, S, D), float32, any strides -> out: (B, H, T, D) float32.
    Causal attention needs S == T. Check the inputs (check_tensor, check_same_device, shapes,
    causal a bool), then launch attention_kernel on the grid (triton.cdiv(T, BLOCK_M), B * H)
    with every tensor's four strides, BLOCK_M, BLOCK_N and BLOCK_D = max(16,
    triton.next_power_of_2(D)).
    """
    raise NotImplementedError("katas/07_gpu_kernels/triton_flash_attention.py: write attention()")
