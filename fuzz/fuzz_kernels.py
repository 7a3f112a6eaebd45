"""Coverage-guided fuzzing of the kernels' argument checks: the compiled reference bindings
(ml_refresher._kernels_reference) and the front end (ml_refresher.kernels) on arguments decoded
from fuzzer bytes: any rank 0..5 with dimensions 0..4, every dtype, C/Fortran/strided/negative-
stride/unaligned layouts, torch tensors, lists, None, and extreme `threads`, `stride`, `padding`
and `causal`. Each call must return a finite result of the right shape (matmul: the right
values too) or raise TypeError/ValueError whose message starts with an argument's name. Anything
else (another exception, a crash, a sanitizer report, a hang) is a finding: libFuzzer writes the
input that caused it as crash-<sha1> to -artifact_prefix, and
`python fuzz/fuzz_kernels.py crash-<sha1>` replays it.

    python fuzz/fuzz_kernels.py -max_total_time=60 -artifact_prefix=findings/ corpus/

With atheris (pip install atheris) the fuzzer follows coverage of the Python front end (the
compiled module is not instrumented: that needs a clang build with -fsanitize=fuzzer). Without
atheris the same target runs on random bytes for -max_total_time seconds (not coverage-guided)."""

from __future__ import annotations

import os
import re
import sys
import time

os.environ.setdefault("ML_REFRESHER_IMPL", "solutions")  # the reference, not a learner's kernel
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

try:
    import atheris
except ImportError:  # the random-bytes fallback below
    atheris = None

if atheris is not None:
    with atheris.instrument_imports(include=["ml_refresher"]):
        from ml_refresher import _kernels_reference, kernels
else:
    from ml_refresher import _kernels_reference, kernels

import torch  # noqa: E402

KERNELS = {
    # name: (binding, front end, tensor argument names, extra scalar arguments)
    "matmul": (_kernels_reference.matmul, kernels.matmul, ("a", "b"), ()),
    "softmax_rows": (_kernels_reference.softmax_rows, kernels.softmax, ("x",), ()),
    "flash_attention": (
        _kernels_reference.flash_attention,
        kernels.attention,
        ("q", "k", "v"),
        ("causal",),
    ),
    "conv2d_nchw": (
        _kernels_reference.conv2d_nchw,
        kernels.conv2d,
        ("x", "weight", "bias"),
        ("stride", "padding"),
    ),
}
NAMES = sorted(KERNELS)
DTYPES = [np.float32] * 6 + [np.float64, np.float16, np.int32, np.int64, np.bool_, ">f4"]
# Near the edges that broke things before: negative, zero, int32/int64 limits, beyond int64.
INTS = [0, 1, 2, 3, -1, 7, 2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63), 2**70]
ARGUMENT = re.compile(r"^(?P<name>[A-Za-z_]+)('s)?\b")
ARGUMENT_NAMES = {"a", "b", "x", "q", "k", "v", "weight", "bias", "threads", "stride"}
ARGUMENT_NAMES |= {"padding", "causal", "the", "kernel"}  # "the kernel ..." for KernelBuildError


class Bytes:
    """Decodes choices from the fuzzer's bytes (atheris's FuzzedDataProvider, or a stand-in)."""

    def __init__(self, data: bytes):
        self.provider = atheris.FuzzedDataProvider(data) if atheris else None
        self.data, self.at = data, 0

    def pick(self, n: int) -> int:
        if self.provider is not None:
            return self.provider.ConsumeIntInRange(0, n - 1)
        if self.at >= len(self.data):
            return 0
        self.at += 1
        return self.data[self.at - 1] % n

    def choice(self, options):
        return options[self.pick(len(options))]


def operand(draw: Bytes, rank_hint: int, seed: int):
    kind = draw.choice(["numpy"] * 6 + ["torch", "torch-view", "list", "scalar", "none"])
    rank = rank_hint if draw.pick(4) else draw.pick(6)
    shape = tuple(draw.choice([1, 2, 3, 4, 0, 1, 2]) for _ in range(rank))
    values = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    if kind == "none":
        return None
    if kind == "scalar":
        return draw.choice([1.0, 0, float("nan"), True])
    if kind == "list":
        return values.tolist()
    if kind in ("torch", "torch-view"):
        tensor = torch.from_numpy(values.copy())
        return tensor.permute(tuple(reversed(range(rank)))) if kind == "torch-view" else tensor
    array = values.astype(draw.choice(DTYPES))
    layout = draw.choice(["c", "c", "fortran", "transposed", "strided", "negative", "unaligned"])
    if layout == "fortran":
        array = np.asfortranarray(array)
    elif layout == "transposed" and rank >= 2:
        array = array.T
    elif layout == "strided" and rank >= 1:
        array = np.repeat(array, 2, axis=0)[::2]
    elif layout == "negative" and rank >= 1:
        array = array[::-1]
    elif layout == "unaligned" and array.dtype == np.float32:
        raw = np.zeros(array.nbytes + 1, np.uint8)
        view = raw[1:].view(np.float32).reshape(array.shape)
        view[...] = array
        array = view
    return array


# pybind11's own refusal of an argument its C++ type cannot hold (a Python int beyond int64, a
# float for an int): a TypeError that lists the signature instead of naming the argument. Only
# the binding meets it (the front end checks those arguments first, naming them), so it is
# accepted there: it is a clean refusal, never a wrapped-around value.
PYBIND_REFUSAL = re.compile(r"^\w+\(\): incompatible function arguments")

# Findings reported and kept as (strict xfail) regression tests in tests/test_kernel_fuzz.py,
# skipped here so that a run explores past them; delete each line once its fix is in.


def check_error(error: Exception, where: str) -> None:
    """A rejection must be TypeError/ValueError naming an argument; anything else is a finding."""
    if not isinstance(error, (TypeError, ValueError)):
        raise AssertionError(f"{where}: {type(error).__name__} (not TypeError/ValueError): {error}")
    if where.endswith("binding") and PYBIND_REFUSAL.match(str(error)):
        return
    match = ARGUMENT.match(str(error))
    if not match or match["name"] not in ARGUMENT_NAMES:
        raise AssertionError(f"{where}: the message names no argument: {error}")


def TestOneInput(data: bytes) -> None:  # noqa: N802 (the name libFuzzer looks for)
    draw = Bytes(data)
    name = draw.choice(NAMES)
    binding, front_end, tensor_names, scalar_names = KERNELS[name]
    ranks = {"a": 2, "b": 2, "x": 2 if name == "softmax_rows" else 4, "q": 4, "k": 4, "v": 4}
    ranks |= {"weight": 4, "bias": 1}
    tensors = [operand(draw, ranks[arg], seed=i) for i, arg in enumerate(tensor_names)]
    if name == "matmul" and draw.pick(2):  # often chainable, so the kernel itself runs
        a = tensors[0]
        if isinstance(a, np.ndarray) and a.ndim == 2:
            tensors[1] = np.random.default_rng(9).standard_normal((a.shape[1], 3)).astype("f4")
    scalars = []
    for arg in scalar_names:
        scalars.append(
            draw.choice([False, True, 0, 1, None]) if arg == "causal" else draw.choice(INTS)
        )
    threads = draw.choice([None, 1, 2, 0, -1, 2**31, 2**70]) if draw.pick(2) else 1
    for where, call in (
        ("binding", lambda: binding(*tensors, *scalars, 0 if threads is None else threads)),
        (
            "front end",
            lambda: front_end(
                *tensors, **dict(zip(scalar_names, scalars, strict=True)), threads=threads
            ),
        ),
    ):
        start = time.perf_counter()
        try:
            result = call()
        except Exception as error:  # noqa: BLE001 (the check decides what is allowed)
            check_error(error, f"{name} {where}")
            continue
        finally:
            if time.perf_counter() - start > 10:  # tiny inputs: seconds means spinning threads
                raise AssertionError(f"{name} {where}: a call on tiny inputs took seconds")
        out = np.asarray(result.detach() if isinstance(result, torch.Tensor) else result)
        if out.dtype != np.float32:
            raise AssertionError(f"{name} {where}: result is {out.dtype}, not float32")
        if name == "matmul":
            a, b = (np.asarray(t, np.float64) for t in tensors)
            if out.shape != (a.shape[0], b.shape[1]) or not np.allclose(out, a @ b, atol=1e-4):
                raise AssertionError(
                    f"{name} {where}: wrong answer for shapes {a.shape} @ {b.shape}"
                )


if atheris is not None:  # coverage of the decoding and checks here guides the fuzzer too
    operand = atheris.instrument_func(operand)
    check_error = atheris.instrument_func(check_error)
    TestOneInput = atheris.instrument_func(TestOneInput)  # noqa: N816


def fuzz_random_bytes(seconds: float) -> None:
    """The fallback without atheris: random inputs for `seconds`; prints libFuzzer-like totals."""
    rng, start, runs = np.random.default_rng(), time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        data = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        try:
            TestOneInput(data)
        except AssertionError:
            print(f"finding, input {data.hex()}", flush=True)
            raise
        runs += 1
    print(f"Done {runs} runs in {time.perf_counter() - start:.0f} second(s) (random bytes)")


def main(argv: list[str]) -> None:
    if atheris is not None:
        atheris.Setup(argv, TestOneInput)
        atheris.Fuzz()
    else:
        limit = [a.split("=", 1)[1] for a in argv if a.startswith("-max_total_time=")]
        replays = [a for a in argv[1:] if not a.startswith("-") and os.path.isfile(a)]
        for path in replays:
            with open(path, "rb") as file:
                TestOneInput(file.read())
        if not replays:
            fuzz_random_bytes(float(limit[0]) if limit else 60.0)


if __name__ == "__main__":
    main(sys.argv)
