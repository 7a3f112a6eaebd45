"""Two `kata` commands at once never corrupt .kata/ nor lose a learner's file: every write under
.kata/ goes through ml_refresher.state (a temporary file in the same directory, then
os.replace), and `kata reset` backs the learner's version up under a name of its own (O_EXCL)
before it touches the stub. Writers race here in threads and in processes, many rounds each."""

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from ml_refresher import state

# Big enough that a plain write_text takes several write() calls' worth of time, so that a reader
# racing a non-atomic writer sees a partial file within a few hundred rounds (checked by planting
# Path.write_text in place of write_atomically: the reader test fails in its first rounds).
PAYLOAD_KEYS = 4000
ROUNDS = 200


def payload(writer: int, round_: int) -> str:
    return json.dumps({"writer": writer, "round": round_, "data": list(range(PAYLOAD_KEYS))})


def test_write_atomically_writes_text_and_bytes_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "board.json"
    state.write_atomically(path, '{"a": 1}')
    assert json.loads(path.read_text()) == {"a": 1}
    state.write_atomically(path, b"\x00\xff")
    assert path.read_bytes() == b"\x00\xff"
    assert [p.name for p in tmp_path.iterdir()] == ["board.json"]


def test_write_atomically_refuses_other_types_and_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "hints.json"
    state.write_atomically(path, "{}")
    with pytest.raises(TypeError, match="text must be str or bytes"):
        state.write_atomically(path, {"not": "text"})
    with pytest.raises(FileNotFoundError):
        state.write_atomically(tmp_path / "no-such-dir" / "x.json", "{}")
    assert path.read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["hints.json"]


def test_threads_writing_one_file_while_another_reads_it_never_show_a_partial_file(tmp_path):
    path = tmp_path / "board.json"
    state.write_atomically(path, payload(-1, -1))
    stop = threading.Event()
    bad: list[str] = []

    def reader():
        while not stop.is_set():
            text = path.read_text()
            try:
                json.loads(text)
            except json.JSONDecodeError:
                bad.append(text[-40:])

    def writer(number: int):
        for round_ in range(ROUNDS):
            state.write_atomically(path, payload(number, round_))

    watcher = threading.Thread(target=reader)
    watcher.start()
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    watcher.join()
    assert not bad, f"{len(bad)} reads saw a partial file, e.g. ending {bad[0]!r}"
    assert json.loads(path.read_text())["round"] == ROUNDS - 1  # the last write won whole
    assert [p.name for p in tmp_path.iterdir()] == ["board.json"]  # no temporary left behind


WRITER_SCRIPT = """
import json, sys
from pathlib import Path
from ml_refresher.state import write_atomically
path, number, rounds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for r in range(rounds):
    text = path.read_text()
    json.loads(text)  # a partial file from the other process would fail here
    write_atomically(path, json.dumps({"writer": number, "round": r, "data": list(range(4000))}))
"""


def test_two_processes_writing_and_reading_one_file_keep_it_valid_json(tmp_path):
    path = tmp_path / "wrong-results.json"
    state.write_atomically(path, payload(-1, -1))
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(path), str(n), str(ROUNDS)])
        for n in range(2)
    ]
    codes = [process.wait(timeout=120) for process in writers]
    assert codes == [0, 0], "a writer read a partial file (JSONDecodeError above)"
    assert json.loads(path.read_text())["round"] == ROUNDS - 1
    assert [p.name for p in tmp_path.iterdir()] == ["wrong-results.json"]


def test_backups_taken_at_the_same_moment_get_names_of_their_own(tmp_path):
    barrier = threading.Barrier(8)
    written: list[Path] = []

    def backup(number: int):
        barrier.wait()  # all eight pick the same name at once
        written.append(
            state.create_exclusively(tmp_path, "double.py.20260101-000000", b"%d" % number)
        )

    threads = [threading.Thread(target=backup, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(written)) == 8
    assert sorted(p.read_bytes() for p in written) == [b"%d" % n for n in range(8)]


# The `kata` command itself, in two processes at once, on a one-kata curriculum in tmp_path.
CURRICULUM = {
    "katas/curriculum.toml": 'topics = ["00_toy"]\n',
    "katas/00_toy/topic.toml": textwrap.dedent(
        """\
        title = "Toy"
        status = "ready"
        given = []

        [[kata]]
        id = "double"
        module = "double"
        title = "t"
        summary = "s"
        effort_minutes = 1
        hints = ["multiply by two", "scale * x", "return scale * x"]
        """
    ),
    "katas/00_toy/double.py": (
        'def double(x, scale=2):\n    raise NotImplementedError("katas/00_toy/double.py: write")\n'
    ),
    "solutions/00_toy/double.py": "def double(x, scale=2):\n    return scale * x\n",
    "katas/00_toy/test_double.py": "def test_x():\n    pass\n",
    "katas/00_toy/README.md": "# Toy\n\n## Doubling (`double.py`)\n\nx -> 2x\n",
}
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


@pytest.fixture
def toy(tmp_path):
    for relative, text in CURRICULUM.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "the katas as shipped"]):
        subprocess.run([*GIT, *args], cwd=tmp_path, check=True, capture_output=True)
    return tmp_path


def kata_processes(root: Path, *commands: list[str]) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "ML_REFRESHER_ROOT": str(root)}
    running = [
        subprocess.Popen(
            [sys.executable, "-m", "ml_refresher.cli", *command],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for command in commands
    ]
    results = []
    for process in running:
        out, err = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


def test_two_resets_at_once_keep_every_learner_version(toy):
    stub = toy / "katas/00_toy/double.py"
    shipped = stub.read_bytes()
    versions = []
    for round_ in range(4):
        mine = f"def double(x, scale=2):\n    return x + x  # attempt {round_}\n".encode()
        versions.append(mine)
        stub.write_bytes(mine)
        results = kata_processes(toy, ["reset", "double"], ["reset", "double"])
        assert all(r.returncode == 0 for r in results), [r.stderr.decode() for r in results]
        assert stub.read_bytes() == shipped
    backups = sorted((toy / ".kata/backups").iterdir())
    kept = {b.read_bytes() for b in backups}
    assert set(versions) <= kept, "a learner's version was lost by two concurrent resets"
    assert kept <= set(versions) | {shipped}  # no half-written backup
    assert (toy / ".kata/shipped-commit").read_text().strip()  # recorded whole once


def test_hints_from_two_processes_at_once_keep_hints_json_valid(toy):
    for _ in range(4):
        results = kata_processes(toy, ["hint", "double"], ["hint", "double"])
        assert all(r.returncode == 0 for r in results), [r.stderr.decode() for r in results]
        shown = json.loads((toy / ".kata/hints.json").read_text())
        assert 1 <= shown["double"] <= 3
    leftovers = [p.name for p in (toy / ".kata").iterdir() if p.name.endswith(".tmp")]
    assert not leftovers
