"""Reference: scaled dot-product attention, multi-head attention, and a small encoder-decoder that
normalises dates with them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from date_task import TARGET_LENGTH, char_vocabulary, encode_pairs, make_pairs, split_dates
from matplotlib.figure import Figure
from torch import Tensor, nn

from ml_refresher.training import (
    apply_overrides,
    count_parameters,
    plot_history,
    seed_everything,
    train_loop,
)

# ----------------------------------------------------------------------------------------------
# What the kata asks for


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


# ----------------------------------------------------------------------------------------------
# Given: the date-normalisation model and its training run, built on MultiHeadAttention


class MeanPooling(nn.Module):
    """The baseline: MultiHeadAttention's interface, but every key a query may attend gets the
    same weight, so each query sees only the average of the values. What attention adds is
    exactly the difference between this and MultiHeadAttention."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.n_heads = n_heads
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query, key_value=None, mask=None, causal=False):
        key_value = query if key_value is None else key_value
        (B, T, _), S = query.shape, key_value.shape[1]
        allowed = torch.ones(B, 1, T, S, dtype=torch.bool, device=query.device)
        if mask is not None:
            allowed = (allowed & mask)[:, :1]  # the same weights for every head
        if causal:
            allowed = allowed & torch.ones(T, S, dtype=torch.bool, device=query.device).tril()
        weights = allowed.float() / allowed.sum(-1, keepdim=True).clamp(min=1)  # (B, 1, T, S)
        out = weights[:, 0] @ self.v_proj(key_value)  # (B, T, S) @ (B, S, D) -> (B, T, D)
        return self.out_proj(out), weights.expand(B, self.n_heads, T, S)


def _mixer(mixing: str):
    if mixing == "attention":
        return MultiHeadAttention
    if mixing == "mean":
        return MeanPooling
    raise ValueError(f"mixing must be 'attention' or 'mean', got {mixing!r}")


def _feed_forward(d_model: int, d_ff: int, dropout: float) -> nn.Module:
    return nn.Sequential(
        nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model), nn.Dropout(dropout)
    )


class EncoderLayer(nn.Module):
    """Pre-norm: x + self-attention(norm(x)), then x + feed-forward(norm(x))."""

    def __init__(self, d_model, n_heads, d_ff, dropout, mixing="attention"):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.self_attn = _mixer(mixing)(d_model, n_heads, dropout)
        self.ff = _feed_forward(d_model, d_ff, dropout)

    def forward(self, x, src_mask):
        x = x + self.self_attn(self.norm1(x), mask=src_mask)[0]
        return x + self.ff(self.norm2(x))


class DecoderLayer(nn.Module):
    """Pre-norm: causal self-attention over the output so far, cross-attention to the encoded
    source, feed-forward. Returns the cross-attention weights too (the heatmap)."""

    def __init__(self, d_model, n_heads, d_ff, dropout, mixing="attention"):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.self_attn = _mixer(mixing)(d_model, n_heads, dropout)
        self.cross_attn = _mixer(mixing)(d_model, n_heads, dropout)
        self.ff = _feed_forward(d_model, d_ff, dropout)

    def forward(self, x, memory, src_mask):
        x = x + self.self_attn(self.norm1(x), causal=True)[0]
        attended, weights = self.cross_attn(self.norm2(x), memory, mask=src_mask)
        x = x + attended
        return x + self.ff(self.norm3(x)), weights


class DateNormaliser(nn.Module):
    """A character-level encoder-decoder transformer: source characters -> encoder; <bos> and
    the output so far -> decoder, which reads the encoded source through cross-attention.
    mixing="mean" swaps every attention for MeanPooling (the baseline)."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        d_ff: int = 256,
        dropout: float = 0.0,
        max_len: int = 32,
        mixing: str = "attention",
    ):
        super().__init__()
        self.max_len = max_len
        self.src_embed = nn.Embedding(vocab_size, d_model)
        self.tgt_embed = nn.Embedding(vocab_size, d_model)
        # Attention is blind to order: learned position embeddings tell it where each char is.
        self.src_pos, self.tgt_pos = nn.Embedding(max_len, d_model), nn.Embedding(max_len, d_model)
        layer_args = (d_model, n_heads, d_ff, dropout, mixing)
        self.encoder = nn.ModuleList(EncoderLayer(*layer_args) for _ in range(n_layers))
        self.decoder = nn.ModuleList(DecoderLayer(*layer_args) for _ in range(n_layers))
        self.enc_norm, self.dec_norm = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def _positions(self, ids: Tensor) -> Tensor:
        if ids.shape[1] > self.max_len:
            raise ValueError(f"sequences longer than max_len={self.max_len}: {ids.shape[1]}")
        return torch.arange(ids.shape[1], device=ids.device)

    def encode(self, src: Tensor, src_mask: Tensor) -> Tensor:
        """src (B, S) ids, src_mask (B, S) True on real characters -> memory (B, S, d_model)."""
        x = self.src_embed(src) + self.src_pos(self._positions(src))
        key_mask = src_mask[:, None, None, :]  # (B, 1, 1, S): no query attends padding
        for layer in self.encoder:
            x = layer(x, key_mask)
        return self.enc_norm(x)

    def decode(self, memory: Tensor, src_mask: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor]:
        """-> (logits (B, T, vocab), the last layer's cross-attention weights (B, H, T, S))."""
        x = self.tgt_embed(tgt_in) + self.tgt_pos(self._positions(tgt_in))
        for layer in self.decoder:
            x, weights = layer(x, memory, src_mask[:, None, None, :])
        return self.head(self.dec_norm(x)), weights

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor]:
        return self.decode(self.encode(src, src_mask), src_mask, tgt_in)

    @torch.no_grad()
    def greedy(self, src: Tensor, src_mask: Tensor, bos_id: int) -> tuple[Tensor, Tensor]:
        """Decode TARGET_LENGTH characters, each the most likely given the ones before.
        -> (ids (B, 10), cross-attention weights (B, H, 10, S) of the last step's pass)."""
        memory = self.encode(src, src_mask)
        out = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
        for _ in range(TARGET_LENGTH):
            logits, weights = self.decode(memory, src_mask, out)
            out = torch.cat([out, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        return out[:, 1:], weights


def exact_match(model: DateNormaliser, pairs, vocabulary, batch_size: int = 500) -> float:
    """The fraction of pairs whose whole target the model writes exactly (greedy decoding), in
    eval mode; the model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(pairs), batch_size):
        src, src_mask, _, tgt_out = encode_pairs(pairs[start : start + batch_size], vocabulary)
        predicted, _ = model.greedy(src, src_mask, vocabulary.bos_id)
        correct += (predicted == tgt_out).all(dim=1).sum().item()
    model.train(was_training)
    return correct / len(pairs)


def plot_attention(model: DateNormaliser, pairs, vocabulary, path: Path) -> Path:
    """One heatmap per pair: the last decoder layer's cross-attention, averaged over heads;
    rows are the output characters, columns the source characters."""
    was_training = model.training
    model.eval()
    src, src_mask, _, _ = encode_pairs(pairs, vocabulary)
    predicted, weights = model.greedy(src, src_mask, vocabulary.bos_id)
    model.train(was_training)
    fig = Figure(figsize=(3.2 * len(pairs), 3.4), dpi=100, layout="constrained")
    for ax, (source, _), ids, w in zip(
        fig.subplots(1, len(pairs), squeeze=False)[0], pairs, predicted, weights, strict=True
    ):
        ax.imshow(
            w.mean(0)[:, : len(source)].numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto"
        )
        ax.set_xticks(range(len(source)), list(source), fontsize=7)
        ax.set_yticks(range(TARGET_LENGTH), vocabulary.decode(ids.tolist()), fontsize=8)
        ax.set_title(source, fontsize=8)
    fig.suptitle("cross-attention (last decoder layer, mean over heads): output rows, source cols")
    fig.savefig(path)
    return Path(path)


@dataclass
class TrainConfig:
    """The full run's settings; each one can be changed with `kata train attention --set k=v`."""

    steps: int = 600
    batch_size: int = 128
    lr: float = 3e-3
    warmup: int = 30
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 256
    dropout: float = 0.0
    mixing: str = "attention"  # "mean": the baseline, every attention replaced by mean pooling
    n_test: int = 1000
    eval_every: int = 100
    seed: int = 0
    progress: bool = True


def train(out_dir: Path, overrides: dict[str, str] | None = None) -> dict:
    """The full run (`kata train attention`; `--set steps=300` etc. change TrainConfig): train
    a DateNormaliser on fresh examples from the training dates, with the held-out exact match
    every eval_every steps; write curves.png and attention.png (cross-attention heatmaps of four
    held-out dates) into out_dir and return the final held-out exact match."""
    config = apply_overrides(TrainConfig(), overrides)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    vocabulary = char_vocabulary()
    train_dates, test_dates = split_dates(config.n_test, seed=config.seed)
    # Held-out dates, each once in a style drawn with its own seed: the same set on every run.
    test_pairs = make_pairs(test_dates, None, np.random.default_rng(config.seed + 1))
    rng = np.random.default_rng(config.seed)
    model = DateNormaliser(
        len(vocabulary),
        config.d_model,
        config.n_heads,
        config.n_layers,
        config.d_ff,
        config.dropout,
        mixing=config.mixing,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)

    def lr_factor(step: int) -> float:  # linear warm-up, then cosine decay to 0 at the end
        warmup = min(1.0, (step + 1) / config.warmup)
        return warmup * 0.5 * (1 + math.cos(math.pi * min(step, config.steps) / config.steps))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)

    def batches(epoch):  # fresh examples every step, all from the training dates
        for _ in range(config.steps):
            yield encode_pairs(make_pairs(train_dates, config.batch_size, rng), vocabulary)

    def loss_fn(batch):
        src, src_mask, tgt_in, tgt_out = batch
        logits, _ = model(src, src_mask, tgt_in)
        return F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten())

    history = train_loop(
        model,
        optimizer,
        batches,
        loss_fn,
        max_steps=config.steps,
        scheduler=scheduler,
        clip_grad_norm=1.0,
        evaluate=lambda: {"test_exact_match": exact_match(model, test_pairs, vocabulary)},
        eval_every=config.eval_every,
        progress=config.progress,
        desc=f"dates ({config.mixing})",
    )
    plot_history(history, out_dir / "curves.png", f"date normalisation ({config.mixing})")
    examples = test_pairs[100::250]  # four held-out dates in different styles
    plot_attention(model, examples, vocabulary, out_dir / "attention.png")
    return {
        "test_exact_match": history.last("test_exact_match"),
        "test_dates": len(test_pairs),
        "parameters": count_parameters(model),
        "config": asdict(config),
    }
