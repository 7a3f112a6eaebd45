"""Given code for the 05_llm katas: what the GPT uses but the lessons do not ask you to write.

- GPTConfig: a GPT's sizes;
- PositionalScheme: the interface through which a GPT learns where each token is. The gpt kata's
  learned positions implement one method of it; the positional_encodings kata swaps in others;
- biased_attention: attention with an additive score bias (ALiBi's path; the default path is your
  scaled_dot_product_attention from the attention kata);
- LayerCache, KVCache: the containers of a key/value cache (what goes in them is yours);
- hf_gpt2_config, to_hf_state_dict: build Hugging Face's GPT-2 from a GPTConfig and copy a GPT's
  weights into it, to compare logits;
- char_vocabulary: a Vocabulary of the characters of a text, for character-level models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ml_refresher.vocab import Vocabulary

__all__ = [
    "GPTConfig",
    "KVCache",
    "LayerCache",
    "PositionalScheme",
    "biased_attention",
    "char_vocabulary",
    "hf_gpt2_config",
    "to_hf_state_dict",
]


@dataclass
class GPTConfig:
    """A GPT's sizes (GPT(config, positional=...) for a scheme other than "learned")."""

    vocab_size: int
    block_size: int = 64  # context length
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    positional: str = "learned"  # "learned" here; positional_encodings adds the others


class PositionalScheme(nn.Module):
    """How a GPT encodes positions. A scheme may do any of three things, and does nothing by
    default (which is NoPE, no position information at all):

    - embed(positions) -> (T, n_embd) added to the token embeddings (absolute schemes);
    - rotate(x, positions) -> x with position-dependent rotations, applied by every attention
      layer to its queries and keys before the scores (RoPE);
    - score_bias(q_positions, k_positions) -> (H, T, S) added to the attention scores (ALiBi).

    positions are int64 (T,) absolute positions in the sequence (with a KV cache, the new
    tokens start at the cache's length)."""

    def embed(self, positions: Tensor) -> Tensor | None:
        return None

    def rotate(self, x: Tensor, positions: Tensor) -> Tensor:
        return x

    def score_bias(self, q_positions: Tensor, k_positions: Tensor) -> Tensor | None:
        return None


def biased_attention(
    q: Tensor, k: Tensor, v: Tensor, bias: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """softmax(q k^T / sqrt(D) + bias, masked) v: scaled dot-product attention with an additive
    score bias (H, T, S) (or anything broadcastable to (B, H, T, S)), for ALiBi. q (B, H, T, D),
    k (B, H, S, D), v (B, H, S, Dv), mask bool True = may attend. -> (out, weights); a fully
    masked row gets zero weights, as in scaled_dot_product_attention."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]) + bias
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ v, weights


@dataclass
class LayerCache:
    """One attention layer's cached keys and values, each (B, H, S, head_dim) once filled."""

    k: Tensor | None = None
    v: Tensor | None = None

    @property
    def length(self) -> int:
        """How many positions are cached (0 when empty)."""
        return 0 if self.k is None else self.k.shape[2]

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append the new positions' keys and values (B, H, T, head_dim) and return all of them,
        (B, H, length + T, head_dim)."""
        if self.k is not None:
            k, v = torch.cat([self.k, k], dim=2), torch.cat([self.v, v], dim=2)
        self.k, self.v = k, v
        return k, v


class KVCache(list):
    """One LayerCache per layer, for GPT.forward(idx, cache=...): the first call fills it with
    the prompt, each later call appends the new tokens."""

    def __init__(self, n_layer: int):
        super().__init__(LayerCache() for _ in range(n_layer))

    @property
    def length(self) -> int:
        return self[0].length


def hf_gpt2_config(config):
    """transformers.GPT2Config with the same sizes as a GPTConfig, no dropout and exact softmax
    attention, so that its logits can be compared with a GPT's (GPT-2's own GELU is the tanh
    approximation, nn.GELU(approximate="tanh"))."""
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=config.vocab_size,
        n_positions=config.block_size,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        layer_norm_epsilon=1e-5,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=None,
    )


def to_hf_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """A GPT's weights under Hugging Face GPT2LMHeadModel's names. GPT-2 fuses q, k and v into
    one c_attn layer and uses Conv1D layers, which store the weight as (in, out), the transpose
    of nn.Linear's (out, in)."""
    ours = model.state_dict()
    out = {
        "transformer.wte.weight": ours["transformer.wte.weight"],
        "transformer.wpe.weight": ours["transformer.wpe.weight"],
        "transformer.ln_f.weight": ours["transformer.ln_f.weight"],
        "transformer.ln_f.bias": ours["transformer.ln_f.bias"],
        "lm_head.weight": ours["lm_head.weight"],
    }
    for i in range(model.config.n_layer):
        p = f"transformer.h.{i}."
        for ln in ("ln_1", "ln_2"):
            out[p + f"{ln}.weight"] = ours[p + f"{ln}.weight"]
            out[p + f"{ln}.bias"] = ours[p + f"{ln}.bias"]
        qkv = [ours[p + f"attn.{name}_proj.weight"] for name in "qkv"]
        out[p + "attn.c_attn.weight"] = torch.cat(qkv, dim=0).T.contiguous()
        out[p + "attn.c_attn.bias"] = torch.cat([ours[p + f"attn.{n}_proj.bias"] for n in "qkv"])
        out[p + "attn.c_proj.weight"] = ours[p + "attn.out_proj.weight"].T.contiguous()
        out[p + "attn.c_proj.bias"] = ours[p + "attn.out_proj.bias"]
        for name in ("c_fc", "c_proj"):
            out[p + f"mlp.{name}.weight"] = ours[p + f"mlp.{name}.weight"].T.contiguous()
            out[p + f"mlp.{name}.bias"] = ours[p + f"mlp.{name}.bias"]
    return out


def char_vocabulary(text: str) -> Vocabulary:
    """Every distinct character of text, in sorted order, after the five specials."""
    return Vocabulary(sorted(set(text)))
