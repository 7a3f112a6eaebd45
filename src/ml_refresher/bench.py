"""`kata bench`: time the C++ kernels against torch, bounded in time, and print one table.

Runs katas/06_kernels/bench_kernels.py under pytest-benchmark: each kernel, size and thread count
is a group holding our kernel and its torch counterparts, timed back to back in the same run.
Before it, the machine's own limits are measured (FP32 FMA peak of one core, triad bandwidth;
src/bindings/machine_limits.cpp), so that every row shows its % of the relevant limit next to the
ratio torch time / our time (> 1: ours is faster).

Bounded: the sizes of each kernel form a ladder, smallest first; once one call of ours takes more
than the call budget (or the next size would take several budgets), the larger sizes are skipped
and listed with the time that stopped them. No row starts after the whole-run budget, and the run
is stopped a minute after it. Rows are printed as they finish.

Trustworthy: a row whose rounds disagree, that ran while the load average exceeded the cores, or
where torch at N threads was slower than torch at 1 shows "unreliable (why)" instead of a ratio.
The JSON (pytest-benchmark's, plus `machine`, `limits`, `skipped` and `budget`) is saved under
.kata/bench/, written whole or not at all (state.write_atomically); compare two runs with
`pytest-benchmark compare A.json B.json`.

The matmul ladder: `--step N` times one step of the lesson's ladder (solutions/kernels/steps/,
1 naive ... 6 the reference) in place of the learner's matmul, built like a learner's kernel in
a build directory of its own; `--step all` runs the six in turn and prints one table of them.

The GPU kernels: `--gpu` runs katas/07_gpu_kernels/bench_gpu_kernels.py the same way (the Triton
katas and the CUDA katas against torch on the GPU, one group per kernel of ours and size; rows,
JSON and the rounds check as above; no threads, ladder or machine limits: the table shows the time
per call, TFLOP/s or GB/s and the ratio). Without a GPU torch can use it prints one line saying
why and exits 0; the interpreter that runs the Triton katas without a GPU gives no figures.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from ml_refresher import impl, registry
from ml_refresher.state import write_atomically

BENCH_FILE = Path("katas") / "06_kernels" / "bench_kernels.py"
LIMITS_SOURCE = Path("src") / "bindings" / "machine_limits.cpp"
GPU_BENCH_FILE = Path("katas") / "07_gpu_kernels" / "bench_gpu_kernels.py"

# The environment through which this module steers the bench files (bench_kernels.py and, for
# --gpu, bench_gpu_kernels.py).
QUICK_ENV = "ML_REFRESHER_BENCH_QUICK"
THREADS_ENV = "ML_REFRESHER_BENCH_THREADS"
ROWS_ENV = "ML_REFRESHER_BENCH_ROWS"  # JSON lines, one per finished or skipped run
DEADLINE_ENV = "ML_REFRESHER_BENCH_DEADLINE"  # time.time() after which no run starts
CALL_BUDGET_ENV = "ML_REFRESHER_BENCH_CALL_BUDGET"  # seconds one call of ours may take
BUDGET_ENV = "ML_REFRESHER_BENCH_BUDGET"  # the whole run's seconds (default below)
STEP_ENV = "ML_REFRESHER_BENCH_STEP"  # a matmul ladder step, timed in place of the learner's

CALL_BUDGET = 2.0  # seconds: "a few seconds" a call, beyond that the larger sizes are skipped
PREDICTED_CALLS = 3.0  # skip a size predicted to take more than this many call budgets
RUN_BUDGET = {True: 120.0, False: 600.0}  # quick, full: seconds for the whole run
HARD_STOP_GRACE = 60.0  # the run is killed this long after its budget (a row already running)
MAX_SPREAD = 1.5  # median / fastest round above this: the rounds disagree
ISA_FLAGS = ("avx2", "avx512f", "fma")


# The lesson's matmul ladder (katas/06_kernels/README.md, matmul steps): one idea per file.
STEPS_DIR = Path("solutions") / "kernels" / "steps"
STEPS = {
    1: ("naive i-j-p", "matmul_1_naive.cpp"),
    2: ("loop order i-p-j", "matmul_2_loop_order.cpp"),
    3: ("cache blocking", "matmul_3_blocking.cpp"),
    4: ("packing B", "matmul_4_packing.cpp"),
    5: ("micro-kernel", "matmul_5_microkernel.cpp"),
    6: ("threads: the reference", "matmul_6_threads.cpp"),
}


# --- the matmul ladder's steps ----------------------------------------------------------------


def parse_steps(text: str) -> list[int]:
    """`--step`'s value: "all", or one step number. ValueError naming the valid range."""
    if text.strip().lower() == "all":
        return list(STEPS)
    names = ", ".join(f"{n} {name}" for n, (name, _) in STEPS.items())
    try:
        step = int(text)
    except ValueError:
        step = None
    if step not in STEPS:
        raise ValueError(
            f"--step must be 1 to {len(STEPS)} or 'all', got {text!r}; the matmul ladder's "
            f"steps: {names}"
        )
    return [step]


def step_info(step: int) -> dict:
    """What a report records of the step it timed: number, name, source file."""
    name, file = STEPS[step]
    return {"step": step, "of": len(STEPS), "name": name, "source": str(STEPS_DIR / file)}


def build_step(step: int):
    """Compile (if needed) and import one step of the matmul ladder through the learner's build
    (ml_refresher.kernel_build), in build/matmul-steps/step-<N>/. The learner's build compiles
    <dir>/matmul.cpp, so that file there is one line including the step's source: an edit of
    the step (or of what it includes) rebuilds it, and nothing is copied."""
    from ml_refresher import kernel_build

    root = registry.project_root()
    source = root / STEPS_DIR / STEPS[step][1]
    build_dir = root / "build" / "matmul-steps" / f"step-{step}"
    build_dir.mkdir(parents=True, exist_ok=True)
    wrapper = build_dir / "matmul.cpp"
    text = f'// matmul ladder step {step}, built as a learner\'s kernel\n#include "{source}"\n'
    if not wrapper.exists() or wrapper.read_text() != text:  # unchanged: ninja has nothing to do
        write_atomically(wrapper, text)
    return kernel_build.build("matmul", source_dir=build_dir, build_root=build_dir)


# --- the size ladder (pure: bench_kernels.py asks it before each size) -----------------------


def size_skip_reason(
    previous: list[tuple[str, float, float]],
    work: float,
    call_budget: float = CALL_BUDGET,
    same_size: tuple[int, float] | None = None,
) -> str | None:
    """Why a size should not run, or None. `previous`: (size, work, seconds of one call) of the
    smaller sizes of the same kernel that ran, smallest first; `work`: this size's FLOPs or bytes;
    `same_size`: (threads, seconds) of the slowest call at this size at another thread count.
    Skipped when the last size that ran took more than `call_budget` a call, when scaling its
    time by the work predicts more than PREDICTED_CALLS budgets, or when this size already took
    that long at another thread count (a single-threaded loop gains nothing from more)."""
    if same_size and same_size[1] > PREDICTED_CALLS * call_budget:
        count, seconds = same_size
        return f"skipped: at {count} thread(s) this size took {seconds:.1f} s a call"
    if not previous:
        return None
    size, last_work, seconds = previous[-1]
    if seconds > call_budget:
        return f"skipped: the previous size ({size}) took {_seconds(seconds)} s a call"
    predicted = seconds * work / last_work if last_work else 0.0
    if predicted > PREDICTED_CALLS * call_budget:
        return (
            f"skipped: the previous size ({size}) took {_seconds(seconds)} s a call, "
            f"this one would take about {predicted:.0f} s"
        )
    return None


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f}" if seconds >= 0.1 else f"{seconds:.2g}"


def plan_sizes(
    sizes: list[tuple[str, float]], seconds: dict[str, float], call_budget: float = CALL_BUDGET
) -> tuple[list[str], dict[str, str]]:
    """The ladder over a kernel's sizes ((name, work), smallest first), given what one call of
    each takes: the names that run, and the skip reason of each name that does not."""
    ran: list[tuple[str, float, float]] = []
    skipped: dict[str, str] = {}
    for name, work in sizes:
        reason = size_skip_reason(ran, work, call_budget)
        if reason:
            skipped[name] = reason
        else:
            ran.append((name, work, seconds[name]))
    return [name for name, _, _ in ran], skipped


def rounds_for(first_call: float, rounds: int, call_budget: float = CALL_BUDGET) -> int:
    """Timed rounds after a first (warm-up) call that took `first_call` seconds: the usual
    `rounds`, fewer when they would take more than two call budgets, at least one."""
    if first_call <= 0:
        return rounds
    return max(1, min(rounds, int(2 * call_budget / first_call)))


# --- the machine and its limits ---------------------------------------------------------------


def cores() -> int:
    """The cores this process may run on (its affinity), which is what the kernels' threads get."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_info(threads: list[int]) -> dict:
    """What the figures depend on: CPU model, ISA flags, cores, load average, torch's version."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine()):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:  # not Linux: the model from platform, no flags
        pass
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "not installed"
    return {
        "cpu_model": model,
        "isa": {flag: flag in flags for flag in ISA_FLAGS},
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "load_average_start": list(os.getloadavg()),
        "torch": torch_version,
        "native": os.environ.get("ML_REFRESHER_NATIVE", "1") != "0",
    }


def _limits_library(root: Path):
    """machine_limits.cpp compiled with the kernels' flags into build/machine-limits/ (once per
    source and flags), loaded with ctypes."""
    source = root / LIMITS_SOURCE
    flags = ["-O3", "-std=c++17", "-fopenmp", "-shared", "-fPIC"]
    # -ffp-contract=fast: acc * a + b must become one FMA, which ISO C++ mode does not allow.
    flags.append("-ffp-contract=fast")
    if os.environ.get("ML_REFRESHER_NATIVE", "1") != "0":
        flags.append("-march=native")
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or "c++"
    digest = hashlib.sha1(source.read_bytes() + " ".join([compiler, *flags]).encode())
    library = root / "build" / "machine-limits" / f"machine_limits-{digest.hexdigest()[:12]}.so"
    if not library.exists():
        library.parent.mkdir(parents=True, exist_ok=True)
        partial = library.with_suffix(f".{os.getpid()}.tmp")
        result = subprocess.run(
            [compiler, *flags, str(source), "-o", str(partial)], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise OSError(f"{LIMITS_SOURCE} did not compile: {result.stderr.strip()[-500:]}")
        partial.replace(library)
    lib = ctypes.CDLL(str(library))
    lib.fma_loop.restype = ctypes.c_double
    lib.fma_loop.argtypes = [ctypes.c_int64, ctypes.c_float, ctypes.POINTER(ctypes.c_float)]
    lib.triad.restype = ctypes.c_double
    f32p = ctypes.POINTER(ctypes.c_float)
    lib.triad.argtypes = [f32p, f32p, f32p, ctypes.c_int64, ctypes.c_float, ctypes.c_int]
    return lib


def measure_limits(root: Path, threads: list[int], quick: bool) -> dict:
    """Single-core FP32 FMA peak (GFLOP/s) and triad bandwidth (GB/s) at each thread count, the
    best of many short repetitions: on a shared machine the best one is the least disturbed.
    {"error": why} when the probe does not build."""
    import numpy as np

    try:
        lib = _limits_library(root)
    except OSError as error:
        return {"error": str(error)}
    lanes, accumulators = lib.fma_lanes(), lib.fma_accumulators()
    sink = ctypes.c_float()
    iterations = 500_000  # ~1 ms at peak: short enough to fall between other processes' slices
    lib.fma_loop(iterations, 1.0, ctypes.byref(sink))
    best = min(lib.fma_loop(iterations, 1.0, ctypes.byref(sink)) for _ in range(40))
    fma_gflops = 2.0 * lanes * accumulators * iterations / best / 1e9
    # Arrays of softmax 4096x4096's input size: the same level of the memory hierarchy.
    n = 16 << 20
    x, y, z = (np.ones(n, np.float32) for _ in range(3))  # written once: pages mapped
    pointer = [a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)) for a in (x, y, z)]
    bandwidth = {}
    for count in sorted(set(threads)):
        lib.triad(*pointer, n, 0.5, count)
        seconds = min(lib.triad(*pointer, n, 0.5, count) for _ in range(5 if quick else 8))
        bandwidth[str(count)] = 12.0 * n / seconds / 1e9
    isa = {16: "AVX-512", 8: "AVX2"}.get(lanes, "SSE")
    return {
        "fma_gflops_1core": fma_gflops,
        "fma": f"{isa}, {lanes} lanes x {accumulators} accumulators, best of 40",
        "bandwidth_gbs": bandwidth,
        "bandwidth": f"triad x = y + s*z over 3 x {4 * n >> 20} MB, 12 bytes/element",
        "load_average": os.getloadavg()[0],
    }


# --- the run ----------------------------------------------------------------------------------


def run(
    implementation: str,
    quick: bool,
    threads: list[int] | None,
    out: Path | None,
    keyword: str | None,
    budget: float | None = None,
    call_budget: float | None = None,
    step: int | None = None,
) -> int:
    """One bench run: prints the rows as they finish, then the table; saves the JSON to `out`.
    `step`: time that step of the matmul ladder instead of `implementation`'s kernels (matmul
    rows only). Returns the exit status."""
    root = registry.project_root()
    out = out or _default_out(f"matmul-step{step}" if step else implementation, quick)
    threads = list(dict.fromkeys(threads or [1, cores()]))
    budget = budget or float(os.environ.get(BUDGET_ENV) or RUN_BUDGET[quick])
    call_budget = call_budget or float(os.environ.get(CALL_BUDGET_ENV) or CALL_BUDGET)
    if step:
        keyword = f"matmul and ({keyword})" if keyword else "matmul"
    what = f"{_step_line(step_info(step))}," if step else f"the {implementation} kernels"

    print(
        f"benchmarking {what} against torch "
        f"({'quick sizes' if quick else 'full sizes'}, at most {budget:.0f} s; a call over "
        f"{call_budget:g} s skips the larger sizes of that kernel)",
        flush=True,
    )
    machine = machine_info(threads)
    print(_machine_line(machine), flush=True)
    limits = measure_limits(root, threads, quick)
    print(_limits_line(limits, machine["cores"]), flush=True)

    settings = {
        QUICK_ENV: "1" if quick else "0",
        THREADS_ENV: ",".join(map(str, threads)),
        DEADLINE_ENV: str(time.time() + budget),
        CALL_BUDGET_ENV: str(call_budget),
    }
    if step:
        settings[STEP_ENV] = str(step)
    report, status = _run_bench_file(BENCH_FILE, implementation, settings, out, keyword, budget)
    machine["load_average_end"] = list(os.getloadavg())
    report.update(machine=machine, limits=limits)
    report["budget"]["call_s"] = call_budget
    if step:
        report["step"] = step_info(step)
    examples = "'matmul and 1024', 'softmax', 'attention and 512'"
    return _save_and_print(report, out, status, keyword, format_table, examples)


def run_gpu(
    implementation: str,
    quick: bool,
    out: Path | None,
    keyword: str | None,
    budget: float | None = None,
) -> int:
    """`kata bench --gpu`: the 07 kernels (Triton and CUDA katas) against torch on the GPU, like
    run(). Without a GPU torch can use, one line says why and nothing runs: the exit status is 0,
    since a machine without a GPU is no error. Returns the exit status."""
    missing = gpu_missing()
    if missing:
        print(f"GPU benchmarks not run: {missing}; nothing was timed")
        return 0
    out = out or _default_out(f"gpu-{implementation}", quick)
    budget = budget or float(os.environ.get(BUDGET_ENV) or RUN_BUDGET[quick])
    print(
        f"benchmarking the {implementation} GPU kernels against torch on the GPU "
        f"({'quick sizes' if quick else 'full sizes'}, at most {budget:.0f} s)",
        flush=True,
    )
    gpu = gpu_info()
    print(_gpu_line(gpu), flush=True)
    # Compiled: under Triton's interpreter (a learner's TRITON_INTERPRET=1) a time means nothing.
    settings = {QUICK_ENV: "1" if quick else "0", registry.TRITON_INTERPRET_ENV: "0"}
    report, status = _run_bench_file(GPU_BENCH_FILE, implementation, settings, out, keyword, budget)
    report["gpu"] = gpu
    examples = "'triton and softmax', 'cuda', 'attention and 4096'"
    return _save_and_print(report, out, status, keyword, format_gpu_table, examples)


def gpu_missing() -> str | None:
    """Why the GPU benchmarks cannot run here, in a few words, or None when torch sees a GPU."""
    import torch

    if torch.cuda.is_available():
        return None
    facts = ["torch.cuda.is_available() is False"]
    if torch.version.cuda is None:
        facts.append(f"torch {torch.__version__} is a CPU build")
    if importlib.util.find_spec("triton") is None:
        facts.append("Triton is not installed")
    if registry.nvidia_gpu_present():
        return f"an NVIDIA driver is loaded but torch sees no GPU ({'; '.join(facts)})"
    return f"there is no NVIDIA GPU ({'; '.join(facts)})"


def gpu_info() -> dict:
    """What the GPU figures depend on: the device, torch and its CUDA, Triton."""
    import torch

    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    try:
        triton_version = metadata.version("triton")
    except metadata.PackageNotFoundError:
        triton_version = "not installed"
    return {
        "name": props.name,
        "capability": f"{props.major}.{props.minor}",
        "sms": props.multi_processor_count,
        "memory_gib": round(props.total_memory / 2**30, 1),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "triton": triton_version,
    }


def _default_out(who: str, quick: bool) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{who}-{'quick-' if quick else ''}{stamp}.json"
    return registry.project_root() / ".kata" / "bench" / name


def _scratch_paths(out: Path) -> tuple[Path, Path, Path]:
    """Next to `out`: the rows file, pytest's log, and pytest-benchmark's own JSON."""
    return (
        out.with_name(out.stem + ".rows.jsonl"),
        out.with_name(out.stem + ".log"),
        out.with_name(f".{out.stem}.pytest-benchmark.json"),
    )


def _run_bench_file(
    bench_file: Path,
    implementation: str,
    settings: dict[str, str],
    out: Path,
    keyword: str | None,
    budget: float,
) -> tuple[dict, int]:
    """Run `bench_file` under pytest-benchmark in a process of its own, with `settings` added to
    its environment, printing each row as it finishes; stopped HARD_STOP_GRACE after `budget`.
    Returns the report (pytest-benchmark's JSON with the rows it lacks, `skipped` and `budget`)
    and pytest's exit status."""
    root = registry.project_root()
    out.parent.mkdir(parents=True, exist_ok=True)
    rows_path, log_path, raw_path = _scratch_paths(out)
    rows_path.unlink(missing_ok=True)
    # The bench files are steered only by what is set here, not by what the caller's shell holds.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("ML_REFRESHER_BENCH_") and name != impl.USE_REFERENCE_ENV
    }
    env.update({impl.IMPL_ENV: implementation, ROWS_ENV: str(rows_path), **settings})
    # The kata plugin refuses test files under katas/ that are no kata's; this one is not a kata
    # test, and the implementation is chosen through the environment instead. -rs: the skip
    # reasons in the log too. pytest-benchmark writes its JSON in place; it goes to a scratch
    # file, and `out` is written once, whole, with the fields added here.
    command = [sys.executable, "-m", "pytest", str(root / bench_file), "-p", "no:ml_refresher"]
    command += ["-p", "no:cacheprovider", "-q", "-rs", f"--benchmark-json={raw_path}"]
    if keyword:
        command += ["-k", keyword]
    raw_path.unlink(missing_ok=True)
    start, stopped = time.time(), False
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        seen = 0
        while process.poll() is None:
            time.sleep(0.25)
            seen = _print_progress(rows_path, seen)
            if time.time() > start + budget + HARD_STOP_GRACE:
                os.killpg(process.pid, signal.SIGTERM)  # the pytest run this call started
                process.wait()
                stopped = True
        _print_progress(rows_path, seen)
    rows = _read_rows(rows_path)
    report = json.loads(raw_path.read_text()) if raw_path.exists() else {"benchmarks": []}
    # Rows pytest-benchmark does not have: those measured by their one slow call, and all of them
    # when the run was stopped before pytest-benchmark wrote its JSON.
    have = {bench["extra_info"].get("order") for bench in report["benchmarks"]}
    report["benchmarks"] += [
        r for r in rows if "stats" in r and r["extra_info"]["order"] not in have
    ]
    report.update(
        skipped=[row for row in rows if "skipped" in row],
        budget={"run_s": budget, "elapsed_s": time.time() - start},
    )
    if stopped:
        report["budget"]["stopped"] = True
    return report, process.returncode


def _save_and_print(
    report: dict, out: Path, status: int, keyword: str | None, table: Callable, examples: str
) -> int:
    """Write the report to `out` (whole or not at all), then print table(report) and the skips,
    or why nothing ran; `examples`: -k expressions that select some of the file's cases. Returns the
    exit status: 0 when pytest passed, skipped everything or was stopped at the budget."""
    rows_path, log_path, raw_path = _scratch_paths(out)
    write_atomically(out, json.dumps(report, indent=2))
    rows_path.unlink(missing_ok=True)
    raw_path.unlink(missing_ok=True)
    budget = report["budget"]
    stopped = budget.get("stopped", False)
    if status not in (0, 5) and not stopped:
        print(log_path.read_text()[-4000:])
    if not report["benchmarks"] and not report["skipped"]:
        print(
            f"no benchmark ran: expected at least one case to match -k {keyword!r}, got none; "
            f"the cases are named like {examples} (pytest's log: {log_path})"
        )
        return status or 1
    print()
    print(table(report))
    for line in skip_summary(report["skipped"]):
        print(line)
    if stopped:
        print(
            f"stopped: the run went {HARD_STOP_GRACE:.0f} s past its budget of "
            f"{budget['run_s']:.0f} s"
        )
    print(f"\nsaved {out} (pytest's log: {log_path.name})")
    return 0 if status in (0, 5) or stopped else status


def run_steps(steps: list[int], quick: bool, threads, out: Path | None, keyword, **budgets) -> int:
    """`kata bench --step`: each step of the matmul ladder in turn (its own JSON, `out` with
    -step<N> added when several), then, for several, one table of all of them. The exit status
    is the first non-zero one."""
    reports, status = [], 0
    for step in steps:
        if out is not None and len(steps) > 1:
            path = out.with_name(f"{out.stem}-step{step}{out.suffix or '.json'}")
        elif out is not None:
            path = out
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name = f"matmul-step{step}-{'quick-' if quick else ''}{stamp}.json"
            path = registry.project_root() / ".kata" / "bench" / name
        code = run("learner", quick, threads, path, keyword, step=step, **budgets)
        status = status or code
        if path.exists():
            reports.append(json.loads(path.read_text()))
        if len(steps) > 1:
            print()
    if len(steps) > 1:
        print(ladder_table(reports))
    return status


def ladder_table(reports: list[dict]) -> str:
    """The steps of the matmul ladder side by side: per step, size and threads, our time and rate
    and % of the limit, torch's time, and the ratio (or why it is unreliable, or the skip)."""
    header = (
        f"{'step':<28} {'size':<22} {'thr':>3} {'ms':>9} {'rate':>13} {'%lim':>5}  "
        f"{'torch ms':>9}  vs torch"
    )
    lines = ["matmul ladder (fastest round of each)", header, "-" * (len(header) + 10)]
    for report in reports:
        step, limits = report.get("step") or {}, report.get("limits") or {}
        cores = (report.get("machine") or {}).get("cores")
        label = f"{step.get('step')} {step.get('name')}"
        rows = {}
        for bench in report["benchmarks"]:
            info = bench["extra_info"]
            rows.setdefault((info["size"], info["threads"]), {})[info["impl"]] = bench
        for skip in report.get("skipped", []):
            info = skip["extra_info"]
            if info["impl"] == "ours":
                rows.setdefault((info["size"], info["threads"]), {})["skipped"] = skip["skipped"]
        torch_one = {
            size: entries["torch.matmul"]["stats"]["min"]
            for (size, threads), entries in rows.items()
            if threads == 1 and "torch.matmul" in entries
        }
        for (size, threads), entries in rows.items():
            where = f"{label:<28} {size:<22} {threads:>3}"
            ours, theirs = entries.get("ours"), entries.get("torch.matmul")
            if not ours:
                lines.append(f"{where} {entries.get('skipped', 'not measured')}")
                continue
            info, mine = ours["extra_info"], ours["stats"]["min"]
            cols = _ours_cols(ours, info, limits)
            if not theirs:
                lines.append(f"{where} {cols}  {'-':>9}  -")
                continue
            reasons = noise_reasons(
                ours["stats"], theirs["stats"], info, cores, torch_one.get(size)
            )
            ratio = theirs["stats"]["min"] / mine
            verdict = f"unreliable ({'; '.join(reasons)})" if reasons else f"{ratio:.3g}x"
            lines.append(f"{where} {cols}  {_ms(theirs['stats']['min'])}  {verdict}")
    return "\n".join(lines)


def _step_line(step: dict) -> str:
    return (
        f"matmul ladder step {step['step']} of {step.get('of', len(STEPS))} ({step['name']}): "
        f"{step['source']}"
    )


def record_row(row: dict) -> None:
    """For a bench file: one JSON line in the rows file of the run (ROWS_ENV), which `kata bench`
    prints as progress and keeps in the report; nothing outside such a run."""
    if path := os.environ.get(ROWS_ENV):
        with open(path, "a") as rows:
            rows.write(json.dumps(row) + "\n")


def skip_row(info: dict, kind: str, reason: str):
    """For a bench file: record the run described by `info` as skipped (`kind`: see
    skip_summary), then skip the test with `reason`."""
    import pytest

    record_row({"extra_info": info, "kind": kind, "skipped": reason})
    pytest.skip(reason)


def _read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # the last line, half written when the run was stopped
            pass
    return rows


def _print_progress(path: Path, seen: int) -> int:
    """Print the rows that finished since the last call; returns how many have been printed."""
    rows = _read_rows(path)
    for row in rows[seen:]:
        info = row["extra_info"]
        threads = f" {info['threads']:>2}t" if "threads" in info else ""  # none on a GPU
        where = f"  {info['kernel']:<16} {info['size']:<29}{threads} {info['impl']:<13}"
        if "skipped" in row:
            # a skip of the whole group (ours and torch's): printed once, with ours
            if info["impl"] == "ours" or row["kind"] not in ("ladder", "deadline", "not_run"):
                print(f"{where} {row['skipped']}", flush=True)
            continue
        stats = row["stats"]
        rounds = stats["rounds"]
        how = "1 call, over the call budget" if info.get("single_call") else f"{rounds} rounds"
        print(
            f"{where} {_ms(stats['min'])} ms {_rate(info, stats['min']):>13}  ({how})", flush=True
        )
    return len(rows)


# --- the table --------------------------------------------------------------------------------


def noise_reasons(
    ours: dict | None,
    theirs: dict,
    info: dict,
    cores: int | None,
    torch_one_thread: float | None = None,
) -> list[str]:
    """Why a row's ratio cannot be trusted, if it cannot: rounds that disagree (the median round
    over MAX_SPREAD times the fastest: most rounds were disturbed, so the fastest one may be too;
    one preempted round alone does not count), a load average above the cores while it ran, or
    torch at N threads slower than torch at 1 (its threads were starved). `ours`, `theirs`:
    pytest-benchmark stats (min, median, rounds)."""
    reasons = []
    for who, stats in (("ours", ours), ("torch", theirs)):
        if stats and stats.get("rounds", 1) > 1 and stats["median"] > MAX_SPREAD * stats["min"]:
            reasons.append(f"{who} rounds {stats['median'] / stats['min']:.1f}x apart")
    load = info.get("load")
    if load is not None and cores and load > cores:
        reasons.append(f"load {load:.1f} > {cores} cores")
    if torch_one_thread is not None and info["threads"] > 1 and theirs["min"] > torch_one_thread:
        reasons.append(f"torch {info['threads']}t slower than 1t")
    return reasons


def format_table(report: dict) -> str:
    """The header (CPU, load, limits), then one line per kernel, size, threads and torch
    counterpart, and one per skipped size, in the order they ran."""
    machine, limits = report.get("machine") or {}, report.get("limits") or {}
    cores = machine.get("cores")
    groups = _table_groups(report)
    # torch's time at one thread, per kernel, size and counterpart: for the starvation check
    single = {
        (k, s, label): bench["stats"]["min"]
        for (k, s, t), entries in groups
        if t == 1
        for label, bench in _counterparts(entries)
    }
    header = (
        f"{'kernel':<9} {'size':<28} {'thr':>3} {'ours ms':>9} {'rate':>13} {'%lim':>5}  "
        f"{'vs':<13} {'torch ms':>9} {'rate':>13} {'%lim':>5}  ratio"
    )
    lines = [*_header_lines(machine, limits, report), "", header, "-" * (len(header) + 10)]
    for (kernel, size, threads), skipped, label, bench, ours in _table_rows(groups):
        where = f"{kernel:<9} {size:<28} {threads:>3}"
        if skipped:
            lines.append(f"{where} {skipped}")
            continue
        info, seconds = bench["extra_info"], bench["stats"]["min"]
        reasons = noise_reasons(
            ours["stats"] if ours else None,
            bench["stats"],
            info,
            cores,
            single.get((kernel, size, label)),
        )
        lines.append(
            f"{where} {_ours_cols(ours, info, limits)}  {label:<13} {_ms(seconds)} "
            f"{_rate(info, seconds):>13} {_share(info, seconds, limits)}  "
            f"{_verdict(ours, bench, reasons)}"
        )
    lines.append(
        "ratio = torch time / our time (fastest round of each): > 1 means ours is faster. "
        "%lim = share of the machine's limit:\nFMA peak x threads (matmul, attention, conv2d) or "
        "triad bandwidth at those threads (softmax). Times are per call."
    )
    return "\n".join(lines)


def format_gpu_table(report: dict) -> str:
    """The GPU, then one line per kernel of ours (Triton or CUDA) and size with its torch
    counterpart, and one per group that did not run, in the order they ran."""
    header = (
        f"{'kernel':<16} {'size':<29} {'ours ms':>9} {'rate':>13}  "
        f"{'vs':<13} {'torch ms':>9} {'rate':>13}  ratio"
    )
    lines = [_gpu_line(report.get("gpu") or {}), "", header, "-" * (len(header) + 10)]
    for (kernel, size, _), skipped, label, bench, ours in _table_rows(_table_groups(report)):
        where = f"{kernel:<16} {size:<29}"
        if skipped:
            lines.append(f"{where} {skipped}")
            continue
        info, seconds = bench["extra_info"], bench["stats"]["min"]
        # No load check: the GPU's work does not share the CPU's cores.
        reasons = noise_reasons(ours["stats"] if ours else None, bench["stats"], info, None)
        lines.append(
            f"{where} {_ours_cols(ours, info)}  {label:<13} {_ms(seconds)} "
            f"{_rate(info, seconds):>13}  {_verdict(ours, bench, reasons)}"
        )
    lines.append(
        "ratio = torch time / our time (fastest round of each): > 1 means ours is faster. Times "
        "are per call, from rounds of back-to-back\ncalls with the GPU synchronized around each "
        "round. fp32 (torch without TF32) unless the size says fp16."
    )
    return "\n".join(lines)


def _table_groups(report: dict) -> list[tuple[tuple, dict]]:
    """The report's runs grouped by (kernel, size, threads or None), each group's runs by
    implementation ("ours" or a torch counterpart), in the order they ran; a group none of whose
    runs was measured holds only "skipped": the reason."""
    groups: dict[tuple, dict] = {}
    for bench in report["benchmarks"]:
        info = bench["extra_info"]
        key = (info["kernel"], info["size"], info.get("threads"))
        groups.setdefault(key, {"order": info.get("order", len(groups))})[info["impl"]] = bench
    for skip in report.get("skipped", []):
        info = skip["extra_info"]
        key = (info["kernel"], info["size"], info.get("threads"))
        if key not in groups:
            groups[key] = {"order": info.get("order", len(groups)), "skipped": skip["skipped"]}
    return sorted(groups.items(), key=lambda kv: kv[1]["order"])


def _table_rows(groups: list[tuple[tuple, dict]]):
    """The table's rows: (key, why it did not run, None, None, None) for a group that did not,
    else one (key, None, torch label, torch entry, our entry or None) per torch counterpart."""
    for key, entries in groups:
        if "skipped" in entries:
            yield key, entries["skipped"], None, None, None
            continue
        for label, bench in _counterparts(entries):
            yield key, None, label, bench, entries.get("ours")


def _ours_cols(ours: dict | None, info: dict, limits: dict | None = None) -> str:
    """Our time and rate (and with the machine's limits, the share of them), or "not impl."."""
    share = limits is not None
    if not ours:
        return f"{'-':>9} {'not impl.':>13}" + (f" {'':>5}" if share else "")
    mine = ours["stats"]["min"]
    cols = f"{_ms(mine)} {_rate(info, mine):>13}"
    return cols + (f" {_share(info, mine, limits)}" if share else "")


def _counterparts(entries: dict) -> list[tuple[str, dict]]:
    """A group's torch runs: (label, pytest-benchmark entry)."""
    not_runs = ("order", "ours", "skipped")
    return [(label, bench) for label, bench in entries.items() if label not in not_runs]


def _verdict(ours: dict | None, theirs: dict, reasons: list[str]) -> str:
    """The ratio torch time / our time, "-" without ours, or why it cannot be trusted."""
    if not ours:
        return "-"
    if reasons:
        return f"unreliable ({'; '.join(reasons)})"
    return f"{theirs['stats']['min'] / ours['stats']['min']:.2f}x"


def skip_summary(skipped: list[dict]) -> list[str]:
    """One line per kind of skip, counting the runs (kernel, size, threads, implementation) that
    did not happen, so that a short table never looks complete."""
    lines = []
    kinds = {
        "not_implemented": "not implemented yet",
        "build_error": "did not compile",
        "not_run": "this machine lacks what they need",
    }
    for kind, what in kinds.items():
        runs = [s for s in skipped if s["kind"] == kind and s["extra_info"]["impl"] == "ours"]
        if runs:
            names = ", ".join(dict.fromkeys(s["extra_info"]["kernel"] for s in runs))
            lines.append(f"{len(runs)} kernel run(s) skipped: {what} ({names})")
    for kind, what in (("ladder", "over the time budget of a call"), ("deadline", "run budget")):
        runs = [s for s in skipped if s["kind"] == kind and s["extra_info"]["impl"] == "ours"]
        where: dict[tuple[str, str], list[int]] = {}
        for s in runs:
            info = s["extra_info"]
            where.setdefault((f"{info['kernel']} {info['size']}", s["skipped"]), [])
            where[(f"{info['kernel']} {info['size']}", s["skipped"])].append(info["threads"])
        if runs:
            lines.append(f"{len(runs)} kernel run(s) skipped ({what}):")
            lines += [
                f"  {size} at {', '.join(map(str, threads))} thread(s): {reason}"
                for (size, reason), threads in where.items()
            ]
    return lines


def _header_lines(machine: dict, limits: dict, report: dict | None = None) -> list[str]:
    lines = [_step_line(step)] if (step := (report or {}).get("step")) else []
    if machine:
        lines.append(_machine_line(machine))
        start, end = machine.get("load_average_start"), machine.get("load_average_end")
        if start and end:
            lines.append(
                f"load average (1 min): {start[0]:.2f} at the start, {end[0]:.2f} at the end, "
                f"on {machine.get('cores')} cores"
            )
    if limits:
        lines.append(_limits_line(limits, machine.get("cores")))
    return lines


def _machine_line(machine: dict) -> str:
    isa = " ".join(flag for flag, present in machine.get("isa", {}).items() if present) or "none"
    threads = ", ".join(map(str, machine.get("threads", [])))
    load = machine.get("load_average_start") or [0.0]
    return (
        f"CPU: {machine.get('cpu_model')}, {machine.get('cores')} cores, ISA {isa}; "
        f"torch {machine.get('torch')}; threads {threads}; load average {load[0]:.2f}"
    )


def _limits_line(limits: dict, cores: int | None = None) -> str:
    if "error" in limits:
        return f"machine limits not measured, so no %lim: {limits['error']}"
    bandwidth = ", ".join(
        f"{gbs:.1f} GB/s at {count} thread{'s' if count != '1' else ''}"
        for count, gbs in limits["bandwidth_gbs"].items()
    )
    load = limits.get("load_average")
    return (
        f"limits: FP32 FMA peak {limits['fma_gflops_1core']:.0f} GFLOP/s on 1 core "
        f"({limits['fma']}); bandwidth {bandwidth} ({limits['bandwidth']})"
        + (f"; measured at load {load:.1f}" if load is not None else "")
        + (" (unreliable: load above the cores)" if load and cores and load > cores else "")
    )


def _gpu_line(gpu: dict) -> str:
    return (
        f"GPU: {gpu.get('name')}, compute capability {gpu.get('capability')}, "
        f"{gpu.get('sms')} SMs, {gpu.get('memory_gib')} GiB; torch {gpu.get('torch')} "
        f"(CUDA {gpu.get('cuda')}); Triton {gpu.get('triton')}"
    )


def _ms(seconds: float) -> str:
    # A third decimal under a millisecond: GPU kernels take tens of microseconds.
    milliseconds = seconds * 1e3
    return f"{milliseconds:9.3f}" if milliseconds < 1 else f"{milliseconds:9.2f}"


def _rate(info: dict, seconds: float) -> str:
    if info["flops"]:
        gflops = info["flops"] / seconds / 1e9
        return f"{gflops / 1e3:.1f} TFLOP/s" if gflops >= 1e3 else f"{gflops:.1f} GFLOP/s"
    return f"{info['bytes'] / seconds / 1e9:.1f} GB/s"


def _share(info: dict, seconds: float, limits: dict) -> str:
    """This rate as a % of the limit that bounds the kernel, or blanks without limits."""
    if not limits or "error" in limits:
        return f"{'':>5}"
    if info["flops"]:
        share = info["flops"] / seconds / (limits["fma_gflops_1core"] * info["threads"] * 1e9)
    else:
        bandwidth = limits["bandwidth_gbs"]
        gbs = bandwidth.get(str(info["threads"])) or max(bandwidth.values())
        share = info["bytes"] / seconds / (gbs * 1e9)
    return f"{100 * share:4.0f}%" if share >= 0.1 else f"{100 * share:4.1f}%"
