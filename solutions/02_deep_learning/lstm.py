"""Reference: an LSTM written from tensors, and an LSTM sentiment classifier for padded batches."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from dl_helpers import PAD, build_vocabulary, encode, length_bucketed_batches, tokenize
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ml_refresher.data import load_imdb
from ml_refresher.training import apply_overrides, plot_history, seed_everything, train_loop
from ml_refresher.vocab import pad_sequences


class LSTMCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        # torch.nn.LSTM's layout: the four gates stacked in the order input, forget, cell, output.
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        bound = 1.0 / math.sqrt(hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def forward(self, x, state):
        h, c = state
        gates = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh
        i, f, g, o = gates.chunk(4, dim=1)
        i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
        # The cell state is updated additively: gradients flow back through f, not through a
        # squashing nonlinearity at every step, which is what tames the vanishing gradient.
        c = f * c + i * torch.tanh(g)
        h = o * torch.tanh(c)
        return h, c


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.cell = LSTMCell(input_size, hidden_size)

    def forward(self, x, lengths=None, state=None):
        batch, steps, _ = x.shape
        if state is None:
            zeros = x.new_zeros(batch, self.cell.hidden_size)
            state = (zeros, zeros)
        h, c = state
        outputs = []
        for t in range(steps):
            h_new, c_new = self.cell(x[:, t], (h, c))
            if lengths is None:
                h, c = h_new, c_new
                outputs.append(h)
                continue
            # Past its end a sequence keeps its state, so the final state is the one after its
            # own last word, and its padded outputs are zero, as pad_packed_sequence gives.
            valid = (t < lengths).unsqueeze(1)
            h, c = torch.where(valid, h_new, h), torch.where(valid, c_new, c)
            outputs.append(torch.where(valid, h_new, torch.zeros_like(h_new)))
        return torch.stack(outputs, dim=1), (h, c)


def pad_batch(sequences, pad_id=PAD):
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
    return pad_sequences(sequences, pad_id), lengths


class SentimentClassifier(nn.Module):
    def __init__(self, vocab_size, embed_dim=64, hidden_size=64, n_classes=2, dropout=0.3):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.lstm = nn.LSTM(embed_dim, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden_size, n_classes)

    def forward(self, ids, lengths):
        steps = ids.shape[1]
        embedded = self.dropout(self.embedding(ids))
        # Packing makes the LSTM stop at each sequence's end: no padding ever enters the state.
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        outputs, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=steps)
        mask = (torch.arange(steps) < lengths.unsqueeze(1)).unsqueeze(2)  # (B, T, 1)
        mean = (outputs * mask).sum(dim=1) / lengths.unsqueeze(1)
        # -inf where padded, so a padded zero can never be the maximum of negative activations.
        peak = outputs.masked_fill(~mask, float("-inf")).amax(dim=1)
        return self.head(self.dropout(torch.cat([mean, peak], dim=1)))


@torch.no_grad()
def evaluate_sentiment(model, sequences, y, batch_size=256):
    model.eval()
    loss = correct = 0.0
    for start in range(0, len(sequences), batch_size):
        logits = model(*pad_batch(sequences[start : start + batch_size]))
        target = y[start : start + batch_size]
        loss += F.cross_entropy(logits, target, reduction="sum").item()
        correct += (logits.argmax(dim=1) == target).sum().item()
    return loss / len(sequences), correct / len(sequences)


def train_sentiment(
    model,
    train_sequences,
    y_train,
    test_sequences,
    y_test,
    epochs=3,
    batch_size=32,
    lr=3e-3,
    clip=1.0,
    seed=0,
    progress=False,
):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    lengths = np.array([len(s) for s in train_sequences])

    def batches(epoch):
        # Similar lengths together: a batch of one long and 63 short reviews is mostly padding.
        return length_bucketed_batches(lengths, batch_size, rng)

    def loss(batch):
        logits = model(*pad_batch([train_sequences[i] for i in batch]))
        return F.cross_entropy(logits, y_train[batch])

    def test_metrics():
        test_loss, test_accuracy = evaluate_sentiment(model, test_sequences, y_test)
        return {"test_loss": test_loss, "test_accuracy": test_accuracy}

    # Recurrent nets can have rare huge gradients (exploding, the twin of vanishing): clipping
    # the norm keeps one bad batch from wrecking the weights.
    return train_loop(
        model,
        optimiser,
        batches,
        loss,
        epochs=epochs,
        clip_grad_norm=clip,
        evaluate=test_metrics,
        progress=progress,
        desc="lstm",
    )


@dataclass
class Config:
    """`kata train lstm --set name=value` changes one of these."""

    epochs: int = 3
    batch_size: int = 64
    lr: float = 3e-3
    clip: float = 1.0
    embed_dim: int = 64
    hidden_size: int = 64
    max_words: int = 20_000  # vocabulary size, specials not counted
    min_count: int = 2
    # The first 300 tokens hold the whole of 77% of the reviews (the median is 175 tokens) and
    # bound the number of sequential LSTM steps, which is what costs time on a CPU.
    max_length: int = 300
    seed: int = 0


def train(out_dir, overrides=None):
    config = apply_overrides(Config(), overrides)
    seed_everything(config.seed)
    data = load_imdb()
    train_tokens = [tokenize(text) for text in data.train_texts]
    # From the training reviews only: words seen just in the test set must be unknown.
    vocabulary = build_vocabulary(train_tokens, config.max_words, config.min_count)
    train_sequences = [encode(tokens, vocabulary, config.max_length) for tokens in train_tokens]
    test_sequences = [
        encode(tokenize(text), vocabulary, config.max_length) for text in data.test_texts
    ]
    model = SentimentClassifier(len(vocabulary), config.embed_dim, config.hidden_size)
    history = train_sentiment(
        model,
        train_sequences,
        torch.as_tensor(data.y_train),
        test_sequences,
        torch.as_tensor(data.y_test),
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        clip=config.clip,
        seed=config.seed,
        progress=True,
    )
    plot_history(history, Path(out_dir) / "curves.png", "LSTM sentiment on IMDB")
    return {
        "data": f"IMDB 25,000 / 25,000 (first {config.max_length} tokens of each review)",
        "test_accuracy": round(history.last("test_accuracy"), 4),
        "epochs": config.epochs,
    }
