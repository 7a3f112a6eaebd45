"""What a loader returns, and the one deterministic way every loader splits its data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

SEED = 0  # every shuffle and split uses it, so that a loader returns the same split everywhere


@dataclass
class ImageDataset:
    """Images uint8, (N, 28, 28) or (N, 32, 32, 3); labels int64 (N,); classes[label] names it."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]


@dataclass
class TextDataset:
    """Texts as strings; labels int64 (N,); classes[label] names it."""

    train_texts: list[str]
    y_train: np.ndarray
    test_texts: list[str]
    y_test: np.ndarray
    classes: list[str]


@dataclass
class TaggedCorpus:
    """Sentences as lists of (token, tag) pairs."""

    train: list[list[tuple[str, str]]]
    test: list[list[tuple[str, str]]]


@dataclass
class LanguageModelText:
    """Sentences as token lists in three splits, unpackable as `train, valid, test = ...`;
    `source` names the corpus they came from."""

    train: list[list[str]]
    valid: list[list[str]]
    test: list[list[str]]
    source: str

    def __iter__(self):
        return iter((self.train, self.valid, self.test))


class TokenStream(list):
    """A corpus as one list of tokens; `source` names the corpus."""

    def __init__(self, tokens, source: str):
        super().__init__(tokens)
        self.source = source


def stratified_split(labels: np.ndarray, test_size: int | float) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled (train, test) index arrays with the class proportions of `labels` in both."""
    indices = np.arange(len(labels))
    train, test = train_test_split(
        indices, test_size=test_size, stratify=labels, random_state=SEED, shuffle=True
    )
    return train, test


def split_texts(texts: list[str], labels: np.ndarray, test_size, classes) -> TextDataset:
    train, test = stratified_split(labels, test_size)
    return TextDataset(
        train_texts=[texts[i] for i in train],
        y_train=labels[train],
        test_texts=[texts[i] for i in test],
        y_test=labels[test],
        classes=list(classes),
    )
