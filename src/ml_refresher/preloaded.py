"""pytest runs forked from a process that has already imported the heavy libraries.

`kata verify --wrong` runs a kata's tests once per known-wrong implementation, hundreds of runs
in all, and the board (`kata`) one run per changed kata, all 28 on a fresh checkout; a fresh
interpreter spends most of each run importing torch, transformers, scipy and scikit-learn before
the first test (about 10 s of CPU per run on a 2-core machine, more than the tests that catch
most mistakes, or than a stub's tests). A PytestServer is one process that imports them once
and then forks a child for every run: each run still gets a process of its own, so nothing a run
imports or changes is seen by the next, and only what the kata itself imports is imported again.

Only third-party libraries are preloaded, none that reads a setting the runs change: ml_refresher
(which caches the project root) and triton (which reads TRITON_INTERPRET when it is imported) are
imported by each child afresh.

The server (`python -m ml_refresher.preloaded`) reads one JSON request a line on stdin,
{"args": [...], "env": {...}, "cwd": "...", "quiet": bool}, and answers each with a line holding
the run's exit status. It is single-threaded, so a fork copies no lock held by another Python
thread.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys

PRELOAD = ["numpy", "scipy", "torch", "sklearn", "matplotlib", "transformers", "nltk", "pytest"]
PRELOAD += ["hypothesis", "pytest_benchmark"]


class PytestServer:
    """A preloaded server process: run() many pytest runs, one at a time, then close()."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ml_refresher.preloaded"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, args: list[str], env: dict[str, str], cwd: str, quiet: bool) -> int:
        """`python -m pytest *args` with exactly `env`, in `cwd`; its exit status."""
        request = {"args": args, "env": env, "cwd": cwd, "quiet": quiet}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the preloaded pytest server died (exit {self.process.wait()})")
        return int(answer)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def _child(request: dict) -> int:
    """In the forked child: the run's environment, directory and output, then pytest."""
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    # As a fresh interpreter started with PYTHONDONTWRITEBYTECODE=1 in `env` would: a .pyc is
    # trusted by its source's size and mtime, and a patched source can keep both.
    sys.dont_write_bytecode = bool(request["env"].get("PYTHONDONTWRITEBYTECODE"))
    # stdout is the answer pipe: the run's output goes to stderr, or nowhere.
    target = os.open(os.devnull, os.O_WRONLY) if request["quiet"] else 2
    os.dup2(target, 1)
    os.dup2(target, 2)
    import pytest

    return int(pytest.main(request["args"]))


def serve() -> None:
    for name in PRELOAD:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                status = _child(request)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        _, wait_status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(wait_status), flush=True)


if __name__ == "__main__":
    serve()
