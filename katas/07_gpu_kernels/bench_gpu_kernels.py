"""Benchmarks of the 07 GPU kernels against torch on the GPU (pytest-benchmark): each of our
kernels (the Triton katas, and the CUDA katas through ml_refresher.cuda_kernels) at each size is
one group holding it and its torch counterpart, timed back to back in the same run.

Run them with `kata bench --gpu` (see ml_refresher.bench), which prints the rows as they finish,
then the table with TFLOP/s or GB/s and the ratio to torch. They need an NVIDIA GPU: without one
every case is skipped as needing it (and `kata bench --gpu` says so and runs nothing). The file
name keeps them out of `pytest katas` and the gates; to run them by hand (the kata plugin refuses
non-kata test files under katas/, hence -p no:...):

    ML_REFRESHER_IMPL=solutions pytest -p no:ml_refresher katas/07_gpu_kernels/bench_gpu_kernels.py

Timing: a kernel launch returns before the GPU has run it, so pytest-benchmark's clock here first
waits for the GPU (synchronized_clock), and each round is enough calls back to back (ROUND_S) that
this wait and the launches are a small part of it; the table shows the time per call.

Precision: fp32 as the katas compute it (Triton's tl.dot with input_precision="ieee", the CUDA
kernels' fp32 multiply-adds), so torch runs without TF32 too; the fp16 matmul takes float16
inputs and sums in float32, in both.

Environment (set by `kata bench --gpu`): ML_REFRESHER_BENCH_QUICK=1 for small sizes,
ML_REFRESHER_BENCH_ROWS (a file that gets one JSON line per finished or skipped run).
"""

import functools
import importlib
import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
import torch.nn.functional as F

from ml_refresher import bench, impl, registry
from ml_refresher.kernel_build import KernelBuildError

QUICK = os.environ.get(bench.QUICK_ENV) == "1"
DEVICE = "cuda"
ROUND_S = 0.02  # seconds of calls per round: thousands of times a synchronization's cost
ROUNDS = 10

# Ours compute in full fp32 (and sum fp16 products in fp32): torch must not take shortcuts either.
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False  # cuDNN's convolutions use TF32 by default
torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False

# Our kernels: the kata behind each, and the function of its module (Triton) or of the CUDA
# katas' front end, ml_refresher.cuda_kernels, that runs it.
KERNELS = {
    "triton softmax": ("triton_softmax", "softmax"),
    "cuda softmax": ("cuda_softmax", "softmax"),
    "triton matmul": ("triton_matmul", "matmul"),
    "cuda matmul": ("cuda_matmul", "matmul"),
    "triton layernorm": ("triton_layernorm", "layer_norm"),
    "triton attention": ("triton_flash_attention", "attention"),
    "cuda attention": ("cuda_flash_attention", "attention"),
    "cuda conv2d": ("cuda_conv2d", "conv2d"),
}

# What a learner's kernel that does not build raises on its first call: nvcc's errors, the CUDA
# reference module missing (installed without nvcc), and Triton's compile errors.
BUILD_ERRORS: tuple[type[Exception], ...] = (KernelBuildError, ImportError)
if importlib.util.find_spec("triton"):  # without Triton its katas are skipped before any call
    from triton.compiler.errors import CompilationError

    BUILD_ERRORS += (CompilationError,)


@dataclass(frozen=True)
class Case:
    """One of our kernels at one size and the torch call it is compared with. Nothing is
    allocated before `inputs` is called: collecting the cases needs no GPU."""

    kernel: str  # one of KERNELS
    size: str
    inputs: Callable[[str], tuple]  # device -> the arguments of both calls
    vs: str  # torch's call, as the table names it
    theirs: Callable  # (*inputs) -> torch's result
    options: dict = field(default_factory=dict)  # keyword arguments of our kernel
    flops: float = 0.0
    bytes: float = 0.0


def randn(device, *shapes, dtype=torch.float32) -> tuple:
    """Standard normal tensors of these shapes, the same in every run."""
    generator = torch.Generator(device).manual_seed(0)
    return tuple(torch.randn(s, generator=generator, device=device, dtype=dtype) for s in shapes)


def softmax_cases(rows, cols):
    return [
        Case(
            kernel,
            f"{rows}x{cols}",
            lambda device: randn(device, (rows, cols)),
            "torch.softmax",
            lambda x: torch.softmax(x, -1),
            bytes=2.0 * 4 * rows * cols,  # read x once, write y once
        )
        for kernel in ("triton softmax", "cuda softmax")
    ]


def matmul_cases(n, dtype):
    fp32 = dtype == torch.float32
    return [
        Case(
            kernel,
            f"{n}x{n} @ {n}x{n} {'fp32' if fp32 else 'fp16'}",
            lambda device: randn(device, (n, n), (n, n), dtype=dtype),
            "torch.matmul",
            torch.matmul,
            flops=2.0 * n**3,
        )
        for kernel in (["triton matmul", "cuda matmul"] if fp32 else ["triton matmul"])
    ]  # the CUDA kata is float32 only


def layernorm_cases(rows, cols):
    return [
        Case(
            "triton layernorm",
            f"{rows}x{cols}",
            lambda device: randn(device, (rows, cols), (cols,), (cols,)),  # x, weight, bias
            "F.layer_norm",
            lambda x, weight, bias: F.layer_norm(x, (cols,), weight, bias),
            bytes=2.0 * 4 * rows * cols,  # x and y; weight and bias are read once per row, cached
        )
    ]


def attention_cases(b, h, t, d, causal):
    shape = (b, h, t, d)
    # q k^T and p v, 2 FLOPs per multiply-add each, over the query-key pairs that count (as the
    # CPU bench): a kernel that computes masked scores does not get them as work.
    pairs = t * (t + 1) / 2 if causal else t * t
    return [
        Case(
            kernel,
            f"B={b} H={h} T={t} D={d}" + (" causal" if causal else ""),
            lambda device: randn(device, shape, shape, shape),
            "torch SDPA",
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
            options={"causal": causal},
            flops=4.0 * b * h * pairs * d,
        )
        for kernel in ("triton attention", "cuda attention")
    ]


def conv2d_cases(n, c, hw, o, kernel_size=3, padding=1):
    out_hw = hw + 2 * padding - kernel_size + 1
    return [
        Case(
            "cuda conv2d",
            f"N={n} C={c}->{o} {hw}x{hw} k={kernel_size} pad={padding}",
            lambda device: randn(device, (n, c, hw, hw), (o, c, kernel_size, kernel_size), (o,)),
            "torch conv2d",
            lambda x, weight, bias: F.conv2d(x, weight, bias, padding=padding),
            options={"padding": padding},
            flops=2.0 * n * o * out_hw * out_hw * c * kernel_size * kernel_size,
        )
    ]


BUILDERS = {
    "softmax": softmax_cases,
    "matmul": matmul_cases,
    "layernorm": layernorm_cases,
    "attention": attention_cases,
    "conv2d": conv2d_cases,
}
FULL_SIZES = {  # the arguments of each builder: the sizes of the issue
    "softmax": [(4096, 4096), (8192, 8192)],
    "matmul": [(n, dtype) for dtype in (torch.float32, torch.float16) for n in (2048, 4096)],
    "layernorm": [(4096, 4096)],
    "attention": [(4, 16, t, 64, causal) for t in (1024, 4096) for causal in (False, True)],
    "conv2d": [(32, 64, 56, 64)],
}
QUICK_SIZES = {  # a first look, seconds on any GPU
    "softmax": [(1024, 1024)],
    "matmul": [(1024, torch.float32), (1024, torch.float16)],
    "layernorm": [(1024, 1024)],
    "attention": [(2, 8, 512, 64, False), (2, 8, 512, 64, True)],
    "conv2d": [(8, 32, 28, 32)],
}


def cases(sizes: dict) -> list[Case]:
    """Each of our kernels at each size of `sizes` (per builder, as FULL_SIZES), in run order."""
    return [
        case for op, shapes in sizes.items() for shape in shapes for case in BUILDERS[op](*shape)
    ]


CASES = cases(QUICK_SIZES if QUICK else FULL_SIZES)


def our_kernel(kernel: str) -> Callable:
    """The function that runs our `kernel`: the learner's or the reference, as ML_REFRESHER_IMPL
    (or ML_REFRESHER_USE_REFERENCE) says, resolved as the kata tests resolve it."""
    kata_id, function = KERNELS[kernel]
    kata = registry.kata(kata_id)
    if kata.cuda_kernel:  # the front end compiles and picks the module on the first call
        from ml_refresher import cuda_kernels

        return getattr(cuda_kernels, function)
    impl.install_finder()
    return getattr(importlib.import_module(kata.module), function)


def unmet_needs(kernel: str) -> list[str]:
    """Why `kernel` cannot be timed here (in registry.NEEDS' words), or []: what its kata needs
    (Triton, or a GPU for a CUDA kata), and a GPU for all: Triton's interpreter, which runs the
    Triton katas without one, gives times that mean nothing."""
    needs = registry.unmet_needs(registry.kata(KERNELS[kernel][0]))
    return needs or ([] if torch.cuda.is_available() else [registry.NEEDS["gpu"]])


def synchronized_clock() -> float:
    """pytest-benchmark's clock in this file: it waits for the kernels launched so far first, so
    that a round is timed from an idle GPU to the end of its last call."""
    torch.cuda.synchronize()
    return time.perf_counter()


pytestmark = pytest.mark.benchmark(timer=synchronized_clock)


@functools.lru_cache(maxsize=1)  # one case's tensors at a time: its two runs are back to back
def inputs(index: int) -> tuple:
    return CASES[index].inputs(DEVICE)


@pytest.mark.parametrize(
    ("index", "who"),
    [
        pytest.param(i, who, id=f"{c.kernel} {c.size}-{who}")
        for i, c in enumerate(CASES)
        for who in ("ours", "torch")
    ],
)
def test_benchmark(benchmark, index, who):
    c = CASES[index]
    benchmark.group = f"{c.kernel} {c.size}"
    ours = who == "ours"
    info = dict(
        kernel=c.kernel,
        size=c.size,
        impl="ours" if ours else c.vs,
        flops=c.flops,
        bytes=c.bytes,
        order=2 * index + (not ours),
    )
    benchmark.extra_info.update(info)
    if needs := unmet_needs(c.kernel):  # torch's run too: the group's row says why
        bench.skip_row(info, "not_run", needs[0])
    args = inputs(index)
    if ours:
        run = functools.partial(our_kernel(c.kernel), *args, **c.options)
    else:
        run = functools.partial(c.theirs, *args)
    try:
        # The first call is the warm-up: Triton compiles the kernel, nvcc a learner's CUDA file,
        # cuBLAS and cuDNN pick their algorithms.
        run()
    except NotImplementedError as error:  # a learner's stub
        bench.skip_row(info, "not_implemented", f"not implemented yet: {error}")
    except BUILD_ERRORS as error:
        bench.skip_row(info, "build_error", f"did not compile: {str(error).splitlines()[0]}")
    start = synchronized_clock()
    run()
    one_call = synchronized_clock() - start
    iterations = max(1, round(ROUND_S / one_call))
    rounds = bench.rounds_for(one_call * iterations, ROUNDS)
    benchmark.pedantic(run, rounds=rounds, iterations=iterations, warmup_rounds=0)
    stats = benchmark.stats.stats
    bench.record_row(
        {
            "group": benchmark.group,
            "extra_info": dict(benchmark.extra_info),
            "stats": {**stats.as_dict(), "data": list(stats.data)},
        }
    )
