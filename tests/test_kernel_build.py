"""The learner's kernels build one module each: a kernel that does not compile reports the
compiler's error and leaves the learner's other kernels, and the reference, usable."""

import shutil

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
    assert message.startswith("kernels/conv2d_nchw.cpp did not compile")
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
