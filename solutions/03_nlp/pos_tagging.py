"""Reference: part-of-speech tagging with a most-frequent-tag baseline and a bigram HMM decoded
by Viterbi in log space."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
from nlp_helpers import unknown_word_class

from ml_refresher.data import load_treebank
from ml_refresher.training import apply_overrides


def viterbi(log_initial, log_transition, log_emission):
    n_steps, n_states = log_emission.shape
    score = log_initial + log_emission[0]  # best log-prob of a path ending in each state
    backpointer = np.zeros((n_steps, n_states), dtype=np.int64)
    for t in range(1, n_steps):
        candidates = score[:, None] + log_transition  # (from, to)
        backpointer[t] = np.argmax(candidates, axis=0)
        score = candidates[backpointer[t], np.arange(n_states)] + log_emission[t]
    path = [int(np.argmax(score))]
    for t in range(n_steps - 1, 0, -1):
        path.append(int(backpointer[t, path[-1]]))
    return path[::-1], float(np.max(score))


class MostFrequentTagTagger:
    def fit(self, tagged_sents):
        by_word = defaultdict(Counter)
        for sentence in tagged_sents:
            for word, tag in sentence:
                by_word[word][tag] += 1
        self.best_tag_ = {word: tags.most_common(1)[0][0] for word, tags in by_word.items()}
        overall = Counter(tag for sentence in tagged_sents for _, tag in sentence)
        self.default_tag_ = overall.most_common(1)[0][0]
        return self

    def tag(self, words):
        return [self.best_tag_.get(word, self.default_tag_) for word in words]


class HMMTagger:
    def __init__(self, transition_alpha=0.1, emission_alpha=0.01):
        self.transition_alpha = transition_alpha
        self.emission_alpha = emission_alpha

    def fit(self, tagged_sents):
        word_counts = Counter(word for sentence in tagged_sents for word, _ in sentence)
        # Words seen once stand in for the unseen ones: their classes learn P(class | tag).
        self.known_words_ = {word for word, count in word_counts.items() if count > 1}
        self.tags_ = sorted({tag for sentence in tagged_sents for _, tag in sentence})
        tag_index = {tag: i for i, tag in enumerate(self.tags_)}
        symbols = sorted({self._symbol(w) for sentence in tagged_sents for w, _ in sentence})
        self.symbol_index_ = {symbol: j for j, symbol in enumerate(symbols)}

        n_tags = len(self.tags_)
        initial = np.full(n_tags, self.transition_alpha)
        transition = np.full((n_tags, n_tags), self.transition_alpha)
        emission = np.full((n_tags, len(symbols)), self.emission_alpha)
        for sentence in tagged_sents:
            ids = [tag_index[tag] for _, tag in sentence]
            initial[ids[0]] += 1
            np.add.at(transition, (ids[:-1], ids[1:]), 1)
            columns = [self.symbol_index_[self._symbol(word)] for word, _ in sentence]
            np.add.at(emission, (ids, columns), 1)
        self.log_initial_ = np.log(initial / initial.sum())
        self.log_transition_ = np.log(transition / transition.sum(axis=1, keepdims=True))
        self.log_emission_ = np.log(emission / emission.sum(axis=1, keepdims=True))
        return self

    def _symbol(self, word):
        return word if word in self.known_words_ else unknown_word_class(word)

    def emission_scores(self, words):
        # A class never seen in training (e.g. no rare word was hyphenated) falls back to <unk>.
        fallback = self.symbol_index_.get("<unk>", 0)
        columns = [self.symbol_index_.get(self._symbol(w), fallback) for w in words]
        return self.log_emission_[:, columns].T

    def tag(self, words):
        if not words:
            return []
        path, _ = viterbi(self.log_initial_, self.log_transition_, self.emission_scores(words))
        return [self.tags_[i] for i in path]


def accuracy(tagger, tagged_sents):
    correct = total = 0
    for sentence in tagged_sents:
        words, gold = zip(*sentence, strict=True)
        correct += sum(p == g for p, g in zip(tagger.tag(list(words)), gold, strict=True))
        total += len(gold)
    return correct / total


@dataclass
class Config:
    """`kata train pos_tagging --set name=value` changes one of these."""

    transition_alpha: float = 0.1
    emission_alpha: float = 0.01


def train(out_dir, overrides=None):
    config = apply_overrides(Config(), overrides)
    corpus = load_treebank()
    baseline = MostFrequentTagTagger().fit(corpus.train)
    hmm = HMMTagger(config.transition_alpha, config.emission_alpha).fit(corpus.train)
    return {
        "baseline_accuracy": round(accuracy(baseline, corpus.test), 4),
        "hmm_accuracy": round(accuracy(hmm, corpus.test), 4),
    }
