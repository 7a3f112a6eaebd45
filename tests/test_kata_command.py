"""The `kata` command on a miniature curriculum written into a temporary directory: `kata check`
passes a consistent one and reports each kind of inconsistency in one line; the registry's rules
for `requires`; what the board re-runs after an edit; `kata reset` restores the shipped stub."""

import contextlib
import json
import subprocess
import sys
import textwrap

import pytest

from ml_refresher import cli, registry, wrong

KATA = """
[[kata]]
id = "{id}"
module = "{module}"
title = "t"
summary = "s"
effort_minutes = 1
hints = ["{hint}"]
{extra}
"""

STUB = 'def double(x, scale=2):\n    raise NotImplementedError("katas/00_toy/double.py: write")\n'
REFERENCE = "def double(x, scale=2):\n    return scale * x\n"
LESSON = "# Toy\n\n## Doubling (`double.py`)\n\nx -> 2x\n"


@pytest.fixture
def toy(tmp_path):
    """A one-topic, one-kata curriculum that `kata check` accepts; tests break one thing each."""

    def write(relative, text):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))

    def topic(*katas, status="ready", given="[]"):
        header = f'title = "Toy"\nstatus = "{status}"\ngiven = {given}\n'
        write("katas/00_toy/topic.toml", header + "".join(katas))

    def kata(id="double", module="double", hint="multiply by two", extra=""):
        return KATA.format(id=id, module=module, hint=hint, extra=extra)

    write("katas/curriculum.toml", 'topics = ["00_toy"]')
    topic(kata())
    write("katas/00_toy/double.py", STUB)
    write("solutions/00_toy/double.py", REFERENCE)
    write("katas/00_toy/test_double.py", "def test_x():\n    pass\n")
    write("katas/00_toy/README.md", LESSON)
    return write, topic, kata


@contextlib.contextmanager
def registry_of(root):
    """The registry reads the toy project inside the block only: the test run's own plugin
    looks up the real curriculum after each test."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ML_REFRESHER_ROOT", str(root))
        registry.project_root.cache_clear()
        registry.topics.cache_clear()
        try:
            yield
        finally:
            registry.project_root.cache_clear()
            registry.topics.cache_clear()


def check_command(tmp_path, capsys, argv) -> tuple[int, list[str], str]:
    """Run `kata <argv>` on the toy project: (exit status, stdout lines, stderr)."""
    with registry_of(tmp_path):
        status = cli.main(argv)
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def check(tmp_path, capsys) -> tuple[int, list[str], str]:
    return check_command(tmp_path, capsys, ["check"])


def test_a_consistent_curriculum_passes(toy, tmp_path, capsys):
    assert check(tmp_path, capsys)[:2] == (0, ["kata check: 1 katas in 1 topics are consistent"])


def test_missing_files_hints_and_lesson_are_reported(toy, tmp_path, capsys):
    write, topic, kata = toy
    topic(kata(hint="TODO"))
    write("katas/00_toy/README.md", "# Toy\n\nno sections yet\n")
    (tmp_path / "solutions/00_toy/double.py").unlink()
    status, lines, _ = check(tmp_path, capsys)
    assert status == 1
    assert lines == [
        "kata double: its reference solutions/00_toy/double.py is missing",
        "kata double: every hint must be written (found ['TODO'])",
        "kata double: katas/00_toy/README.md has no section for it (a heading naming `double.py`)",
        "kata check: 3 problem(s)",
    ]


def test_stub_and_reference_must_have_the_same_public_api(toy, tmp_path, capsys):
    write, _, _ = toy
    write(
        "solutions/00_toy/double.py",
        "def double(x, scale=3):\n    return scale * x\n\ndef helper():\n    pass\n",
    )
    status, lines, _ = check(tmp_path, capsys)
    assert status == 1
    assert lines[:2] == [
        "kata double: double is (x, scale=2) in the stub but (x, scale=3) in the reference",
        "kata double: the reference defines helper, the stub does not",
    ]


def test_module_names_must_not_shadow_the_stdlib_or_an_installed_package(toy, tmp_path, capsys):
    _, topic, kata = toy
    shadowing = kata(id="js", module="json"), kata(id="tr", module="transformers")
    topic(kata(), *shadowing, status="coming")
    status, lines, _ = check(tmp_path, capsys)
    assert status == 1
    assert lines[0] == "katas/00_toy: module name json would shadow a standard-library module"
    assert lines[1].startswith("katas/00_toy: module name transformers would shadow the installed")


def test_unknown_status_duplicate_modules_and_stray_files_are_reported(toy, tmp_path, capsys):
    write, topic, kata = toy
    topic(kata(), status="draft")
    status, lines, _ = check(tmp_path, capsys)
    assert lines[0] == "katas/00_toy/topic.toml: status 'draft' is not one of ('ready', 'coming')"
    topic(kata(), kata(id="twice", module="double"))
    write("katas/00_toy/scratch.py", "")
    write("katas/00_toy/bench_double.py", "")  # benchmarks are allowed
    status, lines, _ = check(tmp_path, capsys)
    assert status == 1
    assert lines[0] == "module name double is used by both 00_toy and 00_toy"
    assert (
        "katas/00_toy/scratch.py: not a registered kata, test or given module of "
        "katas/00_toy/topic.toml"
    ) in lines
    assert not any("bench_double.py" in line for line in lines)


@pytest.mark.parametrize(
    ("requires", "message"),
    [
        ('["dubble"]', "kata quadruple requires 'dubble', which is not a kata; the katas are: "),
        ('["quadruple"]', "kata quadruple requires itself"),
        ('["later"]', "kata quadruple requires later, which comes later in the curriculum"),
    ],
)
def test_registry_refuses_bad_requirements(toy, tmp_path, capsys, requires, message):
    _, topic, kata = toy
    dependent = kata(id="quadruple", module="q", extra=f"requires = {requires}")
    topic(kata(), dependent, kata(id="later", module="later"))
    status, _, errors = check(tmp_path, capsys)
    assert status == 2 and message in errors


@pytest.mark.parametrize(
    "broken", ["katas/00_toy/topic.toml", "solutions/00_toy/double.wrong.toml"]
)
def test_a_toml_syntax_error_names_the_file_and_line(toy, tmp_path, capsys, broken):
    write, _, _ = toy
    write(broken, 'title = "Toy\n')  # an unterminated string: the edit a teacher slips into
    status, _, errors = check_command(tmp_path, capsys, ["verify", "--wrong"])
    assert status == 2
    assert f"{tmp_path / broken} is not valid TOML" in errors and "line 1" in errors
    assert "Traceback" not in errors


def test_requirements_are_transitive_and_in_curriculum_order(toy, tmp_path):
    _, topic, kata = toy
    topic(
        kata(),
        kata(id="b", module="b", extra='requires = ["double"]'),
        kata(id="c", module="c", extra='requires = ["b"]'),
    )
    with registry_of(tmp_path):
        assert [k.id for k in registry.requirements(registry.kata("c"))] == ["double", "b"]


def test_the_board_reruns_a_kata_when_its_files_or_its_requirements_change(toy, tmp_path):
    write, topic, kata = toy
    topic(kata(), kata(id="b", module="b", extra='requires = ["double"]'), kata(id="c", module="c"))
    for name in ("b", "c"):
        write(f"katas/00_toy/{name}.py", "")

    def fingerprints():
        with registry_of(tmp_path):
            return {k.id: cli._fingerprint(k) for k in registry.katas()}

    before = fingerprints()
    write("katas/00_toy/c.py", "# the learner's edit")
    after_c = fingerprints()
    assert [k for k in before if before[k] != after_c[k]] == ["c"]
    write("katas/00_toy/double.py", "# the learner's edit")
    after_double = fingerprints()
    assert [k for k in before if after_c[k] != after_double[k]] == ["double", "b"]


def test_reset_restores_the_shipped_stub_even_after_the_learner_committed(toy, tmp_path, capsys):
    write, _, _ = toy

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "shipped", "--allow-empty")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "the katas as shipped")
    with registry_of(tmp_path):
        cli.shipped_commit()  # recorded by the first `kata` command, as ./setup.sh runs one
    mine = "def double(x, scale=2):\n    return x + x\n"
    write("katas/00_toy/double.py", mine)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "my double")
    for _ in range(2):  # two resets in the same second keep both backups
        with registry_of(tmp_path):
            assert cli.main(["reset", "double"]) == 0
        write("katas/00_toy/double.py", mine)
    assert "restored katas/00_toy/double.py as shipped" in capsys.readouterr().out
    with registry_of(tmp_path):
        cli.main(["reset", "double"])
        cli.main(["reset", "double"])  # already as shipped: no backup of an untouched stub
    assert "double.py is already as shipped; nothing to reset" in capsys.readouterr().out
    assert (tmp_path / "katas/00_toy/double.py").read_text() == STUB
    backups = sorted((tmp_path / ".kata/backups").iterdir())
    assert len(backups) == 3 and all(b.read_text() == mine for b in backups)


def test_train_on_a_stub_is_one_line_and_leaves_no_empty_folder(toy, tmp_path, capsys):
    write, topic, kata = toy
    topic(kata(extra='train = "train"'))
    write(
        "katas/00_toy/double.py",
        STUB
        + "\n\ndef train(out_dir, overrides=None):\n"
        + ('    raise NotImplementedError("katas/00_toy/double.py: write train()")\n'),
    )
    out = tmp_path / "runs"
    try:
        with registry_of(tmp_path):
            status = cli.main(["train", "double", "--out", str(out)])
    finally:
        sys.modules.pop("double", None)
    assert status == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        "kata train double: katas/00_toy/double.py: write train(); write it first, "
        "or train the reference: kata train double --impl solutions"
    )
    assert not out.exists()


WRONG = """
[[wrong]]
name = "adds"
why = "scale + x"
replace = [["return scale * x", "return scale + x"]]

[[wrong]]
name = "right only at 3"
why = "a hand case that cannot see the bug"
replace = [["return scale * x", "return 6 if x == 3 else x"]]

[[wrong]]
name = "stale"
why = "the reference moved on"
replace = [["return 2 * x", "return x"]]
"""


def test_verify_wrong_reports_caught_missed_and_stale_wrong_implementations(toy, tmp_path, capsys):
    write, _, _ = toy
    write(
        "katas/00_toy/test_double.py",
        "from double import double\n\ndef test_three():\n    assert double(3) == 6\n",
    )
    write("solutions/00_toy/double.wrong.toml", WRONG)
    status, lines, _ = check_command(tmp_path, capsys, ["verify", "--wrong", "--jobs", "2"])
    assert status == 1
    assert lines[:3] == [
        "double                   1/3 caught",
        "    MISSED: right only at 3 (a hand case that cannot see the bug)",
        "    does not apply: stale: 'return 2 * x' occurs 0 times (expected once)",
    ]
    assert lines[-1] == "wrong implementations caught: 1/3 (33%)"
    # The learner's slot is the scratch copy's: the project's stub is untouched.
    assert (tmp_path / "katas/00_toy/double.py").read_text() == STUB
    # The teachers' board shows the share until the kata or its wrong versions change.
    with registry_of(tmp_path):
        assert wrong.recorded_shares() == {"double": "1/3"}
        write("solutions/00_toy/double.wrong.toml", WRONG.replace("scale + x", "x + scale"))
        assert wrong.recorded_shares() == {}


def test_a_training_run_given_in_a_given_module_is_found_and_checked(
    toy, tmp_path, capsys, monkeypatch
):
    write, topic, kata = toy
    monkeypatch.setenv("ML_REFRESHER_IMPL", "solutions")  # restored after the test
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    write(
        "katas/00_toy/train_double.py",
        "from double import double\n\n\ndef train(out_dir, overrides=None):\n"
        "    return {'doubled': double(21)}\n",
    )
    topic(kata(extra='train = "train_double:train"'), given='["train_double"]')
    out = tmp_path / "runs"
    try:
        with registry_of(tmp_path):
            assert registry.kata("double").train_entry == ("train_double", "train")
            status = cli.main(["train", "double", "--out", str(out)])
    finally:
        for name in ("double", "train_double"):
            sys.modules.pop(name, None)
    assert status == 0
    assert json.loads((out / "double" / "metrics.json").read_text())["doubled"] == 42
    capsys.readouterr()

    topic(kata(extra='train = "elsewhere:train"'), given='["train_double"]')
    assert check(tmp_path, capsys)[1][0] == (
        "kata double: train = 'elsewhere:train' names elsewhere, which is neither its module "
        "nor one of the topic's given modules ['train_double']"
    )
    topic(kata(extra='train = "train_double:fit"'), given='["train_double"]')
    assert check(tmp_path, capsys)[1][0] == (
        "kata double: train = 'train_double:fit', but katas/00_toy/train_double.py has no fit()"
    )
