"""Input checks shared by the katas' stubs and references, so that bad input gets a clear
exception naming the argument instead of a broadcasting surprise three calls later."""

from __future__ import annotations

import numpy as np


def as_matrix(x, name: str) -> np.ndarray:
    """x as a 2-D float64 array (samples, features), or ValueError naming the argument."""
    array = np.asarray(x, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples, features), got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def as_vector(y, name: str, length: int | None = None) -> np.ndarray:
    """y as a 1-D float64 array, optionally of a given length, or ValueError naming it."""
    array = np.asarray(y, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if length is not None and array.shape[0] != length:
        raise ValueError(
            f"{name} has {array.shape[0]} entries, expected {length} (one per row of X)"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def positive(value, name: str):
    """value itself if it is > 0, else ValueError naming it (learning rates, counts, sizes)."""
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return value
