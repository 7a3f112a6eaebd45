"""Kata 03_nlp/pos_tagging: a most-frequent-tag baseline and a bigram HMM tagger with Viterbi.

Lesson: katas/03_nlp/README.md, section "Part-of-speech tagging".
Run the tests:  pytest katas/03_nlp/test_pos_tagging.py
A tagged sentence is a list of (word, tag) pairs; K tags, T words in the sentence being tagged.
All probabilities are kept as natural logarithms.
"""

from __future__ import annotations

from collections import Counter, defaultdict  # noqa: F401 (yours to use)
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nlp_helpers import unknown_word_class  # noqa: F401 (given: the class of an unseen word)

from ml_refresher.data import load_treebank  # noqa: F401 (for train)
from ml_refresher.training import apply_overrides  # noqa: F401 (given, for train)


def viterbi(
    log_initial: np.ndarray, log_transition: np.ndarray, log_emission: np.ndarray
) -> tuple[list[int], float]:
    """The most probable state sequence of an HMM, in log space.
    log_initial: (K,) log P(s_0 = j); log_transition: (K, K) log P(s_t = j | s_{t-1} = i) at
    [i, j]; log_emission: (T, K) log P(word_t | s_t = j).
    delta_0 = log_initial + log_emission[0];
    delta_t[j] = max_i (delta_{t-1}[i] + log_transition[i, j]) + log_emission[t, j],
    keeping the argmax i as a backpointer; follow them back from argmax delta_{T-1}.
    Returns (path: T state indices, its log-probability max delta_{T-1})."""
    raise NotImplementedError("katas/03_nlp/pos_tagging.py: write viterbi()")


class MostFrequentTagTagger:
    """Tags each word with the tag it had most often in training; words never seen get the most
    frequent tag of the whole training set."""

    def fit(self, tagged_sents: list[list[tuple[str, str]]]) -> MostFrequentTagTagger:
        """Count tags per word and overall. Returns self."""
        raise NotImplementedError("katas/03_nlp/pos_tagging.py: write MostFrequentTagTagger.fit()")

    def tag(self, words: list[str]) -> list[str]:
        """One tag per word."""
        raise NotImplementedError("katas/03_nlp/pos_tagging.py: write MostFrequentTagTagger.tag()")


class HMMTagger:
    """A bigram hidden Markov model: tags are the hidden states, words the observations.

    fit sets these attributes:
      tags_: the K tags, sorted; state j is tags_[j].
      log_initial_ (K,): log of (count of sentences starting with tag j + a) / (n_sents + a K).
      log_transition_ (K, K): [i, j] = log of (count of tag i followed by tag j + a)
          / (count of tag i followed by any tag + a K), with a = transition_alpha.
      log_emission_ (K, S): [j, s] = log of (count of symbol s tagged j + b)
          / (count of tag j + b S), with b = emission_alpha over the S symbols.
    A word's symbol is the word itself if it occurs more than once in training, else
    unknown_word_class(word): words seen once stand in for the words never seen, so that at
    tagging time an unseen word gets the emission of its class (a class never seen in training
    uses the "<unk>" symbol)."""

    def __init__(self, transition_alpha: float = 0.1, emission_alpha: float = 0.01):
        self.transition_alpha = transition_alpha
        self.emission_alpha = emission_alpha

    def fit(self, tagged_sents: list[list[tuple[str, str]]]) -> HMMTagger:
        """Count, smooth and take logs as described above. Returns self."""
        raise NotImplementedError("katas/03_nlp/pos_tagging.py: write HMMTagger.fit()")

    def emission_scores(self, words: list[str]) -> np.ndarray:
        """(T, K): row t is log P(symbol of words[t] | tag j) for every tag j."""
        raise NotImplementedError("katas/03_nlp/pos_tagging.py: write HMMTagger.emission_scores()")

    def tag(self, words: list[str]) -> list[str]:
        """The Viterbi tag sequence of a sentence ([] for no words)."""
        raise NotImplementedError("katas/03_nlp/pos_tagging.py: write HMMTagger.tag()")


def accuracy(tagger, tagged_sents: list[list[tuple[str, str]]]) -> float:
    """Token accuracy: the share of words whose tagger.tag(sentence words) tag is the gold one."""
    raise NotImplementedError("katas/03_nlp/pos_tagging.py: write accuracy()")


@dataclass
class Config:
    """Given: the settings of the full run; `kata train pos_tagging --set name=value` changes
    one."""

    transition_alpha: float = 0.1
    emission_alpha: float = 0.01


def train(out_dir: Path, overrides: dict[str, str] | None = None) -> dict:
    """The full run (`kata train pos_tagging`): config = apply_overrides(Config(), overrides);
    fit both taggers (the HMM with the config's two alphas) on load_treebank().train (the
    first 3,000 sentences, from ml_refresher.data) and return
    {"baseline_accuracy": ..., "hmm_accuracy": ...} on its test part."""
    raise NotImplementedError("katas/03_nlp/pos_tagging.py: write train()")
