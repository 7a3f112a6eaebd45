"""Kata 03_nlp/word2vec: skip-gram with negative sampling in torch, nearest neighbours, t-SNE.

Lesson: katas/03_nlp/README.md, section "word2vec".
Run the tests:  pytest katas/03_nlp/test_word2vec.py
V words in the vocabulary, d dimensions; word ids are int64; a batch holds B (centre, context)
pairs and k negative samples per pair.
"""

from __future__ import annotations

import dataclasses  # noqa: F401 (yours to use)
from collections import Counter  # noqa: F401 (yours to use)
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: F401 (yours to use)
from nlp_helpers import SANITY_GROUPS, scatter_words  # noqa: F401 (given)
from sklearn.manifold import TSNE  # noqa: F401 (yours to use)
from torch import nn
from tqdm import tqdm  # noqa: F401 (yours to use)

from ml_refresher.data import load_brown  # noqa: F401 (for train)
from ml_refresher.training import apply_overrides  # noqa: F401 (given, for train)


@dataclass
class Vocabulary:
    words: list[str]  # id -> word, most frequent first, ties in alphabetical order
    counts: np.ndarray  # (V,) int64 corpus counts
    index: dict[str, int]  # word -> id

    def encode(self, sentence: list[str]) -> np.ndarray:
        """The ids of the sentence's words, int64; words not in the vocabulary are dropped."""
        raise NotImplementedError("katas/03_nlp/word2vec.py: write Vocabulary.encode()")


def build_vocabulary(sentences: list[list[str]], min_count: int = 5) -> Vocabulary:
    """The words occurring at least min_count times, ordered as Vocabulary.words says."""
    raise NotImplementedError("katas/03_nlp/word2vec.py: write build_vocabulary()")


def keep_probabilities(counts: np.ndarray, threshold: float = 1e-4) -> np.ndarray:
    """Frequent-word subsampling: keep each occurrence of word w with probability
    min(1, sqrt(threshold / f(w))), f(w) = count(w) / total count. (V,) float64."""
    raise NotImplementedError("katas/03_nlp/word2vec.py: write keep_probabilities()")


def subsample(ids: np.ndarray, keep_prob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keep ids[i] when rng.random() < keep_prob[ids[i]] (one draw per occurrence, in order)."""
    raise NotImplementedError("katas/03_nlp/word2vec.py: write subsample()")


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """The negative-sampling distribution P(w) proportional to count(w)^power, (V,) summing to 1."""
    raise NotImplementedError("katas/03_nlp/word2vec.py: write noise_distribution()")


def skipgram_pairs(sentences: list[np.ndarray], window: int) -> tuple[np.ndarray, np.ndarray]:
    """All (centre, context) id pairs with the context at most `window` positions before or after
    the centre in the same sentence (never across sentences). Returns (centres, contexts), two
    int64 arrays of equal length, in any order. Vectorise over offsets 1..window."""
    raise NotImplementedError("katas/03_nlp/word2vec.py: write skipgram_pairs()")


class SkipGram(nn.Module):
    """Two embedding tables: `center` (v_w, for a word as the centre) and `context` (u_w, for a
    word as the context). Initialise center uniformly in [-0.5/d, 0.5/d] and context to zeros."""

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        raise NotImplementedError("katas/03_nlp/word2vec.py: write SkipGram.__init__()")

    def forward(
        self, centers: torch.Tensor, contexts: torch.Tensor, negatives: torch.Tensor
    ) -> torch.Tensor:
        """The negative-sampling loss, averaged over the batch:
        mean_b [ -log sigmoid(u_o . v_c) - sum_k log sigmoid(-u_k . v_c) ].
        centers, contexts: (B,) ids; negatives: (B, k) ids. Returns a scalar tensor.
        Use F.logsigmoid: log(torch.sigmoid(x)) is -inf once sigmoid rounds to 0."""
        raise NotImplementedError("katas/03_nlp/word2vec.py: write SkipGram.forward()")


@dataclass
class Word2Vec:
    vocab: Vocabulary
    vectors: np.ndarray  # (V, d) the trained centre vectors, float32
    losses: list[float]  # mean loss of each epoch


def train_word2vec(
    sentences: list[list[str]],
    dim: int = 50,
    window: int = 2,
    negatives: int = 5,
    epochs: int = 5,
    batch_size: int = 512,
    lr: float = 0.01,
    min_count: int = 1,
    subsample_threshold: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> Word2Vec:
    """Train skip-gram with negative sampling. Seed numpy (np.random.default_rng(seed)) and torch
    (torch.manual_seed and a torch.Generator for the negatives). Build the vocabulary and encode
    the sentences; then each epoch: subsample every sentence afresh, make the skip-gram pairs,
    shuffle them, and for each batch draw negatives*B ids from the noise distribution
    (torch.multinomial with replacement), take an Adam step on SkipGram's loss; record the
    epoch's mean loss. Show a tqdm bar over the batches when progress is True."""
    raise NotImplementedError("katas/03_nlp/word2vec.py: write train_word2vec()")


def nearest_neighbours(
    vectors: np.ndarray, vocab: Vocabulary, word: str, k: int = 5
) -> list[tuple[str, float]]:
    """The k words of highest cosine similarity u.v / (|u| |v|) to `word`, best first, as
    (word, similarity); the word itself is excluded. A word not in vocab is
    KeyError(f"{word!r} is not in the vocabulary ({V} words)")."""
    raise NotImplementedError("katas/03_nlp/word2vec.py: write nearest_neighbours()")


def group_hit_rate(
    vectors: np.ndarray, vocab: Vocabulary, groups: dict[str, list[str]], k: int = 10
) -> float:
    """The share of the groups' words (those in vocab) that have at least one other member of
    their group among their k nearest neighbours: 1.0 when every group clusters."""
    raise NotImplementedError("katas/03_nlp/word2vec.py: write group_hit_rate()")


def tsne_coordinates(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE of n vectors (n, d) -> (n, 2) with scikit-learn's TSNE: cosine metric, PCA
    initialisation, method="exact" (the Barnes-Hut approximation only pays off for thousands of
    points), random_state=seed, and perplexity min(30, (n - 1) / 3), which must stay below n."""
    raise NotImplementedError("katas/03_nlp/word2vec.py: write tsne_coordinates()")


def plot_tsne(
    vectors: np.ndarray,
    vocab: Vocabulary,
    groups: dict[str, list[str]],
    path: str | Path,
    seed: int = 0,
) -> Path:
    """t-SNE map of the groups' words that are in vocab, coloured by group (0, 1, ... in the
    order of groups), drawn with the given scatter_words. Returns the PNG's path."""
    raise NotImplementedError("katas/03_nlp/word2vec.py: write plot_tsne()")


@dataclass
class Config:
    """Given: the settings of the full run; `kata train word2vec --set name=value` changes one.
    The names are train_word2vec's: train_word2vec(sentences, **dataclasses.asdict(config))."""

    dim: int = 100
    window: int = 5
    negatives: int = 5
    epochs: int = 5
    batch_size: int = 4096
    lr: float = 0.003
    min_count: int = 5
    subsample_threshold: float = 1e-4
    seed: int = 0


def train(out_dir: Path, overrides: dict[str, str] | None = None) -> dict:
    """The full run (`kata train word2vec`, about 2 minutes): config =
    apply_overrides(Config(), overrides); train on load_brown() (from ml_refresher.data),
    lower-cased, keeping tokens with a letter, with the config's settings and a progress bar;
    write out_dir/tsne.png of SANITY_GROUPS and return the vocabulary size, the final loss,
    group_hit_rate of each sanity group and the neighbours of "monday" and "three"."""
    raise NotImplementedError("katas/03_nlp/word2vec.py: write train()")
