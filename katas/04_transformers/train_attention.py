"""Given: the date-normalisation model built on your MultiHeadAttention, and its training run
(`kata train attention`): an encoder-decoder that learns "3rd of March 2011" -> "2011-03-03".

The model is the attention kata's proving ground, not its exercise: `mixing="mean"` swaps every
attention layer for MeanPooling, the same model with uniform weights, so the gap between the two
is what attention buys. `from attention import MultiHeadAttention` resolves to your code or the
reference exactly as in the tests.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from attention import MultiHeadAttention
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
