"""Model answers to the exercises of notebooks/03_nlp.py, used when
ML_REFRESHER_IMPL=solutions so that CI runs each exercise's check."""

import numpy as np


def confusion_counts(gold: list[str], predicted: list[str], tags: list[str]) -> np.ndarray:
    # Rows are the gold tag, columns the predicted one; pairs with a tag outside `tags` are
    # not counted (a table of the few tags worth looking at, not of all 46).
    index = {tag: i for i, tag in enumerate(tags)}
    table = np.zeros((len(tags), len(tags)), dtype=np.int64)
    for g, p in zip(gold, predicted, strict=True):
        if g in index and p in index:
            table[index[g], index[p]] += 1
    return table


def context_pairs(tokens: list[str], window: int) -> list[tuple[str, str]]:
    # Every word within `window` positions on either side, clipped at the sentence's ends.
    pairs = []
    for i, centre in enumerate(tokens):
        for j in range(max(0, i - window), min(len(tokens), i + window + 1)):
            if j != i:
                pairs.append((centre, tokens[j]))
    return pairs
