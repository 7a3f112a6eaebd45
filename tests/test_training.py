"""ml_refresher.training: --set overrides parse by type and reject unknown keys, the loop steps,
clips, evaluates in eval mode without gradients and stops where it is told, the curves are PNGs."""

import random
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from ml_refresher.testing import assert_png
from ml_refresher.training import (
    History,
    apply_overrides,
    count_parameters,
    plot_history,
    seed_everything,
    train_loop,
)


@dataclass(frozen=True)
class Config:
    lr: float = 0.1
    epochs: int = 3
    task: str = "numbers"
    norm_first: bool = False
    max_steps: int | None = None


def test_overrides_are_parsed_by_the_field_type():
    config = apply_overrides(
        Config(),
        {"lr": "3e-4", "epochs": "7", "task": "multi30k", "norm_first": "true", "max_steps": "50"},
    )
    assert config == Config(lr=3e-4, epochs=7, task="multi30k", norm_first=True, max_steps=50)
    assert apply_overrides(Config(max_steps=5), {"max_steps": "none"}).max_steps is None
    assert apply_overrides(Config(), None) == Config()


def test_an_unknown_or_badly_typed_override_says_what_is_valid():
    with pytest.raises(ValueError, match="unknown setting lrr for Config; the settings are: "):
        apply_overrides(Config(), {"lrr": "1"})
    with pytest.raises(ValueError, match=r"--set epochs=1\.5: expected a value of type int"):
        apply_overrides(Config(), {"epochs": "1.5"})
    with pytest.raises(ValueError, match="--set norm_first=maybe: expected a value of type bool"):
        apply_overrides(Config(), {"norm_first": "maybe"})


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()  # noqa: NPY002

    seed_everything(3)
    first = draw()
    seed_everything(3)
    assert draw() == first


class Probe(torch.nn.Module):
    """A linear model that records, for every forward pass, its mode and whether autograd is on."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 1)
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.linear(x).squeeze(-1)


def regression_task():
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    return x, x @ torch.tensor([1.0, -2.0, 0.5])


def test_the_loop_learns_and_evaluates_in_eval_mode_without_gradients():
    x, y = regression_task()
    model = Probe()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def batches(epoch):
        return [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]

    def evaluate():
        return {"val_loss": ((model(x) - y) ** 2).mean().item()}

    history = train_loop(
        model,
        optimizer,
        batches,
        lambda b: ((model(b[0]) - b[1]) ** 2).mean(),
        epochs=3,
        evaluate=evaluate,
        eval_every=6,
        progress=False,
    )
    # 4 steps per epoch; evaluations at step 6 and at the end of each epoch (4, 8, 12).
    assert [s for s, _ in history.series["train_loss"]] == list(range(1, 13))
    assert [s for s, _ in history.series["val_loss"]] == [4, 6, 8, 12]
    assert history.last("val_loss") < history.series["val_loss"][0][1] / 5
    train_calls = [c for c in model.calls if c[0]]
    eval_calls = [c for c in model.calls if not c[0]]
    assert len(train_calls) == 12 and all(grad for _, grad in train_calls)
    assert len(eval_calls) == 4 and not any(grad for _, grad in eval_calls)
    assert model.training, "the loop must leave the model in train mode"


def test_max_steps_stops_mid_epoch_and_clipping_bounds_the_gradient():
    x, y = regression_task()
    model = Probe()
    norms = []

    class Recorder(torch.optim.SGD):
        def step(self, closure=None):
            norms.append(torch.cat([p.grad.flatten() for p in model.parameters()]).norm().item())
            return super().step(closure)

    history = train_loop(
        model,
        Recorder(model.parameters(), lr=0.01),
        lambda epoch: [(100 * x, 100 * y)] * 10,
        lambda b: ((model(b[0]) - b[1]) ** 2).mean(),
        epochs=5,
        max_steps=3,
        clip_grad_norm=1.0,
        progress=False,
    )
    assert len(history.series["train_loss"]) == 3
    assert max(norms) == pytest.approx(1.0, rel=1e-5)  # the raw gradient norm is ~1e4


def test_a_non_finite_loss_stops_the_run_and_names_the_step():
    model = Probe()
    with pytest.raises(FloatingPointError, match="the training loss became nan at step 1"):
        train_loop(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            lambda epoch: [torch.ones(2, 3)],
            lambda b: model(b).sum() * float("nan"),
            progress=False,
        )


def test_curves_are_pngs_for_a_history_and_for_per_epoch_lists(tmp_path):
    history = History()
    for step in range(1, 101):
        history.add("train_loss", step, 1 / step)
    history.add("val_accuracy", 100, 0.9)
    assert_png(plot_history(history, tmp_path / "steps.png", "t"), "step curves", size=(1000, 400))
    epochs = {"train_loss": [1.0, 0.5], "val_accuracy": [0.5, 0.8]}
    assert_png(plot_history(epochs, tmp_path / "epochs.png", "t"), "epoch curves", size=(1000, 400))


def test_count_parameters_counts_only_trainable_ones():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    assert count_parameters(model) == 3 * 4 + 4 + 4 * 2 + 2
    model[0].requires_grad_(False)
    assert count_parameters(model) == 4 * 2 + 2
