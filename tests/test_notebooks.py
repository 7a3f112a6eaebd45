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
NEEDS = {"07_gpu_kernels": "triton"}  # an optional dependency (Linux x86-64 only)


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


def test_every_ready_topic_has_a_notebook():
    ready = [t.id for t in registry.topics() if t.ready]
    assert ready and TOPICS == ready, f"topics with a notebook {TOPICS}, ready topics {ready}"


@pytest.mark.parametrize("topic", TOPICS)
def test_notebook_runs_on_the_reference(topic, offline_env):
    if topic in NEEDS:
        pytest.importorskip(NEEDS[topic])
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


def skip_unless_stubs_untouched(*kata_ids: str) -> None:
    if any(
        "raise NotImplementedError" not in registry.kata(k).stub_path.read_text() for k in kata_ids
    ):
        pytest.skip(f"the stubs of {', '.join(kata_ids)} are not untouched in this checkout")


def test_notebook_on_the_stubs_says_which_kata_to_finish(offline_env):
    """Untouched stubs (the learner's default): every kata cell prints its one line, the
    exercises say "not done yet", and the notebook still runs to the end."""
    skip_unless_stubs_untouched(*(k.id for k in registry.topic_of(registry.kata("kmeans")).katas))
    offline_env.setenv(impl.IMPL_ENV, "learner")
    _, texts = execute("01_ml_basics")
    output = "\n".join(texts)
    for kata in ("linear_regression", "logistic_regression", "kmeans"):
        expected = f"ML_REFRESHER_USE_REFERENCE={kata} kata notebook 01_ml_basics"
        assert f"finish kata {kata} first" in output and expected in output, output
    assert output.count("exercise not done yet") == 2, output
    assert "Traceback" not in output


def test_triton_notebook_on_the_stubs_says_which_kernel_to_finish(offline_env):
    """07_gpu_kernels on untouched stubs: one line per Triton kata, the online-softmax replay
    (which needs no kata) still draws its figure, and no GPU is needed."""
    pytest.importorskip("triton")
    triton_katas = ["triton_softmax", "triton_matmul", "triton_layernorm", "triton_flash_attention"]
    skip_unless_stubs_untouched(*triton_katas)
    offline_env.setenv(impl.IMPL_ENV, "learner")
    notebook, texts = execute("07_gpu_kernels")
    output = "\n".join(texts)
    for kata in triton_katas:
        expected = f"ML_REFRESHER_USE_REFERENCE={kata} kata notebook 07_gpu_kernels"
        assert f"finish kata {kata} first" in output and expected in output, output
    assert output.count("exercise not done yet") == 2, output
    assert "Traceback" not in output
    images = sum(
        "image/png" in out.get("data", {}) for c in notebook.cells for out in c.get("outputs", [])
    )
    assert images == 1, f"the online-softmax figure should not need a kata; {images} figures"


def test_notebook_names_the_unfinished_requirement(offline_env):
    """The reference GPT on the learner's unfinished attention (05_llm requires 04's): the cell
    names the attention kata, not the GPT."""
    skip_unless_stubs_untouched("attention")
    offline_env.setenv(impl.IMPL_ENV, "learner")
    offline_env.setenv(impl.USE_REFERENCE_ENV, "gpt")
    _, texts = execute("05_llm")
    output = "\n".join(texts)
    assert "finish kata attention first" in output, output
    assert "finish kata gpt first" not in output, output
    assert "ML_REFRESHER_USE_REFERENCE=gpt,attention kata notebook 05_llm" in output, output
    assert "Traceback" not in output


def test_triton_interpreter_is_chosen_without_a_gpu(monkeypatch):
    """One switch for the pytest plugin and the notebooks: interpret without /dev/nvidiactl, and
    never override a TRITON_INTERPRET the learner set."""
    monkeypatch.delenv(registry.TRITON_INTERPRET_ENV, raising=False)
    monkeypatch.setattr(registry, "nvidia_gpu_present", lambda: True)
    assert notebooks.use_triton_interpreter_without_gpu() is False
    assert registry.TRITON_INTERPRET_ENV not in os.environ
    monkeypatch.setattr(registry, "nvidia_gpu_present", lambda: False)
    assert notebooks.use_triton_interpreter_without_gpu() is True
    assert os.environ[registry.TRITON_INTERPRET_ENV] == "1"
    monkeypatch.setenv(registry.TRITON_INTERPRET_ENV, "0")  # the learner forces compiling
    assert notebooks.use_triton_interpreter_without_gpu() is False


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


def test_unfinished_line_reopens_this_notebook_keeping_the_chosen_references(monkeypatch):
    """In 05 with the reference GPT, the unfinished kata is 04's attention: the way out is 05
    again with both references, not 04's notebook without the GPT."""
    monkeypatch.setenv(impl.USE_REFERENCE_ENV, "gpt")
    monkeypatch.setattr(notebooks, "_notebook_topic", "05_llm")
    line = notebooks.unfinished_line(
        NotImplementedError("katas/04_transformers/attention.py: write attention()")
    )
    assert line.endswith("ML_REFRESHER_USE_REFERENCE=gpt,attention kata notebook 05_llm"), line
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
        # Jupyter's own options go through: as root it refuses to start without --allow-root.
        assert notebooks.open_notebook("01_ml_basics", ["--allow-root", "--no-browser"]) == 0
        assert started[1] == ["jupyter", "lab", "--allow-root", "--no-browser", str(target)]
    finally:
        if not existed:
            target.unlink()
