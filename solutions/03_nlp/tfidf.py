"""Reference: TF-IDF from scratch on scipy.sparse, multinomial Naive Bayes, and document
classification on movie reviews."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from ml_refresher.data import load_movie_reviews
from ml_refresher.training import apply_overrides


def analyse(text):
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower())


def fit_vocabulary(docs):
    # Sorted like scikit-learn's, so that column j means the same term in both.
    return {term: j for j, term in enumerate(sorted({t for doc in docs for t in doc}))}


def count_matrix(docs, vocabulary):
    rows, cols = [], []
    for i, doc in enumerate(docs):
        ids = [vocabulary[t] for t in doc if t in vocabulary]
        rows += [i] * len(ids)
        cols += ids
    data = np.ones(len(rows), dtype=np.int64)
    # COO -> CSR sums the duplicate (row, column) entries: that is the counting.
    return sp.coo_matrix((data, (rows, cols)), shape=(len(docs), len(vocabulary))).tocsr()


def term_frequency(counts, sublinear_tf=False):
    tf = sp.csr_matrix(counts, dtype=np.float64, copy=True)
    if sublinear_tf:
        # Only the stored (non-zero) entries change, so the matrix stays sparse: log(0) never runs.
        tf.data = 1.0 + np.log(tf.data)
    return tf


def inverse_document_frequency(counts, smooth_idf=True):
    n_docs = counts.shape[0]
    df = np.bincount(sp.csr_matrix(counts).indices, minlength=counts.shape[1]).astype(np.float64)
    if smooth_idf:
        # As if one extra document contained every term once: no division by zero for df = 0.
        return np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
    return np.log(n_docs / df) + 1.0


def l2_normalise(matrix):
    matrix = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0  # an empty document stays a zero row
    matrix.data /= np.repeat(norms, np.diff(matrix.indptr))
    return matrix


def tfidf_matrix(counts, idf, sublinear_tf=False):
    return l2_normalise(term_frequency(counts, sublinear_tf) @ sp.diags(idf))


class TfidfVectoriser:
    def __init__(self, smooth_idf=True, sublinear_tf=False):
        self.smooth_idf = smooth_idf
        self.sublinear_tf = sublinear_tf

    def fit(self, docs):
        self.vocabulary_ = fit_vocabulary(docs)
        self.idf_ = inverse_document_frequency(
            count_matrix(docs, self.vocabulary_), self.smooth_idf
        )
        return self

    def transform(self, docs):
        return tfidf_matrix(count_matrix(docs, self.vocabulary_), self.idf_, self.sublinear_tf)

    def fit_transform(self, docs):
        return self.fit(docs).transform(docs)


class MultinomialNaiveBayes:
    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def fit(self, counts, y):
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        one_hot = (y[:, None] == self.classes_[None, :]).astype(np.float64)  # (n, C)
        term_counts = np.asarray((sp.csr_matrix(counts).T @ one_hot).T)  # (C, V)
        smoothed = term_counts + self.alpha
        self.class_log_prior_ = np.log(one_hot.sum(axis=0) / len(y))
        self.feature_log_prob_ = np.log(smoothed / smoothed.sum(axis=1, keepdims=True))
        return self

    def joint_log_likelihood(self, counts):
        return np.asarray(counts @ self.feature_log_prob_.T) + self.class_log_prior_

    def predict(self, counts):
        return self.classes_[np.argmax(self.joint_log_likelihood(counts), axis=1)]


def naive_bayes_accuracy(train_texts, y_train, test_texts, y_test, alpha=1.0):
    train_docs = [analyse(t) for t in train_texts]
    vocabulary = fit_vocabulary(train_docs)  # from the training split only: no test leakage
    model = MultinomialNaiveBayes(alpha).fit(count_matrix(train_docs, vocabulary), y_train)
    predicted = model.predict(count_matrix([analyse(t) for t in test_texts], vocabulary))
    return float(np.mean(predicted == np.asarray(y_test)))


def logistic_regression_accuracy(train_texts, y_train, test_texts, y_test, C=10.0):
    vectoriser = TfidfVectoriser(sublinear_tf=True)
    X_train = vectoriser.fit_transform([analyse(t) for t in train_texts])
    X_test = vectoriser.transform([analyse(t) for t in test_texts])
    model = LogisticRegression(C=C, max_iter=1000).fit(X_train, y_train)
    return float(np.mean(model.predict(X_test) == np.asarray(y_test)))


@dataclass
class Config:
    """`kata train tfidf --set name=value` changes one of these."""

    alpha: float = 1.0  # Naive Bayes smoothing
    C: float = 10.0  # inverse L2 strength of the logistic regression


def train(out_dir, overrides=None):
    config = apply_overrides(Config(), overrides)
    data = load_movie_reviews()
    split = (data.train_texts, data.y_train, data.test_texts, data.y_test)
    return {
        "naive_bayes_accuracy": round(naive_bayes_accuracy(*split, alpha=config.alpha), 4),
        "logistic_regression_accuracy": round(logistic_regression_accuracy(*split, C=config.C), 4),
    }
