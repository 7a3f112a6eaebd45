"""Kata 03_nlp/preprocessing: a text pipeline with NLTK, and a word tokenizer from scratch.

Lesson: katas/03_nlp/README.md, section "Preprocessing".
Run the tests:  pytest katas/03_nlp/test_preprocessing.py
A text is a str, a token list a list[str]; Penn Treebank tags are strings such as "NN", "VBD".
NLTK needs its data (punkt_tab, stopwords, wordnet): `kata setup` fetches it.
"""

from __future__ import annotations

import re  # noqa: F401 (yours to use)

import nltk  # noqa: F401 (yours to use)
from nltk.corpus import stopwords  # noqa: F401 (yours to use)
from nltk.stem import PorterStemmer, SnowballStemmer, WordNetLemmatizer  # noqa: F401


def sentences(text: str) -> list[str]:
    """Split text into sentences with NLTK's Punkt model (nltk.sent_tokenize), which knows that
    "Mr." does not end a sentence."""
    raise NotImplementedError("katas/03_nlp/preprocessing.py: write sentences()")


def words(text: str) -> list[str]:
    """Split text into tokens with NLTK's Treebank tokenizer (nltk.word_tokenize):
    "Don't stop." -> ["Do", "n't", "stop", "."]."""
    raise NotImplementedError("katas/03_nlp/preprocessing.py: write words()")


def is_punctuation(token: str) -> bool:
    """True when the token has no letter or digit at all: ",", "...", "--", and the Treebank
    quotes "``" and "''"; False for "n't", "3.5", "U.S.", "a"."""
    raise NotImplementedError("katas/03_nlp/preprocessing.py: write is_punctuation()")


def normalise(tokens: list[str], stop_words: list[str] | None = None) -> list[str]:
    """Lower-case every token, then drop punctuation tokens and stop words (NLTK's English list
    when stop_words is None; pass [] to keep them all). Order preserved."""
    raise NotImplementedError("katas/03_nlp/preprocessing.py: write normalise()")


def stem(tokens: list[str], algorithm: str = "porter") -> list[str]:
    """Stem every token with NLTK's PorterStemmer ("porter") or SnowballStemmer("english")
    ("snowball"). Any other algorithm is
    ValueError(f"algorithm must be one of ['porter', 'snowball'], got {algorithm!r}")."""
    raise NotImplementedError("katas/03_nlp/preprocessing.py: write stem()")


def wordnet_pos(penn_tag: str) -> str:
    """The WordNet part of speech for a Penn Treebank tag: J* -> "a" (adjective), V* -> "v",
    R* -> "r" (adverb), anything else -> "n" (noun)."""
    raise NotImplementedError("katas/03_nlp/preprocessing.py: write wordnet_pos()")


def lemmatise(tokens: list[str], tags: list[str] | None = None) -> list[str]:
    """The WordNet lemma of every token (WordNetLemmatizer), using wordnet_pos of its Penn tag;
    without tags every token is treated as a noun. One tag per token: otherwise
    ValueError(f"tags has {len(tags)} entries, expected {len(tokens)} (one per token)")."""
    raise NotImplementedError("katas/03_nlp/preprocessing.py: write lemmatise()")


def preprocess(text: str, reduce: str = "lemma") -> list[list[str]]:
    """The whole pipeline, one token list per sentence: sentences -> words -> normalise -> reduce,
    where reduce is "lemma" (lemmatise, no tags), "porter" or "snowball" (stem); any other value
    is a ValueError."""
    raise NotImplementedError("katas/03_nlp/preprocessing.py: write preprocess()")


def regex_tokenize(text: str) -> list[str]:
    """A word tokenizer in one regular expression (re.findall), no NLTK. Alternatives, tried in
    this order at each position:
      abbreviations with inner periods     U.S.A.  e.g.  p.m.   (two or more letter-period
                                           pairs, the final period included: "B." is B, .)
      numbers, money and percentages       1,000.5  $3.50  50%
      words with inner hyphens/apostrophes state-of-the-art  don't  O'Neill's
      ellipsis and double dash             ...  --
      any other single punctuation mark    ,  .  (  "
    Whitespace separates tokens and is never part of one."""
    raise NotImplementedError("katas/03_nlp/preprocessing.py: write regex_tokenize()")
