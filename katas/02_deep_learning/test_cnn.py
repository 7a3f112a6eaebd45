"""Tests for cnn: im2col on a hand case and as the adjoint of col2im, conv2d and max-pooling
against torch and its autograd, then the torch CNN's shapes and what it can learn.

Lesson: katas/02_deep_learning/README.md. Run: pytest katas/02_deep_learning/test_cnn.py
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cnn import (
    SmallCNN,
    col2im,
    conv2d_backward,
    conv2d_forward,
    evaluate,
    im2col,
    maxpool2d_backward,
    maxpool2d_forward,
    output_size,
    to_tensor_images,
    train_classifier,
)
from dl_helpers import bars_task
from torch import nn

from ml_refresher.testing import (
    assert_close,
    assert_equal,
    assert_shape,
    assert_true,
    numerical_gradient,
)

# (stride, padding) pairs: the plain case, "same" padding, and a strided convolution whose
# windows do not tile the input exactly (7 = 2*3 + 1 leaves a row unused).
CONFIGS = [(1, 0), (1, 1), (2, 1)]


def test_output_size_on_hand_cases():
    got = [output_size(32, 3, 1, 1), output_size(28, 5, 1, 0), output_size(7, 3, 2, 1)]
    assert_equal(
        got,
        [32, 24, 4],
        "output_size(size, kernel, stride, padding) for (32, 3, 1, 1), (28, 5, 1, 0), (7, 3, 2, 1)",
        hint="(size + 2*padding - kernel) // stride + 1",
    )


def test_im2col_on_a_hand_case():
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)  # [[0 1 2] [3 4 5] [6 7 8]]
    expected = [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]]  # one 2x2 window a row
    hint = "rows are the windows in reading order, columns the window's pixels (c, i, j)"
    assert_equal(im2col(x, 2, 2), expected, "im2col of a 3x3 image, 2x2 kernel", hint=hint)
    cols = im2col(np.zeros((2, 3, 7, 7)), 3, 3, stride=2, padding=1)
    assert_shape(cols, (2 * 4 * 4, 3 * 3 * 3), "im2col(N=2, C=3, 7x7, 3x3, stride 2, padding 1)")


def test_col2im_is_the_adjoint_of_im2col():
    # <im2col(x), c> = <x, col2im(c)> for all x, c: the property that makes col2im the backward
    # pass of im2col. A plain inverse would fail it wherever windows overlap.
    rng = np.random.default_rng(0)
    for stride, padding in CONFIGS:
        x = rng.standard_normal((2, 3, 7, 7))
        cols = rng.standard_normal(im2col(x, 3, 3, stride, padding).shape)
        left = np.sum(im2col(x, 3, 3, stride, padding) * cols)
        right = np.sum(x * col2im(cols, x.shape, 3, 3, stride, padding))
        hint = "col2im must add (+=) where windows overlap, not overwrite"
        what = f"<im2col(x), c> vs <x, col2im(c)> at stride {stride}, padding {padding}"
        # Two sums of ~300 products of unit normals: rounding is ~1e-14.
        assert_close(left, right, what, atol=1e-10, hint=hint)


def random_conv_inputs(rng):
    """x (2, 3, 7, 8), weight (4, 3, 3, 3), bias (4,): standard normal float64."""
    return (
        rng.standard_normal((2, 3, 7, 8)),
        rng.standard_normal((4, 3, 3, 3)),
        rng.standard_normal(4),
    )


@pytest.mark.parametrize("stride, padding", CONFIGS)
def test_conv2d_forward_matches_torch(stride, padding):
    x, weight, bias = random_conv_inputs(np.random.default_rng(1))
    got = conv2d_forward(x, weight, bias, stride, padding)
    expected = F.conv2d(torch.tensor(x), torch.tensor(weight), torch.tensor(bias), stride, padding)
    # float64 on both sides, the same 27 products per output in another order: ~1e-15.
    hint = "columns of im2col must be ordered (c, i, j) to line up with weight.reshape(C_out, -1)"
    what = f"conv2d_forward vs F.conv2d (stride {stride}, padding {padding})"
    assert_close(got, expected, what, atol=1e-12, hint=hint)


@pytest.mark.parametrize("stride, padding", CONFIGS)
def test_conv2d_backward_matches_torch_autograd(stride, padding):
    rng = np.random.default_rng(2)
    x, weight, bias = random_conv_inputs(rng)
    x_t, w_t, b_t = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
    out = F.conv2d(x_t, w_t, b_t, stride, padding)
    upstream = rng.standard_normal(tuple(out.shape))
    out.backward(torch.tensor(upstream))
    grad_x, grad_w, grad_b = conv2d_backward(upstream, x, weight, stride, padding)
    where = f"(stride {stride}, padding {padding})"
    assert_close(grad_w, w_t.grad, f"conv2d dL/dweight vs torch {where}", atol=1e-12)
    assert_close(grad_b, b_t.grad, f"conv2d dL/dbias vs torch {where}", atol=1e-12)
    hint = "dL/dx = col2im(grad_rows @ weight.reshape(C_out, -1)), with the same stride/padding"
    assert_close(grad_x, x_t.grad, f"conv2d dL/dx vs torch {where}", atol=1e-12, hint=hint)


def test_conv2d_backward_matches_finite_differences():
    rng = np.random.default_rng(3)
    x, weight, bias = (
        rng.standard_normal((1, 2, 5, 5)),
        rng.standard_normal((3, 2, 3, 3)),
        rng.standard_normal(3),
    )
    upstream = rng.standard_normal((1, 3, 3, 3))  # L = sum(out * upstream), stride 2, padding 1

    def loss(x_, w_):
        return float(np.sum(conv2d_forward(x_, w_, bias, 2, 1) * upstream))

    grad_x, grad_w, _ = conv2d_backward(upstream, x, weight, 2, 1)
    # L is linear in x and in weight: central differences are exact up to rounding, ~1e-9.
    numeric_x = numerical_gradient(lambda v: loss(v, weight), x)
    numeric_w = numerical_gradient(lambda v: loss(x, v), weight)
    assert_close(grad_x, numeric_x, "conv2d dL/dx vs finite differences", atol=1e-6)
    assert_close(grad_w, numeric_w, "conv2d dL/dweight vs finite differences", atol=1e-6)


def test_maxpool_on_a_hand_case_with_a_tie():
    x = np.array([[[[1.0, 5.0, 2.0, 2.0], [3.0, 4.0, 2.0, 2.0]]]])  # (1, 1, 2, 4): two windows
    assert_equal(maxpool2d_forward(x), [[[[5.0, 2.0]]]], "maxpool2d_forward")
    got = maxpool2d_backward(np.array([[[[10.0, 20.0]]]]), x)
    expected = [[[[0.0, 10.0, 20.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]]
    hint = "only the first maximum of each window gets the gradient (a tie of four 2s here)"
    assert_equal(got, expected, "maxpool2d_backward", hint=hint)


def test_maxpool_matches_torch_and_its_gradient():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 6, 8))
    x_t = torch.tensor(x, requires_grad=True)
    out = F.max_pool2d(x_t, 2)
    upstream = rng.standard_normal(tuple(out.shape))
    out.backward(torch.tensor(upstream))
    assert_equal(maxpool2d_forward(x), out, "maxpool2d_forward vs F.max_pool2d")
    got = maxpool2d_backward(upstream, x)
    assert_equal(got, x_t.grad, "maxpool2d_backward vs torch autograd")


def test_to_tensor_images_puts_channels_first():
    gray = to_tensor_images(np.full((5, 28, 28), 255, dtype=np.uint8))
    assert_shape(gray, (5, 1, 28, 28), "to_tensor_images of (5, 28, 28)")
    assert_close(gray.max(), 1.0, "to_tensor_images scales 255 to 1", atol=1e-7)
    # Non-square, with every pixel's value naming its (row, column, channel): a transposed
    # image or a reshape in place of a permute puts the wrong numbers in the right shape.
    rows, cols, channels = 4, 6, 3
    r, c, ch = np.meshgrid(np.arange(rows), np.arange(cols), np.arange(channels), indexing="ij")
    images = (10 * r + 2 * c + 100 * ch).astype(np.uint8)[None]  # (1, 4, 6, 3), at most 214
    got = to_tensor_images(images)
    hint = "(N, H, W, C) -> (N, C, H, W) is a permute(0, 3, 1, 2), not a reshape"
    assert_shape(got, (1, channels, rows, cols), "to_tensor_images of (1, 4, 6, 3)", hint)
    expected = np.moveaxis(images, -1, 1) / 255.0
    # uint8 / 255 in float32: within 1 ulp of the float64 quotient.
    assert_close(
        got, expected, "to_tensor_images pixel [c, y, x] = image[y, x, c] / 255", atol=1e-7
    )


def test_evaluate_is_in_eval_mode_and_averages_over_samples():
    torch.manual_seed(5)
    model = SmallCNN(in_channels=3, n_classes=4, image_size=8, width=4)
    x, y = torch.randn(20, 3, 8, 8), torch.arange(20) % 4
    with torch.no_grad():
        model(3 * torch.randn(16, 3, 8, 8) + 1)  # running statistics now differ from a batch's
        model.eval()
        logits = model(x)
    expected_loss = F.cross_entropy(logits, y).item()
    expected_accuracy = (logits.argmax(dim=1) == y).sum().item() / len(y)
    model.train()  # evaluate must switch to eval mode itself
    # Batches of 7, 7 and 6: a mean of batch means would weigh the last six images more.
    loss, accuracy = evaluate(model, x, y, batch_size=7)
    hint = "model.eval() first; sum the losses (reduction='sum') and the hits, divide by len(x)"
    # The same float32 products summed in another order: agreement to ~1e-7.
    assert_close(
        loss, expected_loss, "evaluate loss vs eval-mode cross-entropy", atol=1e-5, hint=hint
    )
    assert_close(accuracy, expected_accuracy, "evaluate accuracy", atol=1e-9, hint=hint)


class Recorder(nn.Module):
    """Stands in for a CNN in train_classifier: a linear layer on a zeroed input (so Adam has a
    parameter), recording for every call whether it was in train mode, whether autograd was on,
    and the row ids it received (the inputs are the ids themselves)."""

    def __init__(self, n_classes=3):
        super().__init__()
        self.linear = nn.Linear(1, n_classes)
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled(), x[:, 0].long().tolist()))
        return self.linear(0 * x)


def run_recorder(seed, epochs=3, n_train=50, batch_size=16):
    x_train = torch.arange(n_train, dtype=torch.float32)[:, None]
    x_test = 1000 + torch.arange(20, dtype=torch.float32)[:, None]  # ids >= 1000: the test set
    model = Recorder()
    history = train_classifier(
        model,
        x_train,
        torch.arange(n_train) % 3,
        x_test,
        torch.arange(20) % 3,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
    )
    return model, history


def test_train_classifier_shuffles_every_epoch_and_evaluates_in_eval_mode():
    model, history = run_recorder(seed=0)
    train_calls = [ids for training, _, ids in model.calls if min(ids) < 1000]
    for training, grad, ids in model.calls:
        test_call = min(ids) >= 1000
        assert_true(
            training != test_call and grad != test_call,
            "training batches run in train mode with autograd, evaluation in eval mode without",
            [
                f"a {'test' if test_call else 'training'} call ran with training={training}, "
                f"grad enabled={grad}"
            ],
            hint="loss_fn(batch) only computes the loss; train_loop and evaluate set the modes",
        )
        assert_true(
            not test_call or ids == list(range(1000, 1020)),
            "evaluate sees the whole test set, in order",
            [f"got ids {ids}"],
        )
    sizes = [len(ids) for ids in train_calls]
    # 50 rows in batches of 16: three full batches and the last two rows, each epoch.
    assert_equal(sizes, [16, 16, 16, 2] * 3, "training batch sizes over 3 epochs")
    orders = [sum(train_calls[4 * e : 4 * e + 4], []) for e in range(3)]
    for e, order in enumerate(orders):
        assert_equal(sorted(order), list(range(50)), f"rows seen in epoch {e}")
    # Two independent permutations of 50 rows are equal, or equal to 0..49, with probability
    # 1/50! (about 3e-65): equality means the rows were not (re)shuffled.
    assert_true(
        all(o != list(range(50)) for o in orders) and orders[0] != orders[1] != orders[2],
        "train_classifier draws a new permutation every epoch",
        [f"epoch orders (first 10 rows): {[o[:10] for o in orders]}"],
        hint="batches(epoch) returns torch.randperm(n, generator=g).split(batch_size)",
    )
    assert_equal(len(values(history, "train_loss")), 12, "train_loss points (one per step)")
    again, _ = run_recorder(seed=0)
    other, _ = run_recorder(seed=1)
    assert_true(
        again.calls == model.calls and other.calls != model.calls,
        "the batch order comes from the seed: the same seed repeats it, another changes it",
        [f"seed 0: {train_calls[0]}", f"seed 1: {other.calls[0][2]}"],
        hint="g = torch.Generator().manual_seed(seed), one for the run",
    )


def test_small_cnn_shapes_for_colour_and_gray_images():
    torch.manual_seed(0)
    for channels, size in ((3, 32), (1, 28)):
        model = SmallCNN(in_channels=channels, n_classes=10, image_size=size, width=8)
        out = model(torch.zeros(4, channels, size, size))
        hint = "the flattened size is 2*width*(image_size//4)**2 after two 2x2 pools"
        assert_shape(out, (4, 10), f"SmallCNN logits for (4, {channels}, {size}, {size})", hint)


def values(history, name):
    """The values of one series of a training History, in order."""
    return [value for _, value in history.series[name]]


def test_small_cnn_overfits_one_batch():
    x, y = (torch.as_tensor(a) for a in bars_task(32, seed=2))
    model = SmallCNN(in_channels=3, n_classes=4, image_size=32, width=8)
    history = train_classifier(model, x, y, x, y, epochs=30, batch_size=32, lr=3e-3)
    # 30 Adam steps on one batch of 32: a working loop drives the training loss to ~0.002; one
    # that forgets zero_grad or step stays near log(4) = 1.4.
    assert_true(
        history.last("train_loss") < 0.05,
        "train_classifier could not memorise one batch of 32 images",
        [f"training loss by step: {np.round(values(history, 'train_loss'), 3)}"],
        hint="loss_fn(batch) returns the batch's cross-entropy; train_loop steps on it",
    )
    assert_equal(
        len(values(history, "test_accuracy")),
        30,
        "test_accuracy points in the History of 30 epochs",
        hint="pass evaluate= to train_loop: it runs after every epoch",
    )


def _learns_bars(channels, size, n_train, epochs):
    x, y = (torch.as_tensor(a) for a in bars_task(n_train + 400, channels, size, seed=1))
    model = SmallCNN(in_channels=channels, n_classes=4, image_size=size, width=8)
    history = train_classifier(
        model, x[:n_train], y[:n_train], x[n_train:], y[n_train:], epochs, batch_size=32, lr=3e-3
    )
    # The reference reaches 98-99% on 400 held-out images; chance is 25% and a CNN that cannot
    # see orientation (e.g. a broken feature stack) stays below 60%.
    got = history.last("test_accuracy")
    assert_true(
        got >= 0.9,
        f"SmallCNN on the generated bars task ({channels}x{size}x{size}): held-out accuracy",
        [
            f"expected >= 0.9, got {got:.3f}",
            f"accuracy by epoch: {values(history, 'test_accuracy')}",
        ],
    )


def test_small_cnn_learns_a_generated_colour_task():
    _learns_bars(channels=3, size=32, n_train=800, epochs=4)


def test_the_same_cnn_trains_on_gray_28x28_images():
    _learns_bars(channels=1, size=28, n_train=800, epochs=4)
