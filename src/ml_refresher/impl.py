"""The one switch: which implementation of each kata is under test.

    ML_REFRESHER_IMPL=solutions           every kata uses the reference (pytest: --impl solutions)
    ML_REFRESHER_USE_REFERENCE=a,b        only katas a and b fall back to the reference, e.g. the
                                          reference attention while you write the transformer

The default is the learner's code. Python katas are resolved by an import hook, so a test (or a
later kata) writes a plain `from linear_regression import fit_closed_form`; C++ kernels are
resolved per kernel by ml_refresher.kernels.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys

from ml_refresher import registry

IMPL_ENV = "ML_REFRESHER_IMPL"
USE_REFERENCE_ENV = "ML_REFRESHER_USE_REFERENCE"
IMPLEMENTATIONS = ("learner", "solutions")


def selected_implementation() -> str:
    impl = os.environ.get(IMPL_ENV, "learner").strip() or "learner"
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"{IMPL_ENV} must be one of {IMPLEMENTATIONS}, got {impl!r}")
    return impl


def katas_on_reference() -> set[str]:
    named = {name.strip() for name in os.environ.get(USE_REFERENCE_ENV, "").split(",")}
    return {registry.kata(name).id for name in named if name}


@contextlib.contextmanager
def reference_for(katas: list[registry.Kata]):
    """Within the block, exactly `katas` resolve to the reference (the red gate imports a kata's
    tests this way, with its requirements solved). Kata and given modules imported before are
    forgotten on entry and on exit, so that each import resolves afresh."""

    def forget_kata_modules() -> None:
        for name in [n for n in sys.modules if module_file(n) is not None]:
            del sys.modules[name]

    saved = os.environ.get(USE_REFERENCE_ENV)
    os.environ[USE_REFERENCE_ENV] = ",".join(k.id for k in katas)
    forget_kata_modules()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(USE_REFERENCE_ENV)
        else:
            os.environ[USE_REFERENCE_ENV] = saved
        forget_kata_modules()


def uses_reference(kata: registry.Kata) -> bool:
    return selected_implementation() == "solutions" or kata.id in katas_on_reference()


def source_file(kata: registry.Kata):
    return kata.reference_path if uses_reference(kata) else kata.stub_path


def module_file(name: str):
    """The file that a top-level import of `name` means, or None if it is no kata's module:
    a kata module resolves to the stub or the reference, a topic's given module to its file."""
    for topic in registry.topics():
        if name in topic.given:
            return topic.directory / f"{name}.py"
        for kata in topic.katas:
            if kata.module == name:
                return source_file(kata)
    return None


class KataFinder(importlib.abc.MetaPathFinder):
    """Resolves kata module names to the learner's stub or the reference solution."""

    def find_spec(self, fullname, path, target=None):
        if path is not None:  # a submodule of some package: never a kata
            return None
        location = module_file(fullname)
        if location is None:
            return None
        return importlib.util.spec_from_file_location(fullname, location)


def install_finder() -> None:
    if not any(isinstance(finder, KataFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, KataFinder())
