"""Kata 05_llm/gpt: a small GPT (a decoder-only transformer language model) with GPT-2's layout,
trained on words (the Penn Treebank sample) and on characters (Tiny Shakespeare); its perplexity,
two n-gram baselines, sampling with temperature, top-k and top-p, and a KV cache.

Lesson: katas/05_llm/README.md, section "A small GPT".
Run the tests:  pytest katas/05_llm/test_gpt.py
Builds on your attention kata (MultiHeadAttention, scaled_dot_product_attention, split_heads,
merge_heads); to run this kata on the reference attention:
    ML_REFRESHER_USE_REFERENCE=attention pytest katas/05_llm/test_gpt.py
Shapes: B sequences, T positions (T <= block_size), V = vocab_size, d = n_embd, H = n_head,
Dh = d / H. Token ids are int64. Masks are bool, True = may attend.

You write everything here; the training runs built on it are given, complete, in train_gpt.py.
"""

from __future__ import annotations

import math  # noqa: F401 (yours to use)
from collections import Counter  # noqa: F401 (yours to use)

import numpy as np
import torch
import torch.nn.functional as F  # noqa: F401 (yours to use)
from attention import (  # noqa: F401 (yours to use)
    MultiHeadAttention,
    merge_heads,
    scaled_dot_product_attention,
    split_heads,
)
from gpt_helpers import (  # noqa: F401 (given)
    GPTConfig,
    KVCache,
    LayerCache,
    PositionalScheme,
    biased_attention,
    char_vocabulary,
)
from torch import Tensor, nn

from ml_refresher.vocab import Vocabulary

# ----------------------------------------------------------------------------------------------
# The model


class MLP(nn.Module):
    """GPT-2's feed-forward branch: self.c_fc = Linear(d, 4d), self.gelu = nn.GELU(approximate=
    "tanh") (GPT-2's GELU), self.c_proj = Linear(4d, d), self.dropout = Dropout(config.dropout);
    biases if config.bias. forward: x (B, T, d) -> dropout(c_proj(gelu(c_fc(x))))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        raise NotImplementedError("katas/05_llm/gpt.py: write MLP.__init__()")

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError("katas/05_llm/gpt.py: write MLP.forward()")


class Block(nn.Module):
    """A pre-LN transformer block: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)).

    Parts (the names map onto GPT-2's): self.config; self.ln_1, self.ln_2 = LayerNorm(d);
    self.attn = MultiHeadAttention(d, n_head, dropout, bias) from your attention kata (its
    q_proj, k_proj, v_proj and out_proj are the attention's weights); self.resid_dropout =
    Dropout(dropout) on the attention branch's output; self.mlp = MLP(config).
    Initialisation (GPT-2): every Linear weight N(0, 0.02), biases 0; then attn.out_proj.weight
    and mlp.c_proj.weight N(0, 0.02 / sqrt(2 * n_layer)), the two projections that add to the
    residual stream."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        raise NotImplementedError("katas/05_llm/gpt.py: write Block.__init__()")

    def forward(
        self,
        x: Tensor,
        causal: bool = True,
        key_padding_mask: Tensor | None = None,
        *,
        positional: PositionalScheme | None = None,
        cache: LayerCache | None = None,
    ) -> Tensor:
        """x (B, T, d) -> (B, T, d). key_padding_mask bool (B, S), True = a real token that may
        be attended; causal=False gives bidirectional attention (the masked LM uses it).

        The attention branch, on h = ln_1(x): q, k, v = split_heads(attn.q_proj(h), H), ... each
        (B, H, T, Dh); positions = arange(past, past + T) with past = cache.length (0 without a
        cache); q, k = positional.rotate(q, positions), positional.rotate(k, positions); with a
        cache, k, v = cache.update(k, v) (then S = past + T keys). Attend with your
        scaled_dot_product_attention: causal=True when past == 0; with past > 0 an explicit
        mask ones(T, S).tril(diagonal=past) (the new queries sit at the bottom right), and the
        padding mask as mask[:, None, None, :]. If positional.score_bias(positions, arange(S))
        is not None, attend with biased_attention(q, k, v, bias, mask) instead (the causal mask
        then explicit too). In training mode with dropout, out = attn.dropout(weights) @ v.
        Then resid_dropout(attn.out_proj(merge_heads(out))). positional None: PositionalScheme()
        (no rotation, no bias)."""
        raise NotImplementedError("katas/05_llm/gpt.py: write Block.forward()")


class LearnedPositions(PositionalScheme):
    """GPT-2's absolute positions: self.weight = a Parameter (block_size, n_embd) ~ N(0, 0.02),
    one learned vector per position."""

    def __init__(self, block_size: int, n_embd: int):
        super().__init__()
        raise NotImplementedError("katas/05_llm/gpt.py: write LearnedPositions.__init__()")

    def embed(self, positions: Tensor) -> Tensor:
        """positions (T,) int64 -> (T, n_embd). A position outside the table is a ValueError
        whose message names block_size: a learned table cannot extrapolate."""
        raise NotImplementedError("katas/05_llm/gpt.py: write LearnedPositions.embed()")


class GPT(nn.Module):
    """A decoder-only transformer language model, GPT-2's layout:
    self.config; self.transformer = nn.ModuleDict(wte=Embedding(V, d), wpe=the positional
    scheme, drop=Dropout(dropout), h=ModuleList of n_layer Blocks, ln_f=LayerNorm(d));
    self.lm_head = Linear(d, V, bias=False) whose weight IS wte.weight (weight tying).
    wte ~ N(0, 0.02). positional None: LearnedPositions(block_size, n_embd) if
    config.positional == "learned", else a ValueError (the positional_encodings kata passes the
    scheme). A config whose n_embd is not divisible by n_head is a ValueError naming n_head."""

    def __init__(self, config: GPTConfig, positional: PositionalScheme | None = None):
        super().__init__()
        raise NotImplementedError("katas/05_llm/gpt.py: write GPT.__init__()")

    def forward(
        self, idx: Tensor, targets: Tensor | None = None, *, cache: KVCache | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """idx (B, T) int64 (else a ValueError naming idx) -> (logits (B, T, V), loss): x =
        drop(wte(idx) + wpe.embed(positions)) (skip the addition when embed returns None), the
        blocks (each with positional=wpe and its own cache[i]), ln_f, lm_head. positions =
        arange(start, start + T), start = cache.length (0 without a cache). loss: the mean
        cross-entropy of logits against targets (B, T) over all positions, None without
        targets."""
        raise NotImplementedError("katas/05_llm/gpt.py: write GPT.forward()")


# ----------------------------------------------------------------------------------------------
# Data: vocabulary, token stream, batches


def build_word_vocabulary(sentences: list[list[str]], size: int = 2000) -> Vocabulary:
    """The size most frequent words of the (training) sentences after the specials (Vocabulary.
    build, ties alphabetical); every other word will encode as <unk>. size < 1: ValueError."""
    raise NotImplementedError("katas/05_llm/gpt.py: write build_word_vocabulary()")


def encode_stream(sentences: list[list[str]], vocabulary: Vocabulary) -> Tensor:
    """One int64 stream (N,) of every sentence's ids, each followed by <eos>."""
    raise NotImplementedError("katas/05_llm/gpt.py: write encode_stream()")


def contiguous_batches(
    stream: Tensor, block_size: int, batch_size: int, rng: np.random.Generator
) -> list[tuple[Tensor, Tensor]]:
    """One epoch of training batches: offset = rng.integers(block_size); the stream from there
    cut into every full, non-overlapping window of block_size tokens, x = stream[i : i + T] and
    y = stream[i + 1 : i + T + 1]; the windows in the order rng.permutation(n_windows), then
    batch_size at a time (the last batch may be short). -> [(x (b, T), y (b, T)), ...].
    A stream of block_size tokens or fewer: ValueError."""
    raise NotImplementedError("katas/05_llm/gpt.py: write contiguous_batches()")


# ----------------------------------------------------------------------------------------------
# Evaluation and baselines


def perplexity(model: GPT, stream: Tensor, block_size: int, batch_size: int = 32) -> float:
    """exp(mean negative log-likelihood per predicted token) over the whole stream: every
    token but the first is predicted exactly once. Cut the stream into consecutive windows of
    block_size inputs (targets shifted by one), batch_size windows per forward pass, and the
    last, shorter window on its own; sum the cross-entropies and divide by len(stream) - 1.
    In eval mode under torch.no_grad(); the model's mode is restored afterwards."""
    raise NotImplementedError("katas/05_llm/gpt.py: write perplexity()")


def unigram_perplexity(train_stream: Tensor, eval_stream: Tensor, vocab_size: int) -> float:
    """The baseline that ignores context: p(w) = (count of w in train + 1) / (N + V) (add-one),
    perplexity over eval_stream's tokens from the second on (those a GPT predicts)."""
    raise NotImplementedError("katas/05_llm/gpt.py: write unigram_perplexity()")


class KneserNeyTrigram:
    """Interpolated Kneser-Ney trigram model with one discount d (Chen & Goodman 1998):

        P3(w|u v) = max(c(u v w) - d, 0) / c(u v .) + d N1+(u v .) / c(u v .) * P2(w|v)
        P2(w|v)   = max(N1+(. v w) - d, 0) / N1+(. v .) + d K(v) / N1+(. v .) * P1(w)
        P1(w)     = max(N1+(. w) - d, 0) / N1+(. .) + d K / N1+(. .) / V

    c = counts of trigrams in the stream; N1+(. v w) = how many distinct u precede v w (trigram
    types); N1+(. w) = how many distinct words precede w (bigram types); a dot sums over that
    place; K(v) = how many w have N1+(. v w) > 0, K = how many w have N1+(. w) > 0. A context
    never seen (c(u v .) = 0, or N1+(. v .) = 0) backs off to the lower order entirely.
    discount outside (0, 1): ValueError."""

    def __init__(self, vocab_size: int, discount: float = 0.75):
        raise NotImplementedError("katas/05_llm/gpt.py: write KneserNeyTrigram.__init__()")

    def fit(self, stream) -> KneserNeyTrigram:
        """Count on a stream of ids (a tensor or a list); returns self."""
        raise NotImplementedError("katas/05_llm/gpt.py: write KneserNeyTrigram.fit()")

    def prob(self, w: int, context: tuple[int, ...]) -> float:
        """P(w | context) for a context of 2 (P3), 1 (P2) or 0 (P1) words; it sums to 1 over
        the vocabulary for every context."""
        raise NotImplementedError("katas/05_llm/gpt.py: write KneserNeyTrigram.prob()")

    def perplexity(self, stream) -> float:
        """exp(mean -log P(token | the up to 2 tokens before it)) over the tokens from the
        second on, the same tokens as the GPT's perplexity."""
        raise NotImplementedError("katas/05_llm/gpt.py: write KneserNeyTrigram.perplexity()")


# ----------------------------------------------------------------------------------------------
# Sampling


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """A copy of logits (..., V) with -inf outside the kept set (the input is not changed).
    top_k: keep logits >= the k-th largest (ties with it are kept). top_p (nucleus): keep the
    smallest set of most likely tokens whose probability reaches top_p, i.e. drop a token when
    the tokens more likely than it already hold top_p; the most likely token is always kept.
    Both: top-k first, then top-p on what is left. top_k < 1 or top_p outside (0, 1]:
    ValueError."""
    raise NotImplementedError("katas/05_llm/gpt.py: write filter_logits()")


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """logits (B, V) -> next ids (B,) int64: temperature 0 is greedy (argmax); else
    softmax(filter_logits(logits / temperature, top_k, top_p)) over the vocabulary and
    torch.multinomial(..., 1, generator=generator). logits not 2-D or a negative temperature:
    ValueError."""
    raise NotImplementedError("katas/05_llm/gpt.py: write sample_next()")


def generate(
    model: GPT,
    idx: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """idx (B, T0) -> (B, T0 + max_new_tokens): the prompt and max_new_tokens sampled ids, one
    sample_next per new token, in eval mode under torch.no_grad() (the model's mode restored).
    With use_cache: a fresh KVCache(n_layer) per call, the prompt fed once, then only the
    newest token; T0 + max_new_tokens > block_size is a ValueError naming block_size. Without:
    the whole context, cropped to its last block_size tokens, at every step. Both must give
    the same tokens."""
    raise NotImplementedError("katas/05_llm/gpt.py: write generate()")


# ----------------------------------------------------------------------------------------------
# Training


def make_optimizer(
    model: nn.Module, lr: float, weight_decay: float = 0.1, betas=(0.9, 0.95)
) -> torch.optim.AdamW:
    """AdamW(lr, betas) with two parameter groups: every parameter with 2 or more dimensions
    (weights, embeddings) with weight_decay, the others (biases, LayerNorm) with 0. Each
    parameter once (the tied lm_head/wte weight is one parameter)."""
    raise NotImplementedError("katas/05_llm/gpt.py: write make_optimizer()")


def lr_factor(step: int, warmup_steps: int, total_steps: int, min_factor: float = 0.1) -> float:
    """The learning-rate multiplier at optimizer step `step` (0-based): (step + 1) / warmup_steps
    during the warm-up, then a cosine from 1 down to min_factor at total_steps, min_factor
    after: min_factor + (1 - min_factor) * (1 + cos(pi * progress)) / 2, progress = (step -
    warmup) / (total - warmup)."""
    raise NotImplementedError("katas/05_llm/gpt.py: write lr_factor()")
