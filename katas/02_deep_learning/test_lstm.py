"""Tests for lstm: the cell on a hand case and against torch.nn.LSTMCell, the layer against
torch.nn.LSTM (outputs, final state, gradients, packed batches), padding, then a classifier that
must not see the padding and must learn word order and real sentiment.

Lesson: katas/02_deep_learning/README.md. Run: pytest katas/02_deep_learning/test_lstm.py
"""

import numpy as np
import torch
from dl_helpers import build_vocabulary, encode, negation_task, tokenize
from lstm import LSTM, LSTMCell, SentimentClassifier, pad_batch, train_sentiment
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
    assert_true(
        0.5 * bound < largest <= bound,
        "LSTMCell initialisation: uniform in [-1/sqrt(H), 1/sqrt(H)]",
        [f"expected the largest |parameter| just under {bound:.3f}, got {largest:.3f}"],
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
    packed_out, (expected_h, _) = reference(packed)
    expected, _ = pad_packed_sequence(packed_out, batch_first=True)
    outputs, (h, _) = ours(x, lengths)
    hint = "past a sequence's length keep its (h, c) unchanged: torch.where(t < lengths, new, old)"
    assert_close(
        h, expected_h[0], "final h of padded sequences vs packed nn.LSTM", atol=TOL, hint=hint
    )
    assert_close(outputs, expected, "outputs (zero where padded) vs packed nn.LSTM", atol=TOL)


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
