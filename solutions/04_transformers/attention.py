"""Reference: scaled dot-product attention and multi-head attention (the date model that uses
them is given in katas/04_transformers/train_attention.py)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _check_attention_inputs(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> None:
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, Tensor) or x.ndim != 4:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name} must be a 4-D tensor (batch, heads, seq, dim), got {shape}")
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"k has head_dim {k.shape[-1]} but q has head_dim {q.shape[-1]}: "
            f"q k^T needs the same head_dim (q {tuple(q.shape)}, k {tuple(k.shape)})"
        )
    if k.shape[:2] != q.shape[:2] or v.shape[:2] != q.shape[:2]:
        raise ValueError(
            f"q, k and v must agree on (batch, heads): q {tuple(q.shape)}, k {tuple(k.shape)}, "
            f"v {tuple(v.shape)}"
        )
    if v.shape[2] != k.shape[2]:
        raise ValueError(
            f"v has {v.shape[2]} positions but k has {k.shape[2]}: one value per key "
            f"(k {tuple(k.shape)}, v {tuple(v.shape)})"
        )
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            kind = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
            raise TypeError(f"mask must be a bool tensor (True = may attend), got {kind}")
        scores_shape = (*q.shape[:3], k.shape[2])
        try:
            fits = torch.broadcast_shapes(mask.shape, scores_shape) == scores_shape
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' shape "
                f"(batch, heads, T, S) = {scores_shape}"
            )


def scaled_dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = False
) -> tuple[Tensor, Tensor]:
    _check_attention_inputs(q, k, v, mask)
    # (B, H, T, D) @ (B, H, D, S) -> (B, H, T, S): one score per (query, key) pair. Dividing by
    # sqrt(D) keeps the scores' variance near 1 whatever D is, so the softmax does not saturate.
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    allowed = mask
    if causal:
        T, S = scores.shape[-2:]
        # Top-left aligned like torch's is_causal: query i may attend keys 0..i.
        future_hidden = torch.ones(T, S, dtype=torch.bool, device=q.device).tril()
        allowed = future_hidden if allowed is None else allowed & future_hidden
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # over the keys: each query's row sums to 1
    if allowed is not None:
        # A row whose every key is masked is all -inf, and softmax makes it NaN (0/0). Such a
        # query has nothing to look at: give it zero weights, hence a zero output.
        weights = weights.masked_fill(~allowed, 0.0)
    return weights @ v, weights  # (B, H, T, S) @ (B, H, S, Dv) -> (B, H, T, Dv)


def split_heads(x: Tensor, n_heads: int) -> Tensor:
    if x.ndim != 3:
        raise ValueError(f"x must be 3-D (batch, seq, features), got shape {tuple(x.shape)}")
    if n_heads < 1 or x.shape[-1] % n_heads != 0:
        raise ValueError(f"n_heads={n_heads} must divide the feature size {x.shape[-1]}")
    B, T, _ = x.shape
    # Split the features, not the positions: (B, T, H * Dh) -> (B, T, H, Dh), then move the
    # heads in front of the positions. view(B, H, T, Dh) directly would mix positions.
    return x.view(B, T, n_heads, -1).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    if x.ndim != 4:
        raise ValueError(f"x must be 4-D (batch, heads, seq, head_dim), got shape {tuple(x.shape)}")
    B, H, T, Dh = x.shape
    # The inverse of split_heads; transpose makes x non-contiguous, so reshape (a copy) not view.
    return x.transpose(1, 2).reshape(B, T, H * Dh)


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if n_heads < 1 or d_model % n_heads != 0:
            raise ValueError(
                f"d_model={d_model} must be divisible by n_heads={n_heads}: "
                "each head gets d_model / n_heads features"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.d_model, self.n_heads = d_model, n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        query: Tensor,
        key_value: Tensor | None = None,
        mask: Tensor | None = None,
        causal: bool = False,
    ) -> tuple[Tensor, Tensor]:
        if query.ndim != 3 or query.shape[-1] != self.d_model:
            raise ValueError(
                f"query must be (batch, T, d_model={self.d_model}), got {tuple(query.shape)}"
            )
        if key_value is None:  # self-attention: the sequence attends to itself
            key_value = query
        elif (
            key_value.ndim != 3
            or key_value.shape[-1] != self.d_model
            or key_value.shape[0] != query.shape[0]
        ):
            raise ValueError(
                f"key_value must be (batch={query.shape[0]}, S, d_model={self.d_model}), "
                f"got {tuple(key_value.shape)}"
            )
        # Queries come from the sequence being computed; keys and values from the one it reads.
        q = split_heads(self.q_proj(query), self.n_heads)  # (B, H, T, Dh)
        k = split_heads(self.k_proj(key_value), self.n_heads)  # (B, H, S, Dh)
        v = split_heads(self.v_proj(key_value), self.n_heads)  # (B, H, S, Dh)
        out, weights = scaled_dot_product_attention(q, k, v, mask=mask, causal=causal)
        if self.training and self.dropout.p > 0:
            # Dropout on the attention weights (as in the original transformer): recompute the
            # weighted sum with some weights dropped. nn.Dropout is the identity in eval mode.
            out = self.dropout(weights) @ v
        return self.out_proj(merge_heads(out)), weights
