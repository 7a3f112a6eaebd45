"""The GPU benchmark's cases (katas/07_gpu_kernels/bench_gpu_kernels.py), on any machine.

Timing them needs an NVIDIA GPU; these check what does not: every case, built at tiny sizes on
the device the Triton katas run on here (CPU tensors through Triton's interpreter without a GPU),
calls our kernel and torch's on the same inputs with the same options, and the two agree; a CUDA
case, which cannot run without a GPU, still builds, binds its arguments to the front end, and is
skipped as needing a GPU, in the bench file itself too. With a GPU the CUDA cases run here too.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch

from ml_refresher import bench, impl, registry

INTERPRETED = registry.use_triton_interpreter_without_gpu()  # before a kata module imports triton
DEVICE = "cpu" if INTERPRETED else "cuda"
BENCH_FILE = registry.project_root() / bench.GPU_BENCH_FILE


def load_bench_file():
    spec = importlib.util.spec_from_file_location("bench_gpu_kernels", BENCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_gpu = load_bench_file()
# The builders' arguments at tiny sizes, off the kernels' block sizes (masked edges everywhere).
TINY_SIZES = {
    "softmax": [(5, 37)],
    "matmul": [(33, torch.float32), (33, torch.float16)],
    "layernorm": [(6, 45)],
    "attention": [(1, 2, 40, 16, False), (1, 2, 40, 16, True)],
    "conv2d": [(2, 3, 9, 4)],
}
TINY_CASES = bench_gpu.cases(TINY_SIZES)
# Wiring, not accuracy (the kata tests check that): a wrong argument, option or function is off
# by the size of the values, ~1; float16 outputs differ by their rounding, 1e-3 relative.
TOLERANCE = {
    torch.float32: {"rtol": 1e-4, "atol": 1e-4},
    torch.float16: {"rtol": 2e-3, "atol": 2e-3},
}


def test_the_tiny_sizes_cover_every_kernel_and_builder_of_the_bench():
    assert TINY_SIZES.keys() == bench_gpu.FULL_SIZES.keys() == bench_gpu.QUICK_SIZES.keys()
    assert {c.kernel for c in TINY_CASES} == set(bench_gpu.KERNELS)
    for sizes in (bench_gpu.FULL_SIZES, bench_gpu.QUICK_SIZES):
        full = bench_gpu.cases(sizes)
        assert {c.kernel for c in full} == set(bench_gpu.KERNELS)
        assert len({(c.kernel, c.size) for c in full}) == len(full)  # one table group each
        assert all(c.flops > 0 or c.bytes > 0 for c in full)


@pytest.mark.parametrize("case", TINY_CASES, ids=lambda c: f"{c.kernel} {c.size}")
def test_each_case_runs_ours_and_torch_on_the_same_inputs_and_they_agree(case):
    kata = registry.kata(bench_gpu.KERNELS[case.kernel][0])
    args = case.inputs(DEVICE)
    dtype = torch.float16 if "fp16" in case.size else torch.float32
    assert all(a.dtype == dtype for a in args), "the inputs' precision is the one the table names"
    theirs = case.theirs(*args)
    with impl.reference_for([kata]):
        if needs := registry.unmet_needs(kata):
            if kata.cuda_kernel:  # its arguments and options still reach the front end's checks
                with pytest.raises(ValueError, match="must be a CUDA tensor"):
                    bench_gpu.our_kernel(case.kernel)(*args, **case.options)
            pytest.skip(needs[0])
        ours = bench_gpu.our_kernel(case.kernel)(*args, **case.options)
    torch.testing.assert_close(ours, theirs, **TOLERANCE[theirs.dtype])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the bench runs")
def test_without_a_gpu_the_bench_file_skips_every_run_as_needing_one(tmp_path):
    # The file as `kata bench --gpu` runs it, quick sizes: collected, and each run (ours and
    # torch's) skipped with the reason and recorded for the report. Triton's kernels too, since
    # the interpreter's times mean nothing.
    rows = tmp_path / "rows.jsonl"
    env = dict(
        os.environ,
        **{bench.QUICK_ENV: "1", bench.ROWS_ENV: str(rows), impl.IMPL_ENV: "solutions"},
    )
    command = [sys.executable, "-m", "pytest", str(BENCH_FILE), "-p", "no:ml_refresher"]
    command += ["-p", "no:cacheprovider", "-q", "-rs"]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    recorded = [json.loads(line) for line in rows.read_text().splitlines()]
    quick = bench_gpu.cases(bench_gpu.QUICK_SIZES)
    assert f"{2 * len(quick)} skipped" in result.stdout
    assert [(r["extra_info"]["kernel"], r["extra_info"]["size"]) for r in recorded[::2]] == [
        (c.kernel, c.size) for c in quick
    ]
    triton = importlib.util.find_spec("triton") is not None
    for r in recorded:
        assert r["kind"] == "not_run"
        needs = "gpu" if r["extra_info"]["kernel"].startswith("cuda") or triton else "triton"
        assert r["skipped"] == registry.NEEDS[needs]
