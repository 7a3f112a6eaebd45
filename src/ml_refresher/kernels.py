"""Front end of the C++ kernels: accepts NumPy arrays or CPU torch tensors, checks them, and
calls the learner's or the reference module (see ml_refresher.impl).

Inputs that are already C-contiguous float32 are passed through without a copy; anything else
gets a TypeError or ValueError that names the argument. Results are NumPy arrays, or torch
tensors sharing their memory when the inputs were tensors.
"""

from __future__ import annotations

import importlib

import numpy as np

from ml_refresher import impl, registry


def _module_for(kernel: str):
    kata = registry.kata(kernel)
    name = "_kernels_reference" if impl.uses_reference(kata) else "_kernels_learner"
    return importlib.import_module(f"ml_refresher.{name}")


def _as_float32_array(x, name: str, ndim: int) -> np.ndarray:
    try:
        import torch
    except ImportError:  # torch is a dependency, but the kernels do not need it
        torch = None
    if torch is not None and isinstance(x, torch.Tensor):
        if x.device.type != "cpu":
            raise TypeError(f"{name} must be a CPU tensor, got a tensor on {x.device}")
        if x.requires_grad:
            x = x.detach()
        x = x.numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray or torch.Tensor, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise TypeError(f"{name} must have dtype float32, got {x.dtype}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {x.shape}")
    if 0 in x.shape:
        raise ValueError(f"{name} must not have an empty dimension, got shape {x.shape}")
    return np.ascontiguousarray(x)


def _like_inputs(result: np.ndarray, *inputs):
    try:
        import torch
    except ImportError:
        return result
    if any(isinstance(x, torch.Tensor) for x in inputs):
        return torch.from_numpy(result)
    return result


def matmul(a, b):
    """c = a @ b. a: (m, k), b: (k, n), float32 -> c: (m, n)."""
    a_arr = _as_float32_array(a, "a", 2)
    b_arr = _as_float32_array(b, "b", 2)
    if a_arr.shape[1] != b_arr.shape[0]:
        raise ValueError(
            f"a and b do not chain: a is {a_arr.shape}, b is {b_arr.shape} "
            f"(a's columns must equal b's rows)"
        )
    return _like_inputs(_module_for("matmul").matmul(a_arr, b_arr), a, b)
