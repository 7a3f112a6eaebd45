"""Given code for the 03_nlp katas: things the lessons use but do not ask you to write.

- unknown_word_class: the pseudo-word an HMM tagger uses for a word it has never seen;
- synonym_corpus: a generated corpus with planted groups of interchangeable words, so that a
  word2vec model can be checked against a known answer;
- SANITY_GROUPS: the word groups a word2vec model trained on the Brown corpus should cluster;
- scatter_words: draws labelled 2-D points (a t-SNE map) to a PNG.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

# Checked in order: the first suffix that matches names the class. These endings carry most of
# the part-of-speech signal of an English word (-ing: VBG, -ed: VBD/VBN, -ly: RB, -s: NNS/VBZ).
_SUFFIXES = ("ing", "ed", "ly", "ion", "ity", "er", "est", "al", "ive", "able", "ous", "s")


def unknown_word_class(word: str) -> str:
    """A pseudo-word such as "<num>", "<cap>" or "<-ing>" that stands for all rare words of the
    same shape: the tagger learns P(class | tag) from the words seen once in training and uses it
    for words never seen at all."""
    if any(c.isdigit() for c in word) and re.fullmatch(r"[\d.,:/-]+", word):
        return "<num>"
    if word.startswith("*"):  # treebank traces such as *T*-1: always tagged -NONE-
        return "<trace>"
    if "-" in word:
        return "<hyphen>"
    if word[:1].isupper():
        return "<cap-s>" if word.endswith("s") else "<cap>"
    for suffix in _SUFFIXES:
        if word.endswith(suffix):
            return f"<-{suffix}>"
    return "<unk>"


# Each group is one slot of the templates below: its words are interchangeable (same contexts),
# and no two groups share a slot, so each word's nearest neighbours should be its group mates.
SYNONYM_GROUPS = {
    "animal": ["cat", "dog", "fox", "horse"],
    "colour": ["red", "green", "blue", "yellow"],
    "verb": ["chases", "watches", "follows", "finds"],
    "place": ["garden", "river", "forest", "village"],
    "time": ["morning", "evening", "night", "winter"],
}
_TEMPLATES = [
    "the {colour} {animal} {verb} a bird in the {place}",
    "every {time} the {animal} sleeps near the {place}",
    "a {colour} hat was seen in the {place} one {time}",
    "she {verb} the {colour} ball before the {time}",
    "my {animal} likes the {colour} flowers of the {place}",
]


def synonym_corpus(n_sentences: int = 3000, seed: int = 0) -> tuple[list[list[str]], dict]:
    """n_sentences tokenised sentences from the templates, each slot filled uniformly from its
    group. Returns (sentences, SYNONYM_GROUPS)."""
    rng = np.random.default_rng(seed)
    sentences = []
    for _ in range(n_sentences):
        template = _TEMPLATES[rng.integers(len(_TEMPLATES))]
        fill = {slot: words[rng.integers(len(words))] for slot, words in SYNONYM_GROUPS.items()}
        sentences.append(template.format(**fill).split())
    return sentences, SYNONYM_GROUPS


# The lesson's sanity check on the Brown corpus (lower-cased): distributional similarity should
# put these words near each other after a couple of minutes of training.
SANITY_GROUPS = {
    "days": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
    "numbers": ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"],
    "months": ["january", "february", "march", "april", "june", "july", "august"],
}


def scatter_words(
    coords: np.ndarray, words: list[str], path: str | Path, colours: list[int] | None = None
) -> Path:
    """Draw each word at its 2-D point (coords: (n, 2)), coloured by the optional group index,
    and save a PNG (Agg backend, no screen needed). Returns the path."""
    path = Path(path)
    fig = Figure(figsize=(8, 8), dpi=100)
    ax = fig.add_subplot()
    # A colour map only means something when there are group indices to map.
    colouring = {"c": colours, "cmap": "tab10"} if colours is not None else {}
    ax.scatter(coords[:, 0], coords[:, 1], s=20, **colouring)
    for (x, y), word in zip(coords, words, strict=True):
        ax.annotate(word, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
    ax.set_title("t-SNE of word vectors")
    fig.savefig(path)
    return path
