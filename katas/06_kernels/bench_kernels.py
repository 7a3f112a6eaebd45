"""Benchmarks of the C++ kernels against torch (pytest-benchmark): each kernel, size and thread
count is one group holding our kernel and its torch counterpart(s), timed in the same run.

Run them with `kata bench` (see ml_refresher.bench), which prints the table with GFLOP/s or GB/s
and the ratio to torch. The file name keeps them out of `pytest katas` and the gates; to run
them by hand (the kata plugin refuses non-kata test files under katas/, hence -p no:...):

    ML_REFRESHER_IMPL=solutions pytest -p no:ml_refresher katas/06_kernels/bench_kernels.py

Environment: ML_REFRESHER_BENCH_QUICK=1 for small sizes, ML_REFRESHER_BENCH_THREADS="1,2" for the
thread counts (default: 1 and every core).
"""

import functools
import os
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml_refresher import kernels

QUICK = os.environ.get("ML_REFRESHER_BENCH_QUICK") == "1"
THREADS = [int(t) for t in os.environ.get("ML_REFRESHER_BENCH_THREADS", "").split(",") if t] or [
    1,
    len(os.sched_getaffinity(0)),
]


@dataclass
class Case:
    """One kernel at one size: our call, torch's calls, and the work done (FLOPs or bytes)."""

    kernel: str
    size: str
    ours: object  # callable(threads) -> result
    torch: dict = field(default_factory=dict)  # name -> callable() -> result
    flops: float = 0.0
    bytes: float = 0.0


def rand(*shape):
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def matmul_case(n):
    a, b = rand(n, n), rand(n, n)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    return Case(
        "matmul",
        f"{n}x{n} @ {n}x{n}",
        lambda t: kernels.matmul(a, b, threads=t),
        {"torch.matmul": lambda: ta @ tb},
        flops=2.0 * n**3,
    )


def softmax_case(rows, cols):
    x = rand(rows, cols)
    tx = torch.from_numpy(x)
    return Case(
        "softmax",
        f"{rows}x{cols}",
        lambda t: kernels.softmax(x, threads=t),
        {"torch.softmax": lambda: torch.softmax(tx, -1)},
        bytes=2.0 * 4 * x.size,  # read x once, write y once
    )


def attention_case(b, h, t, d):
    q, k, v = rand(b, h, t, d), rand(b, h, t, d), rand(b, h, t, d)
    tq, tk, tv = map(torch.from_numpy, (q, k, v))

    def unfused():  # what a first transformer does: the full t x t score matrix per head
        return torch.softmax(tq @ tk.transpose(-1, -2) / d**0.5, -1) @ tv

    return Case(
        "attention",
        f"B={b} H={h} T={t} D={d}",
        lambda threads: kernels.attention(q, k, v, threads=threads),
        {
            "torch SDPA": lambda: F.scaled_dot_product_attention(tq, tk, tv),
            "torch unfused": unfused,
        },
        flops=4.0 * b * h * t * t * d,  # q k^T and p v, 2 FLOPs per multiply-add each
    )


def conv2d_case(n, c, hw, o, kernel_size, padding):
    x, w, bias = rand(n, c, hw, hw), rand(o, c, kernel_size, kernel_size), rand(o)
    tx, tw, tb = map(torch.from_numpy, (x, w, bias))
    out_hw = hw + 2 * padding - kernel_size + 1
    return Case(
        "conv2d",
        f"N={n} C={c}->{o} {hw}x{hw} k={kernel_size} pad={padding}",
        lambda t: kernels.conv2d(x, w, bias, padding=padding, threads=t),
        {"torch conv2d": lambda: F.conv2d(tx, tw, tb, padding=padding)},
        flops=2.0 * n * o * out_hw * out_hw * c * kernel_size * kernel_size,
    )


if QUICK:
    CASES = {
        "matmul 128": lambda: matmul_case(128),
        "matmul 256": lambda: matmul_case(256),
        "softmax 512x1024": lambda: softmax_case(512, 1024),
        "attention T=128": lambda: attention_case(2, 4, 128, 64),
        "conv2d N=4": lambda: conv2d_case(4, 32, 16, 32, 3, 1),
    }
else:  # the sizes of the issue and the README's kernel table
    CASES = {
        **{f"matmul {n}": (lambda n=n: matmul_case(n)) for n in (256, 512, 1024, 2048)},
        "softmax 4096x4096": lambda: softmax_case(4096, 4096),
        "attention T=512": lambda: attention_case(4, 8, 512, 64),
        "attention T=1024": lambda: attention_case(4, 8, 1024, 64),
        "conv2d N=32": lambda: conv2d_case(32, 64, 32, 64, 3, 1),
    }


# The torch calls each kernel is compared with, in the order of each Case's `torch` dict.
COUNTERPARTS = {
    "matmul": ["torch.matmul"],
    "softmax": ["torch.softmax"],
    "attention": ["torch SDPA", "torch unfused"],
    "conv2d": ["torch conv2d"],
}
# Ours and its counterparts back to back, so that they see the same machine load.
RUNS = [
    pytest.param(name, threads, impl, id=f"{name}-{threads}t-{impl}")
    for name in CASES
    for threads in THREADS
    for impl in ["ours", *COUNTERPARTS[name.split()[0]]]
]


@functools.cache
def case(name):
    return CASES[name]()


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.mark.parametrize(("name", "threads", "impl"), RUNS)
def test_benchmark(benchmark, torch_threads, name, threads, impl):
    c = case(name)
    torch_threads(threads)
    benchmark.group = f"{c.kernel} {c.size} threads={threads}"
    benchmark.extra_info.update(
        kernel=c.kernel, size=c.size, threads=threads, impl=impl, flops=c.flops, bytes=c.bytes
    )
    if impl == "ours":
        run = functools.partial(c.ours, threads)
        try:
            run()
        except NotImplementedError as error:
            pytest.skip(f"not implemented yet: {error}")
    else:
        run = c.torch[impl]
    # The big cases take 0.1-1 s a call; 3 rounds keep the whole run near a minute. The table
    # uses each run's fastest round: the one least disturbed by other processes.
    rounds = 3 if c.flops > 1e10 else 7
    benchmark.pedantic(run, rounds=rounds, warmup_rounds=1)
