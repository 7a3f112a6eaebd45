"""Front end of the C++ kernels: accepts NumPy arrays or CPU torch tensors, checks them, and
calls the learner's or the reference module (see ml_refresher.impl).

Inputs that are already C-contiguous float32 are passed through without a copy (other layouts
are copied once); a wrong type, dtype, rank, empty dimension or disagreeing shape gets a
TypeError or ValueError that names the argument. Results are NumPy arrays, or torch tensors
sharing their memory when an input was a tensor. Threads: `threads=N` per call, else
$OMP_NUM_THREADS, else every core.
"""

from __future__ import annotations

import numbers
import warnings
from pathlib import Path

import numpy as np

from ml_refresher import impl, kernel_build, registry
from ml_refresher.kernel_build import KernelBuildError

# The learner's kernels build one module each, on first use (ml_refresher.kernel_build); a kernel
# that does not compile fails every call in this process with the same error, without
# re-running the compiler for each test, and leaves the other kernels usable.
_learner_modules: dict[str, object] = {}
_build_failures: dict[str, KernelBuildError] = {}


def _reference_module():
    """The reference kernels, compiled when the package was installed; a warning, once, if their
    sources changed since (a maintainer's edit needs `pip install -e .` again)."""
    from ml_refresher import _kernels_reference

    global _reference_checked
    if not _reference_checked:
        _reference_checked = True
        changed = kernel_build.changed_since(Path(_kernels_reference.__file__))
        if changed:
            warnings.warn(
                f"the reference kernels were compiled before {', '.join(changed)} changed; "
                "run `pip install -e .` (or ./setup.sh) again to rebuild them",
                stacklevel=3,
            )
    return _kernels_reference


_reference_checked = False


def _module_for(kernel: str):
    kata = registry.kata(kernel)
    if impl.uses_reference(kata):
        return _reference_module()
    __tracebackhide__ = True  # a learner's failure shows their test, not the front end
    if kernel in _build_failures:
        # Short, and a fresh exception each time: the compiler's errors were shown once, with
        # the first failing test, and re-raising one object would grow its traceback per call.
        raise KernelBuildError(
            f"kernels/{kernel}.cpp did not compile: see the compiler's errors in the first "
            "failing test above"
        ) from None
    if kernel not in _learner_modules:
        try:
            _learner_modules[kernel] = kernel_build.build(kernel)
        except KernelBuildError as failure:
            _build_failures[kernel] = failure
            raise failure from None
    return _learner_modules[kernel]


def _as_float32_array(x, name: str, ndim: int | None) -> np.ndarray:
    """x as a C-contiguous float32 array (no copy if it already is one) of rank `ndim` (any rank
    >= 1 when None), or a TypeError/ValueError naming `name`."""
    try:
        import torch
    except ImportError:  # torch is a dependency, but the kernels do not need it
        torch = None
    if torch is not None and isinstance(x, torch.Tensor):
        if x.device.type != "cpu":
            raise TypeError(f"{name} must be a CPU tensor, got a tensor on {x.device}")
        if x.layout != torch.strided:
            raise TypeError(
                f"{name} must be a dense tensor, got layout {x.layout}: use .to_dense()"
            )
        if x.dtype != torch.float32:
            dtype = str(x.dtype).removeprefix("torch.")
            raise TypeError(f"{name} must have dtype float32, got {dtype}: use .float()")
        # A lazily negated or conjugated view has no numpy equivalent: materialise it first.
        x = x.detach().resolve_neg().resolve_conj().numpy()
    if isinstance(x, np.generic | numbers.Number):
        wanted = f"a {ndim}-D array" if ndim else "an array with at least 1 dimension"
        raise TypeError(f"{name} must be {wanted}, got a scalar ({type(x).__name__} {x})")
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray or torch.Tensor, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise TypeError(f"{name} must have dtype float32, got {x.dtype}")
    if ndim is None and x.ndim < 1:
        raise ValueError(f"{name} must have at least 1 dimension, got a scalar")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {x.shape}")
    if 0 in x.shape:
        raise ValueError(f"{name} must not have an empty dimension, got shape {x.shape}")
    # Aligned too: np.ascontiguousarray returns a C-contiguous view at an odd address as it is,
    # and the kernels' float loads from it are undefined behaviour (UBSan in tox -e sanitize).
    return np.require(x, requirements=["C_CONTIGUOUS", "ALIGNED"])


def _as_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if not -(2**63) <= value < 2**63:  # the bindings take int64
        raise ValueError(f"{name} must fit in 64 bits, got {value}")
    return int(value)


MAX_THREADS = 1024  # far above any CPU here, far below what makes OpenMP allocate gigabytes


def _thread_count(threads) -> int:
    """The bindings' `threads`: 0 means OpenMP's default ($OMP_NUM_THREADS, else every core)."""
    if threads is None:
        return 0
    count = _as_int(threads, "threads")
    if not 1 <= count <= MAX_THREADS:
        raise ValueError(
            f"threads must be between 1 and {MAX_THREADS} (or None for the default), got {count}"
        )
    return count


def _like_inputs(result: np.ndarray, *inputs):
    try:
        import torch
    except ImportError:
        return result
    if any(isinstance(x, torch.Tensor) for x in inputs):
        return torch.from_numpy(result)
    return result


def max_threads() -> int:
    """Threads a kernel uses when called with threads=None ($OMP_NUM_THREADS, else every core)."""
    return _reference_module().max_threads()


def matmul(a, b, *, threads: int | None = None):
    """c = a @ b. a: (m, k), b: (k, n), float32 -> c: (m, n)."""
    __tracebackhide__ = True
    a_arr = _as_float32_array(a, "a", 2)
    b_arr = _as_float32_array(b, "b", 2)
    if a_arr.shape[1] != b_arr.shape[0]:
        raise ValueError(
            f"a and b do not chain: a is {a_arr.shape}, b is {b_arr.shape} "
            f"(a's columns must equal b's rows)"
        )
    c = _module_for("matmul").matmul(a_arr, b_arr, _thread_count(threads))
    return _like_inputs(c, a, b)


def softmax(x, *, threads: int | None = None):
    """Softmax over the last axis. x: (..., n), float32 -> same shape, each row summing to 1."""
    __tracebackhide__ = True
    x_arr = _as_float32_array(x, "x", None)
    y = _module_for("softmax_rows").softmax_rows(x_arr, _thread_count(threads))
    return _like_inputs(y, x)


def attention(q, k, v, *, causal: bool = False, threads: int | None = None):
    """softmax(q @ k^T / sqrt(d), causal mask if asked) @ v, fused (no seq x seq matrix).
    q: (batch, heads, t, d), k and v: (batch, heads, s, d), float32 -> (batch, heads, t, d)."""
    __tracebackhide__ = True
    arrays = [_as_float32_array(a, name, 4) for a, name in ((q, "q"), (k, "k"), (v, "v"))]
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__}")
    module = _module_for("flash_attention")
    return _like_inputs(module.flash_attention(*arrays, causal, _thread_count(threads)), q, k, v)


def conv2d(x, weight, bias=None, *, stride: int = 1, padding: int = 0, threads: int | None = None):
    """2-D convolution (cross-correlation, as torch), zero padding, 0 <= padding < kernel size.
    x: (n, c, h, w), weight: (o, c, kh, kw), bias: (o,) or None, float32
    -> (n, o, (h + 2*padding - kh) // stride + 1, (w + 2*padding - kw) // stride + 1)."""
    __tracebackhide__ = True
    x_arr = _as_float32_array(x, "x", 4)
    w_arr = _as_float32_array(weight, "weight", 4)
    b_arr = None if bias is None else _as_float32_array(bias, "bias", 1)
    module = _module_for("conv2d_nchw")
    out = module.conv2d_nchw(
        x_arr,
        w_arr,
        b_arr,
        _as_int(stride, "stride"),
        _as_int(padding, "padding"),
        _thread_count(threads),
    )
    return _like_inputs(out, x, weight, bias)
