"""Assertions for kata tests whose failure messages teach: what was expected, what came back
(shape, dtype, largest error and where), and a hint pointing at the lesson."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _describe(x: np.ndarray) -> str:
    return f"shape {tuple(x.shape)}, dtype {x.dtype}"


def _fail(what: str, lines: list[str], hint: str | None) -> None:
    __tracebackhide__ = True  # pytest shows the test's line, not this helper's
    message = "\n  ".join([what, *lines])
    if hint:
        message += f"\n  hint: {hint}"
    raise AssertionError(message)


def assert_shape(got, expected_shape: tuple[int, ...], what: str, hint: str | None = None):
    __tracebackhide__ = True
    got_arr = _to_numpy(got)
    if tuple(got_arr.shape) != tuple(expected_shape):
        _fail(
            f"{what}: wrong shape",
            [f"expected: shape {tuple(expected_shape)}", f"got:      {_describe(got_arr)}"],
            hint,
        )


def assert_close(
    got,
    expected,
    what: str,
    *,
    atol: float,
    rtol: float = 0.0,
    hint: str | None = None,
    check_dtype: bool = False,
) -> None:
    """Element-wise |got - expected| <= atol + rtol * |expected|, with a message that names the
    worst element. `what` says what was compared, e.g. "fit_closed_form weights vs sklearn"."""
    __tracebackhide__ = True
    if got is None:
        _fail(f"{what}: got None", ["did the function forget to `return`?"], hint)
    got_arr = _to_numpy(got)
    exp_arr = _to_numpy(expected)
    assert_shape(got_arr, exp_arr.shape, what, hint)
    if check_dtype and got_arr.dtype != exp_arr.dtype:
        _fail(
            f"{what}: wrong dtype",
            [f"expected: {_describe(exp_arr)}", f"got:      {_describe(got_arr)}"],
            hint,
        )
    got_f = got_arr.astype(np.float64)
    exp_f = exp_arr.astype(np.float64)
    bad_values = ~np.isfinite(got_f) & np.isfinite(exp_f)
    if bad_values.any():
        where = tuple(int(i) for i in np.argwhere(bad_values)[0])
        _fail(
            f"{what}: {int(bad_values.sum())} non-finite value(s) where finite ones were expected",
            [f"first at index {where}: got {got_f[where]}, expected {exp_f[where]}"],
            hint,
        )
    error = np.abs(got_f - exp_f)
    error = np.where(np.isfinite(exp_f), error, np.where(got_f == exp_f, 0.0, np.inf))
    allowed = atol + rtol * np.abs(np.nan_to_num(exp_f, posinf=0.0, neginf=0.0))
    if (error > allowed).any():
        where = np.unravel_index(int(np.argmax(error - allowed)), error.shape) if error.ndim else ()
        where = tuple(int(i) for i in where)
        _fail(
            f"{what}: values differ",
            [
                f"expected: {_describe(exp_arr)}",
                f"got:      {_describe(got_arr)}",
                f"max |got - expected| = {error[where]:.3g} at index {where} "
                f"(got {got_f[where]:.6g}, expected {exp_f[where]:.6g})",
                f"{int((error > allowed).sum())} of {error.size} elements outside "
                f"atol={atol:g}, rtol={rtol:g}",
            ],
            hint,
        )


def assert_equal(got, expected, what: str, *, hint: str | None = None) -> None:
    """Exact equality of arrays (ids, labels, counts, masks), with a message that names the
    first differing element and how many differ."""
    __tracebackhide__ = True
    if got is None:
        _fail(f"{what}: got None", ["did the function forget to `return`?"], hint)
    got_arr = _to_numpy(got)
    exp_arr = _to_numpy(expected)
    assert_shape(got_arr, exp_arr.shape, what, hint)
    differ = got_arr != exp_arr
    if np.any(differ):
        where = tuple(int(i) for i in np.argwhere(differ)[0]) if differ.ndim else ()
        _fail(
            f"{what}: values differ",
            [
                f"expected: {_describe(exp_arr)}",
                f"got:      {_describe(got_arr)}",
                f"first difference at index {where}: got {got_arr[where]!r}, "
                f"expected {exp_arr[where]!r}",
                f"{int(np.sum(differ))} of {differ.size} elements differ",
            ],
            hint,
        )


def assert_png(path, what: str, *, size: tuple[int, int] | None = None, hint: str | None = None):
    """`path` is a PNG file (signature and IHDR header), of `size` (width, height) if given."""
    __tracebackhide__ = True
    path = Path(path)
    if not path.is_file():
        _fail(f"{what}: no file", [f"expected a PNG at {path}"], hint)
    header = path.read_bytes()[:24]
    if header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
        _fail(f"{what}: not a PNG", [f"{path} starts with {header[:8]!r}"], hint)
    got_size = struct.unpack(">II", header[16:24])
    if size is not None and got_size != tuple(size):
        _fail(
            f"{what}: wrong image size",
            [f"expected: {tuple(size)} (width, height)", f"got:      {got_size}"],
            hint,
        )


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6):
    """Central-difference gradient of a scalar function f at x (float64), one coordinate at a
    time: error O(eps^2) from truncation plus O(machine_eps / eps) from rounding."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + eps
        plus = f(x)
        x[index] = original - eps
        minus = f(x)
        x[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def assert_true(condition: bool, what: str, details: list[str], hint: str | None = None) -> None:
    """A plain check with a teaching message: `details` says what was expected and what came."""
    __tracebackhide__ = True
    if not condition:
        _fail(what, details, hint)
