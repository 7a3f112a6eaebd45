"""The CUDA katas' build and front end, on any machine (CI has nvcc but no GPU).

The kata tests (katas/07_gpu_kernels/test_cuda_*.py) need a GPU; these check what does not: the
reference module was built, every learner stub compiles with nvcc, a compile error is a
KernelBuildError naming the file, and without a device every call fails with a clear Python
error instead of a crash. Skipped, with the reason, only where nvcc is absent.
"""

import importlib
import shutil

import pytest
import torch

from ml_refresher import cuda_build, cuda_kernels, registry
from ml_refresher.kernel_build import KernelBuildError

CUDA_KATAS = [k for k in registry.katas(ready_only=False) if k.cuda_kernel]


def _has_nvcc() -> bool:
    try:
        cuda_build.nvcc()
    except KernelBuildError:
        return False
    return True


needs_nvcc = pytest.mark.skipif(
    not _has_nvcc(),
    reason="nvcc (the CUDA toolkit) is not installed: the CUDA kernels cannot be built",
)
without_gpu = pytest.mark.skipif(
    torch.cuda.is_available(), reason="this machine has a CUDA device: the kata tests run instead"
)


def test_the_cuda_katas_are_registered():
    ids = {"cuda_matmul", "cuda_softmax", "cuda_flash_attention", "cuda_conv2d"}
    assert {k.id for k in CUDA_KATAS} >= ids
    for kata in CUDA_KATAS:
        assert kata.needs == ("gpu",), kata.id
        assert kata.stub_path.is_file() and kata.reference_path.is_file(), kata.id
        assert set(cuda_kernels.KATAS.values()) >= {kata.id}


@needs_nvcc
def test_the_reference_module_was_built():
    module = importlib.import_module("ml_refresher._cuda_kernels_reference")
    for kata in CUDA_KATAS:
        assert hasattr(module, kata.cuda_kernel), f"the reference module lacks {kata.cuda_kernel}"


@needs_nvcc
@pytest.mark.parametrize("kata", CUDA_KATAS, ids=lambda k: k.id)
def test_every_stub_compiles(kata):
    module = cuda_build.build(kata.cuda_kernel)
    assert hasattr(module, kata.cuda_kernel)


@needs_nvcc
def test_a_syntax_error_names_the_file(tmp_path):
    source_dir = tmp_path / "cuda"
    shutil.copytree(registry.project_root() / "kernels" / "cuda", source_dir)
    stub = source_dir / "softmax_rows.cu"
    stub.write_text(stub.read_text().replace("int64_t rows, int64_t cols) {", "int64_t rows {", 1))
    with pytest.raises(KernelBuildError, match=r"softmax_rows\.cu did not compile") as failure:
        cuda_build.build("softmax_rows", source_dir=source_dir, build_root=tmp_path / "build")
    assert "error" in str(failure.value)


def test_a_missing_nvcc_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDACXX", str(tmp_path / "no-nvcc"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(cuda_build.Path, "is_file", lambda self: False)
    with pytest.raises(KernelBuildError, match="nvcc, the CUDA compiler, was not found"):
        cuda_build.nvcc()


def test_architectures_follow_cudaarchs():
    assert cuda_build.architecture_flags("75") == [
        "-gencode=arch=compute_75,code=[sm_75,compute_75]"
    ]
    assert cuda_build.architecture_flags("80-real;90-virtual") == [
        "-gencode=arch=compute_80,code=sm_80",
        "-gencode=arch=compute_90,code=compute_90",
    ]
    assert cuda_build.architecture_flags("native") == ["-arch=native"]
    with pytest.raises(ValueError, match="CUDAARCHS"):
        cuda_build.architecture_flags("sm_80")


def test_the_front_end_names_the_argument():
    a, b = torch.ones(4, 3), torch.ones(3, 2)
    with pytest.raises(ValueError, match="a must be a CUDA tensor"):
        cuda_kernels.matmul(a, b)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        cuda_kernels.softmax([[1.0, 2.0]])
    with pytest.raises(TypeError, match="a must be a torch.Tensor"):
        cuda_kernels.matmul(a.numpy(), b)
    with pytest.raises(ValueError, match="x must be a CUDA tensor"):
        cuda_kernels.softmax(torch.ones(2, 3, device="meta"))
    with pytest.raises(ValueError, match="q must be a CUDA tensor"):
        cuda_kernels.attention(
            torch.ones(1, 1, 2, 4), torch.ones(1, 1, 3, 4), torch.ones(1, 1, 3, 4)
        )
    with pytest.raises(ValueError, match="x must be a CUDA tensor"):
        cuda_kernels.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        cuda_kernels.conv2d([[1.0]], torch.ones(1, 1, 2, 2))


@without_gpu
def test_the_front_end_says_there_is_no_device():
    with pytest.raises(ValueError, match="no CUDA device"):
        cuda_kernels.softmax(torch.ones(2, 3))


@needs_nvcc
@without_gpu
@pytest.mark.parametrize("which", ["reference", "learner"])
def test_the_compiled_modules_refuse_without_a_device(which):
    if which == "reference":
        module = importlib.import_module("ml_refresher._cuda_kernels_reference")
    else:
        module = cuda_build.build("softmax_rows")
    assert module.device_count() == 0
    with pytest.raises(RuntimeError, match="no CUDA device"):
        module.softmax_rows(1, 2, 3, 4)
    if which == "reference":
        with pytest.raises(RuntimeError, match="no CUDA device"):
            module.matmul(1, 2, 3, 1, 1, 1)
        with pytest.raises(RuntimeError, match="no CUDA device"):
            module.conv2d_nchw(1, 2, 0, 3, 1, 1, 3, 3, 1, 2, 2)
