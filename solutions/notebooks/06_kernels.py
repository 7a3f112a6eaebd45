"""Model answers to the exercises of notebooks/06_kernels.py, used when
ML_REFRESHER_IMPL=solutions so that CI runs each exercise's check."""

import numpy as np


def im2col(x: np.ndarray, kh: int, kw: int, padding: int) -> np.ndarray:
    # x: (c, h, w) -> (c*kh*kw, oh*ow); column p holds what output pixel p sees (stride 1).
    c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))  # zero padding
    oh, ow = h + 2 * padding - kh + 1, w + 2 * padding - kw + 1
    cols = np.empty((c * kh * kw, oh * ow), dtype=x.dtype)
    for ci in range(c):
        for dy in range(kh):
            for dx in range(kw):
                row = (ci * kh + dy) * kw + dx  # the same order as weight.reshape(o, -1)
                cols[row] = padded[ci, dy : dy + oh, dx : dx + ow].reshape(-1)
    return cols


def online_softmax_stats(scores: np.ndarray, tile: int) -> tuple[float, float]:
    # One pass over tiles: m is the max so far, l the sum of exp(score - m). When a tile raises
    # the max, the old sum is rescaled by exp(m_old - m_new) before the tile's terms are added.
    m, l = -np.inf, 0.0
    for start in range(0, len(scores), tile):
        block = scores[start : start + tile]
        m_new = max(m, float(block.max()))
        l = l * np.exp(m - m_new) + float(np.exp(block - m_new).sum())
        m = m_new
    return m, l
