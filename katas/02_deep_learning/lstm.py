"""Kata 02_deep_learning/lstm: an LSTM from tensors, then a sentiment classifier on padded batches.

Lesson: katas/02_deep_learning/README.md, section "LSTM".
Run the tests:  pytest katas/02_deep_learning/test_lstm.py
Shapes: B sequences, T steps, D input features, H hidden units; batches are batch-first,
x (B, T, D); a batch of word ids is (B, T) int64 padded with PAD (0), lengths (B,) int64.
"""

from __future__ import annotations

import math  # noqa: F401 (yours to use)
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: F401 (yours to use)
from dl_helpers import PAD, build_vocabulary, encode, length_bucketed_batches, tokenize  # noqa: F401
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: F401

from ml_refresher.data import load_imdb  # noqa: F401 (for train)
from ml_refresher.training import (  # noqa: F401 (given)
    History,
    apply_overrides,
    plot_history,
    seed_everything,
    train_loop,
)
from ml_refresher.vocab import pad_sequences  # noqa: F401 (given)


class LSTMCell(nn.Module):
    """One LSTM step with torch.nn.LSTMCell's parameters and layout: weight_ih (4H, D),
    weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,), the four gates stacked in the order
    input i, forget f, cell candidate g, output o. All initialised uniform in
    [-1/sqrt(H), 1/sqrt(H)]; keep hidden_size as an attribute."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        raise NotImplementedError("katas/02_deep_learning/lstm.py: write LSTMCell.__init__()")

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, D), state = (h, c), each (B, H). With [i, f, g, o] = the four (B, H) chunks of
        x W_ih^T + b_ih + h W_hh^T + b_hh:
            i, f, o = sigmoid(.);  g = tanh(.);  c' = f * c + i * g;  h' = o * tanh(c').
        Returns (h', c')."""
        raise NotImplementedError("katas/02_deep_learning/lstm.py: write LSTMCell.forward()")


class LSTM(nn.Module):
    """A one-layer, batch-first LSTM: self.cell = LSTMCell(input_size, hidden_size), applied
    step by step."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        raise NotImplementedError("katas/02_deep_learning/lstm.py: write LSTM.__init__()")

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x: (B, T, D); state defaults to zeros. Returns (outputs (B, T, H), (h_T, c_T)).
        With lengths (B,), sequence b is valid for steps t < lengths[b] only: after that its
        (h, c) must stay unchanged and its outputs be zero, so that the result equals nn.LSTM
        on a packed sequence (pack_padded_sequence / pad_packed_sequence)."""
        raise NotImplementedError("katas/02_deep_learning/lstm.py: write LSTM.forward()")


def pad_batch(sequences: list[np.ndarray], pad_id: int = PAD) -> tuple[torch.Tensor, torch.Tensor]:
    """Id sequences of different lengths -> (ids (B, T_max) int64 filled with pad_id after each
    sequence's end, lengths (B,) int64). The given pad_sequences does the padding; the lengths
    are yours."""
    raise NotImplementedError("katas/02_deep_learning/lstm.py: write pad_batch()")


class SentimentClassifier(nn.Module):
    """embedding -> LSTM -> pooling -> linear, for padded batches of word ids:
    self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD);
    self.lstm = nn.LSTM(embed_dim, hidden_size, batch_first=True) (the fast one: your LSTM
    above computes the same thing); self.dropout = nn.Dropout(dropout), applied to the embedded
    words and to the pooled vector; self.head = nn.Linear(2 * hidden_size, n_classes)."""

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 64,
        hidden_size: int = 64,
        n_classes: int = 2,
        dropout: float = 0.3,
    ):
        super().__init__()
        raise NotImplementedError(
            "katas/02_deep_learning/lstm.py: write SentimentClassifier.__init__()"
        )

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """ids: (B, T), lengths: (B,) -> logits (B, n_classes). Run the LSTM on
        pack_padded_sequence(..., enforce_sorted=False) and unpack with
        pad_packed_sequence(..., total_length=T); then concatenate the mean of the outputs over
        each sequence's valid steps and their max (padded steps set to -inf first). Padding must
        not change the logits: a sequence alone and inside a padded batch give the same."""
        raise NotImplementedError(
            "katas/02_deep_learning/lstm.py: write SentimentClassifier.forward()"
        )


def evaluate_sentiment(
    model: nn.Module, sequences: list[np.ndarray], y: torch.Tensor, batch_size: int = 256
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over the sequences in eval mode, under torch.no_grad(),
    in order, batch_size sequences at a time (pad_batch each batch)."""
    raise NotImplementedError("katas/02_deep_learning/lstm.py: write evaluate_sentiment()")


def train_sentiment(
    model: nn.Module,
    train_sequences: list[np.ndarray],
    y_train: torch.Tensor,
    test_sequences: list[np.ndarray],
    y_test: torch.Tensor,
    epochs: int = 3,
    batch_size: int = 32,
    lr: float = 3e-3,
    clip: float = 1.0,
    seed: int = 0,
    progress: bool = False,
) -> History:
    """Adam(lr) on F.cross_entropy through the given train_loop(model, optimiser, batches,
    loss_fn, epochs=..., clip_grad_norm=clip, evaluate=..., progress=...). Seed
    torch.manual_seed(seed) and rng = np.random.default_rng(seed) (one for the run);
    batches(epoch) is length_bucketed_batches(lengths, batch_size, rng); loss_fn(batch) pads
    those sequences with pad_batch and returns the cross-entropy; evaluate() returns
    {"test_loss": ..., "test_accuracy": ...} from evaluate_sentiment.
    Returns train_loop's History: "train_loss" per step, the two test metrics per epoch."""
    raise NotImplementedError("katas/02_deep_learning/lstm.py: write train_sentiment()")


@dataclass
class Config:
    """Given: the settings of the full run; `kata train lstm --set name=value` changes one."""

    epochs: int = 3
    batch_size: int = 64
    lr: float = 3e-3
    clip: float = 1.0
    embed_dim: int = 64
    hidden_size: int = 64
    max_words: int = 20_000  # vocabulary size, specials not counted
    min_count: int = 2
    max_length: int = 300  # tokens kept from the start of each review
    seed: int = 0


def train(out_dir: Path, overrides: dict[str, str] | None = None) -> dict:
    """The full run (`kata train lstm`, 2.5 minutes on 2 idle cores): config =
    apply_overrides(Config(), overrides), seed_everything(config.seed); load_imdb(), tokenize,
    build_vocabulary(train tokens, max_words, min_count) (the training reviews only), encode the
    first max_length tokens of each review; SentimentClassifier(len(vocabulary), embed_dim,
    hidden_size) trained by train_sentiment with the config's epochs, batch_size, lr, clip and
    seed, with a progress bar; save the curves with plot_history to out_dir/curves.png and
    return the final test accuracy."""
    raise NotImplementedError("katas/02_deep_learning/lstm.py: write train()")
