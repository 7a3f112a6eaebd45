"""Model answers to the exercises of notebooks/02_deep_learning.py, used when
ML_REFRESHER_IMPL=solutions so that CI runs each exercise's check."""

import numpy as np


def one_hot(y: np.ndarray, k: int) -> np.ndarray:
    # Row i has a single 1, at column y[i].
    out = np.zeros((len(y), k))
    out[np.arange(len(y)), y] = 1.0
    return out


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    # counts[t, p]: how many examples of true class t were predicted as p (rows: the truth).
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)  # a plain counts[y_true, y_pred] += 1 drops repeats
    return counts
