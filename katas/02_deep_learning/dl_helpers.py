"""Given code for the 02_deep_learning katas: things the lessons use but do not ask you to write.

- bars_task: generated images (a bar drawn in one of four orientations) with known labels, to see
  a CNN learn in seconds;
- negation_task: generated sentences whose label depends on word order ("not good"), which a
  bag of words cannot solve and an LSTM can;
- tokenize, build_vocabulary, encode: turn review text into int64 word ids for the LSTM;
- from the support package, under the names the lessons use: plot_history (loss and metric
  curves to a PNG, ml_refresher.training), Vocabulary and length_bucketed_batches (batches of
  similar lengths, so that padding costs little; ml_refresher.vocab).
"""

from __future__ import annotations

import re

import numpy as np

from ml_refresher.training import plot_history
from ml_refresher.vocab import Vocabulary, length_bucketed_batches

__all__ = [
    "PAD",
    "UNK",
    "Vocabulary",
    "bars_task",
    "build_vocabulary",
    "encode",
    "length_bucketed_batches",
    "negation_task",
    "plot_history",
    "tokenize",
]

PAD, UNK = Vocabulary.pad_id, Vocabulary.unk_id  # 0 and 1 in every Vocabulary


def bars_task(
    n: int, channels: int = 3, size: int = 32, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """n noisy images, each with one bright bar of random colour, length and position. The label
    is the bar's orientation: 0 horizontal, 1 vertical, 2 diagonal, 3 anti-diagonal. Local
    patterns anywhere in the image: the case convolutions and pooling are made for.
    Returns (images (n, channels, size, size) float32 in about [0, 1], labels (n,) int64)."""
    rng = np.random.default_rng(seed)
    images = 0.3 * rng.random((n, channels, size, size), dtype=np.float32)
    labels = rng.integers(0, 4, size=n)
    steps = {0: (0, 1), 1: (1, 0), 2: (1, 1), 3: (1, -1)}  # (row step, column step)
    for image, label in zip(images, labels, strict=True):
        length = rng.integers(size // 3, size // 2)
        d_row, d_col = steps[int(label)]
        # A start point that keeps the whole bar inside the image.
        row = rng.integers(0, size - d_row * length)
        col = rng.integers(length if d_col < 0 else 0, size - max(d_col, 0) * length)
        colour = 0.6 + 0.4 * rng.random(channels, dtype=np.float32)
        k = np.arange(length)
        image[:, row + d_row * k, col + d_col * k] = colour[:, None]
    return images, labels.astype(np.int64)


_FILLERS = "the movie film plot was is a and it this story acting really quite very".split()
_POSITIVE = "good great fine nice wonderful fun".split()
_NEGATIVE = "bad awful boring dull poor weak".split()


def negation_task(n: int, seed: int = 0) -> tuple[list[list[str]], np.ndarray]:
    """n generated sentences of filler words with one sentiment word and one "not" each. The
    label (1 positive, 0 negative) is the sentiment word's, flipped when "not" comes right before
    it: "the film was not good" is negative, "not the film was good" is positive. Every sentence
    holds the same kinds of words, so only their order tells the classes apart.
    Returns (token lists, labels (n,) int64)."""
    rng = np.random.default_rng(seed)
    sentences, labels = [], []
    for _ in range(n):
        words = list(rng.choice(_FILLERS, size=rng.integers(4, 10)))
        positive = rng.random() < 0.5
        at = int(rng.integers(1, len(words) + 1))
        words.insert(at, str(rng.choice(_POSITIVE if positive else _NEGATIVE)))
        negated = rng.random() < 0.5
        if negated:
            words.insert(at, "not")
        else:  # anywhere except right before the sentiment word
            words.insert(int(rng.choice([i for i in range(len(words) + 1) if i != at])), "not")
        sentences.append(words)
        labels.append(int(positive != negated))
    return sentences, np.array(labels, dtype=np.int64)


def tokenize(text: str) -> list[str]:
    """Lower-cased words (with inner apostrophes) and the punctuation ! ? as tokens; HTML line
    breaks (IMDB's <br />) are dropped."""
    text = text.lower().replace("<br />", " ")
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?|[!?]", text)


def build_vocabulary(
    token_lists: list[list[str]], max_size: int = 20_000, min_count: int = 1
) -> Vocabulary:
    """A Vocabulary of the max_size most frequent words seen at least min_count times (ties in
    alphabetical order), after the specials: PAD is id 0, UNK id 1. Its len() counts them all,
    so it is the size an nn.Embedding needs."""
    return Vocabulary.build(token_lists, max_size=max_size, min_count=min_count)


def encode(tokens: list[str], vocabulary: Vocabulary, max_length: int | None = None) -> np.ndarray:
    """The ids of the first max_length tokens (all with None), UNK for words not in the
    vocabulary, int64. Never empty: an empty text becomes [UNK], since a sequence of length 0
    cannot be packed for an LSTM."""
    ids = vocabulary.encode(tokens[:max_length]) or [vocabulary.unk_id]
    return np.array(ids, dtype=np.int64)
