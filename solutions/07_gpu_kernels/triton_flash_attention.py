"""Reference: flash-attention forward in Triton: blocks of queries against blocks of keys, with
the online softmax, never the (T, S) score matrix."""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from triton_checks import check_same_device, check_tensor

# Queries per program and keys per step. tl.dot needs >= 16; 32 keeps the interpreter quick.
# Equal sizes make the causal diagonal block line up with the query block.
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
    running max m, running sum l and accumulator acc (the online softmax). Masks: query rows
    >= T, key rows >= S and feature columns >= D (BLOCK_D is a power of two >= D) are loaded as 0;
    scores of keys >= S, and with CAUSAL of keys after the query, are -inf. With CAUSAL, key
    blocks that lie wholly after the query block are not visited at all.
    """
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    batch = pid_bh // n_heads
    head = pid_bh % n_heads
    q_ptr += batch * stride_qb + head * stride_qh
    k_ptr += batch * stride_kb + head * stride_kh
    v_ptr += batch * stride_vb + head * stride_vh
    o_ptr += batch * stride_ob + head * stride_oh

    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)  # query positions (BLOCK_M,)
    feats = tl.arange(0, BLOCK_D)  # (BLOCK_D,)
    row_ok = rows < T
    feat_ok = feats < D
    q = tl.load(
        q_ptr + rows[:, None] * stride_qt + feats[None, :] * stride_qd,
        mask=row_ok[:, None] & feat_ok[None, :],
        other=0.0,
    )  # (BLOCK_M, BLOCK_D)

    m = tl.full((BLOCK_M,), -float("inf"), dtype=tl.float32)  # running max of the scores
    l = tl.zeros((BLOCK_M,), dtype=tl.float32)  # running sum of exp(score - m)
    acc = tl.zeros((BLOCK_M, BLOCK_D), dtype=tl.float32)  # running sum of exp(score - m) * v

    # Causal: query i sees keys 0..i, so this block needs keys < (pid_m + 1) * BLOCK_M only.
    end = tl.minimum((pid_m + 1) * BLOCK_M, S) if CAUSAL else S
    for start in range(0, end, BLOCK_N):
        keys = start + tl.arange(0, BLOCK_N)  # key positions (BLOCK_N,)
        key_ok = keys < S
        kv_mask = key_ok[:, None] & feat_ok[None, :]
        k = tl.load(
            k_ptr + keys[:, None] * stride_ks + feats[None, :] * stride_kd, mask=kv_mask, other=0.0
        )  # (BLOCK_N, BLOCK_D)
        v = tl.load(
            v_ptr + keys[:, None] * stride_vs + feats[None, :] * stride_vd, mask=kv_mask, other=0.0
        )  # (BLOCK_N, BLOCK_D)
        scores = tl.dot(q, tl.trans(k), input_precision="ieee") * scale  # (BLOCK_M, BLOCK_N)
        allowed = key_ok[None, :]
        if CAUSAL:
            allowed = allowed & (keys[None, :] <= rows[:, None])
        scores = tl.where(allowed, scores, -float("inf"))

        m_new = tl.maximum(m, tl.max(scores, axis=1))  # (BLOCK_M,)
        # Scores so far were exponentiated against m; re-base them on m_new: exp(m - m_new) <= 1.
        correction = tl.exp(m - m_new)
        p = tl.exp(scores - m_new[:, None])  # (BLOCK_M, BLOCK_N), masked keys give 0
        l = l * correction + tl.sum(p, axis=1)
        acc = acc * correction[:, None] + tl.dot(p, v, input_precision="ieee")
        m = m_new

    out = acc / l[:, None]
    tl.store(
        o_ptr + rows[:, None] * stride_ot + feats[None, :] * stride_od,
        out,
        mask=row_ok[:, None] & feat_ok[None, :],
    )


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False
) -> torch.Tensor:
    """out = softmax(q k^T / sqrt(D)) v per batch and head, query i seeing keys <= i if causal.

    q: (B, H, T, D), k and v: (B, H, S, D), float32, any strides -> out: (B, H, T, D) float32.
    Causal attention needs S == T.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_tensor(t, name, dtypes=(torch.float32,), ndim=4)
    check_same_device(q=q, k=k, v=v)
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__}")
    batch, heads, t, d = q.shape
    s = k.shape[2]
    if k.shape != (batch, heads, s, d):
        raise ValueError(
            f"k must have shape (B, H, S, D) = ({batch}, {heads}, S, {d}) like q "
            f"{tuple(q.shape)}, got {tuple(k.shape)}"
        )
    if v.shape != k.shape:
        raise ValueError(f"v must have k's shape {tuple(k.shape)}, got {tuple(v.shape)}")
    if causal and s != t:
        raise ValueError(f"causal attention needs as many keys as queries, got T={t}, S={s}")
    out = torch.empty((batch, heads, t, d), dtype=q.dtype, device=q.device)
    grid = (triton.cdiv(t, BLOCK_M), batch * heads)
    attention_kernel[grid](
        q,
        k,
        v,
        out,
        heads,
        t,
        s,
        d,
        1.0 / math.sqrt(d),
        *q.stride(),
        *k.stride(),
        *v.stride(),
        *out.stride(),
        CAUSAL=causal,
        BLOCK_M=BLOCK_M,
        BLOCK_N=BLOCK_N,
        BLOCK_D=max(16, triton.next_power_of_2(d)),
    )
    return out
