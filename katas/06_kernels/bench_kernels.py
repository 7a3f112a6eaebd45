"""Benchmarks of the C++ kernels against torch (pytest-benchmark): each kernel, size and thread
count is one group holding our kernel and its torch counterpart(s), timed in the same run.

Run them with `kata bench` (see ml_refresher.bench), which measures the machine's limits first,
prints the rows as they finish and then the table with GFLOP/s or GB/s, % of the machine's limit
and the ratio to torch. The file name keeps them out of `pytest katas` and the gates; to run them
by hand (the kata plugin refuses non-kata test files under katas/, hence -p no:...):

    ML_REFRESHER_IMPL=solutions pytest -p no:ml_refresher katas/06_kernels/bench_kernels.py

Bounded: each kernel's sizes run smallest first, and once one call of ours takes more than the
call budget (or the next size would take several), its larger sizes are skipped with the time
that stopped them (ml_refresher.bench.size_skip_reason). Nothing starts after the run's deadline.

Environment (set by `kata bench`): ML_REFRESHER_BENCH_QUICK=1 for small sizes,
ML_REFRESHER_BENCH_THREADS="1,2" for the thread counts (default: 1 and every core),
ML_REFRESHER_BENCH_CALL_BUDGET (seconds, default 2), ML_REFRESHER_BENCH_DEADLINE (a time.time()),
ML_REFRESHER_BENCH_ROWS (a file that gets one JSON line per finished or skipped run, written
by bench.record_row),
ML_REFRESHER_BENCH_STEP=N to time step N of the lesson's matmul ladder (solutions/kernels/steps/)
as "ours" instead of the learner's matmul (`kata bench --step N`).
"""

import functools
import os
import time
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml_refresher import bench, kernels
from ml_refresher.kernel_build import KernelBuildError

QUICK = os.environ.get(bench.QUICK_ENV) == "1"
THREADS = [int(t) for t in os.environ.get(bench.THREADS_ENV, "").split(",") if t] or list(
    dict.fromkeys([1, len(os.sched_getaffinity(0))])
)
CALL_BUDGET = float(os.environ.get(bench.CALL_BUDGET_ENV) or bench.CALL_BUDGET)
DEADLINE = float(os.environ.get(bench.DEADLINE_ENV) or "inf")
STEP = int(os.environ.get(bench.STEP_ENV) or 0)
# The kata (and module) behind each kernel of the table.
KERNEL_MODULES = {
    "matmul": "matmul",
    "softmax": "softmax_rows",
    "attention": "flash_attention",
    "conv2d": "conv2d_nchw",
}


@dataclass
class Case:
    """One kernel at one size: our call, torch's calls, and the work done (FLOPs or bytes)."""

    kernel: str
    size: str
    ours: object  # callable(threads) -> result
    torch: dict = field(default_factory=dict)  # name -> callable() -> result
    flops: float = 0.0
    bytes: float = 0.0

    @property
    def work(self) -> float:
        return self.flops or self.bytes


def rand(*shape):
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


@functools.cache
def ours_module(kernel):
    """The module "ours" calls: a step of the matmul ladder when one is asked for, else the one
    ml_refresher.kernels uses (the learner's, compiled on first use, or the reference)."""
    if STEP and kernel == "matmul":
        return bench.build_step(STEP)
    return kernels._module_for(KERNEL_MODULES[kernel])


def our_matmul(a, b, threads):
    if STEP:  # the step's bindings directly: a and b are already contiguous float32
        return ours_module("matmul").matmul(a, b, threads)
    return kernels.matmul(a, b, threads=threads)


def matmul_case(n):
    a, b = rand(n, n), rand(n, n)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    return Case(
        "matmul",
        f"{n}x{n} @ {n}x{n}",
        lambda t: our_matmul(a, b, t),
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


def attention_case(b, h, t, d, causal=False):
    q, k, v = rand(b, h, t, d), rand(b, h, t, d), rand(b, h, t, d)
    tq, tk, tv = map(torch.from_numpy, (q, k, v))
    mask = torch.ones(t, t, dtype=torch.bool).tril() if causal else None

    def unfused():  # what a first transformer does: the full t x t score matrix per head
        scores = tq @ tk.transpose(-1, -2) / d**0.5
        if causal:
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, -1) @ tv

    # q k^T and p v, 2 FLOPs per multiply-add each, over the t*t (pairs) or t(t+1)/2 (causal)
    # query-key pairs that count: a kernel that computes masked scores does not get them as work.
    pairs = t * (t + 1) / 2 if causal else t * t
    return Case(
        "attention",
        f"B={b} H={h} T={t} D={d}" + (" causal" if causal else ""),
        lambda threads: kernels.attention(q, k, v, causal=causal, threads=threads),
        {
            "torch SDPA": lambda: F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal),
            "torch unfused": unfused,
        },
        flops=4.0 * b * h * pairs * d,
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
        "attention T=512 causal": lambda: attention_case(4, 8, 512, 64, causal=True),
        "attention T=1024 causal": lambda: attention_case(4, 8, 1024, 64, causal=True),
        "conv2d N=32": lambda: conv2d_case(32, 64, 32, 64, 3, 1),
    }


# The torch calls each kernel is compared with, in the order of each Case's `torch` dict.
COUNTERPARTS = {
    "matmul": ["torch.matmul"],
    "softmax": ["torch.softmax"],
    "attention": ["torch SDPA", "torch unfused"],
    "conv2d": ["torch conv2d"],
}
# Ours and its counterparts back to back, so that they see the same machine load; each kernel's
# sizes smallest first (CASES' order), so that the ladder can stop before the slow ones.
RUNS = [
    (name, threads, impl)
    for name in CASES
    for threads in THREADS
    for impl in ["ours", *COUNTERPARTS[name.split()[0]]]
]

# The ladder's memory: per kernel, size -> (work, slowest first call of ours at that size) and
# size -> (threads, seconds) of that call, and the reason ours was skipped per (case, threads),
# which skips its counterparts too.
_first_calls: dict[str, dict[str, tuple[float, float]]] = {}
_same_size_calls: dict[str, dict[str, tuple[int, float]]] = {}
_group_skips: dict[tuple[str, int], str] = {}


@functools.cache
def case(name):
    return CASES[name]()


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def _timed_first_call(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


@pytest.mark.parametrize(
    ("name", "threads", "impl", "order"),
    [pytest.param(*run, i, id=f"{run[0]}-{run[1]}t-{run[2]}") for i, run in enumerate(RUNS)],
)
def test_benchmark(benchmark, torch_threads, name, threads, impl, order):
    c = case(name)
    torch_threads(threads)
    benchmark.group = f"{c.kernel} {c.size} threads={threads}"
    info = dict(
        kernel=c.kernel,
        size=c.size,
        threads=threads,
        impl=impl,
        flops=c.flops,
        bytes=c.bytes,
        order=order,
    )
    benchmark.extra_info.update(info)
    if time.time() > DEADLINE:
        bench.skip_row(info, "deadline", "skipped: the run's time budget was spent")
    if impl == "ours":
        sizes = _first_calls.setdefault(c.kernel, {})
        previous = [(size, *timing) for size, timing in sizes.items() if size != c.size]
        same_size = _same_size_calls.get(c.kernel, {}).get(c.size)
        reason = bench.size_skip_reason(previous, c.work, CALL_BUDGET, same_size)
        if reason:
            _group_skips[(name, threads)] = reason
            bench.skip_row(info, "ladder", reason)
        try:  # compile the learner's kernel (first use) before anything is timed
            ours_module(c.kernel)
        except KernelBuildError as error:
            bench.skip_row(info, "build_error", f"did not compile: {str(error).splitlines()[0]}")
        run = functools.partial(c.ours, threads)
        try:
            first = _timed_first_call(run)
        except NotImplementedError as error:
            bench.skip_row(info, "not_implemented", f"not implemented yet: {error}")
        slowest = max(first, sizes.get(c.size, (0.0, 0.0))[1])
        sizes[c.size] = (c.work, slowest)
        if same_size is None or first > same_size[1]:
            _same_size_calls.setdefault(c.kernel, {})[c.size] = (threads, first)
    else:
        if (name, threads) in _group_skips:
            bench.skip_row(info, "ladder", _group_skips[(name, threads)])
        run = c.torch[impl]
        first = _timed_first_call(run)
    if first > CALL_BUDGET:
        # One call over the budget is the measurement: another round would double a slow row,
        # and a warm-up is noise next to seconds of arithmetic.
        info.update(load=os.getloadavg()[0], single_call=True)
        one = {"min": first, "max": first, "mean": first, "median": first, "stddev": 0.0}
        bench.record_row(
            {"group": benchmark.group, "extra_info": info, "stats": {**one, "rounds": 1}}
        )
        return
    # The first call was the warm-up. The big cases take 0.1-1 s a call: 3 rounds keep the whole
    # run near a minute, and fewer when one call is slow (a learner's first loops). The table uses
    # each run's fastest round: the one least disturbed by other processes.
    rounds = bench.rounds_for(first, 3 if c.flops > 1e10 else 7, CALL_BUDGET)
    benchmark.pedantic(run, rounds=rounds, warmup_rounds=0)
    benchmark.extra_info["load"] = os.getloadavg()[0]  # the 1-minute load as the row ends
    stats = benchmark.stats.stats
    bench.record_row(
        {
            "group": benchmark.group,
            "extra_info": dict(benchmark.extra_info),
            "stats": {**stats.as_dict(), "data": list(stats.data)},
        }
    )
