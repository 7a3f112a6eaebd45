"""The curriculum registry, used by the CLI, the plugin and the gates: katas/curriculum.toml
orders the topics, and each katas/<topic>/topic.toml lists its katas in order (the format is
described at the top of curriculum.toml)."""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV = "ML_REFRESHER_ROOT"
REGISTRY_FILE = Path("katas") / "curriculum.toml"

# What a kata's `needs` may name, and what to tell a learner whose machine lacks it. Such a kata's
# tests are not run there, and the gates and the board say so: they count as neither passed nor red.
NEEDS = {
    "triton": "needs Triton (Linux x86-64: pip install -e '.[gpu]')",
    "gpu": "needs an NVIDIA GPU (and a CUDA build of torch)",
}


class RegistryError(RuntimeError):
    """The curriculum file is missing or says something inconsistent."""


@functools.cache
def project_root() -> Path:
    """The repository holding katas/curriculum.toml: $ML_REFRESHER_ROOT, else the nearest
    ancestor of the working directory that has one, else the checkout this package lives in."""
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV]).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents, *Path(__file__).resolve().parents):
        if (candidate / REGISTRY_FILE).is_file():
            return candidate
    raise RegistryError(
        f"cannot find {REGISTRY_FILE}: run from inside the ml-refresher checkout "
        f"or set {ROOT_ENV} to its path"
    )


@dataclass(frozen=True)
class Kata:
    id: str
    topic: str
    title: str
    summary: str
    effort_minutes: int
    hints: tuple[str, ...]
    # The full-data training run behind `kata train`: a function of the kata's module ("train"),
    # or "module:function" for a run given in one of the topic's given modules.
    train: str | None = None
    module: str | None = None  # Python kata: the module the tests import
    kernel: str | None = None  # C++ kata: the kernel's source file stem
    cuda_kernel: str | None = None  # CUDA kata: the kernel's .cu file stem
    requires: tuple[str, ...] = ()  # earlier katas whose code this kata's code uses
    needs: tuple[str, ...] = ()  # what the machine must have to run its tests (see NEEDS)

    @property
    def test_path(self) -> Path:
        return project_root() / "katas" / self.topic / f"test_{self.id}.py"

    @property
    def stub_path(self) -> Path:
        if self.cuda_kernel:
            return project_root() / "kernels" / "cuda" / f"{self.cuda_kernel}.cu"
        if self.kernel:
            return project_root() / "kernels" / f"{self.kernel}.cpp"
        return project_root() / "katas" / self.topic / f"{self.module}.py"

    @property
    def reference_path(self) -> Path:
        if self.cuda_kernel:
            return project_root() / "solutions" / "kernels" / "cuda" / f"{self.cuda_kernel}.cu"
        if self.kernel:
            return project_root() / "solutions" / "kernels" / f"{self.kernel}.cpp"
        return project_root() / "solutions" / self.topic / f"{self.module}.py"

    @property
    def train_entry(self) -> tuple[str, str] | None:
        """(module, function) of the training run, or None."""
        if not self.train:
            return None
        module, sep, function = self.train.rpartition(":")
        return (module if sep else self.module), function

    def relative(self, path: Path) -> str:
        return str(path.relative_to(project_root()))


@dataclass(frozen=True)
class Topic:
    id: str
    title: str
    ready: bool
    given: tuple[str, ...]  # modules in the topic directory that stubs and references share
    katas: tuple[Kata, ...]

    @property
    def directory(self) -> Path:
        return project_root() / "katas" / self.id

    @property
    def lesson_path(self) -> Path:
        return self.directory / "README.md"


def _parse_kata(topic_id: str, raw: dict) -> Kata:
    try:
        kata = Kata(
            id=raw["id"],
            topic=topic_id,
            title=raw["title"],
            summary=raw["summary"],
            effort_minutes=int(raw["effort_minutes"]),
            hints=tuple(raw["hints"]),
            train=raw.get("train"),
            module=raw.get("module"),
            kernel=raw.get("kernel"),
            cuda_kernel=raw.get("cuda_kernel"),
            requires=tuple(raw.get("requires", ())),
            needs=tuple(raw.get("needs", ())),
        )
    except KeyError as missing:
        raise RegistryError(f"kata in topic {topic_id} lacks the field {missing}") from None
    if [kata.module, kata.kernel, kata.cuda_kernel].count(None) != 2:
        raise RegistryError(
            f"kata {kata.id} must name exactly one of 'module', 'kernel' or 'cuda_kernel'"
        )
    unknown = sorted(set(kata.needs) - set(NEEDS))
    if unknown:
        raise RegistryError(
            f"kata {kata.id} needs {unknown}, which is not one of {sorted(NEEDS)} (topic.toml)"
        )
    return kata


def read_toml(path: Path) -> dict:
    """The TOML file at `path`; a syntax error (a teacher's edit) is a RegistryError naming the
    file and the line, not a traceback from the parser."""
    with path.open("rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as error:
            raise RegistryError(f"{path} is not valid TOML: {error}") from None


def _load_topic(topic_id: str) -> Topic:
    path = project_root() / "katas" / topic_id / "topic.toml"
    if not path.is_file():
        raise RegistryError(f"{REGISTRY_FILE} lists {topic_id}, but {path} is missing")
    raw = read_toml(path)
    return Topic(
        id=topic_id,
        title=raw["title"],
        ready=raw.get("status", "ready") == "ready",
        given=tuple(raw.get("given", ())),
        katas=tuple(_parse_kata(topic_id, k) for k in raw.get("kata", [])),
    )


@functools.cache
def topics() -> tuple[Topic, ...]:
    listed = read_toml(project_root() / REGISTRY_FILE)["topics"]
    result = tuple(_load_topic(topic_id) for topic_id in listed)
    ids = [k.id for t in result for k in t.katas]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise RegistryError(
            f"kata ids must be unique across topics; repeated: {sorted(duplicates)}"
        )
    _check_requirements([k for t in result for k in t.katas])
    return result


def _check_requirements(in_order: list[Kata]) -> None:
    """A kata may only require katas that come before it in the curriculum, which also rules
    out cycles: the learner meets a requirement before the kata that builds on it."""
    position = {k.id: i for i, k in enumerate(in_order)}
    for i, k in enumerate(in_order):
        for required in k.requires:
            if required not in position:
                raise RegistryError(
                    f"kata {k.id} requires {required!r}, which is not a kata; "
                    f"the katas are: {', '.join(position)}"
                )
            if required == k.id:
                raise RegistryError(f"kata {k.id} requires itself")
            if position[required] > i:
                raise RegistryError(
                    f"kata {k.id} requires {required}, which comes later in the curriculum; "
                    "a kata can only build on katas before it"
                )


def requirements(dependent: Kata) -> list[Kata]:
    """Every kata that `dependent` builds on, directly or through another, in curriculum order."""
    needed: set[str] = set()
    pending = list(dependent.requires)
    while pending:
        kata_id = pending.pop()
        if kata_id not in needed:
            needed.add(kata_id)
            pending += kata(kata_id).requires
    return [k for k in katas(ready_only=False) if k.id in needed]


def katas(ready_only: bool = True) -> list[Kata]:
    return [k for t in topics() if t.ready or not ready_only for k in t.katas]


def topic_of(k: Kata) -> Topic:
    return next(t for t in topics() if t.id == k.topic)


def kata(kata_id: str) -> Kata:
    for k in katas(ready_only=False):
        if kata_id in (k.id, k.module, k.kernel):
            return k
    known = ", ".join(k.id for k in katas(ready_only=False))
    raise RegistryError(f"no kata called {kata_id!r}; the katas are: {known}")


@functools.cache
def _machine_has(need: str) -> bool:
    if need == "triton":
        import importlib.util

        return importlib.util.find_spec("triton") is not None
    import torch  # "gpu"

    return torch.cuda.is_available()


TRITON_INTERPRET_ENV = "TRITON_INTERPRET"


def nvidia_gpu_present() -> bool:
    """True when an NVIDIA driver is loaded (its control device exists)."""
    return Path("/dev/nvidiactl").exists()


def use_triton_interpreter_without_gpu() -> bool:
    """Triton kernels need an NVIDIA GPU; without one, TRITON_INTERPRET=1 makes Triton's
    interpreter run them on CPU tensors (slowly, hence the katas' small sizes), unless the
    learner set it. @triton.jit reads it when a kernel is defined: call this before importing a
    kernel module (the pytest plugin at start-up, a notebook in its first cell). True when
    kernels defined from now on are interpreted."""
    if not nvidia_gpu_present():
        os.environ.setdefault(TRITON_INTERPRET_ENV, "1")
    return os.environ.get(TRITON_INTERPRET_ENV) == "1"


def unmet_needs(k: Kata) -> list[str]:
    """Why kata k's tests cannot run on this machine (NEEDS' texts), or [] when they can."""
    return [NEEDS[need] for need in k.needs if not _machine_has(need)]


def kata_for_test_file(path: Path) -> Kata | None:
    resolved = path.resolve()
    return next((k for k in katas(ready_only=False) if k.test_path == resolved), None)
