"""The learner's kernels build one module each: a kernel that does not compile reports the
compiler's error and leaves the learner's other kernels, and the reference, usable."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ml_refresher import kernel_build, kernels, registry

BROKEN = """
#include "kernels.h"
namespace kernels {
void conv2d_nchw(const float* x, const float* w, const float* b, float* y, const conv2d_shape& s) {
  this is not C++;
}
}  // namespace kernels
"""


# Under build/ and kept between runs, so that ninja recompiles only what changed (seconds).
SCRATCH = registry.project_root() / "build" / "test-kernel-build"


@pytest.fixture
def learner_sources():
    """A copy of the shipped kernels/ in which conv2d_nchw.cpp does not compile."""
    sources = SCRATCH / "kernels"
    shutil.copytree(registry.project_root() / "kernels", sources, dirs_exist_ok=True)
    (sources / "conv2d_nchw.cpp").write_text(BROKEN)
    return sources


def test_a_compile_error_names_the_file_and_line_and_spares_the_other_kernels(learner_sources):
    with pytest.raises(kernel_build.KernelBuildError) as failure:
        kernel_build.build("conv2d_nchw", learner_sources, SCRATCH / "build")
    message = str(failure.value)
    assert message.startswith(
        "kernels/conv2d_nchw.cpp (with the matmul.cpp it requires) did not compile"
    )
    assert "conv2d_nchw.cpp:5" in message and "error" in message
    assert "the other kernels are not affected" in message
    # matmul from the same directory still builds; it is the shipped stub, so it says so.
    matmul = kernel_build.build("matmul", learner_sources, SCRATCH / "build")
    ones = np.ones((2, 2), np.float32)
    with pytest.raises(NotImplementedError, match="kernels/matmul.cpp: matmul"):
        matmul.matmul(ones, ones)


def test_the_reference_rescues_a_kernel_that_does_not_compile(monkeypatch):
    # The front end as it is after conv2d failed to build in this process.
    monkeypatch.setitem(
        kernels._build_failures,
        "conv2d_nchw",
        kernel_build.KernelBuildError("kernels/conv2d_nchw.cpp did not compile; ..."),
    )
    x, w = np.ones((1, 1, 3, 3), np.float32), np.ones((1, 1, 2, 2), np.float32)
    with pytest.raises(kernel_build.KernelBuildError, match="conv2d_nchw.cpp did not compile"):
        kernels.conv2d(x, w)
    monkeypatch.setenv("ML_REFRESHER_USE_REFERENCE", "conv2d_nchw")
    np.testing.assert_array_equal(kernels.conv2d(x, w), np.full((1, 1, 2, 2), 4, np.float32))
    # The learner's matmul is a separate module: still reached, still the learner's stub.
    with pytest.raises(NotImplementedError, match="kernels/matmul.cpp: matmul"):
        kernels.matmul(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32))


def test_a_kernel_that_does_not_compile_reports_once_and_the_run_stays_short(tmp_path):
    # A learner's checkout with a missing semicolon in matmul.cpp (conv2d links matmul, so it
    # cannot build either). Before, every failing test re-raised one stored exception whose
    # traceback grew with each call: 700,000 lines and 7 minutes for the topic.
    root = registry.project_root()
    for part in ("katas/06_kernels", "kernels", "solutions/kernels", "src/bindings"):
        shutil.copytree(root / part, tmp_path / part)
    (tmp_path / "katas/curriculum.toml").write_text('topics = ["06_kernels"]\n')
    matmul = tmp_path / "kernels/matmul.cpp"
    matmul.write_text(
        matmul.read_text().replace("namespace kernels {", "namespace kernels {\nint x")
    )
    env = {**os.environ, "ML_REFRESHER_ROOT": str(tmp_path), "ML_REFRESHER_IMPL": "learner"}
    env.pop("ML_REFRESHER_USE_REFERENCE", None)
    tests = ["katas/06_kernels/test_matmul.py", "katas/06_kernels/test_conv2d_nchw.py"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = run.stdout.splitlines()
    assert run.returncode == 1
    # The compiler's errors once per kernel module (matmul, conv2d), then one short line each.
    assert sum("did not compile; fix the first error" in line for line in lines) == 2
    assert sum("see the compiler's errors in the first failing test" in line for line in lines) > 10
    # Measured on the whole topic: 1,051 lines (60 kB), the compiler's errors shown twice.
    assert len(lines) < 3000, f"{len(lines)} lines of output"
