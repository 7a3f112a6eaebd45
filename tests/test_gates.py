"""The switch and the two gates, on a miniature curriculum written into a temporary directory."""

import textwrap

import pytest

pytest_plugins = ["pytester"]

TOPIC = """
title = "Toy topic"
given = ["shared_helper"]

[[kata]]
id = "double"
module = "double"
title = "Double a number"
summary = "x -> 2x"
effort_minutes = 1
hints = ["multiply by two"]
"""

STUB = """
def double(x):
    raise NotImplementedError("katas/00_toy/double.py: write double()")
"""

REFERENCE = """
from shared_helper import TWO

def double(x):
    return TWO * x
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makefile(".toml", **{"katas/curriculum.toml": 'topics = ["00_toy"]'})
    pytester.makefile(".toml", **{"katas/00_toy/topic": TOPIC})
    pytester.makepyfile(
        **{
            "katas/00_toy/double": STUB,
            "katas/00_toy/shared_helper": "TWO = 2",
            "solutions/00_toy/double": REFERENCE,
        }
    )
    monkeypatch.setenv("ML_REFRESHER_ROOT", str(pytester.path))
    monkeypatch.delenv("ML_REFRESHER_IMPL", raising=False)
    monkeypatch.delenv("ML_REFRESHER_USE_REFERENCE", raising=False)
    return pytester


def write_tests(project: pytest.Pytester, body: str) -> None:
    project.makepyfile(**{"katas/00_toy/test_double": textwrap.dedent(body)})


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess("katas", "--import-mode=importlib", *args)


GOOD_TESTS = """
    import pytest
    from double import double

    @pytest.fixture
    def doubled_three():
        return double(3)

    def test_value():
        assert double(2) == 4

    def test_through_a_fixture(doubled_three):
        assert doubled_three == 6
"""


def test_learner_default_fails_with_not_implemented_and_says_what_next(project):
    write_tests(project, GOOD_TESTS)
    result = run(project)
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(["*NotImplementedError: katas/00_toy/double.py: write double()*"])
    result.stdout.fnmatch_lines(["*kata hint double*"])


def test_impl_solutions_uses_the_reference_and_given_modules(project):
    write_tests(project, GOOD_TESTS)
    run(project, "--impl", "solutions").assert_outcomes(passed=2)


def test_per_kata_fallback_to_the_reference(project, monkeypatch):
    write_tests(project, GOOD_TESTS)
    monkeypatch.setenv("ML_REFRESHER_USE_REFERENCE", "double")
    run(project).assert_outcomes(passed=2)


def test_green_and_red_gates_hold_for_good_tests(project):
    write_tests(project, GOOD_TESTS)
    run(project, "--gate", "green").assert_outcomes(passed=2)
    # The fixture hits the stub during setup: that counts as red for the right reason.
    run(project, "--gate", "red").assert_outcomes(passed=2)


def test_red_gate_fails_a_test_that_passes_on_the_stub(project):
    write_tests(project, "def test_does_not_call_the_kata():\n    assert 1 + 1 == 2\n")
    result = run(project, "--gate", "red")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*PASSED on the stub*"])


def test_red_gate_fails_a_test_that_fails_for_another_reason(project):
    write_tests(project, "from double import double\n\ndef test_typo():\n    dubble(1)\n")
    result = run(project, "--gate", "red")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*not with NotImplementedError*"])


def test_gates_fail_a_skipped_test(project):
    write_tests(project, "import pytest\n\ndef test_skipped():\n    pytest.skip('no data')\n")
    run(project, "--gate", "green").assert_outcomes(failed=1)
    run(project, "--gate", "red").assert_outcomes(failed=1)


def test_gate_refuses_a_test_file_that_belongs_to_no_kata(project):
    write_tests(project, GOOD_TESTS)
    project.makepyfile(**{"katas/00_toy/test_stray": "def test_x():\n    pass\n"})
    result = run(project, "--gate", "green")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*test_stray.py is not the test file of any kata*"])


def test_gate_refuses_a_kata_without_tests(project):
    result = run(project, "--gate", "green")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*kata double is in katas/00_toy/topic.toml but none of its*"])


def test_a_gate_cannot_run_on_the_other_implementation(project):
    write_tests(project, GOOD_TESTS)
    result = run(project, "--gate", "red", "--impl", "solutions")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--gate red runs on --impl learner*"])


def test_an_unknown_kata_on_the_reference_is_a_usage_error_listing_the_katas(project, monkeypatch):
    write_tests(project, GOOD_TESTS)
    monkeypatch.setenv("ML_REFRESHER_USE_REFERENCE", "dubble")
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ML_REFRESHER_USE_REFERENCE: no kata called 'dubble'*double*"])
