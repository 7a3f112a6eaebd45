"""Text classification sets: sentence polarity and movie reviews (NLTK), IMDB (JSON lines)."""

from __future__ import annotations

import gzip
import json
import zlib

import numpy as np

from ml_refresher.data.nltk_packages import nltk_ready
from ml_refresher.data.settings import DataCorruptError, DataMissingError, data_dir
from ml_refresher.data.splits import TextDataset, split_texts

SENTIMENT = ["neg", "pos"]


def load_sentence_polarity() -> TextDataset:
    """Pang & Lee sentence polarity: 10,662 one-sentence reviews (tokens joined by spaces),
    shuffled and split 80/20, stratified."""
    nltk_ready("sentence_polarity")
    from nltk.corpus import sentence_polarity

    texts, labels = [], []
    for label, category in enumerate(SENTIMENT):
        for sentence in sentence_polarity.sents(categories=category):
            texts.append(" ".join(sentence))
            labels.append(label)
    return split_texts(texts, np.array(labels, dtype=np.int64), 0.2, SENTIMENT)


def load_movie_reviews() -> TextDataset:
    """Pang & Lee movie reviews: 2,000 whole reviews (lower-cased, tokenised text), split
    1,600 / 400, stratified."""
    nltk_ready("movie_reviews")
    from nltk.corpus import movie_reviews

    texts, labels = [], []
    for label, category in enumerate(SENTIMENT):
        for fileid in movie_reviews.fileids(category):
            texts.append(movie_reviews.raw(fileid))
            labels.append(label)
    return split_texts(texts, np.array(labels, dtype=np.int64), 400, SENTIMENT)


def load_imdb() -> TextDataset:
    """IMDB reviews (Maas et al. 2011): 50,000 texts, shuffled and split 25,000 / 25,000,
    stratified. Texts are as published, `<br />` tags included."""
    path = data_dir() / "imdb" / "reviews.jsonl.gz"
    if not path.is_file():
        raise DataMissingError("IMDB reviews", [path])
    try:
        with gzip.open(path, "rt", encoding="utf-8") as file:
            rows = [json.loads(line) for line in file]
    except (OSError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataCorruptError(path, f"not complete gzipped JSON lines: {error}") from error
    for number, row in enumerate(rows, 1):
        if not (
            isinstance(row, dict)
            and isinstance(row.get("text"), str)
            and row.get("label") in (0, 1)
            and not isinstance(row.get("label"), bool)
        ):
            raise DataCorruptError(
                path, f'line {number} is not {{"text": <string>, "label": 0 or 1}}: {row!r:.80}'
            )
    if len({row["label"] for row in rows}) < 2:
        raise DataCorruptError(path, f"{len(rows)} reviews, not both classes: cut short")
    texts = [row["text"] for row in rows]
    labels = np.array([row["label"] for row in rows], dtype=np.int64)
    # The file is sorted by label; the stratified split shuffles it.
    return split_texts(texts, labels, 0.5, SENTIMENT)
