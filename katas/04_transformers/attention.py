"""Kata 04_transformers/attention: scaled dot-product attention, multi-head attention, and a small
encoder-decoder that learns to normalise dates with them ("3rd of March 2011" -> "2011-03-03").

Lesson: katas/04_transformers/README.md, section "Attention".
Run the tests:  pytest katas/04_transformers/test_attention.py
Shapes: B batch, H heads, T queries (the sequence being computed), S keys/values (the sequence it
reads; S = T in self-attention), D = head_dim, d_model = H * D. Masks are bool, True = "may
attend", broadcastable to (B, H, T, S).

You write the four pieces below. The model that uses your MultiHeadAttention and its training
run (`kata train attention`) are given, complete, in train_attention.py.
"""

from __future__ import annotations

from torch import Tensor, nn


def scaled_dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = False
) -> tuple[Tensor, Tensor]:
    """softmax(q k^T / sqrt(D), masked) v, per batch and head.

    q (B, H, T, D), k (B, H, S, D), v (B, H, S, Dv). mask: bool, broadcastable to (B, H, T, S),
    True = this query may attend this key. causal: key j > query i is masked too (top-left
    aligned like torch's is_causal: query i attends keys 0..i, also when T != S).
    -> (out (B, H, T, Dv), weights (B, H, T, S)); each query's weights sum to 1 over the keys it
    may attend and are exactly 0 on the others; a query that may attend no key gets all-zero
    weights and a zero output (never NaN).
    Bad input: ValueError naming q, k, v or mask (shapes, head_dim), TypeError for a non-bool mask.
    """
    raise NotImplementedError(
        "katas/04_transformers/attention.py: write scaled_dot_product_attention()"
    )


def split_heads(x: Tensor, n_heads: int) -> Tensor:
    """(B, T, n_heads * Dh) -> (B, n_heads, T, Dh): head h gets features h*Dh .. (h+1)*Dh - 1 of
    every position. ValueError naming n_heads if it does not divide the feature size."""
    raise NotImplementedError("katas/04_transformers/attention.py: write split_heads()")


def merge_heads(x: Tensor) -> Tensor:
    """(B, H, T, Dh) -> (B, T, H * Dh), the inverse of split_heads."""
    raise NotImplementedError("katas/04_transformers/attention.py: write merge_heads()")


class MultiHeadAttention(nn.Module):
    """Multi-head attention with torch.nn.MultiheadAttention's maths, kv = key_value:
        q, k, v = split_heads(q_proj(query)), split_heads(k_proj(kv)), split_heads(v_proj(kv))
        out = out_proj(merge_heads(scaled_dot_product_attention(q, k, v, mask, causal)[0]))
    self.q_proj, self.k_proj, self.v_proj, self.out_proj: nn.Linear(d_model, d_model, bias=bias);
    self.dropout = nn.Dropout(dropout), applied to the attention weights in training mode only.
    ValueError naming d_model and n_heads if n_heads does not divide d_model."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        raise NotImplementedError(
            "katas/04_transformers/attention.py: write MultiHeadAttention.__init__()"
        )

    def forward(
        self,
        query: Tensor,
        key_value: Tensor | None = None,
        mask: Tensor | None = None,
        causal: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """query (B, T, d_model); key_value (B, S, d_model) for cross-attention, None for
        self-attention (keys and values from query). mask: bool, broadcastable to
        (B, n_heads, T, S) (a key-padding mask (B, S) is passed as mask[:, None, None, :]).
        -> (out (B, T, d_model), weights (B, n_heads, T, S), the attention probabilities before
        dropout). ValueError naming query or key_value if its feature size is not d_model."""
        raise NotImplementedError(
            "katas/04_transformers/attention.py: write MultiHeadAttention.forward()"
        )
