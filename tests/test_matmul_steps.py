"""The matmul ladder (solutions/kernels/steps/, `kata bench --step N`): every step compiles
through the learner's build and agrees with torch.matmul on shapes that are no multiple of any
tile; a bad step number is refused with the valid range. Small shapes only: step 1 is the naive
loop."""

import json

import numpy as np
import pytest
import torch

from ml_refresher import bench, cli
from ml_refresher.testing import assert_close

# Odd, non-square shapes; k = 300 and 400 cross the steps' slices of k (256) and the reference's
# (384), m = 131 the reference's row block (120), n = 91 and 97 any NR-wide panel.
SHAPES = [(1, 1, 1), (67, 45, 91), (131, 400, 97), (13, 300, 5)]


def tolerance(k):
    # As katas/06_kernels/test_matmul.py: float32 rounding of k products is about 6e-8 * k in
    # any summation order; an indexing or edge bug gives errors of order 1.
    return 1e-6 * k + 1e-6


def random_matrix(rows, cols, seed):
    return np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)


def test_a_bench_run_of_a_step_records_the_step(tmp_path, capsys):
    # First in this file: step 1 is then built by the bench's process and this one under the same
    # module name, so the second build finds it up to date.
    out = tmp_path / "step.json"
    status = bench.run_steps([1], True, [1], out, "128", call_budget=1e-6)
    printed = capsys.readouterr().out
    assert status == 0, printed
    line = "matmul ladder step 1 of 6 (naive i-j-p): solutions/kernels/steps/matmul_1_naive.cpp"
    assert line in printed and "128x128 @ 128x128" in printed
    report = json.loads(out.read_text())
    assert report["step"]["step"] == 1 and report["step"]["source"].endswith("matmul_1_naive.cpp")
    assert {b["extra_info"]["impl"] for b in report["benchmarks"]} == {"ours", "torch.matmul"}
    assert {b["extra_info"]["kernel"] for b in report["benchmarks"]} == {"matmul"}
    # written whole: no scratch file (pytest-benchmark's JSON, the rows, a temporary) is left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step.json", "step.log"]
    assert "matmul ladder step 1" in bench.format_table(report).splitlines()[0]


@pytest.mark.parametrize("step", list(bench.STEPS))
def test_every_step_agrees_with_torch_on_odd_shapes(step):
    module = bench.build_step(step)
    for m, k, n in SHAPES:
        a, b = random_matrix(m, k, 0), random_matrix(k, n, 1)
        expected = torch.from_numpy(a) @ torch.from_numpy(b)
        for threads in (1, 2):
            got = module.matmul(a, b, threads)
            what = f"matmul ladder step {step}: {m}x{k} @ {k}x{n}, {threads} thread(s), vs torch"
            assert_close(got, expected, what, atol=tolerance(k), hint=bench.STEPS[step][1])


def test_steps_are_all_or_one_number():
    assert bench.parse_steps("all") == [1, 2, 3, 4, 5, 6]
    assert bench.parse_steps("3") == [3]


@pytest.mark.parametrize("value", ["0", "9", "two"])
def test_a_bad_step_names_the_valid_range(value, capsys):
    assert cli.main(["bench", "--step", value]) == 2
    error = capsys.readouterr().err
    assert f"--step must be 1 to 6 or 'all', got {value!r}" in error
    assert "1 naive i-j-p" in error and "6 threads: the reference" in error


def test_ladder_table_lists_each_step_with_its_ratio():
    def entry(impl, seconds, threads=1):
        info = dict(kernel="matmul", size="1024x1024 @ 1024x1024", threads=threads, impl=impl)
        info.update(flops=2.0 * 1024**3, bytes=0, order=0, load=0.5)
        stats = {"min": seconds, "median": seconds, "max": seconds, "rounds": 3}
        return {"extra_info": info, "stats": stats}

    limits = {"fma_gflops_1core": 100.0, "bandwidth_gbs": {"1": 10.0}}
    reports = [
        {
            "step": bench.step_info(2),
            "limits": limits,
            "machine": {"cores": 2},
            "benchmarks": [entry("ours", 0.2), entry("torch.matmul", 0.02)],
        },
        {
            "step": bench.step_info(6),
            "limits": limits,
            "machine": {"cores": 2},
            "benchmarks": [entry("ours", 0.01), entry("torch.matmul", 0.02)],
        },
    ]
    table = bench.ladder_table(reports)
    two = next(line for line in table.splitlines() if line.startswith("2 loop order"))
    assert "10.7 GFLOP/s" in two and "0.1x" in two  # 2.15 GFLOP in 0.2 s; torch 10x faster
    six = next(line for line in table.splitlines() if line.startswith("6 threads"))
    assert "215" in six and six.endswith("2x")
