"""Kata 03_nlp/tfidf: TF-IDF from scratch on sparse matrices, multinomial Naive Bayes, and
sentiment classification of movie reviews.

Lesson: katas/03_nlp/README.md, section "TF-IDF and document classification".
Run the tests:  pytest katas/03_nlp/test_tfidf.py
A document is a token list; counts and TF-IDF are scipy.sparse CSR matrices (n_docs, V) with one
column per vocabulary term; labels y are int64 (n_docs,).
"""

from __future__ import annotations

import re  # noqa: F401 (yours to use)
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp  # noqa: F401 (yours to use)
from sklearn.linear_model import LogisticRegression  # noqa: F401 (yours to use)

from ml_refresher.data import load_movie_reviews  # noqa: F401 (for train)
from ml_refresher.training import apply_overrides  # noqa: F401 (given, for train)


def analyse(text: str) -> list[str]:
    """Lower-case, then the runs of letters and digits, each optionally followed by an apostrophe
    and letters: "It's a GREAT film, isn't it?" -> ["it's", "a", "great", "film", "isn't", "it"].
    (re.findall of r"[a-z0-9]+(?:'[a-z]+)?" does it.)"""
    raise NotImplementedError("katas/03_nlp/tfidf.py: write analyse()")


def fit_vocabulary(docs: list[list[str]]) -> dict[str, int]:
    """Every distinct term of docs -> its column, in sorted term order (as scikit-learn does)."""
    raise NotImplementedError("katas/03_nlp/tfidf.py: write fit_vocabulary()")


def count_matrix(docs: list[list[str]], vocabulary: dict[str, int]) -> sp.csr_matrix:
    """(n_docs, V) CSR of int64 counts: [i, j] = how often term j occurs in docs[i]; terms not in
    the vocabulary are ignored. Build it from (row, column) pairs without a dense matrix."""
    raise NotImplementedError("katas/03_nlp/tfidf.py: write count_matrix()")


def term_frequency(counts: sp.csr_matrix, sublinear_tf: bool = False) -> sp.csr_matrix:
    """float64 CSR: the raw count tf, or with sublinear_tf 1 + ln(tf) for tf > 0 (0 stays 0)."""
    raise NotImplementedError("katas/03_nlp/tfidf.py: write term_frequency()")


def inverse_document_frequency(counts: sp.csr_matrix, smooth_idf: bool = True) -> np.ndarray:
    """(V,) idf from n = n_docs and df_j = the number of documents containing term j:
    smooth_idf: ln((1 + n) / (1 + df)) + 1, else ln(n / df) + 1."""
    raise NotImplementedError("katas/03_nlp/tfidf.py: write inverse_document_frequency()")


def l2_normalise(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Each row divided by its Euclidean norm (an all-zero row stays zero); sparse in and out."""
    raise NotImplementedError("katas/03_nlp/tfidf.py: write l2_normalise()")


def tfidf_matrix(
    counts: sp.csr_matrix, idf: np.ndarray, sublinear_tf: bool = False
) -> sp.csr_matrix:
    """l2_normalise(tf * idf): the TF-IDF CSR matrix (n_docs, V); tf from term_frequency."""
    raise NotImplementedError("katas/03_nlp/tfidf.py: write tfidf_matrix()")


class TfidfVectoriser:
    """fit learns vocabulary_ and idf_ from the training documents; transform applies them to
    any documents (unknown terms ignored), like scikit-learn's TfidfVectorizer."""

    def __init__(self, smooth_idf: bool = True, sublinear_tf: bool = False):
        self.smooth_idf = smooth_idf
        self.sublinear_tf = sublinear_tf

    def fit(self, docs: list[list[str]]) -> TfidfVectoriser:
        """Set vocabulary_ (dict) and idf_ (V,). Returns self."""
        raise NotImplementedError("katas/03_nlp/tfidf.py: write TfidfVectoriser.fit()")

    def transform(self, docs: list[list[str]]) -> sp.csr_matrix:
        """(n_docs, V) TF-IDF with the fitted vocabulary_ and idf_."""
        raise NotImplementedError("katas/03_nlp/tfidf.py: write TfidfVectoriser.transform()")

    def fit_transform(self, docs: list[list[str]]) -> sp.csr_matrix:
        """fit, then transform the same documents."""
        raise NotImplementedError("katas/03_nlp/tfidf.py: write TfidfVectoriser.fit_transform()")


class MultinomialNaiveBayes:
    """P(c | doc) is proportional to P(c) * prod_j P(term j | c)^count_j, with additive smoothing
    P(term j | c) = (N_cj + alpha) / (N_c + alpha V), N_cj the count of term j in class c's
    documents and N_c their total."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def fit(self, counts: sp.csr_matrix, y: np.ndarray) -> MultinomialNaiveBayes:
        """Set classes_ (sorted labels, (C,)), class_log_prior_ (C,) = log of the class shares and
        feature_log_prob_ (C, V) = log P(term j | c). Returns self."""
        raise NotImplementedError("katas/03_nlp/tfidf.py: write MultinomialNaiveBayes.fit()")

    def joint_log_likelihood(self, counts: sp.csr_matrix) -> np.ndarray:
        """(n_docs, C): log P(c) + sum_j count_j log P(term j | c), one sparse product."""
        raise NotImplementedError(
            "katas/03_nlp/tfidf.py: write MultinomialNaiveBayes.joint_log_likelihood()"
        )

    def predict(self, counts: sp.csr_matrix) -> np.ndarray:
        """(n_docs,) the class of highest joint log-likelihood."""
        raise NotImplementedError("katas/03_nlp/tfidf.py: write MultinomialNaiveBayes.predict()")


def naive_bayes_accuracy(
    train_texts: list[str],
    y_train: np.ndarray,
    test_texts: list[str],
    y_test: np.ndarray,
    alpha: float = 1.0,
) -> float:
    """Test accuracy of MultinomialNaiveBayes on counts of analyse()d texts, the vocabulary
    taken from the training texts only."""
    raise NotImplementedError("katas/03_nlp/tfidf.py: write naive_bayes_accuracy()")


def logistic_regression_accuracy(
    train_texts: list[str],
    y_train: np.ndarray,
    test_texts: list[str],
    y_test: np.ndarray,
    C: float = 10.0,
) -> float:
    """Test accuracy of scikit-learn's LogisticRegression(C=C, max_iter=1000) on your
    TfidfVectoriser(sublinear_tf=True) features, fitted on the training texts only."""
    raise NotImplementedError("katas/03_nlp/tfidf.py: write logistic_regression_accuracy()")


@dataclass
class Config:
    """Given: the settings of the full run; `kata train tfidf --set name=value` changes one."""

    alpha: float = 1.0  # Naive Bayes smoothing
    C: float = 10.0  # inverse L2 strength of the logistic regression


def train(out_dir: Path, overrides: dict[str, str] | None = None) -> dict:
    """The full run (`kata train tfidf`): config = apply_overrides(Config(), overrides); both
    accuracies on load_movie_reviews() (from ml_refresher.data), Naive Bayes with config.alpha
    and logistic regression with config.C, as
    {"naive_bayes_accuracy": ..., "logistic_regression_accuracy": ...}."""
    raise NotImplementedError("katas/03_nlp/tfidf.py: write train()")
