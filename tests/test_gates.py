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


# --- katas that build on katas ----------------------------------------------------------------

DEPENDENT_KATA = """
[[kata]]
id = "quadruple"
module = "quadruple"
title = "Quadruple a number, with double"
summary = "x -> 4x"
effort_minutes = 1
requires = ["double"]
hints = ["double twice"]
"""

QUADRUPLE_REFERENCE = """
from double import double

def quadruple(x):
    return double(double(x))
"""

QUADRUPLE_STUB = """
def quadruple(x):
    raise NotImplementedError("katas/00_toy/quadruple.py: write quadruple()")
"""


@pytest.fixture
def dependent(project: pytest.Pytester) -> pytest.Pytester:
    """The toy topic with a second kata, quadruple, that requires double; both have tests."""
    project.makefile(".toml", **{"katas/00_toy/topic": TOPIC + DEPENDENT_KATA})
    project.makepyfile(
        **{
            "katas/00_toy/quadruple": QUADRUPLE_STUB,
            "solutions/00_toy/quadruple": QUADRUPLE_REFERENCE,
        }
    )
    write_tests(project, GOOD_TESTS)
    return project


def write_quadruple_tests(project: pytest.Pytester, body: str) -> None:
    project.makepyfile(**{"katas/00_toy/test_quadruple": textwrap.dedent(body)})


def test_red_gate_runs_a_kata_with_its_requirements_on_the_reference(dependent):
    write_quadruple_tests(
        dependent,
        """
        from quadruple import quadruple

        def test_four():
            assert quadruple(1) == 4
        """,
    )
    run(dependent, "--gate", "green").assert_outcomes(passed=3)
    run(dependent, "--gate", "red").assert_outcomes(passed=3)


def test_red_gate_fails_a_test_of_b_that_only_reaches_a(dependent):
    # Without provenance this test would count as red: on the stubs, double() raises
    # NotImplementedError. But it never touches quadruple's code, so a learner's wrong
    # quadruple would pass it. With double on the reference it passes, and the gate says so.
    write_quadruple_tests(
        dependent,
        """
        from double import double

        def test_only_doubles():
            assert double(double(1)) == 4
        """,
    )
    result = run(dependent, "--gate", "red")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*PASSED on the stub*", "*FAILED katas/00_toy/test_quadruple.py::test_only_doubles*"]
    )


def test_red_gate_names_an_undeclared_requirement(dependent):
    # quadruple's tests call double, but the topic does not say quadruple requires it: the
    # NotImplementedError comes from double's stub, which is not red for the right reason.
    dependent.makefile(
        ".toml", **{"katas/00_toy/topic": TOPIC + DEPENDENT_KATA.replace('["double"]', "[]")}
    )
    write_quadruple_tests(
        dependent,
        """
        from double import double
        from quadruple import quadruple

        def test_against_double():
            assert double(double(1)) == quadruple(1)
        """,
    )
    result = run(dependent, "--gate", "red")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*NotImplementedError came from the stub of kata double, not from "
            'katas/00_toy/quadruple.py*declare requires = ?"double"? in katas/00_toy/topic.toml*',
        ]
    )


def test_a_learner_stopped_in_a_required_stub_is_told_which_and_how_to_skip_it(dependent):
    # The learner wrote quadruple but not double: the failure names double's stub, says that
    # quadruple builds on it, and gives the command that runs quadruple on the reference double.
    dependent.makepyfile(**{"katas/00_toy/quadruple": QUADRUPLE_REFERENCE})
    write_quadruple_tests(
        dependent,
        """
        from quadruple import quadruple

        def test_four():
            assert quadruple(1) == 4
        """,
    )
    result = dependent.runpytest_subprocess(
        "katas/00_toy/test_quadruple.py", "--import-mode=importlib"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*This test of kata quadruple stopped in the stub of kata double: quadruple builds on "
            "double's code. Implement the function named above in katas/00_toy/double.py*",
            "*ML_REFRESHER_USE_REFERENCE=double pytest katas/00_toy/test_quadruple.py*",
        ]
    )
    assert "katas/00_toy/quadruple.py (lesson" not in result.stdout.str()


def test_the_plugin_loads_one_hypothesis_profile_for_kata_tests(project):
    write_tests(
        project,
        """
        from hypothesis import settings
        from double import double

        def test_profile():
            current = settings()
            assert current.derandomize and current.deadline is None
            assert current.max_examples == 15 and double(1) == 2
        """,
    )
    run(project, "--impl", "solutions").assert_outcomes(passed=1)


def test_a_topic_runs_in_curriculum_order_not_file_order(project):
    # "add" comes after "double" in the topic, but test_add.py sorts first.
    project.makefile(
        ".toml",
        **{
            "katas/00_toy/topic": TOPIC
            + DEPENDENT_KATA.replace("quadruple", "add").replace('["double"]', "[]")
        },
    )
    project.makepyfile(
        **{"katas/00_toy/add": "def add(x):\n    return x\n", "solutions/00_toy/add": "add = 1"}
    )
    project.makepyfile(**{"katas/00_toy/test_add": "def test_add():\n    pass\n"})
    write_tests(project, GOOD_TESTS)
    result = run(project, "--impl", "solutions", "-v")
    result.stdout.fnmatch_lines(
        ["*test_double.py::test_value PASSED*", "*test_add.py::test_add PASSED*"]
    )
