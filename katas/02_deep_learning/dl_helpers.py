"""Given code for the 02_deep_learning katas: things the lessons use but do not ask you to write.

- plot_history: draws the loss and accuracy curves of a training run to a PNG;
- bars_task: generated images (a bar drawn in one of four orientations) with known labels, to see
  a CNN learn in seconds;
- negation_task: generated sentences whose label depends on word order ("not good"), which a
  bag of words cannot solve and an LSTM can;
- tokenize, build_vocabulary, encode: turn review text into int64 word ids for the LSTM;
- length_bucketed_batches: batches of similar lengths, so that padding costs little.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

PAD, UNK = 0, 1  # word ids reserved by build_vocabulary


def plot_history(history: dict[str, list[float]], path: str | Path, title: str) -> Path:
    """Two panels, one point per epoch: every "*loss" series on the left, every "*accuracy"
    series on the right. Saves a PNG (Agg backend, no screen needed) and returns its path."""
    path = Path(path)
    fig = Figure(figsize=(10, 4), dpi=100)
    loss_ax, accuracy_ax = fig.subplots(1, 2)
    for name, values in history.items():
        ax = loss_ax if name.endswith("loss") else accuracy_ax if "accuracy" in name else None
        if ax is not None:
            ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
    for ax, label in ((loss_ax, "loss"), (accuracy_ax, "accuracy")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.savefig(path)
    return path


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
) -> dict[str, int]:
    """word -> id for the max_size most frequent words seen at least min_count times (ties in
    alphabetical order). Ids 0 and 1 are reserved for padding (PAD) and unknown words (UNK)."""
    counts = Counter(token for tokens in token_lists for token in tokens)
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return {word: i + 2 for i, word in enumerate(kept[:max_size])}


def encode(tokens: list[str], vocabulary: dict[str, int], max_length: int | None = None):
    """The ids of the tokens (UNK for words not in the vocabulary), int64, at least one id
    (an empty text becomes [UNK]); with max_length, only the first max_length tokens."""
    ids = [vocabulary.get(token, UNK) for token in tokens[:max_length]] or [UNK]
    return np.array(ids, dtype=np.int64)


def length_bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Index batches for one epoch in which sequences of similar length go together, so that
    little of each padded batch is padding: shuffle, sort chunks of 50 batches by length, cut
    them into batches, then shuffle the batches. Every index appears exactly once."""
    order = rng.permutation(len(lengths))
    chunk = 50 * batch_size
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
