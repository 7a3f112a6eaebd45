"""`kata verify --wrong`: do the tests catch the mistakes learners really make?

Each kata ships known-wrong implementations beside its reference, in
solutions/<topic>/<module>.wrong.toml (C++: solutions/kernels/<kernel>.wrong.toml):

    [[wrong]]
    name = "scale by d"
    why = "divides the scores by d, not sqrt(d): the softmax is too flat for wide heads"
    replace = [["/ math.sqrt(q.shape[-1])", "/ q.shape[-1]"]]   # [old, new] pairs, in order
    file = "date_task.py"                                     # optional: a given module instead

Each one is applied to the reference in a scratch copy of the project, put where the learner's
code goes, and the kata's tests run on it with every other kata on the reference. It is caught
when a test fails. The unpatched reference runs first in the same place and must pass, so that a
failure means the mistake was seen; a C++ mistake must also compile to a different binary.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ml_refresher import cli, impl, preloaded, registry
from ml_refresher.state import write_atomically

COPIED = ("katas", "solutions", "kernels", "src/bindings")


@dataclass(frozen=True)
class Wrong:
    name: str
    why: str
    replace: tuple[tuple[str, str], ...]
    file: str | None = None  # a given module of the topic; default: the kata's own code


def wrong_path(kata: registry.Kata) -> Path:
    return kata.reference_path.with_suffix(".wrong.toml")


def load(kata: registry.Kata) -> list[Wrong]:
    path = wrong_path(kata)
    if not path.is_file():
        return []
    entries = registry.read_toml(path).get("wrong", [])
    try:
        return [
            Wrong(e["name"], e["why"], tuple(tuple(pair) for pair in e["replace"]), e.get("file"))
            for e in entries
        ]
    except KeyError as missing:
        raise registry.RegistryError(f"{path}: a [[wrong]] entry lacks {missing}") from None


def patched(text: str, wrong: Wrong) -> str:
    """`text` with each replacement applied; each `old` must occur exactly once, so that a
    reference that moved on is reported instead of silently testing the right code."""
    for old, new in wrong.replace:
        count = text.count(old)
        if count != 1:
            raise ValueError(f"{old!r} occurs {count} times (expected once)")
        text = text.replace(old, new)
    return text


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


class Scratch:
    """A copy of the project's katas, references and kernel sources, where the learner's slot of
    one kata holds the reference or a wrong version of it."""

    def __init__(self, root: Path):
        self.root = root
        # Hundreds of short pytest runs: each forked from one process with torch imported.
        self.server = preloaded.PytestServer()
        for part in COPIED:
            source = registry.project_root() / part
            if source.exists():
                shutil.copytree(source, root / part, ignore=shutil.ignore_patterns("__pycache__"))
        # A reference kernel put in the learner's slot includes its own headers (simd.h): they
        # go beside the learner's kernels.h, which they never replace.
        for header in (root / "solutions" / "kernels").glob("*.h"):
            if not (root / "kernels" / header.name).exists():
                shutil.copyfile(header, root / "kernels" / header.name)

    def place(self, kata: registry.Kata, wrong: Wrong | None) -> None:
        """The reference in the kata's learner slot, with `wrong` applied to it or to a given
        module; every file is first reset to the project's own."""
        slot = self.root / kata.relative(kata.stub_path)
        shutil.copyfile(kata.reference_path, slot)
        topic = registry.topic_of(kata)
        topic_dir = self.root / "katas" / kata.topic
        for name in topic.given:
            shutil.copyfile(topic.directory / f"{name}.py", topic_dir / f"{name}.py")
        if wrong is not None:
            target = topic_dir / wrong.file if wrong.file else slot
            target.write_text(patched(target.read_text(), wrong))
        # A .pyc is trusted by its source's size and mtime in whole seconds: a patch of the
        # same length written within the second would run the previous version.
        shutil.rmtree(topic_dir / "__pycache__", ignore_errors=True)

    def run(self, kata: registry.Kata) -> tuple[str, str | None]:
        """Run the kata's tests here: ("passed" | "failed" | "does not compile" | "does not
        import", digest of the kernel module built, if any)."""
        others = [k.id for k in registry.katas(ready_only=False) if k.id != kata.id]
        status, tests = cli.run_pytest(
            [self.root / kata.relative(kata.test_path)],
            ["-x", "-q", "-p", "no:cacheprovider", "--benchmark-disable"],
            {
                registry.ROOT_ENV: str(self.root),
                impl.IMPL_ENV: "learner",
                impl.USE_REFERENCE_ENV: ",".join(others),
                "PYTHONDONTWRITEBYTECODE": "1",
            },
            quiet=True,
            cwd=self.root,
            server=self.server,
        )
        outcomes = [t["outcome"] for t in tests.values()]
        if "does_not_compile" in outcomes:
            result = "does not compile"
        elif "collection_error" in outcomes or not outcomes:
            result = "does not import"
        else:
            result = "passed" if status == 0 else "failed"
        built = None
        if kata.kernel:
            modules = (self.root / "build" / "learner-kernels").glob(f"*/{kata.kernel}/*.so")
            built = next((_digest(m) for m in sorted(modules)), None)
        return result, built


@dataclass
class Verdict:
    kata: registry.Kata
    caught: int
    total: int
    problems: list[str]  # one line each: a miss, a version that does not apply or compile, ...

    @property
    def ok(self) -> bool:
        return self.total > 0 and not self.problems


def verify_kata(kata: registry.Kata, scratch: Scratch) -> Verdict:
    """Every shipped wrong implementation of `kata`, each run in `scratch`."""
    wrongs = load(kata)
    if not wrongs:
        missing = f"no wrong implementations in {kata.relative(wrong_path(kata))}"
        return Verdict(kata, 0, 0, [missing])
    scratch.place(kata, None)
    baseline, reference_binary = scratch.run(kata)
    if baseline != "passed":
        failing = f"the reference itself {baseline} in the learner's place"
        return Verdict(kata, 0, len(wrongs), [failing])
    caught, problems = 0, []
    for wrong in wrongs:
        try:
            scratch.place(kata, wrong)
        except ValueError as error:
            problems.append(f"does not apply: {wrong.name}: {error}")
            continue
        result, binary = scratch.run(kata)
        if kata.kernel and binary == reference_binary:
            result = "builds to the reference's binary"
        if result == "failed":
            caught += 1
        elif result == "passed":
            problems.append(f"MISSED: {wrong.name} ({wrong.why})")
        else:
            problems.append(f"{result}: {wrong.name}")
    return Verdict(kata, caught, len(wrongs), problems)


RESULTS_FILE = "wrong-results.json"


def _fingerprint(kata: registry.Kata) -> str:
    """The kata's board fingerprint and its wrong implementations: a recorded share is shown
    only while neither has changed."""
    path = wrong_path(kata)
    extra = path.read_bytes() if path.is_file() else b""
    return hashlib.sha256(cli._fingerprint(kata).encode() + extra).hexdigest()


def recorded_shares() -> dict[str, str]:
    """kata id -> "caught/total" from the last `kata verify --wrong` that ran it, for the
    katas whose files have not changed since."""
    record = cli._load_json(cli._state_dir() / RESULTS_FILE, {})
    return {
        kata.id: record[kata.id]["share"]
        for kata in registry.katas()
        if record.get(kata.id, {}).get("fingerprint") == _fingerprint(kata)
    }


def verify(kata_ids: list[str], jobs: int = 1) -> int:
    """Run every shipped wrong implementation of the given katas (default: every ready kata),
    `jobs` katas at a time, each job in its own scratch copy; print caught/missed per kata as
    it finishes; non-zero when one is missed, does not apply or does not compile."""
    katas = [registry.kata(i) for i in kata_ids] if kata_ids else registry.katas()
    for kata in [k for k in katas if registry.unmet_needs(k)]:
        print(f"{kata.id:<24} not run: {'; '.join(registry.unmet_needs(kata))}", flush=True)
    katas = [k for k in katas if not registry.unmet_needs(k)]
    local = threading.local()
    scratches: list[Scratch] = []
    with tempfile.TemporaryDirectory(prefix="kata-wrong-") as tmp:

        def run(kata: registry.Kata) -> Verdict:
            if not hasattr(local, "scratch"):  # one scratch copy per worker thread
                local.scratch = Scratch(Path(tempfile.mkdtemp(dir=tmp)))
                scratches.append(local.scratch)
            return verify_kata(kata, local.scratch)

        verdicts = []
        # Threads suffice: each wrong version runs in a pytest subprocess.
        try:
            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                for verdict in pool.map(run, katas):
                    verdicts.append(verdict)
                    share = f"{verdict.caught}/{verdict.total} caught" if verdict.total else ""
                    print(f"{verdict.kata.id:<24} {share}", flush=True)
                    for problem in verdict.problems:
                        print(f"    {problem}", flush=True)
        finally:
            for scratch in scratches:
                scratch.server.close()
    record_path = cli._state_dir() / RESULTS_FILE
    record = cli._load_json(record_path, {})
    for v in verdicts:
        record[v.kata.id] = {"share": f"{v.caught}/{v.total}", "fingerprint": _fingerprint(v.kata)}
    write_atomically(record_path, json.dumps(record, indent=1))
    caught, total = sum(v.caught for v in verdicts), sum(v.total for v in verdicts)
    share = f"{caught}/{total} ({caught / total:.0%})" if total else "0/0"
    print(f"\nwrong implementations caught: {share}")
    return 0 if all(v.ok for v in verdicts) else 1
