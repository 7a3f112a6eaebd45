"""Kata 02_deep_learning/lstm: an LSTM from tensors, then a sentiment classifier on padded batches.

Lesson: katas/02_deep_learning/README.md, section "LSTM".
Run the tests:  pytest katas/02_deep_learning/test_lstm.py
Shapes: B sequences, T steps, D input features, H hidden units; batches are batch-first,
x (B, T, D); a batch of word ids is (B, T) int64 padded with PAD (0), lengths (B,) int64.
"""

from __future__ import annotations

import math  # noqa: F401 (yours to use)
from pathlib import Path  # noqa: F401 (for train)

import numpy as np
import torch
import torch.nn.functional as F  # noqa: F401 (yours to use)
from dl_helpers import (  # noqa: F401 (given)
    PAD,
    build_vocabulary,
    encode,
    length_bucketed_batches,
    plot_history,
    tokenize,
)
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: F401
from tqdm import tqdm  # noqa: F401 (yours to use)

from ml_refresher.data import load_imdb  # noqa: F401 (for train)


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
    sequence's end, lengths (B,) int64)."""
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
) -> dict[str, list[float]]:
    """Adam(lr) on F.cross_entropy. Seed torch.manual_seed(seed) and rng =
    np.random.default_rng(seed); each epoch: model.train(), then for each batch of
    length_bucketed_batches(lengths, batch_size, rng): pad_batch, loss, zero_grad, backward,
    clip the gradient norm to `clip` (nn.utils.clip_grad_norm_), step. With progress: a tqdm
    bar over the batches and each epoch's test accuracy printed (tqdm.write).
    Returns per-epoch "train_loss", "test_loss" and "test_accuracy" lists."""
    raise NotImplementedError("katas/02_deep_learning/lstm.py: write train_sentiment()")


def train(out_dir: Path) -> dict:
    """The full run (`kata train lstm`, 2.5 minutes on 2 idle cores): load_imdb(), tokenize,
    build_vocabulary(train tokens, max_size=20_000, min_count=2), encode the first 300 tokens
    of each review; SentimentClassifier(len(vocabulary) + 2, 64, 64), 3 epochs, batch_size=64,
    lr=3e-3, with a progress bar; save the curves with plot_history to out_dir/curves.png and
    return the final test accuracy."""
    raise NotImplementedError("katas/02_deep_learning/lstm.py: write train()")
