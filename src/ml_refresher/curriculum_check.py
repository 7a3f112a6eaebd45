"""`kata check`: a maintainer's consistency check of the curriculum, one line per problem.

Every kata of a ready topic has its stub, reference, test file, real hints and a lesson section
(a heading of the topic README naming its file); module names are unique and shadow neither the
standard library nor an installed package; no unregistered .py sits in a topic's directories; a
stub and its reference define the same public functions and classes with the same parameters.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import tomllib
from pathlib import Path

from ml_refresher import impl, registry

STATUSES = ("ready", "coming")
# Files a topic directory may hold besides its katas' stubs, tests and given modules.
ALLOWED_EXTRA = ("conftest.py", "bench_*.py")


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """Parameter names, kinds and defaults; annotations may differ between stub and reference."""
    args = node.args
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = zip(positional, defaults, strict=True)
    parts = [a.arg + (f"={ast.unparse(d)}" if d else "") for a, d in pairs]
    if args.vararg:
        parts.append("*" + args.vararg.arg)
    elif args.kwonlyargs:
        parts.append("*")
    for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        parts.append(a.arg + (f"={ast.unparse(d)}" if d else ""))
    if args.kwarg:
        parts.append("**" + args.kwarg.arg)
    return f"({', '.join(parts)})"


def public_api(path: Path) -> dict[str, str]:
    """name -> signature of the public top-level functions and classes (and of each class's
    public methods and __init__, as "Class.method")."""
    functions = ast.FunctionDef | ast.AsyncFunctionDef
    api = {}
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, functions) and not node.name.startswith("_"):
            api[node.name] = _signature(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            api[node.name] = "class"
            for item in node.body:
                if isinstance(item, functions) and (
                    not item.name.startswith("_") or item.name == "__init__"
                ):
                    api[f"{node.name}.{item.name}"] = _signature(item)
    return api


def _shadowed(name: str) -> str | None:
    """What a top-level module called `name` would hide, if anything."""
    if name in sys.stdlib_module_names:
        return "a standard-library module"
    finders = [f for f in sys.meta_path if isinstance(f, impl.KataFinder)]
    for finder in finders:
        sys.meta_path.remove(finder)
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        found = None
    finally:
        sys.meta_path[:0] = finders
    return f"the installed package at {found.origin}" if found else None


def _statuses() -> list[str]:
    problems = []
    for topic in registry.topics():
        with (topic.directory / "topic.toml").open("rb") as f:
            status = tomllib.load(f).get("status", "ready")
        if status not in STATUSES:
            problems.append(
                f"katas/{topic.id}/topic.toml: status {status!r} is not one of {STATUSES}"
            )
    return problems


def _kata_files(kata: registry.Kata, lesson: str) -> list[str]:
    problems = []
    for what, path in (
        ("stub", kata.stub_path),
        ("reference", kata.reference_path),
        ("test file", kata.test_path),
    ):
        if not path.is_file():
            problems.append(f"kata {kata.id}: its {what} {kata.relative(path)} is missing")
    if not kata.hints or any(not h.strip() or h.strip() == "TODO" for h in kata.hints):
        problems.append(f"kata {kata.id}: every hint must be written (found {list(kata.hints)})")
    file_name = kata.stub_path.name
    headings = [line for line in lesson.splitlines() if line.startswith("#")]
    if not any(f"`{file_name}`" in line for line in headings):
        problems.append(
            f"kata {kata.id}: katas/{kata.topic}/README.md has no section for it "
            f"(a heading naming `{file_name}`)"
        )
    return problems


def _same_api(kata: registry.Kata) -> list[str]:
    if (
        kata.kernel
        or kata.cuda_kernel
        or not (kata.stub_path.is_file() and kata.reference_path.is_file())
    ):
        return []
    stub, reference = public_api(kata.stub_path), public_api(kata.reference_path)
    problems = []
    for name in sorted(set(stub) | set(reference)):
        if name not in reference:
            problems.append(f"kata {kata.id}: the stub defines {name}, the reference does not")
        elif name not in stub:
            problems.append(f"kata {kata.id}: the reference defines {name}, the stub does not")
        elif stub[name] != reference[name]:
            problems.append(
                f"kata {kata.id}: {name} is {stub[name]} in the stub but "
                f"{reference[name]} in the reference"
            )
    return problems


def _train_entry(kata: registry.Kata, topic: registry.Topic) -> list[str]:
    """`train` names a function that exists, in the kata's own module or a given one."""
    if not kata.train_entry:
        return []
    module, function = kata.train_entry
    if module == kata.module:
        path = kata.reference_path
    elif module in topic.given:
        path = topic.directory / f"{module}.py"
    else:
        return [
            f"kata {kata.id}: train = {kata.train!r} names {module}, which is neither its module "
            f"nor one of the topic's given modules {list(topic.given)}"
        ]
    if path.is_file() and function not in public_api(path):
        where = kata.relative(path)
        return [f"kata {kata.id}: train = {kata.train!r}, but {where} has no {function}()"]
    return []


def _stray_files(topic: registry.Topic) -> list[str]:
    expected = {f"{name}.py" for name in topic.given}
    for kata in topic.katas:
        expected.add(kata.test_path.name)
        if kata.module:
            expected.add(f"{kata.module}.py")
    problems = []
    root = registry.project_root()
    for directory in (topic.directory, root / "solutions" / topic.id):
        for path in sorted(directory.glob("*.py")) if directory.is_dir() else []:
            allowed = path.name in expected and (
                directory == topic.directory or path.stem in {k.module for k in topic.katas}
            )
            if not allowed and not any(path.match(p) for p in ALLOWED_EXTRA):
                problems.append(
                    f"{path.relative_to(root)}: not a registered kata, test or given module of "
                    f"katas/{topic.id}/topic.toml"
                )
    return problems


def problems() -> list[str]:
    found = _statuses()
    names: dict[str, str] = {}
    for topic in registry.topics():
        for name in [k.module for k in topic.katas if k.module] + list(topic.given):
            if name in names:
                found.append(f"module name {name} is used by both {names[name]} and {topic.id}")
            names[name] = topic.id
            shadowed = _shadowed(name)
            if shadowed:
                found.append(f"katas/{topic.id}: module name {name} would shadow {shadowed}")
        if not topic.ready:
            continue
        lesson = topic.lesson_path.read_text() if topic.lesson_path.is_file() else ""
        for kata in topic.katas:
            found += _kata_files(kata, lesson) + _same_api(kata) + _train_entry(kata, topic)
        found += _stray_files(topic)
    return found


def run() -> int:
    found = problems()
    for line in found:
        print(line)
    ready = [k for t in registry.topics() if t.ready for k in t.katas]
    print(
        f"kata check: {len(found)} problem(s)"
        if found
        else f"kata check: {len(ready)} katas in {len(registry.topics())} topics are consistent"
    )
    return 1 if found else 0


if __name__ == "__main__":  # `tox -e lint` runs it from the source tree, without installing
    sys.exit(run())
