"""The training plumbing the model katas share but do not teach: seeding, `kata train --set`
overrides on a config dataclass, a training loop with a progress bar, periodic evaluation and
gradient clipping, and a loss/metric curve PNG.

    config = apply_overrides(Config(), overrides)        # kata train <id> --set lr=3e-4
    history = train_loop(model, optimizer, batches, loss_fn, epochs=config.epochs,
                         evaluate=lambda: {"val_accuracy": accuracy(model, val)})
    plot_history(history, out_dir / "curves.png", "my model")
"""

from __future__ import annotations

import dataclasses
import random
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from tqdm.auto import tqdm


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators: one call makes a run repeatable."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- seeding the legacy global generator is the point
    torch.manual_seed(seed)


def _parse(text: str, kind: object, name: str) -> object:
    """A --set value parsed as the config field's type (bool, int, float, str, or X | None)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if text.lower() == "none":
            return None
        kind = options[0]
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if kind in (int, float, str):
            return kind(text)
    except ValueError:
        raise ValueError(
            f"--set {name}={text}: expected a value of type {getattr(kind, '__name__', kind)}"
        ) from None
    raise ValueError(f"--set {name}: fields of type {kind} cannot be set from the command line")


def apply_overrides(config, overrides: dict[str, str] | None):
    """A copy of the dataclass `config` with the fields in `overrides` ({"lr": "3e-4"}, as given
    by `kata train <id> --set lr=3e-4`) parsed by each field's type. An unknown key is a
    ValueError that lists the valid ones."""
    if not overrides:
        return config
    hints = typing.get_type_hints(type(config))
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(
            f"unknown setting {', '.join(unknown)} for {type(config).__name__}; "
            f"the settings are: {', '.join(sorted(fields))}"
        )
    parsed = {name: _parse(value, hints[name], name) for name, value in overrides.items()}
    return dataclasses.replace(config, **parsed)


def count_parameters(model: torch.nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass
class History:
    """What a run measured: series name -> [(optimizer step, value), ...]. "train_loss" has one
    point per step; evaluate()'s metrics one per evaluation."""

    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def add(self, name: str, step: int, value: float) -> None:
        self.series.setdefault(name, []).append((step, float(value)))

    def last(self, name: str) -> float:
        return self.series[name][-1][1]


def train_loop(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Callable[[int], Iterable],
    loss_fn: Callable[[object], torch.Tensor],
    *,
    epochs: int = 1,
    max_steps: int | None = None,
    scheduler=None,
    clip_grad_norm: float | None = None,
    evaluate: Callable[[], dict[str, float]] | None = None,
    eval_every: int | None = None,
    progress: bool = True,
    desc: str = "train",
) -> History:
    """Train `model` for `epochs` passes over batches(epoch), or until max_steps optimizer steps.
    Each step: zero_grad, loss_fn(batch).backward(), clip the gradient norm, optimizer.step(),
    scheduler.step(). evaluate() runs under model.eval() and torch.no_grad() every eval_every
    steps and at the end of each epoch; the model is back in train mode afterwards. A loss that
    is not finite stops the run with an error that says at which step."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    history = History()

    def run_evaluation(step: int) -> None:
        if evaluate is None:
            return
        model.eval()
        with torch.no_grad():
            metrics = evaluate()
        model.train()
        for name, value in metrics.items():
            history.add(name, step, value)
        bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()})

    step = 0
    bar = tqdm(total=max_steps, desc=desc, disable=not progress, leave=False)
    model.train()
    try:
        for epoch in range(epochs):
            for batch in batches(epoch):
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"the training loss became {loss.item()} at step {step + 1}; "
                        "try a smaller learning rate or gradient clipping"
                    )
                loss.backward()
                if clip_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                step += 1
                history.add("train_loss", step, loss.item())
                bar.update()
                bar.set_description(f"{desc} epoch {epoch + 1}/{epochs} loss {loss.item():.4f}")
                if eval_every and step % eval_every == 0:
                    run_evaluation(step)
                if max_steps is not None and step >= max_steps:
                    break
            if not (eval_every and step % eval_every == 0):
                run_evaluation(step)
            if max_steps is not None and step >= max_steps:
                break
    finally:
        bar.close()
    return history


def _smoothed(values: list[float], window: int) -> list[float]:
    """A running mean over `window` points: per-step losses are too noisy to read raw."""
    if window <= 1:
        return values
    cumulative = np.cumsum(np.insert(np.asarray(values, dtype=float), 0, 0.0))
    starts = np.maximum(np.arange(1, len(values) + 1) - window, 0)
    return list((cumulative[1:] - cumulative[starts]) / (np.arange(1, len(values) + 1) - starts))


def plot_history(history: History | dict[str, list[float]], path: str | Path, title: str) -> Path:
    """Two panels: every "*loss" series on the left, every other series (accuracy, BLEU...) on
    the right. A History is plotted against optimizer steps (train_loss smoothed); a plain
    {name: [value per epoch]} against epochs. Saves a PNG (no screen needed), returns its path."""
    path = Path(path)
    if isinstance(history, History):
        series, x_label = history.series, "step"
    else:
        series = {n: list(enumerate(v, start=1)) for n, v in history.items()}
        x_label = "epoch"
    fig = Figure(figsize=(10, 4), dpi=100)
    loss_ax, metric_ax = fig.subplots(1, 2)
    for name, points in series.items():
        steps = [s for s, _ in points]
        values = [v for _, v in points]
        ax = loss_ax if name.endswith("loss") else metric_ax
        if name == "train_loss" and x_label == "step":
            values = _smoothed(values, max(1, len(values) // 50))
        ax.plot(steps, values, marker="o" if len(points) <= 30 else None, label=name)
    for ax, label in ((loss_ax, "loss"), (metric_ax, "metric")):
        ax.set_xlabel(x_label)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(title)
    fig.savefig(path)
    return path
