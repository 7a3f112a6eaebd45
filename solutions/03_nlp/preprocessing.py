"""Reference: a text preprocessing pipeline with NLTK, and a regular-expression word tokenizer."""

from __future__ import annotations

import re

import nltk
from nltk.corpus import stopwords
from nltk.stem import PorterStemmer, SnowballStemmer, WordNetLemmatizer


def sentences(text):
    return nltk.sent_tokenize(text)


def words(text):
    return nltk.word_tokenize(text)


def is_punctuation(token):
    # Covers "," and "..." and also the Treebank quotes `` and '' that word_tokenize produces.
    return not any(c.isalnum() for c in token)


def normalise(tokens, stop_words=None):
    stop = set(stopwords.words("english") if stop_words is None else stop_words)
    lowered = (t.lower() for t in tokens)  # before the stop-word test: the list is lower-case
    return [t for t in lowered if not is_punctuation(t) and t not in stop]


def stem(tokens, algorithm="porter"):
    stemmers = {"porter": PorterStemmer, "snowball": lambda: SnowballStemmer("english")}
    if algorithm not in stemmers:
        raise ValueError(f"algorithm must be one of {sorted(stemmers)}, got {algorithm!r}")
    stemmer = stemmers[algorithm]()
    return [stemmer.stem(t) for t in tokens]


def wordnet_pos(penn_tag):
    return {"J": "a", "V": "v", "R": "r"}.get(penn_tag[:1], "n")


def lemmatise(tokens, tags=None):
    lemmatizer = WordNetLemmatizer()
    tags = tags if tags is not None else ["NN"] * len(tokens)
    if len(tags) != len(tokens):
        raise ValueError(f"tags has {len(tags)} entries, expected {len(tokens)} (one per token)")
    return [lemmatizer.lemmatize(t, wordnet_pos(tag)) for t, tag in zip(tokens, tags, strict=True)]


def preprocess(text, reduce="lemma"):
    reducers = {
        "lemma": lemmatise,
        "porter": lambda ts: stem(ts, "porter"),
        "snowball": lambda ts: stem(ts, "snowball"),
    }
    if reduce not in reducers:
        raise ValueError(f"reduce must be one of {sorted(reducers)}, got {reduce!r}")
    return [reducers[reduce](normalise(words(s))) for s in sentences(text)]


TOKEN = re.compile(
    r"""
      (?:[A-Za-z]\.){2,}         # abbreviations with inner periods: U.S.A., e.g., p.m.
    | \$?\d+(?:[.,]\d+)*%?       # numbers, money and percentages: 1,000.5  $3.50  50%
    | \w+(?:[-']\w+)*            # words with inner hyphens or apostrophes: state-of-the-art, don't
    | \.\.\.|--                  # ellipsis and dash
    | [^\w\s]                    # any other single punctuation mark
    """,
    re.VERBOSE,
)


def regex_tokenize(text):
    return TOKEN.findall(text)
