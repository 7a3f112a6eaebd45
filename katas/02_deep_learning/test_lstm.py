"""Tests for lstm: the cell on a hand case and against torch.nn.LSTMCell, the layer against
torch.nn.LSTM (outputs, final state, gradients, packed batches), padding, then a classifier that
must not see the padding and must learn word order and real sentiment.

Lesson: katas/02_deep_learning/README.md. Run: pytest katas/02_deep_learning/test_lstm.py
"""

import numpy as np
import torch
import torch.nn.functional as F
from dl_helpers import build_vocabulary, encode, negation_task, tokenize
from lstm import (
    LSTM,
    LSTMCell,
    SentimentClassifier,
    evaluate_sentiment,
    pad_batch,
    train_sentiment,
)
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ml_refresher.data import load_sentence_polarity
from ml_refresher.testing import assert_close, assert_equal, assert_shape, assert_true

# float32 throughout; the same products summed in another order differ by ~1e-7, so 1e-5 is
# tight enough to catch a swapped gate or a missing bias and loose enough for rounding.
TOL = 1e-5
GATE_HINT = "torch stacks the gates as input, forget, cell (tanh), output: chunk(4) in that order"


def copy_weights(cell: LSTMCell, reference: nn.LSTM) -> None:
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(reference, f"{name}_l0"))


def test_lstm_cell_parameters_have_torch_shapes():
    cell = LSTMCell(input_size=5, hidden_size=3)
    expected = {"weight_ih": (12, 5), "weight_hh": (12, 3), "bias_ih": (12,), "bias_hh": (12,)}
    for name, shape in expected.items():
        assert_shape(getattr(cell, name), shape, f"LSTMCell.{name}", hint="four gates: 4H rows")
    bound = 1 / np.sqrt(3)
    largest = max(p.abs().max().item() for p in cell.parameters())
    # 120 draws from U(-b, b): all of them inside 0.9 b has probability 0.9^120 = 3e-6, so the
    # largest lies in (0.9 b, b]. A bound from the input size (1/sqrt(5) = 0.79 b) or 1/H
    # (0.58 b) stays below 0.9 b, and a normal initialiser goes over b.
    assert_true(
        0.9 * bound < largest <= bound,
        "LSTMCell initialisation: uniform in [-1/sqrt(H), 1/sqrt(H)], H = hidden_size",
        [f"expected the largest |parameter| in ({0.9 * bound:.3f}, {bound:.3f}]: {largest:.3f}"],
        hint="nn.init.uniform_(p, -1/sqrt(hidden_size), 1/sqrt(hidden_size)) for every parameter",
    )


def test_lstm_cell_on_a_hand_case():
    cell = LSTMCell(input_size=2, hidden_size=2)
    with torch.no_grad():
        for parameter in cell.parameters():
            parameter.zero_()
    c = torch.tensor([[2.0, -4.0]])
    h, c_new = cell(torch.ones(1, 2), (torch.zeros(1, 2), c))
    # Zero weights: every gate's pre-activation is 0, so i = f = o = sigmoid(0) = 0.5 and
    # g = tanh(0) = 0. Then c' = 0.5 c and h' = 0.5 tanh(c').
    expected_c = torch.tensor([[1.0, -2.0]])
    assert_close(c_new, expected_c, "LSTMCell c' with zero weights: f * c", atol=1e-7)
    assert_close(h, 0.5 * torch.tanh(expected_c), "LSTMCell h' = o * tanh(c')", atol=1e-7)


def test_lstm_cell_matches_torch_lstm_cell():
    torch.manual_seed(0)
    reference = nn.LSTMCell(6, 4)
    cell = LSTMCell(6, 4)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(reference, name))
    x, h, c = torch.randn(3, 6), torch.randn(3, 4), torch.randn(3, 4)
    expected_h, expected_c = reference(x, (h, c))
    got_h, got_c = cell(x, (h, c))
    assert_close(got_h, expected_h, "LSTMCell h vs nn.LSTMCell", atol=TOL, hint=GATE_HINT)
    assert_close(got_c, expected_c, "LSTMCell c vs nn.LSTMCell", atol=TOL, hint=GATE_HINT)


def test_lstm_matches_torch_lstm_outputs_and_final_state():
    torch.manual_seed(1)
    reference = nn.LSTM(5, 7, batch_first=True)
    ours = LSTM(5, 7)
    copy_weights(ours.cell, reference)
    x = torch.randn(3, 6, 5)
    state = (torch.randn(3, 7), torch.randn(3, 7))
    outputs, (h, c) = ours(x, state=state)
    expected, (expected_h, expected_c) = reference(x, (state[0][None], state[1][None]))
    assert_close(outputs, expected, "LSTM outputs vs nn.LSTM", atol=TOL, hint=GATE_HINT)
    assert_close(h, expected_h[0], "LSTM final h vs nn.LSTM", atol=TOL)
    assert_close(c, expected_c[0], "LSTM final c vs nn.LSTM", atol=TOL)


def test_lstm_gradients_match_torch_lstm():
    torch.manual_seed(2)
    reference = nn.LSTM(4, 5, batch_first=True)
    ours = LSTM(4, 5)
    copy_weights(ours.cell, reference)
    x = torch.randn(2, 8, 4)
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours(x_ours)[0].pow(2).sum().backward()
    reference(x_ref)[0].pow(2).sum().backward()
    # Autograd differentiates whatever forward computes: equal gradients through 8 steps say
    # the recurrence (what feeds back into the next step) is the same, not only each output.
    assert_close(x_ours.grad, x_ref.grad, "dL/dx through the LSTM vs nn.LSTM", atol=TOL)
    for name in ("weight_ih", "weight_hh", "bias_hh"):
        got, expected = getattr(ours.cell, name).grad, getattr(reference, f"{name}_l0").grad
        assert_close(got, expected, f"dL/d{name} vs nn.LSTM", atol=TOL)


def test_lstm_with_lengths_matches_a_packed_torch_lstm():
    torch.manual_seed(3)
    reference = nn.LSTM(5, 6, batch_first=True)
    ours = LSTM(5, 6)
    copy_weights(ours.cell, reference)
    x, lengths = torch.randn(3, 7, 5), torch.tensor([7, 2, 4])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    packed_out, (expected_h, expected_c) = reference(packed)
    expected, _ = pad_packed_sequence(packed_out, batch_first=True)
    outputs, (h, c) = ours(x, lengths)
    hint = "past a sequence's length keep its (h, c) unchanged: torch.where(t < lengths, new, old)"
    assert_close(
        h, expected_h[0], "final h of padded sequences vs packed nn.LSTM", atol=TOL, hint=hint
    )
    assert_close(
        c, expected_c[0], "final c of padded sequences vs packed nn.LSTM", atol=TOL, hint=hint
    )
    assert_close(outputs, expected, "outputs (zero where padded) vs packed nn.LSTM", atol=TOL)


def test_lstm_starts_from_zeros_on_every_call():
    torch.manual_seed(5)
    ours = LSTM(3, 4)
    x, other = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    first, _ = ours(x)
    ours(other)  # a batch in between must leave nothing behind
    again, _ = ours(x)
    zeros = torch.zeros(2, 4)
    explicit, _ = ours(x, state=(zeros, zeros))
    hint = "state=None means zeros for this call; keep no hidden state on self between calls"
    # The same operations on the same inputs: equal to the last bit.
    assert_equal(again, first, "LSTM outputs for the same batch, called twice", hint=hint)
    assert_equal(explicit, first, "LSTM outputs with state=None vs explicit zeros", hint=hint)


def test_pad_batch_on_a_hand_case():
    ids, lengths = pad_batch([np.array([5, 6, 7]), np.array([8]), np.array([9, 10])])
    expected = [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert_equal(ids, expected, "pad_batch ids (PAD = 0 after each end)")
    assert_equal(lengths, [3, 1, 2], "pad_batch lengths", hint="the lengths before padding")
    assert_true(
        ids.dtype == torch.int64 and lengths.dtype == torch.int64,
        "pad_batch returns int64 tensors (nn.Embedding and packing need them)",
        [f"got {ids.dtype} and {lengths.dtype}"],
    )


def test_classifier_output_shape_and_padding_has_no_effect():
    torch.manual_seed(4)
    model = SentimentClassifier(vocab_size=30, embed_dim=8, hidden_size=6).eval()
    sequences = [np.array([3, 4, 5, 6, 7, 8]), np.array([9, 10]), np.array([11, 12, 13])]
    logits = model(*pad_batch(sequences))
    assert_shape(logits, (3, 2), "SentimentClassifier logits for 3 sequences")
    hint = "the mean must divide by each length and the max must ignore padded steps (-inf)"
    for i, sequence in enumerate(sequences):
        alone = model(*pad_batch([sequence]))[0]
        # Padded and unpadded runs do the same float32 operations on the valid steps.
        assert_close(
            logits[i], alone, f"logits of sequence {i} padded vs alone", atol=TOL, hint=hint
        )


def test_classifier_dropout_is_on_in_train_mode_only():
    torch.manual_seed(6)
    model = SentimentClassifier(vocab_size=30, embed_dim=8, hidden_size=6, dropout=0.5)
    ids, lengths = pad_batch([np.array([3, 4, 5, 6]), np.array([7, 8])])
    model.eval()
    first, second = model(ids, lengths), model(ids, lengths)
    assert_equal(second, first, "two eval-mode calls", hint="nn.Dropout is off after model.eval()")
    model.train()
    third, fourth = model(ids, lengths), model(ids, lengths)
    # Dropout at p = 0.5 on 8 + 12 units per sentence: two calls draw the same masks with
    # probability 2^-40 at most, so equal logits mean no dropout was applied.
    assert_true(
        not torch.equal(third, fourth),
        "two train-mode calls with dropout=0.5 differ",
        [f"got the same logits twice: {third.tolist()}"],
        hint="apply self.dropout to the embedded words and to the pooled vector",
    )


def test_evaluate_sentiment_is_in_eval_mode_and_averages_over_sentences():
    torch.manual_seed(7)
    model = SentimentClassifier(vocab_size=30, embed_dim=8, hidden_size=6, dropout=0.5)
    rng = np.random.default_rng(7)
    sequences = [rng.integers(2, 30, size=n) for n in (5, 2, 7, 3, 4, 6, 1, 3)]
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(*pad_batch([s])) for s in sequences])
    expected_loss = F.cross_entropy(logits, y).item()
    expected_accuracy = (logits.argmax(dim=1) == y).sum().item() / len(y)
    model.train()  # evaluate_sentiment must switch to eval mode itself
    # Batches of 3, 3 and 2: a mean of batch means would weigh the last two sentences more.
    loss, accuracy = evaluate_sentiment(model, sequences, y, batch_size=3)
    hint = "model.eval() first; sum the losses (reduction='sum') and the hits, divide by the count"
    # Alone and padded in a batch: the same float32 operations on the valid steps (~1e-7).
    assert_close(loss, expected_loss, "evaluate_sentiment loss", atol=TOL, hint=hint)
    assert_close(accuracy, expected_accuracy, "evaluate_sentiment accuracy", atol=1e-9, hint=hint)


class Recorder(nn.Module):
    """Stands in for the classifier in train_sentiment: a linear layer on a zeroed input (so
    Adam has a parameter), recording for every call whether it was in train mode and the first
    id of each sequence it received (the tests make each sequence's ids its index + 2)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 2)
        self.calls = []

    def forward(self, ids, lengths):
        self.calls.append((self.training, (ids[:, 0] - 2).tolist()))
        return self.linear(0 * ids[:, :1].float())


def run_recorder(seed, n_train=40, batch_size=8):
    # Sequence i holds the id i + 2, lengths 1..5 so that the buckets have something to sort.
    train = [np.full(1 + i % 5, i + 2) for i in range(n_train)]
    test = [np.full(3, 1000 + i) for i in range(10)]  # first ids >= 998: the test set
    model = Recorder()
    train_sentiment(
        model,
        train,
        torch.arange(n_train) % 2,
        test,
        torch.arange(10) % 2,
        epochs=3,
        batch_size=batch_size,
        seed=seed,
    )
    return model


def test_train_sentiment_draws_new_batches_every_epoch_from_its_seed():
    model = run_recorder(seed=0)
    train_calls = [ids for training, ids in model.calls if training]
    test_calls = [ids for training, ids in model.calls if not training]
    assert_true(
        all(max(ids) < 40 for ids in train_calls) and all(min(ids) >= 998 for ids in test_calls),
        "training batches in train mode, test batches in eval mode",
        [f"train-mode calls saw {train_calls}", f"eval-mode calls saw {test_calls}"],
    )
    assert_equal(len(train_calls), 15, "training steps in 3 epochs of 40 sentences, batches of 8")
    orders = [sum(train_calls[5 * e : 5 * e + 5], []) for e in range(3)]
    for e, order in enumerate(orders):
        assert_equal(sorted(order), list(range(40)), f"sentences seen in epoch {e}")
    # length_bucketed_batches shuffles 40 sentences and then 5 batches: two epochs with the
    # same batches in the same order have probability below 1e-20 at any seed.
    assert_true(
        orders[0] != orders[1] != orders[2],
        "train_sentiment draws new batches every epoch",
        [f"epoch orders (first 10): {[o[:10] for o in orders]}"],
        hint="batches(epoch) calls length_bucketed_batches with the run's one rng",
    )
    again, other = run_recorder(seed=0), run_recorder(seed=1)
    assert_true(
        again.calls == model.calls and other.calls != model.calls,
        "the batches come from the seed: the same seed repeats them, another changes them",
        [f"seed 0: {train_calls[0]}", f"seed 1: {other.calls[0][1]}"],
        hint="rng = np.random.default_rng(seed), created once at the start of train_sentiment",
    )


def _encoded(token_lists, vocabulary):
    return [encode(tokens, vocabulary) for tokens in token_lists]


def _accuracies(history):
    return [round(value, 3) for _, value in history.series["test_accuracy"]]


def test_classifier_learns_that_word_order_matters():
    sentences, labels = negation_task(2500, seed=0)
    vocabulary = build_vocabulary(sentences)
    sequences, y = _encoded(sentences, vocabulary), torch.as_tensor(labels)
    torch.manual_seed(0)
    model = SentimentClassifier(len(vocabulary), embed_dim=32, hidden_size=32, dropout=0.0)
    history = train_sentiment(
        model, sequences[:2000], y[:2000], sequences[2000:], y[2000:], epochs=2, lr=1e-2
    )
    # Every sentence holds a sentiment word and a "not": a bag of words is at chance (50%);
    # the reference reaches 100% because the LSTM sees whether "not" comes right before.
    got = history.last("test_accuracy")
    assert_true(
        got >= 0.95,
        "SentimentClassifier on the negation task ('not good' vs 'not ... good'): accuracy",
        [f"expected >= 0.95, got {got:.3f}", f"accuracy by epoch: {_accuracies(history)}"],
    )


def test_classifier_learns_sentence_polarity():
    data = load_sentence_polarity()  # 10,662 movie-review sentences, 80/20 split
    train_tokens = [tokenize(text) for text in data.train_texts]
    vocabulary = build_vocabulary(train_tokens, min_count=2)
    test_tokens = [tokenize(text) for text in data.test_texts]
    torch.manual_seed(0)
    model = SentimentClassifier(len(vocabulary), embed_dim=64, hidden_size=64, dropout=0.5)
    history = train_sentiment(
        model,
        _encoded(train_tokens, vocabulary),
        torch.as_tensor(data.y_train),
        _encoded(test_tokens, vocabulary),
        torch.as_tensor(data.y_test),
        epochs=4,
        batch_size=64,
        lr=5e-3,
    )
    # Short sentences, 8,500 of them, no pretrained embeddings: the reference reaches 74%;
    # 72% leaves room for a correct model that draws its random numbers in another order.
    got = history.last("test_accuracy")
    assert_true(
        got >= 0.72,
        "SentimentClassifier on NLTK sentence_polarity: held-out accuracy after 4 epochs",
        [f"expected >= 0.72, got {got:.3f}", f"accuracy by epoch: {_accuracies(history)}"],
    )
