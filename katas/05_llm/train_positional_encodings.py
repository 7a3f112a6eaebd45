"""Given: the positional-encodings study (`kata train positional_encodings`), built on your
schemes and your GPT. The same small GPT is trained with each scheme on the same data, with the
same seeds and budget, and measured where the schemes differ:

- language modelling on the Penn Treebank sample (continuous text, windows of block_size
  tokens), test perplexity at the training context and at 2x and 4x it (length extrapolation;
  the learned table has block_size rows, so it has no number beyond 1x: "n/a");
- a synthetic probe: copy (or reverse) a random string of symbols after a separator, trained on
  strings of length 1..N, tested at N and at 2N.

Every run is repeated for each seed; the table gives mean +- standard deviation over seeds, and
says which differences exceed the spread between seeds. `from positional_encodings import ...`
resolves to your code or the reference exactly as in the tests.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from gpt import build_word_vocabulary, encode_stream, lr_factor, make_optimizer, perplexity
from gpt_helpers import GPTConfig
from matplotlib.figure import Figure
from positional_encodings import SCHEMES, SinusoidalPositions, build_gpt
from train_gpt import train_lm

from ml_refresher.data import load_ptb_text
from ml_refresher.training import apply_overrides, count_parameters, seed_everything, train_loop


@dataclass
class Config:
    """The study's settings; `kata train positional_encodings --set name=value` changes one."""

    schemes: str = ",".join(SCHEMES)  # comma-separated, any of SCHEMES
    seeds: str = "0,1,2"
    # Language modelling on the PTB sample.
    vocab_size: int = 1000
    block_size: int = 32  # the training context; evaluated at each multiple in eval_factors
    eval_factors: str = "1,2,4"
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.1
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 20
    epochs: int = 4
    sinusoidal_scale: float | None = None  # None: 1/sqrt(n_embd); 1.0 reproduces the stall
    # The synthetic probe.
    probe: str = "copy"  # "copy", "reverse" or "off"
    probe_length: int = 8  # N: trained on strings of length 1..N, tested at N and 2N
    probe_symbols: int = 10
    probe_steps: int = 800
    probe_batch_size: int = 32
    probe_lr: float = 3e-3


def _parse_list(text: str, kind=str) -> list:
    return [kind(item.strip()) for item in text.split(",") if item.strip()]


def _model(config: Config, scheme: str, vocab_size: int, block_size: int):
    gpt_config = GPTConfig(
        vocab_size, block_size, config.n_layer, config.n_head, config.n_embd, config.dropout
    )
    model = build_gpt(gpt_config, scheme)
    if scheme == "sinusoidal" and config.sinusoidal_scale is not None:
        model.transformer.wpe = SinusoidalPositions(config.n_embd, scale=config.sinusoidal_scale)
    return model


# ----------------------------------------------------------------------------------------------
# The synthetic probe: copy (or reverse) a string after a separator

PAD, SEP, FIRST_SYMBOL = 0, 1, 2


def probe_batch(
    lengths: np.ndarray, n_symbols: int, task: str, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences s SEP s' (s' = s, or s reversed), one per length; inputs (B, 2 max_len), targets
    the next tokens with -100 (ignored by the loss) except where s' is predicted."""
    width = 2 * int(lengths.max())
    x = torch.full((len(lengths), width), PAD, dtype=torch.int64)
    y = torch.full((len(lengths), width), -100, dtype=torch.int64)
    for row, n in enumerate(lengths):
        s = rng.integers(FIRST_SYMBOL, FIRST_SYMBOL + n_symbols, size=n)
        answer = s if task == "copy" else s[::-1]
        sequence = torch.from_numpy(np.concatenate([s, [SEP], answer]))  # 2n + 1 tokens
        x[row, : 2 * n] = sequence[:-1]
        y[row, n : 2 * n] = sequence[n + 1 :]  # after SEP: the answer, token by token
    return x, y


@torch.no_grad()
def probe_accuracy(model, length: int, config: Config, n_sequences: int = 256) -> float:
    """Teacher-forced accuracy of the greedy next token over the answer's positions, on
    n_sequences fresh strings of exactly `length` symbols (the same strings for every model)."""
    model.eval()
    rng = np.random.default_rng(10_000 + length)
    x, y = probe_batch(np.full(n_sequences, length), config.probe_symbols, config.probe, rng)
    logits, _ = model(x)
    scored = y != -100
    return (logits.argmax(-1)[scored] == y[scored]).float().mean().item()


def run_probe(config: Config, scheme: str, seed: int) -> dict[str, float | None]:
    N = config.probe_length
    seed_everything(seed)
    model = _model(config, scheme, FIRST_SYMBOL + config.probe_symbols, 2 * N)
    rng = np.random.default_rng(seed)
    optimizer = make_optimizer(model, config.probe_lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, config.warmup_steps, config.probe_steps)
    )

    def batches(epoch):
        for _ in range(config.probe_steps):
            lengths = rng.integers(1, N + 1, size=config.probe_batch_size)
            yield probe_batch(lengths, config.probe_symbols, config.probe, rng)

    train_loop(
        model, optimizer, batches, lambda b: model(*b)[1], scheduler=scheduler,
        clip_grad_norm=1.0, progress=False,
    )  # fmt: skip
    # 2N symbols need 4N positions: past the learned table of 2N rows.
    long = None if scheme == "learned" else probe_accuracy(model, 2 * N, config)
    return {f"{N}": probe_accuracy(model, N, config), f"{2 * N}": long}


# ----------------------------------------------------------------------------------------------
# Language modelling on the PTB sample


def run_lm(config: Config, scheme: str, seed: int, streams, vocab_size: int) -> dict:
    train_s, valid_s, test_s = streams
    seed_everything(seed)
    model = _model(config, scheme, vocab_size, config.block_size)
    train_lm(
        model, train_s, valid_s, epochs=config.epochs, batch_size=config.batch_size,
        lr=config.lr, warmup_steps=config.warmup_steps, seed=seed,
    )  # fmt: skip
    result = {}
    for factor in _parse_list(config.eval_factors, int):
        length = factor * config.block_size
        fits = scheme != "learned" or length <= config.block_size
        result[str(length)] = perplexity(model, test_s, length) if fits else None
    return {"test_perplexity": result, "parameters": count_parameters(model)}


# ----------------------------------------------------------------------------------------------
# Summaries and the figure


def _summary(values: list[float | None]) -> tuple[float, float] | None:
    if any(v is None for v in values):
        return None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _format(summary: tuple[float, float] | None, digits: int, n_seeds: int) -> str:
    if summary is None:
        return "n/a"
    mean, std = summary
    return f"{mean:.{digits}f}" if n_seeds == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _separated(per_seed: dict[str, list[float | None]]) -> list[str]:
    """Pairs of schemes whose ranges over the seeds do not overlap: a difference larger than
    the spread between seeds (with 3 seeds, a loose test, but it never calls noise a result)."""
    if min(len(v) for v in per_seed.values()) < 2:
        return ["n/a (one seed: no spread to compare with)"]
    pairs = []
    for a, b in itertools.combinations(per_seed, 2):
        va, vb = per_seed[a], per_seed[b]
        if any(v is None for v in va + vb):
            continue
        if max(va) < min(vb) or max(vb) < min(va):
            pairs.append(f"{a} {'<' if max(va) < min(vb) else '>'} {b}")
    return pairs


def _plot(lm: dict, probe: dict, path: Path, title: str) -> None:
    """Perplexity against evaluation length (left) and probe accuracy against string length
    (right), one line per scheme, error bars one standard deviation over the seeds."""
    fig = Figure(figsize=(10, 4), dpi=100)
    lm_ax, probe_ax = fig.subplots(1, 2)
    for ax, results, label in ((lm_ax, lm, "test perplexity"), (probe_ax, probe, "accuracy")):
        for scheme, by_length in results.items():
            points = [(int(n), s) for n, s in by_length.items() if s is not None]
            if not points:
                continue
            xs, stats = zip(*points, strict=True)
            ax.errorbar(
                xs, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3,
                label=scheme,
            )  # fmt: skip
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    lm_ax.set_xscale("log", base=2)
    lm_ax.set_xlabel("evaluation context (tokens)")
    probe_ax.set_xlabel("string length (trained on 1..N)")
    fig.suptitle(title)
    fig.savefig(path)


def train(out_dir: Path, overrides: dict[str, str] | None = None) -> dict:
    config = apply_overrides(Config(), overrides)
    schemes, seeds = _parse_list(config.schemes), _parse_list(config.seeds, int)
    unknown = sorted(set(schemes) - set(SCHEMES))
    if unknown or not schemes:
        raise ValueError(
            f"schemes: {unknown or 'none given'}; the schemes are {', '.join(SCHEMES)}"
        )
    if config.probe not in ("copy", "reverse", "off"):
        raise ValueError(f"probe must be 'copy', 'reverse' or 'off', got {config.probe!r}")
    if not seeds:
        raise ValueError("seeds: give at least one, e.g. --set seeds=0,1,2")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    data = load_ptb_text()
    vocabulary = build_word_vocabulary(data.train, config.vocab_size)  # training words only
    streams = [encode_stream(part, vocabulary) for part in data]
    raw: dict = {"config": asdict(config), "lm": {}, "probe": {}, "seconds": {}}
    for scheme in schemes:
        start = time.perf_counter()
        raw["lm"][scheme] = [run_lm(config, scheme, s, streams, len(vocabulary)) for s in seeds]
        if config.probe != "off":
            raw["probe"][scheme] = [run_probe(config, scheme, s) for s in seeds]
        raw["seconds"][scheme] = round(time.perf_counter() - start, 1)
        print(f"{scheme}: {raw['seconds'][scheme]} s", flush=True)

    lengths = [str(f * config.block_size) for f in _parse_list(config.eval_factors, int)]
    lm_values = {
        s: {n: [r["test_perplexity"][n] for r in raw["lm"][s]] for n in lengths} for s in schemes
    }
    lm_summary = {s: {n: _summary(v) for n, v in by.items()} for s, by in lm_values.items()}
    metrics: dict = {
        "data": f"{data.source}, V = {len(vocabulary)}, contiguous windows of "
        f"{config.block_size} tokens",
        "seeds": len(seeds),
        "parameters": {s: raw["lm"][s][0]["parameters"] for s in schemes},
    }
    for scheme in schemes:
        metrics[f"test perplexity at {'/'.join(lengths)} tokens, {scheme}"] = " | ".join(
            _format(lm_summary[scheme][n], 1, len(seeds)) for n in lengths
        )
    for n in lengths:
        metrics[f"beyond seed noise at {n} tokens"] = (
            ", ".join(_separated({s: lm_values[s][n] for s in schemes})) or "none"
        )
    probe_summary = {}
    if config.probe != "off":
        probe_lengths = [str(config.probe_length), str(2 * config.probe_length)]
        probe_values = {
            s: {n: [r[n] for r in raw["probe"][s]] for n in probe_lengths} for s in schemes
        }
        probe_summary = {
            s: {n: _summary(v) for n, v in by.items()} for s, by in probe_values.items()
        }
        for scheme in schemes:
            metrics[f"{config.probe} accuracy at length {'/'.join(probe_lengths)}, {scheme}"] = (
                " | ".join(_format(probe_summary[scheme][n], 3, len(seeds)) for n in probe_lengths)
            )
        for n in probe_lengths:
            metrics[f"{config.probe} beyond seed noise at length {n}"] = (
                ", ".join(_separated({s: probe_values[s][n] for s in schemes})) or "none"
            )
    metrics["seconds per scheme"] = raw["seconds"]
    _plot(
        lm_summary, probe_summary, out_dir / "positional_encodings.png",
        f"Positional schemes: PTB sample (trained at {config.block_size} tokens) and "
        f"{config.probe} probe (trained at 1..{config.probe_length}), {len(seeds)} seeds",
    )  # fmt: skip
    raw["metrics"] = metrics
    (out_dir / "results.json").write_text(json.dumps(raw, indent=1))
    return metrics
