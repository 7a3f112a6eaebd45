"""`kata`: the learner's and the teacher's command line, driven by katas/curriculum.toml.

kata                 the curriculum board: every kata, its state, what to do next
kata next            the next kata to work on, with the commands to run
kata hint KATA       one more hint tier each call (--reset starts over)
kata watch KATA      re-run the kata's tests whenever a file of its topic changes
kata reset KATA      restore the stub as shipped, keeping a backup of your version
kata train KATA      a model kata's full training run (--set key=value, --threads N)
kata check           maintainers: the curriculum's files agree
kata verify          both gates: green on the reference, red on the stubs; per-kata table
kata verify --wrong  do the tests catch each kata's known-wrong implementations?
kata setup           fetch (or, with --from DIR, copy) the data the katas read
kata bench           time the C++ kernels against torch (GFLOP/s, ratio), saves the JSON
kata bench --gpu     the same for the GPU kernels (Triton, CUDA) on an NVIDIA GPU
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from ml_refresher import impl, preloaded, registry
from ml_refresher.state import create_exclusively, write_atomically

STATE_DIR = ".kata"
STATE_LABELS = {
    "not_started": "not started",
    "red": "red",
    "green": "green",
    "broken": "broken",
    "does_not_compile": "does not compile",
    "coming": "coming",
    "not_run": "not run",  # the machine lacks what the kata needs (registry.NEEDS)
}


def _state_dir() -> Path:
    path = registry.project_root() / STATE_DIR
    path.mkdir(exist_ok=True)
    return path


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=registry.project_root(), capture_output=True)


def shipped_commit() -> str | None:
    """The commit the stubs were shipped at: recorded in .kata/shipped-commit by the first
    `kata` command (./setup.sh runs one), so that `kata reset` finds the original stub even
    after the learner has committed their own work."""
    record = _state_dir() / "shipped-commit"
    if not record.is_file():
        head = _git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None
        write_atomically(record, head.stdout.decode().strip() + "\n")
    return record.read_text().strip()


def _load_json(path: Path, default):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return default


def run_pytest(
    paths: list[Path],
    extra: list[str],
    env_updates: dict[str, str | None],
    quiet: bool,
    cwd: Path | None = None,
    server=None,
):
    """Run pytest on `paths` in a subprocess (in `cwd`, default the project root) and return
    (exit status, raw outcomes by test id). `server`: a preloaded.PytestServer to fork the
    subprocess from, torch and the other heavy libraries already imported, for callers that run
    many short pytest runs."""
    env = dict(os.environ)
    for key, value in env_updates.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    cwd = cwd or registry.project_root()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        args = [*map(str, paths), f"--kata-report={report}", *extra]
        if server is not None:
            status = server.run(args, env, str(cwd), quiet)
        else:
            output = subprocess.DEVNULL if quiet else None
            status = subprocess.run(
                [sys.executable, "-m", "pytest", *args],
                cwd=cwd,
                env=env,
                stdout=output,
                stderr=output,
            ).returncode
        data = _load_json(report, {"tests": {}})
    return status, data["tests"]


def outcomes_of(kata: registry.Kata, outcomes: dict[str, dict]) -> list[str]:
    """The raw outcomes of one kata's tests in a run_pytest() result."""
    return [o["outcome"] for o in outcomes.values() if o["kata"] == kata.id]


def _kata_state(outcomes: list[str]) -> str:
    counts = Counter(outcomes)
    if counts["does_not_compile"]:
        return "does_not_compile"
    if not outcomes or counts["collection_error"]:
        return "broken"
    if counts["passed"] == len(outcomes):
        return "green"
    if counts["not_implemented"] == len(outcomes):
        return "not_started"
    return "red"


def _fingerprint(kata: registry.Kata) -> str:
    """Changes whenever anything the kata's learner-side tests depend on changes: its own stub,
    test and reference, the stubs and references of the katas it requires, its topic's given
    modules, the support package, and (for a kernel) the kernel sources, which build as one
    module. Editing one stub re-runs that kata and the katas built on it, not the whole topic."""
    digest = hashlib.sha256(os.environ.get(impl.USE_REFERENCE_ENV, "").encode())
    root = registry.project_root()
    sources = [kata.test_path]
    for k in [kata, *registry.requirements(kata)]:
        sources += [k.stub_path, k.reference_path]
        topic = registry.topic_of(k)
        sources += [topic.directory / f"{name}.py" for name in topic.given]
    sources += sorted(Path(__file__).parent.rglob("*.py"))
    if kata.kernel:
        for directory in ("kernels", "solutions/kernels", "src/bindings"):
            sources += sorted((root / directory).glob("*.[ch]*"))
    for path in sources:
        if path.is_file():
            digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


def board_states() -> dict[str, dict]:
    """State of every ready kata, re-running only the katas whose files changed."""
    cache_path = _state_dir() / "board.json"
    cache = _load_json(cache_path, {})
    stale = [
        k for k in registry.katas() if cache.get(k.id, {}).get("fingerprint") != _fingerprint(k)
    ]
    if stale:
        print(f"running the tests of {len(stale)} changed kata(s):", flush=True)
    # Several runs: each forked from one process that imported torch once (8-25 s a kata
    # otherwise on a fresh checkout, most of it imports).
    server = preloaded.PytestServer() if len(stale) > 1 else None
    try:
        for kata in stale:  # one run per kata, so that progress shows as each finishes
            print(f"  {kata.id:<24} ", end="", flush=True)
            if reasons := registry.unmet_needs(kata):
                cache[kata.id] = {"fingerprint": _fingerprint(kata), "state": "not_run"}
                cache[kata.id] |= {"passed": 0, "total": 0, "reason": "; ".join(reasons)}
                print(f"not run: {cache[kata.id]['reason']}", flush=True)
                continue
            start = time.perf_counter()
            _, outcomes = run_pytest(
                [kata.test_path],
                ["-q", "-p", "no:cacheprovider", "--benchmark-disable"],
                {impl.IMPL_ENV: "learner"},
                quiet=True,
                server=server,
            )
            results = outcomes_of(kata, outcomes)
            cache[kata.id] = {
                "fingerprint": _fingerprint(kata),
                "state": _kata_state(results),
                "passed": results.count("passed"),
                "total": len(results),
            }
            # After each kata, so that an interrupted board keeps these
            write_atomically(cache_path, json.dumps(cache, indent=1))
            state = STATE_LABELS[cache[kata.id]["state"]]
            print(f"{state} ({time.perf_counter() - start:.0f} s)", flush=True)
    finally:
        if server is not None:
            server.close()
    return cache


def next_kata(states: dict[str, dict]) -> registry.Kata | None:
    return next(
        (k for k in registry.katas() if states[k.id]["state"] not in ("green", "not_run")), None
    )


def _print_next_steps(kata: registry.Kata) -> None:
    print(f"Next: {kata.id} ({kata.topic}) - {kata.title}")
    print(f"  {kata.summary}")
    print(f"  lesson:   katas/{kata.topic}/README.md")
    print(f"  write:    {kata.relative(kata.stub_path)}")
    print(f"  test:     pytest {kata.relative(kata.test_path)}")
    print(f"  stuck?    kata hint {kata.id}")


def cmd_board(args: argparse.Namespace) -> int:
    states = board_states()
    for kata in registry.katas():
        if states[kata.id]["state"] == "does_not_compile":
            print(
                f"{kata.relative(kata.stub_path)} does not compile: "
                f"run `pytest {kata.relative(kata.test_path)}` to see the compiler's errors"
            )
    for topic in registry.topics():
        print(f"\n{topic.id}  {topic.title}")
        if not topic.ready:
            written = (
                f"{len(topic.katas)} kata(s) written so far" if topic.katas else "not written yet"
            )
            print(f"  (coming: {written}; `pytest katas/{topic.id}` runs them)")
            continue
        for kata in topic.katas:
            state = states[kata.id]
            progress = state.get("reason") or f"{state['passed']}/{state['total']} tests"
            label = STATE_LABELS[state["state"]]
            print(f"  {kata.id:<24} {label:<12} {progress:<12} ~{kata.effort_minutes} min")
    print()
    kata = next_kata(states)
    if kata is None:
        print("Every ready kata is green. Well done!")
    else:
        _print_next_steps(kata)
    return 0


def cmd_next(args: argparse.Namespace) -> int:
    kata = next_kata(board_states())
    if kata is None:
        print("Every ready kata is green.")
    else:
        _print_next_steps(kata)
    return 0


def cmd_hint(args: argparse.Namespace) -> int:
    kata = registry.kata(args.kata)
    path = _state_dir() / "hints.json"
    shown = _load_json(path, {})
    if args.reset:
        shown.pop(kata.id, None)
        write_atomically(path, json.dumps(shown))
        print(f"hints for {kata.id} start again from the first tier")
        return 0
    tier = min(shown.get(kata.id, 0) + 1, len(kata.hints))
    for number, hint in enumerate(kata.hints[:tier], start=1):
        print(f"hint {number}/{len(kata.hints)}: {hint}")
    if tier < len(kata.hints):
        print(f"(run `kata hint {kata.id}` again for the next hint)")
    shown[kata.id] = tier
    write_atomically(path, json.dumps(shown))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    kata = registry.kata(args.kata)
    command = [sys.executable, "-m", "pytest", str(kata.test_path), "-q", "--benchmark-disable"]
    last = None
    print(f"watching {kata.relative(kata.stub_path.parent)} (Ctrl-C to stop)")
    try:
        while True:
            fingerprint = _fingerprint(kata)
            if fingerprint != last:
                last = fingerprint
                subprocess.run(command, cwd=registry.project_root())
                print(f"\n-- waiting for changes to {kata.relative(kata.stub_path)} --")
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0


def cmd_reset(args: argparse.Namespace) -> int:
    """Put the stub back as shipped; the learner's version goes to .kata/backups/ first."""
    kata = registry.kata(args.kata)
    relative = kata.relative(kata.stub_path)
    commit = shipped_commit()
    pristine = _git("show", f"{commit}:{relative}") if commit else None
    if pristine is None or pristine.returncode != 0:
        reason = pristine.stderr.decode().strip() if pristine else "this is not a git checkout"
        print(f"cannot read the shipped {relative} from git: {reason}")
        return 1
    learner_version = kata.stub_path.read_bytes()
    if learner_version == pristine.stdout:
        print(f"{relative} is already as shipped; nothing to reset")
        return 0
    backups = _state_dir() / "backups"
    backups.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    # A name of its own even when another reset picks the same second (O_EXCL), written before
    # the stub is touched; the stub is then replaced whole, never left half-written.
    backup = create_exclusively(backups, f"{kata.stub_path.name}.{stamp}", learner_version)
    write_atomically(kata.stub_path, pristine.stdout)
    print(
        f"restored {relative} as shipped (commit {commit[:10]}); "
        f"your version is in {kata.relative(backup)}"
    )
    return 0


GATE_PASSES = {"green": "passed", "red": "not_implemented"}


def cmd_verify(args: argparse.Namespace) -> int:
    """Run both gates over every ready topic and print one row per kata; with --wrong, run the
    katas' known-wrong implementations instead."""
    from ml_refresher import wrong

    if args.wrong:
        return wrong.verify(args.katas, jobs=args.jobs)
    if args.katas:
        print("kata verify runs both gates on the whole curriculum; name katas with --wrong only")
        return 2
    topics = [t.directory for t in registry.topics() if t.ready]
    results, ok = {}, True
    for gate in ("green", "red"):
        print(f"==> {gate} gate", flush=True)
        status, outcomes = run_pytest(
            topics,
            [f"--gate={gate}", "-q", "--benchmark-disable", "-p", "no:cacheprovider"],
            {impl.USE_REFERENCE_ENV: None, impl.IMPL_ENV: None},
            quiet=False,
        )
        results[gate] = outcomes
        ok &= status == 0
    shares = wrong.recorded_shares()
    print(
        f"\n{'kata':<24} {'tests':>5}  {'green (reference)':<20} {'red (stubs)':<20} "
        "wrong caught (kata verify --wrong)"
    )
    for kata in registry.katas():
        if reasons := registry.unmet_needs(kata):
            print(f"{kata.id:<24} {'-':>5}  {'; '.join(reasons)}: not run")
            continue
        cells = []
        for gate in ("green", "red"):
            got = outcomes_of(kata, results[gate])
            good = got.count(GATE_PASSES[gate])
            ok &= bool(got) and good == len(got)
            cells.append(f"{'ok' if got and good == len(got) else 'FAIL'} {good}/{len(got)}")
        total = len(outcomes_of(kata, results["green"]))
        share = shares.get(kata.id, "not run since the last change")
        print(f"{kata.id:<24} {total:>5}  {cells[0]:<20} {cells[1]:<20} {share}")
    print("\nverify: " + ("both gates hold" if ok else "FAILED (see above)"))
    return 0 if ok else 1


def _setting(text: str) -> tuple[str, str]:
    """key=value from `kata train --set key=value`."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set wants key=value, got {text!r}")
    return key.strip(), value.strip()


def cmd_train(args: argparse.Namespace) -> int:
    """Run a model kata's full-data training function and report its metrics and wall time."""
    import importlib
    import inspect

    kata = registry.kata(args.kata)
    if not kata.train:
        trainable = ", ".join(k.id for k in registry.katas() if k.train)
        print(f"kata {kata.id} has no full training run; these do: {trainable}")
        return 2
    if args.impl:
        os.environ[impl.IMPL_ENV] = args.impl
    # Like the tests: one thread unless asked. On a shared machine, OpenMP threads that wait for
    # a busy core made an epoch 10x slower than one thread.
    threads = args.threads or int(os.environ.get("OMP_NUM_THREADS", "1"))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    impl.install_finder()
    module, function = kata.train_entry
    train = getattr(importlib.import_module(module), function)
    overrides = dict(args.set)
    if overrides and "overrides" not in inspect.signature(train).parameters:
        print(f"kata {kata.id}'s training run takes no settings; run it without --set")
        return 2
    out_dir = Path(args.out) / kata.id
    created = [p for p in (out_dir, *out_dir.parents) if not p.exists()]  # innermost first
    out_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"training {kata.id} ({impl.selected_implementation()}, {threads} thread(s); "
        f"--threads N for more); figures go to {out_dir}"
    )
    start = time.perf_counter()
    try:
        metrics = train(out_dir=out_dir, **({"overrides": overrides} if overrides else {}))
    except (NotImplementedError, ValueError) as error:
        for directory in created:  # a failed run leaves no empty folders behind
            if not any(directory.iterdir()):
                directory.rmdir()
        if isinstance(error, ValueError) and not overrides:
            raise
        hint = (
            f"; write it first, or train the reference: kata train {kata.id} --impl solutions"
            if isinstance(error, NotImplementedError)
            else ""
        )
        print(f"kata train {kata.id}: {error}{hint}")
        return 1 if hint else 2
    metrics["wall_time_s"] = round(time.perf_counter() - start, 1)
    metrics["threads"] = threads
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    for name, value in metrics.items():
        print(f"  {name}: {value}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from ml_refresher import curriculum_check

    return curriculum_check.run()


def cmd_notebook(args: argparse.Namespace) -> int:
    from ml_refresher import notebooks

    return notebooks.open_notebook(args.topic, args.jupyter_args)


def cmd_setup(args: argparse.Namespace) -> int:
    from ml_refresher.data import setup

    shipped_commit()  # before the learner's first commit: what `kata reset` restores
    return setup.run(source=args.source)


def cmd_bench(args: argparse.Namespace) -> int:
    from ml_refresher import bench

    if args.gpu:
        cpu_only = [
            flag
            for flag, value in (
                ("--threads", args.threads),
                ("--call-budget", args.call_budget),
                ("--step", args.step),
            )
            if value is not None
        ]
        if cpu_only:
            flags = ", ".join(cpu_only)
            print(f"kata bench --gpu takes no {flags} (CPU kernels only)", file=sys.stderr)
            return 2
        return bench.run_gpu(args.impl, args.quick, args.out, args.keyword, budget=args.budget)
    if args.step is not None:
        try:
            steps = bench.parse_steps(args.step)
        except ValueError as error:
            print(f"kata bench: {error}", file=sys.stderr)
            return 2
        budgets = {"budget": args.budget, "call_budget": args.call_budget}
        return bench.run_steps(steps, args.quick, args.threads, args.out, args.keyword, **budgets)
    return bench.run(
        args.impl,
        args.quick,
        args.threads,
        args.out,
        args.keyword,
        budget=args.budget,
        call_budget=args.call_budget,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kata", description=__doc__.split("\n")[0])
    parser.set_defaults(handler=cmd_board)
    sub = parser.add_subparsers(title="commands")
    sub.add_parser("board", help="the curriculum board (the default)").set_defaults(
        handler=cmd_board
    )
    sub.add_parser("next", help="the next kata and the commands to run").set_defaults(
        handler=cmd_next
    )
    hint = sub.add_parser("hint", help="one more hint tier for a kata")
    hint.add_argument("kata")
    hint.add_argument("--reset", action="store_true", help="start again from the first hint")
    hint.set_defaults(handler=cmd_hint)
    watch = sub.add_parser("watch", help="re-run a kata's tests on every save")
    watch.add_argument("kata")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between checks")
    watch.set_defaults(handler=cmd_watch)
    reset = sub.add_parser("reset", help="restore a kata's stub (keeps a backup)")
    reset.add_argument("kata")
    reset.set_defaults(handler=cmd_reset)
    verify = sub.add_parser("verify", help="run both gates; non-zero exit on any failure")
    verify.add_argument(
        "--wrong",
        action="store_true",
        help="instead: check that each kata's tests catch its known-wrong implementations",
    )
    verify.add_argument("katas", nargs="*", help="with --wrong: only these katas")
    verify.add_argument(
        "--jobs", type=int, default=1, help="with --wrong: katas run at once (one per core)"
    )
    verify.set_defaults(handler=cmd_verify)
    train = sub.add_parser("train", help="train a model kata on the full data")
    train.add_argument("kata")
    train.add_argument("--impl", choices=impl.IMPLEMENTATIONS, help="whose code (default: yours)")
    train.add_argument("--out", default="out", help="directory for curves and metrics.json")
    train.add_argument(
        "--threads", type=int, help="torch/OpenMP threads (default: $OMP_NUM_THREADS, else 1)"
    )
    train.add_argument(
        "--set",
        action="append",
        default=[],
        type=_setting,
        metavar="KEY=VALUE",
        help="change one setting of the kata's training config (repeatable), e.g. --set lr=3e-4",
    )
    train.set_defaults(handler=cmd_train)
    check = sub.add_parser("check", help="maintainers: check the curriculum's files agree")
    check.set_defaults(handler=cmd_check)
    notebook = sub.add_parser("notebook", help="open a topic's notebook in Jupyter")
    notebook.add_argument("topic", help="e.g. 01_ml_basics")
    notebook.add_argument(
        "jupyter_args",
        nargs=argparse.REMAINDER,
        help="passed on to Jupyter, e.g. --no-browser --port 8890 (--allow-root as root)",
    )
    notebook.set_defaults(handler=cmd_notebook)
    setup = sub.add_parser("setup", help="fetch or copy the data the katas need")
    setup.add_argument(
        "--from", dest="source", metavar="DIR", help="a prepared local directory to copy from"
    )
    setup.set_defaults(handler=cmd_setup)
    bench = sub.add_parser("bench", help="time the C++ (or, --gpu, GPU) kernels against torch")
    bench.add_argument(
        "--impl", choices=impl.IMPLEMENTATIONS, default="learner", help="whose kernels"
    )
    bench.add_argument(
        "--quick", action="store_true", help="small sizes, seconds instead of minutes"
    )
    bench.add_argument(
        "--threads", type=int, nargs="+", help="thread counts (default: 1 and every core)"
    )
    bench.add_argument(
        "--out", type=Path, help="JSON path (default: .kata/bench/[gpu-]<impl>-<time>.json)"
    )
    bench.add_argument("-k", dest="keyword", help="only the cases pytest -k selects, e.g. matmul")
    bench.add_argument(
        "--budget", type=float, help="seconds for the whole run (default 600, --quick 120)"
    )
    bench.add_argument(
        "--call-budget",
        type=float,
        help="seconds one call may take before the larger sizes are skipped (default 2)",
    )
    bench.add_argument(
        "--step",
        metavar="N",
        help="matmul only: time step N (1-6) of the lesson's ladder instead of your kernel, "
        "or 'all' for the six in turn (solutions/kernels/steps/)",
    )
    bench.add_argument(
        "--gpu",
        action="store_true",
        help="the GPU kernels instead (07: Triton and CUDA katas) against torch on the GPU; "
        "needs an NVIDIA GPU (without one it says so and exits 0)",
    )
    bench.set_defaults(handler=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except registry.RegistryError as error:
        print(f"kata: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
