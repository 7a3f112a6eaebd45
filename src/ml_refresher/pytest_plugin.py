"""pytest plugin (registered through the `pytest11` entry point): the learner/reference switch
and the two gates.

    pytest katas/01_ml_basics                    the learner's code (default)
    pytest katas/01_ml_basics --impl solutions   the reference solutions
    pytest katas --gate green                    every test must pass on the reference
    pytest katas --gate red                      every test must fail on the stubs with
                                                 NotImplementedError; under this gate such a
                                                 test is reported as passed, and a test that
                                                 passes, skips or fails for another reason fails
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ml_refresher import impl, registry
from ml_refresher.kernel_build import KernelBuildError

GATE_IMPLEMENTATION = {"green": "solutions", "red": "learner"}
_outcomes_key = pytest.StashKey[dict]()
_not_run_key = pytest.StashKey[dict]()  # kata id -> why its tests cannot run on this machine
HYPOTHESIS_PROFILE = "katas"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ml-refresher")
    group.addoption(
        "--impl",
        choices=impl.IMPLEMENTATIONS,
        default=None,
        help=f"whose code the katas import (default: ${impl.IMPL_ENV} or 'learner')",
    )
    group.addoption(
        "--gate",
        choices=sorted(GATE_IMPLEMENTATION),
        default=None,
        help="green: all pass on the reference; red: all fail on the stubs (NotImplementedError)",
    )
    group.addoption(
        "--kata-report",
        metavar="PATH",
        default=None,
        help="write each kata test's raw outcome to PATH as JSON (used by `kata`)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Kata tests work on small tensors, where extra threads buy little; and OpenMP threads that
    # busy-wait for a core another process holds can make a 15 s topic take minutes. One thread
    # unless the learner says otherwise (set before any test module imports torch).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    registry.use_triton_interpreter_without_gpu()  # before a test module imports triton
    chosen_impl = config.getoption("impl")
    gate = config.getoption("gate")
    if gate:
        required = GATE_IMPLEMENTATION[gate]
        if chosen_impl not in (None, required):
            raise pytest.UsageError(f"--gate {gate} runs on --impl {required}, not {chosen_impl}")
        chosen_impl = required
        if os.environ.get(impl.USE_REFERENCE_ENV):
            raise pytest.UsageError(f"unset {impl.USE_REFERENCE_ENV} to run a gate")
    if chosen_impl:
        # The environment, not a module global, so that subprocesses and the kernel front end
        # see the same choice.
        os.environ[impl.IMPL_ENV] = chosen_impl
    try:
        impl.katas_on_reference()
    except registry.RegistryError as error:
        raise pytest.UsageError(f"{impl.USE_REFERENCE_ENV}: {error}") from None
    impl.install_finder()
    config.stash[_outcomes_key] = {}
    config.stash[_not_run_key] = {}
    _load_hypothesis_profile(config)


def _load_hypothesis_profile(config: pytest.Config) -> None:
    """One profile for every property-based kata test: the same examples on every run (a learner
    must not see a test pass, then fail on the same code), no per-example deadline (a first call
    may compile a kernel), 15 examples (seconds, not minutes), and the seed to reproduce a
    failure. `--hypothesis-profile` still picks another."""
    from hypothesis import settings

    settings.register_profile(
        HYPOTHESIS_PROFILE, derandomize=True, deadline=None, max_examples=15, print_blob=True
    )
    if config.getoption("hypothesis_profile", None) is None:
        settings.load_profile(HYPOTHESIS_PROFILE)


def _kata_of(item: pytest.Item) -> registry.Kata | None:
    return registry.kata_for_test_file(Path(str(item.path)))


def _require_tests_for_every_kata(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A gate over a directory must not pass because a registered kata has no tests."""
    requested = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    with_tests = {kata.id for item in items if (kata := _kata_of(item))}
    with_tests |= set(config.stash[_not_run_key])
    for kata in registry.katas():
        if kata.id in with_tests:
            continue
        if any(kata.test_path.is_relative_to(path) for path in requested):
            raise pytest.UsageError(
                f"kata {kata.id} is in katas/{kata.topic}/topic.toml but none of its tests ran "
                f"(expected {kata.relative(kata.test_path)})"
            )


class _NotRunHere(pytest.File):
    """A kata test file that this machine cannot run (registry NEEDS): never imported (it would
    import triton or need a GPU), no tests, and the kata is listed as not run."""

    def collect(self):
        kata = registry.kata_for_test_file(self.path)
        self.config.stash[_not_run_key][kata.id] = "; ".join(registry.unmet_needs(kata))
        return []


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector):
    kata = registry.kata_for_test_file(module_path)
    if kata is None or not registry.unmet_needs(kata):
        return None
    return _NotRunHere.from_parent(parent, path=module_path)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Said at the end, in both gates too: a kata that could not run here passed nothing."""
    not_run = config.stash.get(_not_run_key, {})
    if not not_run:
        return
    title = f"{len(not_run)} kata(s) NOT RUN on this machine"
    terminalreporter.section(title, sep="=", yellow=True)
    for kata_id, reason in not_run.items():
        terminalreporter.line(f"{kata_id}: {reason}: not run (neither passed nor red)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    katas_dir = registry.project_root() / "katas"
    if config.getoption("gate"):
        _require_tests_for_every_kata(config, items)
    for item in items:
        path = Path(str(item.path)).resolve()
        if path.is_relative_to(katas_dir) and _kata_of(item) is None:
            raise pytest.UsageError(
                f"{path.relative_to(registry.project_root())} is not the test file of any kata: "
                f"add the kata to its topic.toml, or rename the file test_<kata id>.py"
            )
    # Katas in curriculum order (files sort alphabetically: kmeans before linear_regression),
    # so that the first red test of a topic is the learner's next step. Stable: the tests of
    # one kata keep their file order; other tests go last.
    position = {k.id: i for i, k in enumerate(registry.katas(ready_only=False))}
    items.sort(key=lambda item: position.get(getattr(_kata_of(item), "id", None), len(position)))


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """Red gate: import each kata's test file with the katas it requires on the reference and
    everything else on the stub, so that its tests can only be red because of its own stub."""
    kata = (
        registry.kata_for_test_file(Path(str(collector.path)))
        if isinstance(collector, pytest.Module) and collector.config.getoption("gate") == "red"
        else None
    )
    if kata is None:
        return (yield)
    with impl.reference_for(registry.requirements(kata)):
        return (yield)


def pytest_report_header(config: pytest.Config) -> str:
    on_reference = impl.katas_on_reference()
    fallback = f"; on the reference: {', '.join(sorted(on_reference))}" if on_reference else ""
    gate = config.getoption("gate")
    return f"ml-refresher: implementation={impl.selected_implementation()}{fallback}" + (
        f", gate={gate}" if gate else ""
    )


def _raw_outcome(report: pytest.TestReport, call: pytest.CallInfo) -> str:
    if report.passed:
        return "passed"
    if report.skipped:
        return "skipped"
    if call.excinfo is not None and call.excinfo.errisinstance(NotImplementedError):
        return "not_implemented"
    if call.excinfo is not None and call.excinfo.errisinstance(KernelBuildError):
        return "does_not_compile"
    return "failed"


def _stub_that_raised(excinfo: pytest.ExceptionInfo) -> registry.Kata | None:
    """The kata whose stub raised the NotImplementedError: the innermost traceback frame in a
    Python stub file, else (a C++ kernel, which has no Python frame) the stub file that the
    message starts with, as every stub's message does ("kernels/matmul.cpp: write matmul()")."""
    stubs = {k.stub_path: k for k in registry.katas(ready_only=False)}
    for entry in reversed(excinfo.traceback):
        kata = stubs.get(Path(str(entry.path)).resolve())
        if kata is not None:
            return kata
    message = str(excinfo.value)
    return next((k for k in stubs.values() if message.startswith(k.relative(k.stub_path))), None)


def _apply_red_gate(
    item: pytest.Item, report: pytest.TestReport, raw: str, raised_in: registry.Kata | None
) -> None:
    """Red gate: a test passes exactly when its own kata's stub stopped it with
    NotImplementedError; its requirements run on the reference (see _import_on_reference)."""
    kata = _kata_of(item)
    if raw == "not_implemented" and raised_in != kata:
        report.outcome = "failed"
        where = f"the stub of kata {raised_in.id}" if raised_in else "no kata's stub"
        report.longrepr = (
            f"red gate: NotImplementedError came from {where}, not from "
            f"{kata.relative(kata.stub_path)}, so this test does not prove that it tests kata "
            f"{kata.id}'s code"
            + (
                f" (kata {kata.id} uses {raised_in.id}'s code: declare requires = "
                f'["{raised_in.id}"] in katas/{kata.topic}/topic.toml)'
                if raised_in and raised_in.id not in kata.requires
                else ""
            )
        )
    elif raw == "not_implemented":
        report.outcome = "passed"
        report.longrepr = None
        if report.when == "setup":
            # A fixture already hit the stub: the body has nothing left to show, so skip it.
            item.stopped_by_stub_in_setup = True
            item.runtest = lambda: None
    elif raw == "passed" and report.when == "call":
        if not getattr(item, "stopped_by_stub_in_setup", False):
            report.outcome = "failed"
            report.longrepr = (
                "red gate: this test PASSED on the stub (with the katas it requires on the "
                "reference), so it does not test the learner's code (or the stub does more "
                "than raise NotImplementedError)"
            )
    elif raw == "failed":
        report.sections.append(
            ("red gate", "failed, but not with NotImplementedError: the stub or test is broken")
        )


def _add_next_step(
    report: pytest.TestReport, kata: registry.Kata, raised_in: registry.Kata | None
) -> None:
    """Point at the stub that actually stopped the test: the kata's own, or one it builds on."""
    stub = raised_in or kata
    advice = (
        f"Implement the function named above in {stub.relative(stub.stub_path)} "
        f"(lesson: katas/{stub.topic}/README.md; a hint: `kata hint {stub.id}`)."
    )
    if stub != kata:
        test_file = kata.relative(kata.test_path)
        advice = (
            f"This test of kata {kata.id} stopped in the stub of kata {stub.id}: "
            f"{kata.id} builds on {stub.id}'s code. {advice}\n"
            f"Or run {kata.id} on the reference {stub.id}: "
            f"{impl.USE_REFERENCE_ENV}={stub.id} pytest {test_file}"
        )
    report.sections.append(("what to do next", advice))


def _record(item: pytest.Item, kata: registry.Kata, raw: str) -> None:
    """Keep each test's first non-passing outcome across setup, call and teardown."""
    entry = item.config.stash[_outcomes_key].setdefault(
        item.nodeid, {"kata": kata.id, "outcome": "passed"}
    )
    if entry["outcome"] == "passed":
        entry["outcome"] = raw


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report: pytest.TestReport = yield
    kata = _kata_of(item)
    if kata is None:
        return report
    raw = _raw_outcome(report, call)
    raised_in = _stub_that_raised(call.excinfo) if raw == "not_implemented" else None
    _record(item, kata, raw)
    gate = item.config.getoption("gate")
    if gate and raw == "skipped":
        report.outcome = "failed"
        report.longrepr = f"{gate} gate: skipped ({report.longrepr[-1]}); a gate test must run"
    elif gate == "red":
        _apply_red_gate(item, report, raw, raised_in)
    elif raw == "not_implemented":
        _add_next_step(report, kata, raised_in)
    return report


_collection_errors: list[dict] = []


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        test_file = registry.project_root() / report.nodeid.split("::")[0]
        kata = registry.kata_for_test_file(test_file)
        if kata is not None:
            _collection_errors.append({"kata": kata.id, "nodeid": report.nodeid})


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = session.config.getoption("kata_report")
    if not path:
        return
    outcomes = session.config.stash[_outcomes_key]
    for error in _collection_errors:
        outcomes[error["nodeid"]] = {"kata": error["kata"], "outcome": "collection_error"}
    not_run = session.config.stash[_not_run_key]
    Path(path).write_text(
        json.dumps({"exitstatus": int(exitstatus), "tests": outcomes, "not_run": not_run}, indent=1)
    )
