"""`kata bench` (ml_refresher.bench): the table, the size ladder, the skip summary and one real run.
No assertion on speed: the machine may be shared, so only the shape of the output is checked."""

import json

import pytest

from ml_refresher import bench, registry

MACHINE = {
    "cpu_model": "Example CPU 9000",
    "isa": {"avx2": True, "avx512f": False, "fma": True},
    "cores": 2,
    "threads": [1, 2],
    "load_average_start": [0.50, 0.4, 0.3],
    "load_average_end": [1.25, 0.6, 0.4],
    "torch": "2.0",
}
LIMITS = {
    "fma_gflops_1core": 100.0,
    "fma": "AVX2, 8 lanes x 12 accumulators",
    "bandwidth_gbs": {"1": 10.0, "2": 16.0},
    "bandwidth": "triad over 3 x 64 MB",
}


def stats(fastest, median=None, rounds=7):
    median = fastest if median is None else median
    return {"min": fastest, "median": median, "max": 2 * median, "rounds": rounds}


def entry(order, kernel, size, threads, impl, fastest, median=None, load=0.5, flops=1e9, nbytes=0):
    info = dict(
        kernel=kernel,
        size=size,
        threads=threads,
        impl=impl,
        flops=flops,
        bytes=nbytes,
        order=order,
        load=load,
    )
    return {
        "group": f"{kernel} {size} threads={threads}",
        "extra_info": info,
        "stats": stats(fastest, median),
    }


def skipped(order, kernel, size, threads, impl, kind, reason):
    info = dict(
        kernel=kernel, size=size, threads=threads, impl=impl, flops=1e9, bytes=0, order=order
    )
    return {"extra_info": info, "kind": kind, "skipped": reason}


LADDER_REASON = "skipped: the previous size (1024x1024 @ 1024x1024) took 2.5 s a call"
REPORT = {
    "machine": MACHINE,
    "limits": LIMITS,
    "benchmarks": [
        # 1e9 FLOPs in 20 ms = 50 GFLOP/s = 50% of one core's 100; torch twice as slow.
        entry(0, "matmul", "1024x1024 @ 1024x1024", 1, "ours", 0.020),
        entry(1, "matmul", "1024x1024 @ 1024x1024", 1, "torch.matmul", 0.040),
        # torch at 2 threads (50 ms) slower than at 1 (40 ms): its threads were starved.
        entry(2, "matmul", "1024x1024 @ 1024x1024", 2, "ours", 0.012),
        entry(3, "matmul", "1024x1024 @ 1024x1024", 2, "torch.matmul", 0.050),
        # 1e8 bytes in 10 ms = 10 GB/s = 100% of the 1-thread triad; the load exceeded the cores.
        entry(6, "softmax", "4096x4096", 1, "ours", 0.010, load=3.5, flops=0, nbytes=1e8),
        entry(7, "softmax", "4096x4096", 1, "torch.softmax", 0.030, load=3.5, flops=0, nbytes=1e8),
        # most of our rounds were 3x slower than the fastest
        entry(8, "conv2d", "N=32", 1, "ours", 0.010, median=0.030),
        entry(9, "conv2d", "N=32", 1, "torch conv2d", 0.010),
    ],
    "skipped": [
        skipped(4, "matmul", "2048x2048 @ 2048x2048", 1, "ours", "ladder", LADDER_REASON),
        skipped(5, "matmul", "2048x2048 @ 2048x2048", 1, "torch.matmul", "ladder", LADDER_REASON),
    ],
}


def row(table: str, *words: str) -> str:
    """The one line of `table` that holds all of `words`."""
    found = [line for line in table.splitlines() if all(w in line for w in words)]
    assert len(found) == 1, f"expected one line with {words}, got {len(found)}:\n{table}"
    return found[0]


def test_table_shows_ratio_share_of_limit_unreliable_rows_and_skipped_sizes():
    table = bench.format_table(REPORT)
    # header: the machine the figures belong to
    assert "Example CPU 9000" in table and "ISA avx2 fma" in table and "threads 1, 2" in table
    assert "0.50 at the start, 1.25 at the end, on 2 cores" in table
    assert "FMA peak 100 GFLOP/s" in table and "10.0 GB/s at 1 thread" in table
    # a clean row: times, rates, % of the FMA peak x threads, the ratio
    clean = row(table, "1024x1024", "torch.matmul", " 1 ")
    assert "50.0 GFLOP/s" in clean and " 50%" in clean and " 25%" in clean
    assert clean.endswith("2.00x")
    # 2 threads: % of 2 x the peak, and no ratio, because torch got slower with more threads
    starved = row(table, "1024x1024", "torch.matmul", " 2 ")
    assert " 42%" in starved and "unreliable (torch 2t slower than 1t)" in starved
    assert "x" not in starved.split("unreliable")[0].split("torch.matmul")[1]
    # softmax: % of the bandwidth; the load average above the cores hides the ratio
    loaded = row(table, "4096x4096")
    assert "10.0 GB/s" in loaded and "100%" in loaded
    assert "unreliable (load 3.5 > 2 cores)" in loaded
    assert "unreliable (ours rounds 3.0x apart)" in row(table, "N=32")
    # the skipped size is listed once, with the time that stopped it
    assert row(table, "2048x2048").endswith(LADDER_REASON)


def test_table_without_machine_fields_still_formats():
    # pytest-benchmark's own JSON of an older run: no machine, limits or skips recorded
    old = {"benchmarks": [{k: v for k, v in b.items()} for b in REPORT["benchmarks"][:2]]}
    table = bench.format_table(old)
    assert row(table, "1024x1024").endswith("2.00x")


def test_ladder_skips_the_sizes_after_one_over_the_call_budget():
    naive = {"256": 0.02, "512": 0.3, "1024": 3.1, "2048": 40.0}
    sizes = [(n, 2.0 * int(n) ** 3) for n in naive]
    ran, skipped = bench.plan_sizes(sizes, naive, call_budget=2.0)
    assert ran == ["256", "512", "1024"]
    assert skipped == {"2048": "skipped: the previous size (1024) took 3.1 s a call"}


def test_ladder_skips_a_size_predicted_far_over_the_budget_and_runs_fast_kernels_fully():
    # 1024 takes 1.5 s: under the 2 s budget, but 2048 does 8x the work, ~12 s > 3 budgets
    timings = {"1024": 1.5, "2048": 12.0}
    sizes = [("1024", 2.0 * 1024**3), ("2048", 2.0 * 2048**3)]
    ran, skipped = bench.plan_sizes(sizes, timings, call_budget=2.0)
    assert ran == ["1024"] and "would take about 12 s" in skipped["2048"]
    fast = {"256": 1e-4, "512": 1e-3, "1024": 8e-3, "2048": 6e-2}
    assert bench.plan_sizes([(n, int(n) ** 3) for n in fast], fast) == (list(fast), {})


def test_ladder_skips_other_thread_counts_of_a_size_that_took_far_over_the_budget():
    # a naive loop at 1024: 25 s at 1 thread; at 2 threads it would take as long again
    reason = bench.size_skip_reason([("512", 1.0, 0.35)], 8.0, 2.0, same_size=(1, 25.7))
    assert reason == "skipped: at 1 thread(s) this size took 25.7 s a call"
    assert bench.size_skip_reason([("512", 1.0, 0.35)], 8.0, 2.0, same_size=(1, 3.0)) is None


@pytest.mark.parametrize(
    ("first_call", "rounds"), [(0.01, 7), (0.5, 7), (1.5, 2), (3.0, 1), (60.0, 1)]
)
def test_rounds_shrink_when_one_call_is_slow(first_call, rounds):
    assert bench.rounds_for(first_call, 7, call_budget=2.0) == rounds


def test_skip_summary_counts_each_kind_of_skip():
    skips = [
        skipped(0, "softmax", "4096x4096", 1, "ours", "not_implemented", "not implemented yet: x"),
        skipped(1, "softmax", "4096x4096", 2, "ours", "not_implemented", "not implemented yet: x"),
        skipped(2, "conv2d", "N=32", 1, "ours", "build_error", "did not compile: y"),
        *REPORT["skipped"],
        skipped(6, "matmul", "2048x2048 @ 2048x2048", 2, "ours", "ladder", LADDER_REASON),
        skipped(7, "attention", "T=1024", 1, "ours", "deadline", "skipped: the budget was spent"),
    ]
    assert bench.skip_summary(skips) == [
        "2 kernel run(s) skipped: not implemented yet (softmax)",
        "1 kernel run(s) skipped: did not compile (conv2d)",
        "2 kernel run(s) skipped (over the time budget of a call):",
        f"  matmul 2048x2048 @ 2048x2048 at 1, 2 thread(s): {LADDER_REASON}",
        "1 kernel run(s) skipped (run budget):",
        "  attention T=1024 at 1 thread(s): skipped: the budget was spent",
    ]
    assert bench.skip_summary([]) == []


def test_kata_bench_prints_the_table_and_saves_json(tmp_path, capsys):
    # matmul's quick sizes are 128 and 256; with a call budget of a microsecond the first size
    # runs (one round), and the ladder skips the second: a real run through every path, seconds.
    out = tmp_path / "bench.json"
    status = bench.run(
        "solutions", quick=True, threads=[1], out=out, keyword="matmul", call_budget=1e-6
    )
    printed = capsys.readouterr().out
    assert status == 0, printed
    progress, table = printed.split("\nkernel ", 1)
    assert "128x128 @ 128x128" in progress and "torch.matmul" in progress  # a row as it finished
    assert "128x128 @ 128x128" in table and "%" in row(table, "128x128", "torch.matmul")
    assert "skipped: the previous size (128x128 @ 128x128) took" in row(
        table, "256x256", " 1 skipped"
    )
    assert "1 kernel run(s) skipped (over the time budget of a call):" in printed
    report = json.loads(out.read_text())
    machine = report["machine"]
    assert machine["cpu_model"] and set(machine["isa"]) == {"avx2", "avx512f", "fma"}
    assert machine["threads"] == [1] and machine["cores"] >= 1
    assert len(machine["load_average_start"]) == 3 and len(machine["load_average_end"]) == 3
    assert report["limits"]["fma_gflops_1core"] > 0 and report["limits"]["bandwidth_gbs"]["1"] > 0
    assert {b["extra_info"]["impl"] for b in report["benchmarks"]} == {"ours", "torch.matmul"}
    assert all("load" in b["extra_info"] for b in report["benchmarks"])
    assert [s["kind"] for s in report["skipped"]] == ["ladder", "ladder"]
    # written whole (state.write_atomically): no rows, pytest-benchmark JSON or temporary left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json", "bench.log"]


# --- the GPU run (`kata bench --gpu`) ---------------------------------------------------------

GPU = {
    "name": "NVIDIA Example 100",
    "capability": "9.0",
    "sms": 132,
    "memory_gib": 79.1,
    "torch": "2.13.0+cu130",
    "cuda": "13.0",
    "triton": "3.9.0",
}


def gpu_entry(order, kernel, size, impl, fastest, median=None, flops=0.0, nbytes=0.0):
    # GPU rows: no threads and no load (the GPU's work does not share the CPU's cores)
    info = dict(kernel=kernel, size=size, impl=impl, flops=flops, bytes=nbytes, order=order)
    return {"group": f"{kernel} {size}", "extra_info": info, "stats": stats(fastest, median)}


def gpu_skipped(order, kernel, size, impl, kind, reason):
    info = dict(kernel=kernel, size=size, impl=impl, flops=0.0, bytes=1e8, order=order)
    return {"extra_info": info, "kind": kind, "skipped": reason}


NO_TRITON = "needs Triton (Linux x86-64: pip install -e '.[gpu]')"
GPU_REPORT = {
    "gpu": GPU,
    "benchmarks": [
        # 2 x 4096^3 FLOPs in 5 ms = 27.5 TFLOP/s; torch in 4 ms is faster: 0.80x
        gpu_entry(0, "triton matmul", "4096 fp32", "ours", 0.005, flops=2.0 * 4096**3),
        gpu_entry(1, "triton matmul", "4096 fp32", "torch.matmul", 0.004, flops=2.0 * 4096**3),
        # 1.34e8 bytes in 50 us = 2684 GB/s; torch in 60 us: 1.20x
        gpu_entry(2, "cuda softmax", "4096x4096", "ours", 50e-6, nbytes=2.0 * 4 * 4096**2),
        gpu_entry(3, "cuda softmax", "4096x4096", "torch.softmax", 60e-6, nbytes=2.0 * 4 * 4096**2),
        # our stub raised NotImplementedError: torch's time alone
        gpu_entry(5, "cuda conv2d", "N=32", "torch conv2d", 0.002, flops=1e9),
    ],
    "skipped": [
        gpu_skipped(4, "cuda conv2d", "N=32", "ours", "not_implemented", "not implemented yet: x"),
        gpu_skipped(6, "triton layernorm", "4096x4096", "ours", "not_run", NO_TRITON),
        gpu_skipped(7, "triton layernorm", "4096x4096", "F.layer_norm", "not_run", NO_TRITON),
    ],
}


def test_gpu_table_shows_the_gpu_times_per_call_tflops_ratio_and_what_did_not_run():
    table = bench.format_gpu_table(GPU_REPORT)
    assert table.splitlines()[0] == (
        "GPU: NVIDIA Example 100, compute capability 9.0, 132 SMs, 79.1 GiB; "
        "torch 2.13.0+cu130 (CUDA 13.0); Triton 3.9.0"
    )
    matmul = row(table, "triton matmul", "torch.matmul")
    assert "5.00" in matmul and "27.5 TFLOP/s" in matmul and "34.4 TFLOP/s" in matmul
    assert matmul.endswith("0.80x") and "%" not in matmul  # no machine limits on a GPU
    softmax = row(table, "cuda softmax")
    assert "    0.050 " in softmax and "2684.4 GB/s" in softmax and softmax.endswith("1.20x")
    assert row(table, "cuda conv2d").endswith("-") and "not impl." in row(table, "cuda conv2d")
    assert row(table, "triton layernorm").endswith(NO_TRITON)  # one line for the group
    assert bench.skip_summary(GPU_REPORT["skipped"]) == [
        "1 kernel run(s) skipped: not implemented yet (cuda conv2d)",
        "1 kernel run(s) skipped: this machine lacks what they need (triton layernorm)",
    ]


def test_gpu_rounds_that_disagree_make_the_ratio_unreliable():
    report = {
        "benchmarks": [
            gpu_entry(0, "cuda matmul", "2048 fp32", "ours", 0.001, median=0.002, flops=1e10),
            gpu_entry(1, "cuda matmul", "2048 fp32", "torch.matmul", 0.001, flops=1e10),
        ]
    }
    assert "unreliable (ours rounds 2.0x apart)" in row(bench.format_gpu_table(report), "cuda")


def test_kata_bench_gpu_without_a_gpu_says_so_in_one_line_and_exits_0(
    monkeypatch, capsys, tmp_path
):
    import torch

    from ml_refresher import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(registry, "nvidia_gpu_present", lambda: False)
    status = cli.main(["bench", "--gpu", "--impl", "solutions", "--out", str(tmp_path / "g.json")])
    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    assert len(out.splitlines()) == 1
    assert out.startswith(
        "GPU benchmarks not run: there is no NVIDIA GPU (torch.cuda.is_available() is False"
    )
    assert out.rstrip().endswith("nothing was timed")
    assert list(tmp_path.iterdir()) == []  # no report: there is no figure to keep


def test_gpu_missing_names_a_cpu_build_of_torch_and_a_missing_triton(monkeypatch):
    import importlib.util

    import torch

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(registry, "nvidia_gpu_present", lambda: True)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n: None if n == "triton" else find_spec(n)
    )
    assert bench.gpu_missing() == (
        "an NVIDIA driver is loaded but torch sees no GPU (torch.cuda.is_available() is False; "
        f"torch {torch.__version__} is a CPU build; Triton is not installed)"
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert bench.gpu_missing() is None


def test_kata_bench_gpu_refuses_the_cpu_only_options(capsys):
    from ml_refresher import cli

    assert cli.main(["bench", "--gpu", "--threads", "2"]) == 2
    assert "kata bench --gpu takes no --threads (CPU kernels only)" in capsys.readouterr().err
