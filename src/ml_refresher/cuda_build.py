"""Builds each of the learner's CUDA kernels (kernels/cuda/<kernel>.cu) into a Python module of
its own, on first use, with nvcc.

torch's extension builder, which builds the C++ kernels (ml_refresher.kernel_build), needs a
CUDA build of torch to compile CUDA; this one calls nvcc directly and does not link torch: the
bindings (src/bindings/cuda_module.cu) take device pointers from the front end,
ml_refresher.cuda_kernels. So the kernels compile on any machine with the CUDA toolkit, with or
without a GPU; running them needs one.

The module goes to build/learner-cuda/<python tag>/<kernel>/ of the checkout and is rebuilt only
when one of its sources (the kernel, the bindings, the headers) is newer than it. A kernel that
does not compile raises KernelBuildError with nvcc's first error lines.

    CUDAARCHS=native | 80 | "80;90" | 75-real ...   the GPU architectures to compile for, in
                                                    CMake's notation (default 75: machine code
                                                    for Turing, PTX that newer GPUs JIT-compile)
    CUDACXX=/path/to/nvcc                           the compiler (default: nvcc on PATH, then
                                                    /usr/local/cuda/bin/nvcc)
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from ml_refresher import registry
from ml_refresher.kernel_build import KernelBuildError

DEFAULT_ARCHITECTURES = "75"  # as CMakeLists.txt; see the comment there


def module_name(kernel: str) -> str:
    return f"_cuda_kernels_learner_{kernel}"


def nvcc() -> str:
    """The path of nvcc, or KernelBuildError saying how to get one."""
    candidates = [os.environ.get("CUDACXX", ""), shutil.which("nvcc") or ""]
    candidates.append("/usr/local/cuda/bin/nvcc")
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise KernelBuildError(
        "nvcc, the CUDA compiler, was not found (not $CUDACXX, not on PATH, not "
        "/usr/local/cuda/bin/nvcc): install the CUDA toolkit (https://developer.nvidia.com/"
        "cuda-downloads) or set CUDACXX=/path/to/nvcc; the CUDA katas also need an NVIDIA GPU"
    )


def architecture_flags(spec: str | None = None) -> list[str]:
    """nvcc's flags for CMake-style architectures: "native", or entries "NN", "NN-real" (machine
    code only), "NN-virtual" (PTX only), separated by ';' or ','."""
    spec = (spec if spec is not None else os.environ.get("CUDAARCHS", "")).strip()
    spec = spec or DEFAULT_ARCHITECTURES
    if spec in ("native", "all", "all-major"):
        return [f"-arch={spec}"]
    flags = []
    for entry in filter(None, (e.strip() for e in re.split(r"[;,]", spec))):
        match = re.fullmatch(r"(\d+)(-real|-virtual)?", entry)
        if not match:
            raise ValueError(
                f"CUDAARCHS entry {entry!r} is not an architecture like 75, 80-real or "
                f"90-virtual (or the whole value native), got CUDAARCHS={spec!r}"
            )
        number, kind = match.groups()
        codes = {"-real": f"sm_{number}", "-virtual": f"compute_{number}"}.get(
            kind, f"[sm_{number},compute_{number}]"
        )
        flags.append(f"-gencode=arch=compute_{number},code={codes}")
    return flags


def _errors(output: str, limit: int = 10) -> list[str]:
    """nvcc's error lines (file(line): error: ...), or the output's last lines."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"\berror\b", line)]
    return (errors or lines[-limit:])[:limit]


def _shown(path: Path) -> str:
    """path relative to the checkout (kernels/cuda/matmul.cu) when it is inside it."""
    try:
        return str(path.resolve().relative_to(registry.project_root().resolve()))
    except ValueError:
        return str(path)


def _import(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(kernel: str, source_dir: Path | None = None, build_root: Path | None = None):
    """Compile (if needed) and import the learner's CUDA `kernel`, e.g. "matmul", from
    source_dir/<kernel>.cu (default: the checkout's kernels/cuda/). KernelBuildError when nvcc
    is missing or the kernel does not compile, with nvcc's first error lines."""
    __tracebackhide__ = True  # nvcc's errors are the message; this code is noise
    import pybind11

    root = registry.project_root()
    source_dir = Path(source_dir or root / "kernels" / "cuda")
    source = source_dir / f"{kernel}.cu"
    if not source.is_file():
        raise KernelBuildError(f"{source} does not exist: there is no CUDA kernel {kernel!r}")
    tag = sysconfig.get_config_var("SOABI") or f"py{sys.version_info.major}{sys.version_info.minor}"
    build_dir = Path(build_root or root / "build" / "learner-cuda") / tag / kernel
    name = module_name(kernel)
    target = build_dir / f"{name}{sysconfig.get_config_var('EXT_SUFFIX') or '.so'}"
    bindings = root / "src" / "bindings" / "cuda_module.cu"
    headers = [source_dir / "cuda_kernels.h", root / "kernels" / "cuda" / "cuda_kernels.h"]
    inputs = [source, bindings, root / "kernels" / "kernels.h", *headers]
    if name in sys.modules and Path(sys.modules[name].__file__) == target:
        # A shared library loads once per process: a rebuild shows in the next run.
        return sys.modules[name]
    newest = max(p.stat().st_mtime for p in inputs if p.is_file())
    if not target.is_file() or target.stat().st_mtime < newest:
        build_dir.mkdir(parents=True, exist_ok=True)
        command = [
            nvcc(),
            "-O3",
            "-std=c++17",
            "-shared",
            "-Xcompiler=-fPIC,-fvisibility=hidden",
            *architecture_flags(),
            f"-I{source_dir}",
            f"-I{root / 'kernels' / 'cuda'}",
            f"-I{root / 'kernels'}",
            f"-I{pybind11.get_include()}",
            f"-I{sysconfig.get_paths()['include']}",
            f"-DKERNELS_MODULE_NAME={name}",
            "-DCUDA_KERNELS_ONLY",
            f"-DCUDA_KERNELS_ONLY_{kernel.upper()}",
            str(bindings),
            str(source),
            "-o",
            str(target.with_suffix(".tmp")),
        ]
        result = subprocess.run(command, capture_output=True, text=True, cwd=build_dir)
        if result.returncode != 0:
            raise KernelBuildError(
                f"{_shown(source)} did not compile; fix the first error and re-run "
                f"(the other kernels are not affected):\n  "
                + "\n  ".join(_errors(result.stderr + result.stdout))
            ) from None
        # Written under another name, then renamed: an interrupted build leaves no broken module.
        os.replace(target.with_suffix(".tmp"), target)
    return _import(name, target)
