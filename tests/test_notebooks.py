"""The topic notebooks (notebooks/<topic>.py) run to the end: on the reference, with every
exercise check on its model answer, and on the untouched stubs, where each cell that reaches a
stub prints the one "finish kata X" line; and `kata notebook`'s errors say what to do."""

from __future__ import annotations

import os
import time

import pytest

from ml_refresher import impl, notebooks, registry

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

TIMEOUT = 120  # seconds per notebook; each takes a few seconds on a quiet machine
TOPICS = notebooks.notebook_topics()


def execute(topic: str):
    """Run notebooks/<topic>.py in a fresh kernel (the environment as it is now); returns the
    executed notebook and its stream output, one string per code cell."""
    notebook = jupytext.read(notebooks.notebook_source(topic))
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    client = nbclient.NotebookClient(
        notebook, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": "."}}
    )
    client.execute()
    texts = [
        "".join(out.get("text", "") for out in cell.get("outputs", []))
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]
    return notebook, texts


@pytest.fixture
def offline_env(monkeypatch):
    """The kernel inherits this process's environment: one thread, offline data."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(impl.USE_REFERENCE_ENV, raising=False)
    monkeypatch.delenv(notebooks.FIGURES_ENV, raising=False)
    return monkeypatch


def test_there_are_notebooks():
    assert "01_ml_basics" in TOPICS and "06_kernels" in TOPICS, TOPICS


@pytest.mark.parametrize("topic", TOPICS)
def test_notebook_runs_on_the_reference(topic, offline_env):
    offline_env.setenv(impl.IMPL_ENV, "solutions")
    start = time.perf_counter()
    notebook, texts = execute(topic)  # a cell that raises fails here, with its traceback
    seconds = time.perf_counter() - start
    output = "\n".join(texts)
    assert "finish kata" not in output, f"a kata did not resolve to the reference:\n{output}"
    checks = [line for line in output.splitlines() if "(model answer)" in line]
    exercises = sum(
        c.cell_type == "code" and "raise NotImplementedError(EXERCISE)" in c.source
        for c in notebook.cells
    )
    assert exercises >= 2, f"{topic}: expected at least two exercises, found {exercises}"
    assert len(checks) == exercises and all("correct" in c for c in checks), (
        f"{topic}: each of the {exercises} exercises should be checked on its model answer; "
        f"the check cells said:\n" + "\n".join(checks)
    )
    images = sum(
        "image/png" in out.get("data", {}) for c in notebook.cells for out in c.get("outputs", [])
    )
    assert images >= 1, f"{topic}: no figure was shown"
    print(f"{topic}: {seconds:.1f} s")


def test_notebook_on_the_stubs_says_which_kata_to_finish(offline_env):
    """Untouched stubs (the learner's default): every kata cell prints its one line, the
    exercises say "not done yet", and the notebook still runs to the end."""
    if any(
        not impl.uses_reference(k) and "raise NotImplementedError" not in k.stub_path.read_text()
        for k in registry.topic_of(registry.kata("kmeans")).katas
    ):
        pytest.skip("01_ml_basics' stubs are not untouched in this checkout")
    offline_env.setenv(impl.IMPL_ENV, "learner")
    _, texts = execute("01_ml_basics")
    output = "\n".join(texts)
    for kata in ("linear_regression", "logistic_regression", "kmeans"):
        expected = f"ML_REFRESHER_USE_REFERENCE={kata} kata notebook 01_ml_basics"
        assert f"finish kata {kata} first" in output and expected in output, output
    assert output.count("exercise not done yet") == 2, output
    assert "Traceback" not in output


def test_unfinished_line_names_the_kata_and_the_reference():
    line = notebooks.unfinished_line(
        NotImplementedError("katas/01_ml_basics/kmeans.py: write assign()")
    )
    assert line == (
        "finish kata kmeans first (katas/01_ml_basics/kmeans.py: write assign()); or look at "
        "the reference instead: ML_REFRESHER_USE_REFERENCE=kmeans kata notebook 01_ml_basics"
    )
    kernel = notebooks.unfinished_line(
        NotImplementedError("kernels/matmul.cpp: matmul is not implemented yet")
    )
    assert kernel.startswith("finish kata matmul first"), kernel
    assert notebooks.unfinished_line(NotImplementedError("something else")) == (
        "not implemented: something else"
    )


def test_open_notebook_unknown_topic_is_a_usage_error(capsys):
    assert notebooks.open_notebook("08_nonsense") == 2
    err = capsys.readouterr().err
    assert "no notebook for '08_nonsense' (not a topic)" in err
    assert "the notebooks are: " + ", ".join(TOPICS) in err
    assert "usage: kata notebook <topic>" in err


def test_open_notebook_without_jupyter_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setattr(notebooks, "jupyter_command", lambda: None)
    monkeypatch.setattr(notebooks.subprocess, "call", lambda *a, **k: pytest.fail("started"))
    assert notebooks.open_notebook("01_ml_basics") == 1
    out = capsys.readouterr().out
    assert "Jupyter is not installed" in out
    assert notebooks.INSTALL_HINT in out
    assert "kata notebook 01_ml_basics" in out


def test_open_notebook_generates_the_ipynb_and_starts_jupyter(monkeypatch, tmp_path, capsys):
    started = []
    monkeypatch.setattr(notebooks, "jupyter_command", lambda: ["jupyter", "lab"])
    monkeypatch.setattr(notebooks.subprocess, "call", lambda cmd, cwd: started.append(cmd) or 0)
    target = notebooks.notebook_source("01_ml_basics").with_suffix(".ipynb")
    existed = target.exists()
    try:
        assert notebooks.open_notebook("01_ml_basics") == 0
        assert started == [["jupyter", "lab", str(target)]]
        notebook = jupytext.read(target)
        assert notebook.cells[0].cell_type == "markdown"
        assert os.path.getmtime(target) >= os.path.getmtime(target.with_suffix(".py"))
    finally:
        if not existed:
            target.unlink()
