"""The learner's kernels build one module each: a kernel that does not compile reports the
compiler's error and leaves the learner's other kernels, and the reference, usable."""

import os
import shutil
import subprocess
import sys
import time

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


# Builds the learner's matmul from `sources` into `root` in a process of its own, so that a
# build that waits forever can be killed by the test's timeout instead of hanging the run.
BUILD_MATMUL = (
    "import sys; from ml_refresher import kernel_build; "
    "kernel_build.build('matmul', sys.argv[1], sys.argv[2]); print('built')"
)


def _build_matmul(sources, root, **popen):
    command = [sys.executable, "-c", BUILD_MATMUL, str(sources), str(root)]
    return subprocess.Popen(command, text=True, **popen)


def test_a_stale_torch_build_lock_is_removed_and_the_build_goes_on(learner_sources):
    # What a build killed mid-compile leaves: torch's `lock`, and nobody holding ours.
    root = SCRATCH / "build"
    lock = kernel_build.build_directory("matmul", root) / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.touch()
    run = _build_matmul(learner_sources, root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = run.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        run.kill()
        pytest.fail(f"the build waited on the stale {lock} instead of removing it")
    assert run.returncode == 0, err
    assert out.strip() == "built"
    assert f"removed a stale build lock {lock}" in err, err
    assert not lock.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="no fcntl: no stale-lock detection")
def test_a_live_builds_lock_is_waited_for_not_removed(learner_sources, tmp_path):
    import fcntl

    root = SCRATCH / "build"
    build_dir = kernel_build.build_directory("matmul", root)
    build_dir.mkdir(parents=True, exist_ok=True)
    lock = build_dir / "lock"
    # This process plays a live build: it holds owner.lock, and torch's lock exists.
    with open(build_dir / "owner.lock", "a+") as owner:
        fcntl.flock(owner, fcntl.LOCK_EX)
        owner.write(f"pid {os.getpid()} on this test\n")
        owner.flush()
        lock.touch()
        log = tmp_path / "stderr"
        with open(log, "w") as err:
            run = _build_matmul(learner_sources, root, stdout=subprocess.PIPE, stderr=err)
        try:
            for _ in range(600):  # torch's import takes a few seconds on a loaded machine
                if "waiting for the build of matmul" in log.read_text() or run.poll() is not None:
                    break
                time.sleep(0.1)
            assert run.poll() is None, f"did not wait for the live build: {log.read_text()}"
            assert f"by pid {os.getpid()} on this test" in log.read_text()
            assert lock.exists(), "removed a live build's lock"
        finally:
            lock.unlink(missing_ok=True)  # the live build ends: torch's lock, then ours
            fcntl.flock(owner, fcntl.LOCK_UN)
    out, _ = run.communicate(timeout=300)
    assert run.returncode == 0, log.read_text()
    assert out.strip() == "built"
    assert "stale" not in log.read_text()
