"""The topic notebooks: notebooks/<topic>.py, jupytext "percent" scripts kept in git, opened with
`kata notebook <topic>` (open_notebook) as notebooks/<topic>.ipynb, generated, never committed.

A notebook's first cell calls setup(): kata modules then import exactly as in the tests (the
learner's code by default, the reference with ML_REFRESHER_IMPL=solutions or, per kata, with
ML_REFRESHER_USE_REFERENCE=<ids>), and a cell that reaches an unfinished stub prints one line
saying which kata to finish instead of a traceback, so that the cells after it still run.

Exercises: a notebook asks for a few small functions in cells of their own (`def softmax(...):
raise NotImplementedError(EXERCISE)`); the cell after calls check_exercise(), which reports an
unanswered one as "not done yet" and checks an answered one with the project's assertions. Under
ML_REFRESHER_IMPL=solutions the check uses the model answer in solutions/notebooks/<topic>.py
instead, so that CI, which runs every notebook on the reference, runs each assertion too.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ml_refresher import impl, registry

# The tests' rule, for the 07 notebook's first cell.
from ml_refresher.registry import (
    use_triton_interpreter_without_gpu as use_triton_interpreter_without_gpu,
)

NOTEBOOK_DIR = Path("notebooks")
ANSWER_DIR = Path("solutions") / "notebooks"
EXERCISE = "exercise: replace this line with your code"  # what an unanswered exercise raises
INSTALL_HINT = "pip install -e '.[notebook]'   (or: pip install jupyterlab jupytext)"

_STUB_MESSAGE = re.compile(r"^\s*((?:katas|kernels)/\S+?\.(?:py|cpp|cu)):")


class UsageError(ValueError):
    """A command-line mistake (unknown topic): the CLI prints it and exits with status 2."""


# --- which notebooks there are ------------------------------------------------------------------


def notebook_topics() -> list[str]:
    """Topics (curriculum order) that have a notebook."""
    root = registry.project_root()
    return [t.id for t in registry.topics() if (root / NOTEBOOK_DIR / f"{t.id}.py").is_file()]


def notebook_source(topic: str) -> Path:
    """notebooks/<topic>.py; UsageError listing the notebooks for any other name."""
    topics = notebook_topics()
    if topic not in topics:
        all_topics = [t.id for t in registry.topics()]
        what = "a topic without a notebook" if topic in all_topics else "not a topic"
        raise UsageError(
            f"no notebook for {topic!r} ({what}); the notebooks are: {', '.join(topics)}\n"
            f"usage: kata notebook <topic>, e.g. kata notebook {topics[0] if topics else ''}"
        )
    return registry.project_root() / NOTEBOOK_DIR / f"{topic}.py"


def build_ipynb(topic: str) -> Path:
    """notebooks/<topic>.ipynb from notebooks/<topic>.py, regenerated when missing or older."""
    source = notebook_source(topic)
    target = source.with_suffix(".ipynb")
    if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
        import jupytext

        notebook = jupytext.read(source)
        notebook.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        jupytext.write(notebook, target)
    return target


def jupyter_command() -> list[str] | None:
    """`jupyter lab`, else `jupyter notebook`, whichever is installed in this environment."""
    for package, sub in (("jupyterlab", "lab"), ("notebook", "notebook")):
        if importlib.util.find_spec(package) is not None:
            return [sys.executable, "-m", "jupyter", sub]
    return None


def open_notebook(topic: str, jupyter_args: list[str] | None = None) -> int:
    """`kata notebook <topic> [jupyter options]`: generate notebooks/<topic>.ipynb and open it in
    Jupyter, passing on `jupyter_args` (e.g. --no-browser, --port 8890, or --allow-root, without
    which Jupyter refuses to start as root, the usual user in a container); without Jupyter,
    print how to install it and open the notebook. Returns the exit status (2 for an unknown
    topic, with the message on stderr)."""
    try:
        source = notebook_source(topic)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    command = jupyter_command()
    if command is None or importlib.util.find_spec("jupytext") is None:
        relative = source.relative_to(registry.project_root())
        print(
            "Jupyter is not installed in this environment. Install it with\n"
            f"    {INSTALL_HINT}\n"
            f"then open the notebook with\n"
            f"    kata notebook {topic}\n"
            f"(or: jupytext --to ipynb {relative} && jupyter lab {relative.with_suffix('.ipynb')})"
        )
        return 1
    target = build_ipynb(topic)
    print(f"opening {target.relative_to(registry.project_root())} (jupyter {command[-1]})")
    return subprocess.call(
        [*command, *(jupyter_args or []), str(target)], cwd=registry.project_root()
    )


# --- inside a notebook --------------------------------------------------------------------------


def kata_of_message(message: str) -> registry.Kata | None:
    """The kata whose stub raised NotImplementedError(message) ("katas/<topic>/<m>.py: ...")."""
    match = _STUB_MESSAGE.match(message)
    if not match:
        return None
    path = (registry.project_root() / match.group(1)).resolve()
    for kata in registry.katas(ready_only=False):
        if kata.stub_path.resolve() == path:
            return kata
    return None


def unfinished_line(error: BaseException) -> str:
    """One line for an unfinished stub: its message, the kata, how to see the reference instead."""
    message = str(error)
    if message == EXERCISE:
        return "exercise not done yet: write it in the cell above, then run the check again"
    kata = kata_of_message(message)
    if kata is None:
        return f"not implemented: {message}"
    # Reopen this notebook (not the kata's own topic's) with the references already chosen kept.
    references = ",".join([*sorted(impl.katas_on_reference() - {kata.id}), kata.id])
    return (
        f"finish kata {kata.id} first ({message}); or look at the reference instead: "
        f"{impl.USE_REFERENCE_ENV}={references} kata notebook {_notebook_topic or kata.topic}"
    )


class _CatchUnfinished(ast.NodeTransformer):
    """Wraps a cell in `try: ... except NotImplementedError: <one line>`, keeping the value of
    its last expression on display. IPython's set_custom_exc would print the line too, but the
    cell would still end in error, and Jupyter's Run All (and nbclient) stop at such a cell."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        if not node.body:
            return node
        body, last = node.body, None
        if isinstance(body[-1], ast.Expr):
            body, last = body[:-1], body[-1].value
        value = ast.Name(_VALUE, ast.Store())
        wrapped = ast.Try(
            body=[*body, ast.Assign([value], last or ast.Constant(None))],
            handlers=[
                ast.ExceptHandler(
                    type=ast.Name("NotImplementedError", ast.Load()),
                    name=_ERROR,
                    body=ast.parse(
                        f"import ml_refresher.notebooks\n"
                        f"print(ml_refresher.notebooks.unfinished_line({_ERROR}))\n"
                        f"{_VALUE} = None\n"
                        f"del {_ERROR}"
                    ).body,
                )
            ],
            orelse=[],
            finalbody=[],
        )
        tail = [ast.Expr(ast.Name(_VALUE, ast.Load()))] if last is not None else []
        node.body = [wrapped, *tail]
        return ast.fix_missing_locations(node)


_VALUE, _ERROR = "_kata_cell_value", "_kata_cell_error"


def catching_unfinished(shell) -> bool:
    return any(isinstance(t, _CatchUnfinished) for t in shell.ast_transformers)


_notebook_topic: str | None = None  # the notebook being run, named by its setup() call


def setup(topic: str | None = None, quiet: bool = False) -> None:
    """A notebook's first cell (`setup("01_ml_basics")`): kata imports resolve as in the tests;
    a cell that reaches an unfinished stub prints one line instead of a traceback and ends "ok",
    so Run All goes on, and the line says how to reopen this notebook on the reference."""
    global _notebook_topic
    _notebook_topic = topic
    root = registry.project_root()
    os.chdir(root)  # data paths, out/ and docs/ are relative to the checkout, as in the tests
    impl.install_finder()
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python (a script): nothing to hook
        shell = None
    else:
        shell = get_ipython()
    if shell is not None and not catching_unfinished(shell):
        shell.ast_transformers.append(_CatchUnfinished())
    if not quiet:
        chosen = impl.selected_implementation()
        on_reference = sorted(impl.katas_on_reference())
        extra = f", the reference for {', '.join(on_reference)}" if on_reference else ""
        print(f"kata modules resolve to: {chosen}{extra} (checkout {root})")


def answer_mode() -> bool:
    """True when the exercises are checked on the model answers (ML_REFRESHER_IMPL=solutions)."""
    return impl.selected_implementation() == "solutions"


def model_answer(topic: str, name: str) -> Callable:
    """Function `name` of solutions/notebooks/<topic>.py."""
    path = registry.project_root() / ANSWER_DIR / f"{topic}.py"
    spec = importlib.util.spec_from_file_location(f"_notebook_answers_{topic}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def check_exercise(topic: str, answer: Callable, check: Callable[[Callable], None]) -> None:
    """Run `check(function)` on the learner's `answer` or, under ML_REFRESHER_IMPL=solutions, on
    the model answer of the same name. An unanswered exercise (raises NotImplementedError) is
    reported as not done yet; a wrong one fails the check with the assertion's message."""
    name = answer.__name__
    function = model_answer(topic, name) if answer_mode() else answer
    source = "model answer" if answer_mode() else "your answer"
    try:
        check(function)
    except NotImplementedError as error:
        line = f"{name}: " + unfinished_line(error)
    else:
        line = f"{name}: correct ({source})"
    print(line)


FIGURES_ENV = "ML_REFRESHER_NOTEBOOK_FIGURES"  # set to 1: save_figure() writes docs/notebook_*.png


def save_figure(fig, name: str) -> Path | None:
    """With $ML_REFRESHER_NOTEBOOK_FIGURES=1, save a figure as docs/notebook_<name>.png (the
    pictures in the README); otherwise nothing, so that running a notebook changes no file."""
    if os.environ.get(FIGURES_ENV) != "1":
        return None
    path = registry.project_root() / "docs" / f"notebook_{name}.png"
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    return path


def jupytext_available() -> bool:
    return shutil.which("jupytext") is not None or importlib.util.find_spec("jupytext") is not None
