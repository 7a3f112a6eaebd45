"""The kernel front end (ml_refresher.kernels) and the reference bindings under random input.

Every public kernel function is called with random shapes, layouts (transposed, strided,
negative-stride and unaligned views, Fortran order), dtypes (float32/64/16, ints, bool,
big-endian), 0-d and empty arrays, torch tensors with and without grad, lists, scalars and None,
and random `threads`, `causal`, `stride` and `padding`. Each call must either return the right
answer (compared with NumPy/torch in float64) or raise TypeError/ValueError whose message names
a bad argument: never a crash, a hang, another exception or a wrong answer.

A few thousand examples in all by default (the whole file in well under a minute, same examples
every run); `ML_REFRESHER_FUZZ=1` (tox -e fuzz) selects a profile with many more examples and a
fresh random draw each run. A failing example prints the `@reproduce_failure` blob to replay it.
Runs on the reference (ML_REFRESHER_IMPL=solutions): these are the support package's checks.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ml_refresher import _kernels_reference, kernels

FUZZ = os.environ.get("ML_REFRESHER_FUZZ", "") not in ("", "0")
settings.register_profile(
    "kernel-fuzz",
    max_examples=600,
    derandomize=True,  # CI: the same examples every run
    deadline=None,  # the first call may build a kernel; a hang is caught by the call budget
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "kernel-fuzz-long",
    parent=settings.get_profile("kernel-fuzz"),
    max_examples=int(os.environ.get("ML_REFRESHER_FUZZ_EXAMPLES", "8000")),
    derandomize=False,  # tox -e fuzz: new examples every run
)
PROFILE = settings.get_profile("kernel-fuzz-long" if FUZZ else "kernel-fuzz")

F32 = np.float32
EPS32 = float(np.finfo(np.float32).eps)
# A call on these small shapes takes microseconds; one that takes seconds is spinning threads or
# looping: a hang. Generous, because a shared machine can stall a process for a while.
CALL_SECONDS = 10.0

ERROR = re.compile(r"^(?P<name>[A-Za-z_]+)('s)?\b")


@pytest.fixture(autouse=True)
def on_the_reference(monkeypatch):
    monkeypatch.setenv("ML_REFRESHER_IMPL", "solutions")
    monkeypatch.delenv("ML_REFRESHER_USE_REFERENCE", raising=False)


# --- operands -----------------------------------------------------------------------------------


@dataclass
class Operand:
    """An argument as passed (`value`), and what a correct front end makes of it: `array`, the
    float64 values, when it is valid input of its shape; else `problem` ("type" or "value")."""

    value: object
    array: np.ndarray | None
    problem: str | None = None


LAYOUTS = ["contiguous", "transposed", "strided", "negative", "fortran", "unaligned", "broadcast"]
BAD_DTYPES = [np.float64, np.float16, np.int32, np.int64, np.uint8, np.bool_, np.complex64, ">f4"]
TORCH_BAD_DTYPES = [torch.float64, torch.float16, torch.int64, torch.bool]


def strided_index(ndim: int, axis: int) -> tuple[slice, ...]:
    return tuple(slice(None, None, 2) if i == axis else slice(None) for i in range(ndim))


def _laid_out(values: np.ndarray, layout: str, axis: int) -> np.ndarray:
    """`values` (C-contiguous float32) in another memory layout with the same logical content."""
    if layout == "transposed" and values.ndim >= 2:
        order = list(range(values.ndim))[::-1]
        return np.ascontiguousarray(values.transpose(order)).transpose(order)
    if layout == "strided":
        shape = list(values.shape)
        shape[axis] *= 2
        big = np.full(shape, np.nan, F32)  # the skipped elements would poison a wrong read
        big[strided_index(values.ndim, axis)] = values
        return big[strided_index(values.ndim, axis)]
    if layout == "negative":
        return np.flip(np.flip(values, axis).copy(), axis)
    if layout == "fortran":
        return np.asfortranarray(values)
    if layout == "unaligned":  # C-contiguous, but its data starts at an odd address
        raw = np.zeros(values.nbytes + 1, np.uint8)
        out = raw[1:].view(F32).reshape(values.shape)
        out[...] = values
        return out
    if layout == "broadcast" and values.shape[axis] == 1:  # a zero stride
        shape = list(values.shape)
        shape[axis] = 3
        return np.broadcast_to(values, shape)
    return values


@st.composite
def operands(draw, shape: tuple[int, ...], name: str, scale: float = 1.0, clean: bool = False):
    """An operand meant to have `shape`; most often valid, else broken in one way; always valid
    (in any layout or container) when `clean`."""
    seed = draw(st.integers(0, 2**32 - 1))
    values = (np.random.default_rng(seed).standard_normal(shape) * scale).astype(F32)
    valid = ["numpy"] * 3 + ["torch", "torch-grad", "torch-view"]
    broken = ["dtype", "torch-dtype", "rank", "empty", "0-d", "list", "scalar", "none"]
    kind = draw(st.sampled_from(valid if clean else valid * 2 + broken))
    axis = draw(st.integers(0, len(shape) - 1))
    if kind == "numpy":
        layout = draw(st.sampled_from(LAYOUTS))
        laid = _laid_out(values, layout, axis)
        return Operand(laid, np.asarray(laid, np.float64))
    if kind == "torch":
        return Operand(torch.from_numpy(values.copy()), values.astype(np.float64))
    if kind == "torch-grad":
        return Operand(torch.tensor(values, requires_grad=True), values.astype(np.float64))
    if kind == "torch-view":  # non-contiguous: a transposed or strided torch view
        if len(shape) >= 2 and draw(st.booleans()):
            reverse = list(range(len(shape)))[::-1]
            view = torch.from_numpy(values.transpose(reverse).copy()).permute(reverse)
        else:
            strided = _laid_out(values, "strided", axis)
            view = torch.from_numpy(strided.base)[strided_index(len(shape), axis)]
        return Operand(view, values.astype(np.float64))
    if kind == "dtype":
        return Operand(values.astype(draw(st.sampled_from(BAD_DTYPES))), None, "type")
    if kind == "torch-dtype":
        dtype = draw(st.sampled_from(TORCH_BAD_DTYPES))
        return Operand(torch.from_numpy(values).to(dtype), None, "type")
    if kind == "rank":
        wrong = values[..., None] if draw(st.booleans()) or values.ndim == 1 else values[0]
        return Operand(wrong, wrong.astype(np.float64), "rank")
    if kind == "empty":
        empty = list(shape)
        empty[axis] = 0
        return Operand(np.zeros(empty, F32), None, "value")
    if kind == "0-d":
        scalar = draw(st.sampled_from([np.array(1.5, F32), torch.tensor(1.5)]))
        return Operand(scalar, np.asarray(scalar, np.float64), "rank")
    if kind == "list":
        return Operand(values.tolist(), None, "type")
    if kind == "scalar":
        return Operand(draw(st.sampled_from([1.0, 2, np.float32(1.0), True])), None, "type")
    return Operand(None, None, "type")


def thread_counts(clean: bool = False):
    if clean:
        return st.one_of(st.none(), st.integers(1, 4), st.just(kernels.MAX_THREADS))
    return st.one_of(
        st.none(),
        st.integers(1, 4),
        st.sampled_from([kernels.MAX_THREADS, 0, -1, -(2**31), 2**31, 2**63, 2**80]),
        st.sampled_from([np.int64(2), np.int32(1), True, 1.0, "2"]),
    )


def threads_problem(threads) -> str | None:
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer):
        return "type"
    return None if 1 <= int(threads) <= kernels.MAX_THREADS else "value"


# --- the check ----------------------------------------------------------------------------------


def check_rejected(call, bad: set[str]):
    """call() raises TypeError or ValueError whose message starts with a bad argument's name."""
    with pytest.raises((TypeError, ValueError)) as raised:
        call()
    message = str(raised.value)
    named = ERROR.match(message)
    assert named and named["name"] in bad, (
        f"the error does not name a bad argument (any of {sorted(bad)}): "
        f"{type(raised.value).__name__}: {message}"
    )


def check_result(got, expected: np.ndarray, tolerance, tensor_in: bool):
    if tensor_in:
        assert isinstance(got, torch.Tensor), f"a tensor went in, {type(got).__name__} came out"
        got = got.numpy()
    else:
        assert isinstance(got, np.ndarray), f"arrays went in, {type(got).__name__} came out"
    assert got.dtype == F32, f"result dtype {got.dtype}, expected float32"
    assert got.shape == expected.shape, f"result shape {got.shape}, expected {expected.shape}"
    assert np.array_equal(np.isnan(got), np.isnan(expected)), "NaN where the reference has none"
    error = np.where(np.isnan(expected), 0.0, np.abs(got - expected))
    excess = error - tolerance
    worst = np.unravel_index(np.argmax(excess), expected.shape)
    assert np.all(excess <= 0), (
        f"wrong answer: error {error[worst]:.3g} > tolerance {tolerance[worst]:.3g} at {worst} "
        f"(got {got[worst]}, expected {expected[worst]})"
    )


def run(
    call,
    operands_: dict[str, Operand],
    others: dict[str, str | None],
    cross,
    expected,
):
    """Decide what `call` must do from its operands, then check that it does it. With several
    bad arguments the front end may name any one of them (it checks in its own order)."""
    bad = {name for name, op in operands_.items() if op.problem}
    try:  # shapes that do not agree, among the arrays that are valid on their own
        bad |= cross()
    except AttributeError:  # cross() read an operand that is not an array at all
        pass
    bad |= {name for name, problem in others.items() if problem}
    if bad:
        event("rejected")
        check_rejected(call, bad)
        return
    event("valid: answer checked")
    want, tolerance = expected()
    tensor_in = any(isinstance(op.value, torch.Tensor) for op in operands_.values())
    check_result(call(), want, tolerance, tensor_in)


def _rank_ok(op: Operand, ndim: int | None) -> Operand:
    """A rank-changed operand is bad only when the kernel wants another rank."""
    if op.problem != "rank":
        return op
    if ndim is None and op.array.ndim >= 1:
        return Operand(op.value, op.array)
    return Operand(op.value, None, "value")


# --- one property per kernel --------------------------------------------------------------------


@PROFILE
@given(data=st.data(), m=st.integers(1, 9), k=st.integers(1, 40), n=st.integers(1, 9))
def test_matmul_right_answer_or_a_named_error(data, m, k, n):
    clean = data.draw(st.booleans())  # half the calls valid throughout: answers get checked
    a = _rank_ok(data.draw(operands((m, k), "a", clean=clean)), 2)
    b_rows = k if clean else data.draw(st.sampled_from([k, k, k + 1]))  # may not chain
    b = _rank_ok(data.draw(operands((b_rows, n), "b", clean=clean)), 2)
    threads = data.draw(thread_counts(clean))

    def cross():
        return {"a", "b"} if a.array.shape[1] != b.array.shape[0] else set()

    def expected():
        # The standard bound for a float32 dot product of length k, in any summation order,
        # doubled; an indexing or layout bug is off by the size of the values themselves.
        inner = a.array.shape[1]
        bound = 2 * inner * EPS32 * (np.abs(a.array) @ np.abs(b.array))
        return a.array @ b.array, bound + 1e-30

    run(
        lambda: kernels.matmul(a.value, b.value, threads=threads),
        {"a": a, "b": b},
        {"threads": threads_problem(threads)},
        cross,
        expected,
    )


def softmax64(x: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(x), dim=-1).numpy()


@PROFILE
@given(
    data=st.data(),
    shape=st.lists(st.integers(1, 7), min_size=1, max_size=4).map(tuple),
    offset=st.sampled_from([0.0, 1e4, -1e4, 1e30]),
)
def test_softmax_right_answer_or_a_named_error(data, shape, offset):
    x = _rank_ok(
        data.draw(operands(shape, "x", scale=data.draw(st.sampled_from([1.0, 50.0])))), None
    )
    threads = data.draw(thread_counts(clean=x.problem is None))
    masked = data.draw(st.booleans())

    if (
        x.array is not None
        and masked
        and isinstance(x.value, np.ndarray)
        and x.value.flags.writeable
    ):
        # Some -inf (masked) entries, whole rows of them too: those rows are NaN, as in torch.
        x.value[..., :1] = -np.inf
        x = Operand(x.value, np.asarray(x.value, np.float64))
    if (
        x.array is not None
        and offset
        and isinstance(x.value, np.ndarray)
        and x.value.flags.writeable
    ):
        x.value[...] += F32(offset)  # a large common offset: only a max-subtracted exp survives
        x = Operand(x.value, np.asarray(x.value, np.float64))

    def expected():
        # Each output is exp(x - max) / sum: a few float32 roundings of a value <= 1.
        want = softmax64(x.array)
        return want, 1e-6 + 1e-5 * np.abs(np.nan_to_num(want))

    run(
        lambda: kernels.softmax(x.value, threads=threads),
        {"x": x},
        {"threads": threads_problem(threads)},
        lambda: set(),
        expected,
    )


def attention64(q, k, v, causal):
    mask = None
    if causal:
        t, s = q.shape[2], k.shape[2]
        mask = torch.ones(t, s, dtype=torch.bool).tril()  # top-left aligned, as documented
    return torch.nn.functional.scaled_dot_product_attention(
        torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v), attn_mask=mask
    ).numpy()


@PROFILE
@given(
    data=st.data(),
    b=st.integers(1, 2),
    h=st.integers(1, 3),
    t=st.integers(1, 9),
    s=st.integers(1, 9),
    d=st.integers(1, 17),
)
def test_attention_right_answer_or_a_named_error(data, b, h, t, s, d):
    clean = data.draw(st.booleans())  # half the calls valid throughout: answers get checked
    good = (b, h, s, d)
    q = _rank_ok(data.draw(operands((b, h, t, d), "q", clean=clean)), 4)
    k_shape = data.draw(
        st.sampled_from([good] if clean else [good] * 2 + [(b, h, s, d + 1), (b, h + 1, s, d)])
    )
    k = _rank_ok(data.draw(operands(k_shape, "k", clean=clean)), 4)
    v_shape = data.draw(st.sampled_from([k_shape] if clean else [k_shape] * 2 + [(b, h, s + 1, d)]))
    v = _rank_ok(data.draw(operands(v_shape, "v", clean=clean)), 4)
    causals = [False, True] if clean else [False, True, 1, None, np.bool_(True)]
    causal = data.draw(st.sampled_from(causals))
    threads = data.draw(thread_counts(clean))

    def cross():
        qs, ks, vs = q.array.shape, k.array.shape, v.array.shape
        if qs[:2] != ks[:2] or qs[3] != ks[3]:
            return {"k", "q"}
        return {"v", "k"} if ks != vs else set()

    def expected():
        # Scores and weights in float32, each a short sum; the output a convex mix of v's rows.
        # (Causal, top-left: query i sees keys 0..i, so every query sees key 0.)
        want = attention64(q.array, k.array, v.array, causal)
        return want, np.full(want.shape, 2e-5 * (1 + d / 16))

    run(
        lambda: kernels.attention(q.value, k.value, v.value, causal=causal, threads=threads),
        {"q": q, "k": k, "v": v},
        {"causal": None if type(causal) is bool else "type", "threads": threads_problem(threads)},
        cross,
        expected,
    )


def conv64(x, w, bias, stride, padding):
    out = torch.nn.functional.conv2d(
        torch.from_numpy(x),
        torch.from_numpy(w),
        None if bias is None else torch.from_numpy(bias),
        stride=stride,
        padding=padding,
    )
    return out.numpy()


def int_problem(value, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        return "type"
    return None if low <= int(value) < high else "value"


@PROFILE
@given(
    data=st.data(),
    n=st.integers(1, 2),
    c=st.integers(1, 3),
    o=st.integers(1, 4),
    hw=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    khw=st.tuples(st.integers(1, 4), st.integers(1, 4)),
)
def test_conv2d_right_answer_or_a_named_error(data, n, c, o, hw, khw):
    clean = data.draw(st.booleans())  # half the calls valid throughout: answers get checked
    if clean:  # a kernel that fits the padded input, padding below the kernel's size
        khw = (min(khw[0], hw[0]), min(khw[1], hw[1]))
    x = _rank_ok(data.draw(operands((n, c, *hw), "x", clean=clean)), 4)
    w_c = c if clean else data.draw(st.sampled_from([c] * 3 + [c + 1]))
    weight = _rank_ok(data.draw(operands((o, w_c, *khw), "weight", clean=clean)), 4)
    biases = ["none", "good"] if clean else ["none", "good", "good", "wrong-size"]
    with_bias = data.draw(st.sampled_from(biases))
    bias = Operand(None, None)
    if with_bias != "none":
        size = o if with_bias == "good" else o + 1
        bias = _rank_ok(data.draw(operands((size,), "bias", clean=clean)), 1)
    if clean:
        stride = data.draw(st.one_of(st.integers(1, 3), st.just(2**62)))
        padding = data.draw(st.integers(0, min(khw) - 1))
    else:
        stride = data.draw(st.one_of(st.integers(1, 3), st.sampled_from([0, -1, 2**62, 1.0, True])))
        padding = data.draw(st.one_of(st.integers(0, 3), st.sampled_from([-1, 2**62, 2.0])))
    threads = data.draw(thread_counts(clean))

    def cross():
        xs, ws = x.array.shape, weight.array.shape
        if ws[1] != xs[1]:
            return {"weight"}
        kh, kw = ws[2], ws[3]
        if int(padding) >= min(kh, kw):
            return {"padding"}
        if xs[2] + 2 * int(padding) < kh or xs[3] + 2 * int(padding) < kw:
            return {"weight", "x"}
        if bias.array is not None and bias.array.shape != (ws[0],):
            return {"bias"}
        return set()

    def expected():
        # Each output is a float32 sum of c*kh*kw products (the matmul bound, plus the bias).
        patch = weight.array.shape[1] * khw[0] * khw[1]
        want = conv64(x.array, weight.array, bias.array, int(stride), int(padding))
        scale = conv64(np.abs(x.array), np.abs(weight.array), None, int(stride), int(padding))
        return want, 2 * (patch + 1) * EPS32 * (scale + 3) + 1e-30

    run(
        lambda: kernels.conv2d(
            x.value, weight.value, bias.value, stride=stride, padding=padding, threads=threads
        ),
        {"x": x, "weight": weight, "bias": bias},
        {
            "stride": int_problem(stride, 1, 2**62 + 1),
            "padding": int_problem(padding, 0, 2**62 + 1),
            "threads": threads_problem(threads),
        },
        cross,
        expected,
    )


# --- the bindings themselves, without the front end ---------------------------------------------


@PROFILE
@given(data=st.data(), m=st.integers(1, 6), k=st.integers(1, 12), n=st.integers(1, 6))
def test_bindings_take_only_contiguous_float32_and_name_the_argument(data, m, k, n):
    """The compiled module's own checks (what a caller that skips the front end meets): a
    C-contiguous float32 ndarray of the right rank, else TypeError/ValueError; never a crash."""
    name = data.draw(st.sampled_from(["matmul", "softmax_rows", "flash_attention", "conv2d_nchw"]))
    shapes = {
        "matmul": [("a", (m, k)), ("b", (k, n))],
        "softmax_rows": [("x", (m, k))],
        "flash_attention": [("q", (1, m, n, k)), ("k", (1, m, n, k)), ("v", (1, m, n, k))],
        "conv2d_nchw": [("x", (1, m, n + 3, k + 3)), ("weight", (2, m, 3, 3))],
    }[name]
    ops = {arg: data.draw(operands(shape, arg)) for arg, shape in shapes}
    threads = data.draw(st.sampled_from([0, 1, 2, -1, -(2**40)]))  # see the thread-cap regression
    args = [op.value for op in ops.values()]
    if name == "flash_attention":
        args.append(False)
    if name == "conv2d_nchw":
        args += [None, 1, 1]
    bad = set()
    for arg, op in ops.items():
        value = op.value
        if not isinstance(value, np.ndarray) or value.dtype != F32:
            bad.add(arg)
        elif 0 in value.shape or value.ndim == 0:
            bad.add(arg)
        elif name != "softmax_rows" and value.ndim != len(dict(shapes)[arg]):
            bad.add(arg)
        elif not value.flags.c_contiguous or not value.flags.aligned:
            bad.add(arg)
    if threads < 0:
        bad.add("threads")
    call = lambda: getattr(_kernels_reference, name)(*args, threads)  # noqa: E731
    if bad:
        check_rejected(call, bad)
        return
    got = call()
    arrays = [op.array for op in ops.values()]
    want = {
        "matmul": lambda: arrays[0] @ arrays[1],
        "softmax_rows": lambda: softmax64(arrays[0]),
        "flash_attention": lambda: attention64(*arrays, False),
        "conv2d_nchw": lambda: conv64(arrays[0], arrays[1], None, 1, 1),
    }[name]()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)  # small sums of N(0, 1) values


# --- regressions: what fuzzing found ------------------------------------------------------------
#
# Each test below is a finding of the fuzzing above, kept as a regression test once fixed.


def test_conv2d_kernel_larger_than_the_padded_input_names_weight_and_x():
    x, weight = np.ones((1, 3, 2, 2), F32), np.ones((4, 3, 3, 3), F32)
    with pytest.raises(ValueError, match=r"^weight"):
        kernels.conv2d(x, weight)


@pytest.mark.parametrize("argument", ["stride", "padding"])
def test_stride_and_padding_beyond_int64_name_the_argument(argument):
    x, weight = np.ones((1, 1, 5, 5), F32), np.ones((1, 1, 3, 3), F32)
    with pytest.raises(ValueError, match=rf"^{argument} must"):
        kernels.conv2d(x, weight, **{argument: 2**70})


@pytest.mark.parametrize(
    "tensor",
    [
        lambda: torch.ones(3, 4, dtype=torch.bfloat16),  # TypeError: unsupported ScalarType
        lambda: torch.ones(3, 4).to_sparse(),  # TypeError: can't convert Sparse layout
    ],
    ids=["bfloat16", "sparse"],
)
def test_tensors_numpy_cannot_take_get_an_error_naming_x(tensor):
    with pytest.raises((TypeError, ValueError), match=r"^x must"):
        kernels.softmax(tensor())


def test_a_lazily_negated_view_gives_the_negated_answer():
    # tensor.numpy() refuses a view with torch's negative bit set; the front end materialises it.
    values = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    got = kernels.matmul(values._neg_view(), torch.eye(4))
    np.testing.assert_array_equal(got.numpy(), -values.numpy())  # times the identity: exact


CALL_WITH_THREADS = """
import numpy as np
from ml_refresher import _kernels_reference
a = np.ones((64, 64), np.float32)
try:
    _kernels_reference.softmax_rows(a, {threads})
except ValueError as error:
    print("ValueError:", error)
"""


def test_bindings_refuse_a_thread_count_that_would_crash_openmp():
    # In a child process: without the fix, OpenMP fails to start the threads and the process
    # dies with SIGSEGV, which must not take this test run with it.
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-c", CALL_WITH_THREADS.format(threads=100_000)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, f"the call crashed the process (exit {child.returncode})"
    assert child.stdout.startswith("ValueError: threads must be"), child.stdout + child.stderr


def test_the_front_end_caps_threads_below_what_crashes():
    # The same thread count through the front end: a ValueError, no thread started.
    with pytest.raises(ValueError, match=r"^threads must be between 1 and"):
        kernels.softmax(np.ones((4, 4), F32), threads=100_000)


def test_unaligned_and_negative_stride_input_give_the_right_answer():
    # Found while writing the layouts above: an unaligned C-contiguous array is passed through
    # without a copy; the reference's loads must not assume alignment.
    values = np.random.default_rng(1).standard_normal((9, 13)).astype(F32)
    for layout in ("unaligned", "negative", "transposed", "strided", "fortran"):
        x = _laid_out(values, layout, axis=1)
        np.testing.assert_allclose(
            kernels.softmax(x),
            softmax64(values.astype(np.float64)),
            atol=1e-6,
            rtol=1e-5,
            err_msg=layout,
        )
        np.testing.assert_allclose(
            kernels.matmul(x, x.T), values.astype(np.float64) @ values.T, atol=1e-4, err_msg=layout
        )


# Findings of fuzz/fuzz_kernels.py (atheris, `tox -e fuzz`), each kept here.


def test_the_matmul_binding_names_a_and_b_when_they_do_not_chain():
    # fuzz_kernels.py input kpKSkpKSkpIK (base64): a (2, 2) and b (1, 1) straight to the binding.
    # The front end checks the chain first; a caller of the binding got no argument's name.
    with pytest.raises(ValueError) as raised:
        _kernels_reference.matmul(np.ones((2, 2), F32), np.ones((1, 1), F32), 1)
    named = ERROR.match(str(raised.value))
    assert named and named["name"] in {"a", "b"}, str(raised.value)


def test_the_bindings_refuse_an_int_beyond_int64_cleanly():
    # fuzz_kernels.py input CgoAAAAAAAAAAAAAAAAAAAA= (base64): stride = 2**63 to the binding is
    # pybind11's TypeError (no wrap-around to a negative stride, no crash); the front end names
    # the argument (test_stride_and_padding_beyond_int64_name_the_argument).
    x, weight = np.ones((1, 1, 3, 3), F32), np.ones((1, 1, 2, 2), F32)
    for stride, padding in ((2**63, 0), (1, 2**63), (1, -(2**63) - 1)):
        with pytest.raises(TypeError, match="incompatible function arguments"):
            _kernels_reference.conv2d_nchw(x, weight, None, stride, padding, 1)


def unaligned(shape) -> np.ndarray:
    raw = np.zeros(int(np.prod(shape)) * 4 + 1, np.uint8)
    out = raw[1:].view(F32).reshape(shape)
    out[...] = np.arange(out.size, dtype=F32).reshape(shape)
    assert out.flags.c_contiguous and not out.flags.aligned
    return out


def test_the_front_end_hands_the_kernels_aligned_arrays_only():
    # A C-contiguous float32 array at an odd address: np.ascontiguousarray returns it as it is,
    # and the kernels' float loads from it are undefined behaviour in C++.
    assert kernels._as_float32_array(unaligned((3, 5)), "x", 2).flags.aligned


def test_the_binding_refuses_unaligned_input():
    # In a child process: without the check the kernel reads the unaligned floats, which under
    # the sanitizer build is a report that ends the process, and must not end this run with it.
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from ml_refresher import _kernels_reference\n"
        "raw = np.zeros(3 * 5 * 4 + 1, np.uint8)\n"
        "a = raw[1:].view(np.float32).reshape(3, 5)\n"
        "try:\n"
        "    _kernels_reference.matmul(a, np.ones((5, 2), np.float32), 1)\n"
        "except ValueError as error:\n"
        "    print(f'ValueError: {error}')\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, f"the call ended the process (exit {child.returncode})"
    assert child.stdout.startswith("ValueError: a must be aligned"), child.stdout + child.stderr
