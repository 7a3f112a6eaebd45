"""`kata bench`: time the C++ kernels against torch and print one table.

Runs katas/06_kernels/bench_kernels.py under pytest-benchmark (each kernel, size and thread count
is a group holding our kernel and its torch counterparts, timed back to back in the same run),
saves pytest-benchmark's JSON, and prints per kernel and size: the fastest time of each, GFLOP/s
(GB/s for softmax, which is memory-bound) and the ratio torch time / our time (> 1: ours is
faster). Compare two saved runs with `pytest-benchmark compare A.json B.json`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ml_refresher import impl, registry

BENCH_FILE = Path("katas") / "06_kernels" / "bench_kernels.py"


def run(
    implementation: str,
    quick: bool,
    threads: list[int] | None,
    out: Path | None,
    keyword: str | None,
) -> int:
    root = registry.project_root()
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = root / ".kata" / "bench" / f"{implementation}-{'quick-' if quick else ''}{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **{impl.IMPL_ENV: implementation})
    env.pop(impl.USE_REFERENCE_ENV, None)
    env["ML_REFRESHER_BENCH_QUICK"] = "1" if quick else "0"
    if threads:
        env["ML_REFRESHER_BENCH_THREADS"] = ",".join(map(str, threads))
    # The kata plugin refuses test files under katas/ that are no kata's; this one is not a kata
    # test, and the implementation is chosen through the environment instead.
    command = [sys.executable, "-m", "pytest", str(root / BENCH_FILE), "-p", "no:ml_refresher"]
    command += ["-p", "no:cacheprovider", "-q", f"--benchmark-json={out}"]
    if keyword:
        command += ["-k", keyword]
    print(
        f"benchmarking the {implementation} kernels against torch "
        f"({'quick sizes, seconds' if quick else 'full sizes, under a minute'}) ...",
        flush=True,
    )
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    if result.returncode != 0 or not out.exists():
        print(result.stdout[-4000:], result.stderr[-2000:], sep="\n")
        return result.returncode or 1
    print(format_table(json.loads(out.read_text())))
    skipped = [line for line in result.stdout.splitlines() if "not implemented yet" in line]
    if skipped:
        print(f"\n{len(skipped)} kernel run(s) skipped: not implemented yet")
    print(f"\nsaved {out}")
    return 0


def format_table(report: dict) -> str:
    """One line per kernel, size, threads and torch counterpart."""
    groups: dict[str, dict] = {}
    for bench in report["benchmarks"]:
        info = bench["extra_info"]
        groups.setdefault(bench["group"], {})[info["impl"]] = (bench["stats"]["min"], info)
    header = (
        f"{'kernel':<10} {'size':<30} {'thr':>3} {'ours ms':>9} {'ours rate':>13}  "
        f"{'vs':<14} {'torch ms':>9} {'torch rate':>13} {'ratio':>7}"
    )
    lines = [header, "-" * len(header)]
    for entries in groups.values():
        ours = entries.get("ours")
        for label, (seconds, info) in entries.items():
            if label == "ours":
                continue
            ours_ms = f"{ours[0] * 1e3:9.2f}" if ours else f"{'n/a':>9}"
            ours_rate = _rate(info, ours[0]) if ours else "not impl."
            ratio = f"{seconds / ours[0]:6.2f}x" if ours else f"{'-':>7}"
            lines.append(
                f"{info['kernel']:<10} {info['size']:<30} {info['threads']:>3} {ours_ms} "
                f"{ours_rate:>13}  {label:<14} {seconds * 1e3:9.2f} {_rate(info, seconds):>13} "
                f"{ratio}"
            )
    lines.append("ratio = torch time / our time (fastest round of each): > 1 means ours is faster")
    return "\n".join(lines)


def _rate(info: dict, seconds: float) -> str:
    if info["flops"]:
        return f"{info['flops'] / seconds / 1e9:.1f} GFLOP/s"
    return f"{info['bytes'] / seconds / 1e9:.1f} GB/s"
