"""Builds each of the learner's C++ kernels into a Python module of its own, on first use.

One module per kernel (the bindings, kernels/<kernel>.cpp and the kernels it requires), so that
a compile error in one kernel leaves the learner's other kernels and the reference usable. The
build is torch's C++ extension builder: ninja, in build/learner-kernels/<python tag>/<kernel>/ of
the checkout, which recompiles only what changed since the last run. It always compiles the
checkout's current kernels/, whichever way the package was installed, so an edit is never stale.

Three environment switches change the flags, for the test environments that build the kernels
in other ways (tox.ini's portable, no-openmp and sanitize; the reference module reads the CMake
options of the same names):

    ML_REFRESHER_NATIVE=0     no -march=native: code any x86-64 (or other) CPU of the kind runs
    ML_REFRESHER_OPENMP=0     no -fopenmp: single-threaded; `threads` is accepted and ignored
    ML_REFRESHER_SANITIZE=1   -fsanitize=address,undefined; the process needs the ASan runtime
                              preloaded (LD_PRELOAD=$(gcc -print-file-name=libasan.so))

A build with any of them on goes to a directory of its own (build/learner-kernels/<tag>-portable/
and so on), so that switching between builds does not recompile the default one each time.

torch marks a build in progress with a `lock` file in the build directory and removes it when the
build ends; a process killed mid-build (Ctrl-C twice, a sanitizer abort, an OOM kill) leaves it,
and every later build waits on it forever. So each build here first takes an fcntl lock of its
own on `owner.lock` beside it, which the operating system drops when its process dies: whoever
holds ours is the only one that can be building, and a torch `lock` it finds is stale.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import sysconfig
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no stale-lock detection, torch's lock as it is
    fcntl = None

from ml_refresher import impl, registry


class KernelBuildError(ImportError):
    """A kernel did not compile; the message carries the compiler's error lines."""


NATIVE_ENV = "ML_REFRESHER_NATIVE"
OPENMP_ENV = "ML_REFRESHER_OPENMP"
SANITIZE_ENV = "ML_REFRESHER_SANITIZE"
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]


def _switch(name: str, default: bool) -> bool:
    """An on/off environment switch: "0", "off", "false" or "no" is off, anything else on."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value not in ("0", "off", "false", "no")


def _native() -> bool:
    return _switch(NATIVE_ENV, True)


def _openmp() -> bool:
    return _switch(OPENMP_ENV, True)


def _sanitize() -> bool:
    return _switch(SANITIZE_ENV, False)


def _flags() -> list[str]:
    # -Wno-psabi: GCC's note that 64-byte vector arguments change the ABI without AVX-512.
    flags = ["-O3", "-Wall", "-Wextra", "-Wno-psabi"]
    if _openmp():
        flags.append("-fopenmp")
    if _native():  # tuned for this CPU, like the reference
        flags.append("-march=native")
    if _sanitize():
        flags += SANITIZE_FLAGS
    return flags


def _link_flags() -> list[str]:
    flags = ["-fopenmp"] if _openmp() else []
    if _sanitize():
        flags.append("-fsanitize=address,undefined")
    return flags


def variant() -> str:
    """The build's name among the switches' combinations: "" for the default (native, OpenMP),
    else e.g. "portable", "no-openmp", "sanitize" or "portable-sanitize"."""
    parts = [
        name
        for name, on in (
            ("portable", not _native()),
            ("no-openmp", not _openmp()),
            ("sanitize", _sanitize()),
        )
        if on
    ]
    return "-".join(parts)


def module_name(kernel: str) -> str:
    return f"_kernels_learner_{kernel}"


def _errors(output: str, limit: int = 10) -> list[str]:
    """The compiler's error lines (file:line: error: ...), or the output's last lines."""
    lines = output.splitlines()
    errors = [line.strip() for line in lines if re.search(r"\berror\b", line)]
    errors = [e for e in errors if not e.startswith(("FAILED:", "ninja:", "subprocess."))]
    return (errors or [line.strip() for line in lines if line.strip()][-limit:])[:limit]


def build_directory(kernel: str, build_root: Path | None = None) -> Path:
    """Where `kernel` is built: build_root (default build/learner-kernels/ of the checkout),
    then the Python tag with the variant, then the kernel."""
    tag = sysconfig.get_config_var("SOABI") or f"py{sys.version_info.major}{sys.version_info.minor}"
    if variant():
        tag = f"{tag}-{variant()}"
    root = Path(build_root or registry.project_root() / "build" / "learner-kernels")
    return root / tag / kernel


@contextlib.contextmanager
def _owning(build_dir: Path, kernel: str):
    """Holds the build directory's own lock (owner.lock, fcntl) for the duration of a build,
    waiting while another live process holds it; with it held, torch's `lock` is stale."""
    if fcntl is None:
        yield
        return
    with open(build_dir / "owner.lock", "a+") as owner:
        try:
            fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner.seek(0)
            who = owner.read().strip() or "another process"
            print(f"waiting for the build of {kernel} by {who} to finish", file=sys.stderr)
            fcntl.flock(owner, fcntl.LOCK_EX)
        owner.seek(0)
        owner.truncate()
        owner.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        owner.flush()
        stale = build_dir / "lock"
        if stale.exists():
            stale.unlink(missing_ok=True)
            print(
                f"removed a stale build lock {stale} (its build was interrupted); "
                f"rebuilding {kernel}",
                file=sys.stderr,
            )
        try:
            yield
        finally:
            owner.seek(0)
            owner.truncate()
            owner.flush()
            fcntl.flock(owner, fcntl.LOCK_UN)


def build(kernel: str, source_dir: Path | None = None, build_root: Path | None = None):
    """Compile (if needed) and import the learner's `kernel`, e.g. "matmul", from
    source_dir/<kernel>.cpp (default: the checkout's kernels/). KernelBuildError when it does
    not compile, with the compiler's first error lines."""
    __tracebackhide__ = True  # the compiler's errors are the message; this code is noise
    from torch.utils import cpp_extension

    root = registry.project_root()
    source_dir = Path(source_dir or root / "kernels")
    build_dir = build_directory(kernel, build_root)
    build_dir.mkdir(parents=True, exist_ok=True)
    name = module_name(kernel)
    # ninja comes with the package (a dependency) but is only on PATH in an activated venv.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    # A kernel that builds on another (conv2d calls matmul, `requires` in topic.toml) links
    # the learner's version of it, or the reference's while that kata is on the reference.
    sources = [root / "src" / "bindings" / "kernels_module.cpp", source_dir / f"{kernel}.cpp"]
    includes = [source_dir, root / "kernels"]
    for required in registry.requirements(registry.kata(kernel)):
        if required.kernel and impl.uses_reference(required):
            sources.append(required.reference_path)
            includes.append(required.reference_path.parent)
        elif required.kernel:
            sources.append(source_dir / f"{required.kernel}.cpp")
    with _owning(build_dir, kernel):
        try:
            return cpp_extension.load(
                name=name,
                sources=[str(path) for path in sources],
                extra_include_paths=[str(path) for path in dict.fromkeys(includes)],
                extra_cflags=[
                    *_flags(),
                    "-DKERNELS_ONLY",
                    f"-DKERNELS_ONLY_{kernel.upper()}",
                ],
                extra_ldflags=_link_flags(),
                build_directory=str(build_dir),
                verbose=False,
            )
        except (RuntimeError, OSError) as failure:
            output = str(failure)
            cause = failure.__cause__
            if cause is not None and getattr(cause, "output", None):
                output = (
                    cause.output.decode(errors="replace")
                    if isinstance(cause.output, bytes)
                    else str(cause.output)
                )
            linked = [p.name for p in sources[2:]]
            what = f"{source_dir.name}/{kernel}.cpp" + (
                f" (with the {', '.join(linked)} it requires)" if linked else ""
            )
            raise KernelBuildError(
                f"{what} did not compile; fix the first error and re-run "
                f"(the other kernels are not affected):\n  " + "\n  ".join(_errors(output))
            ) from None


def changed_since(compiled: Path) -> list[str]:
    """The reference's sources (solutions/kernels/, the bindings, kernels.h) modified after the
    module file `compiled` was written, relative to the checkout."""
    root = registry.project_root()
    sources = [
        *(root / "solutions" / "kernels").glob("*.[ch]*"),
        root / "src" / "bindings" / "kernels_module.cpp",
        root / "kernels" / "kernels.h",
    ]
    built = compiled.stat().st_mtime
    return sorted(
        str(p.relative_to(root)) for p in sources if p.is_file() and p.stat().st_mtime > built
    )
