"""Tests for bert_finetune: tokenisation with padding and truncation, the two poolings on hand
cases and through the encoder, the classifier, the optimiser's parameter groups and decoupled
decay, the warm-up schedule against transformers', batching, evaluation in eval mode and without
gradients, the batch order of fine-tuning, the save/load round trip, the frozen baseline, and last
(the slowest) fine-tuning that overfits a small batch.

The encoder is the pre-trained MiniLM cut to its first two layers (bert_helpers.load_encoder):
the same code as the full model, at a third of the cost, so the whole file runs in seconds.

Lesson: katas/04_transformers/README.md, section "Fine-tuning BERT".
Run: pytest katas/04_transformers/test_bert_finetune.py
"""

import copy

import bert_finetune
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from bert_finetune import (
    SentimentClassifier,
    cls_pool,
    embed_texts,
    encode_texts,
    evaluate,
    fine_tune,
    frozen_baseline_predict,
    linear_warmup_schedule,
    load_classifier,
    make_batches,
    make_optimizer,
    mean_pool,
    parameter_groups,
    save_classifier,
    train,
)
from bert_helpers import load_encoder
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from transformers import get_linear_schedule_with_warmup

from ml_refresher.testing import assert_close, assert_equal, assert_shape, assert_true
from ml_refresher.training import train_loop

# Ids from MiniLM's uncased WordPiece vocabulary (vocab.txt), not from any code in this kata:
# [CLS] = 101, [SEP] = 102, [PAD] = 0, "a" = 1037, "good" = 2204, "movie" = 3185, "bad" = 2919.
CLS, SEP, PAD = 101, 102, 0
# Float32 encoder states of the same sentence computed inside a padded batch and alone differ
# only by the summation order of a few matrix products (~1e-6); 1e-5 is far below what padding
# leaking into attention or into the mean does (~1e-2 and more).
PAD_TOL = 1e-5
SENTENCES = [
    "a gripping , beautifully acted drama",
    "dull",
    "the plot goes nowhere and the jokes fall flat , again and again",
    "a warm and funny film",
]


@pytest.fixture(scope="module")
def bert():
    tokenizer, encoder = load_encoder(n_layers=2)
    return tokenizer, encoder


def fresh_encoder(bert):
    """A private copy, so that a test that trains or changes modes leaves the others alone."""
    return copy.deepcopy(bert[1])


# Step 1: tokenisation.


def test_encode_texts_pads_truncates_and_masks(bert):
    tokenizer, _ = bert
    batch = encode_texts(tokenizer, ["A good MOVIE", "bad"], max_length=16)
    expected_ids = [[CLS, 1037, 2204, 3185, SEP], [CLS, 2919, SEP, PAD, PAD]]
    hint = (
        "tokenizer(texts, padding='longest', truncation=True, max_length=..., return_tensors='pt')"
    )
    assert_equal(
        batch["input_ids"], expected_ids, "input_ids ([CLS] ... [SEP], then padding)", hint=hint
    )
    expected_mask = [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert_equal(
        batch["attention_mask"], expected_mask, "attention_mask (1 real, 0 padding)", hint=hint
    )
    assert_true(
        batch["input_ids"].dtype == torch.int64 and batch["attention_mask"].dtype == torch.int64,
        "encode_texts returns int64 tensors",
        [f"got {batch['input_ids'].dtype} and {batch['attention_mask'].dtype}"],
    )
    long = encode_texts(tokenizer, ["a good movie with a plot that goes on and on"], max_length=5)
    assert_equal(
        long["input_ids"],
        [[CLS, 1037, 2204, 3185, SEP]],
        "a long sentence truncated to max_length=5 (the [SEP] kept last)",
        hint="truncation=True with max_length; the pieces after the fourth are cut",
    )
    with pytest.raises(TypeError, match="texts"):
        encode_texts(tokenizer, "a single string is not a list of sentences")


# Step 2: pooling on hand cases.


def test_cls_pool_takes_position_0():
    hidden = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    expected = [[0.0, 1.0, 2.0, 3.0], [12.0, 13.0, 14.0, 15.0]]
    got = cls_pool(hidden, mask)
    assert_shape(got, (2, 4), "cls_pool of (2, 3, 4) states")
    assert_close(got, expected, "cls_pool: the state of token 0", atol=0, hint="hidden[:, 0]")


def test_mean_pool_on_a_hand_case():
    # B=3 sentences, T=3 positions, H=2: padded positions hold large values, so that any of
    # them entering the mean shows.
    hidden = torch.tensor(
        [
            [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],  # no padding: mean (3, 4)
            [[2.0, 0.0], [4.0, 8.0], [100.0, -100.0]],  # last is padding: mean (3, 4)
            [[7.0, -1.0], [50.0, 50.0], [50.0, 50.0]],  # one real token: (7, -1)
        ]
    )
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0]])
    got = mean_pool(hidden, mask)
    assert_shape(got, (3, 2), "mean_pool of (3, 3, 2) states")
    assert_close(
        got,
        [[3.0, 4.0], [3.0, 4.0], [7.0, -1.0]],
        "mean_pool over real tokens only",
        atol=1e-6,  # sums and one division of small integers in float32
        hint="sum(hidden * mask[..., None], dim=1) / mask.sum(dim=1, keepdim=True): divide by "
        "each sentence's length, not by T",
    )
    with pytest.raises(ValueError, match="attention_mask"):
        mean_pool(hidden, mask[:, :2])


# Step 3: pooling and the classifier on real encoder states.


def test_padding_changes_neither_embedding_nor_logits(bert):
    tokenizer, _ = bert
    torch.manual_seed(0)
    model = SentimentClassifier(fresh_encoder(bert), pooling="mean").eval()
    short = "a warm and funny film"
    alone = encode_texts(tokenizer, [short])
    padded = encode_texts(tokenizer, [SENTENCES[2], short])  # short padded to the long one
    assert_true(
        padded["input_ids"].shape[1] > alone["input_ids"].shape[1] + 5,
        "the test's padded batch is longer than the sentence alone",
        [f"shapes {tuple(padded['input_ids'].shape)} and {tuple(alone['input_ids'].shape)}"],
    )
    with torch.no_grad():
        states_alone = model.encoder(**alone).last_hidden_state
        states_padded = model.encoder(**padded).last_hidden_state
        for name, pool in (("mean_pool", mean_pool), ("cls_pool", cls_pool)):
            assert_close(
                pool(states_padded, padded["attention_mask"])[1],
                pool(states_alone, alone["attention_mask"])[0],
                f"{name} of one sentence padded to two lengths",
                atol=PAD_TOL,
                hint="the mean must leave padded positions out, and count only real tokens",
            )
        for pooling in ("mean", "cls"):
            model.pooling = pooling
            assert_close(
                model(**padded)[1],
                model(**alone)[0],
                f"SentimentClassifier({pooling}) logits of a sentence padded vs alone",
                atol=PAD_TOL,
                hint="pass attention_mask to the encoder too, or real tokens attend to padding",
            )


def test_classifier_head_on_each_pooling(bert):
    tokenizer, _ = bert
    batch = encode_texts(tokenizer, SENTENCES)
    mask = batch["attention_mask"].unsqueeze(-1).float()
    for pooling in ("cls", "mean"):
        torch.manual_seed(1)
        model = SentimentClassifier(fresh_encoder(bert), n_classes=3, pooling=pooling).eval()
        assert_true(
            isinstance(model.head, nn.Linear) and tuple(model.head.weight.shape) == (3, 384),
            "SentimentClassifier.head is nn.Linear(hidden_size=384, n_classes)",
            [f"got {model.head!r}"],
        )
        with torch.no_grad():
            logits = model(batch["input_ids"], batch["attention_mask"])
            states = model.encoder(**batch).last_hidden_state
            # Written out here, independently of the kata's pooling functions.
            pooled = states[:, 0] if pooling == "cls" else (states * mask).sum(1) / mask.sum(1)
            expected = model.head(pooled)
        assert_shape(logits, (4, 3), f"logits ({pooling}) for 4 sentences and 3 classes")
        assert_close(
            logits,
            expected,
            f"SentimentClassifier({pooling!r}) logits = head(pooled states) in eval mode",
            atol=1e-5,  # the same float32 operations, grouped differently at most
            hint="cls: states[:, 0]; mean: masked mean; dropout only in training mode",
        )
    with pytest.raises(ValueError, match="pooling"):
        SentimentClassifier(fresh_encoder(bert), pooling="max")


# Step 4: the optimiser.


def _ids(parameters) -> list[int]:
    return [id(p) for p in parameters]


def test_parameter_groups_exempt_exactly_biases_and_layernorms(bert):
    model = SentimentClassifier(fresh_encoder(bert))
    frozen = model.encoder.embeddings.position_embeddings.weight
    frozen.requires_grad_(False)
    groups = parameter_groups(model, weight_decay=0.01)
    assert_true(
        len(groups) == 2 and [g["weight_decay"] for g in groups] == [0.01, 0.0],
        "parameter_groups: [decayed group (weight_decay), exempt group (0.0)]",
        [f"got {len(groups)} group(s) with decays {[g.get('weight_decay') for g in groups]}"],
    )
    decay, no_decay = _ids(groups[0]["params"]), _ids(groups[1]["params"])
    every = decay + no_decay
    trainable = {id(p): n for n, p in model.named_parameters() if p.requires_grad}
    assert_true(
        len(every) == len(set(every)) and set(every) == set(trainable),
        "every trainable parameter in exactly one group, frozen ones in none",
        [
            f"{len(every) - len(set(every))} duplicate(s)",
            f"missing: {sorted(trainable[i] for i in set(trainable) - set(every))[:5]}",
            f"frozen position embeddings included: {id(frozen) in set(every)}",
        ],
    )
    # By name, independently of the kata's rule: Hugging Face calls BERT's norms "LayerNorm".
    # Two layers: 1 + 2 * 8 + 1 (pooler) + 1 (head) = 19 biases, 1 + 2 * 2 = 5 LayerNorm gains.
    expected = {
        id(p) for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n
    }
    wrong_in = sorted(trainable[i] for i in set(no_decay) - expected)
    wrong_out = sorted(trainable[i] for i in expected - set(no_decay))
    assert_true(
        set(no_decay) == expected and len(no_decay) == 24 and len(decay) == 16,
        "no-decay group = every bias and LayerNorm weight, and nothing else",
        [
            f"expected 24 exempt and 16 decayed, got {len(no_decay)} and {len(decay)}",
            f"exempt but should decay: {wrong_in[:5]}",
            f"decayed but should be exempt: {wrong_out[:5]}",
        ],
        hint="the embeddings and every weight matrix decay; biases and LayerNorm weights do not",
    )
    toy = nn.Sequential(nn.Linear(3, 4, bias=False), nn.LayerNorm(4))  # the norm is named "1"
    toy_groups = parameter_groups(toy, weight_decay=0.1)
    assert_true(
        _ids(toy_groups[1]["params"]) == _ids(toy[1].parameters()),
        "a LayerNorm found by its type, whatever its name",
        [f"exempt group holds {len(toy_groups[1]['params'])} parameter(s), expected 2"],
        hint="isinstance(module, nn.LayerNorm) over model.modules()",
    )
    with pytest.raises(ValueError, match="weight_decay"):
        parameter_groups(toy, weight_decay=-0.1)


def test_make_optimizer_is_adamw_with_decoupled_decay():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2))
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 1.5)  # not all ones, so that a decay of it shows
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = make_optimizer(model, lr=0.1, weight_decay=0.5)
    assert_true(
        isinstance(optimizer, torch.optim.AdamW) and optimizer.param_groups[0]["lr"] == 0.1,
        "make_optimizer returns torch.optim.AdamW at the given learning rate",
        [f"got {type(optimizer).__name__} with lr {optimizer.param_groups[0].get('lr')}"],
    )
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    # With a zero gradient Adam's own step is 0 / (sqrt(0) + eps) = 0, so all that moves is the
    # decoupled decay: w <- (1 - lr * wd) w = 0.95 w on the weight matrix, nothing elsewhere.
    # Adam with an L2 term would instead move every decayed weight by about lr = 0.1.
    weight, bias, gain, shift = model.parameters()
    assert_close(
        weight, 0.95 * before[0], "the Linear weight after one step of pure decay", atol=1e-6
    )
    for name, p, old in (("bias", bias, before[1]), ("LayerNorm weight", gain, before[2])):
        assert_close(p, old, f"{name} after one step with zero gradient (no decay)", atol=0)
    assert_close(shift, before[3], "LayerNorm bias (no decay)", atol=0)


def test_linear_warmup_schedule_matches_transformers():
    def optimizer():
        return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.5)

    rates = {}
    for warmup, total in ((3, 10), (0, 4)):
        ours_opt, theirs_opt = optimizer(), optimizer()
        ours = linear_warmup_schedule(ours_opt, warmup_steps=warmup, total_steps=total)
        theirs = get_linear_schedule_with_warmup(theirs_opt, warmup, total)
        got, expected = [], []
        for _ in range(total + 2):  # two steps past the end: the rate stays at 0
            got.append(ours_opt.param_groups[0]["lr"])
            expected.append(theirs_opt.param_groups[0]["lr"])
            ours_opt.step()
            ours.step()
            theirs_opt.step()
            theirs.step()
        assert_close(
            got,
            expected,
            f"learning rate at steps 0..{total + 1} (warm-up {warmup} of {total}) vs transformers",
            atol=1e-12,  # the same formula in float64
            hint="s / warmup while s < warmup, then (total - s) / (total - warmup), clipped at 0",
        )
        rates[warmup, total] = got
    # By hand, base rate 0.5: warm-up 3 of 10 gives 0.5 * (0, 1/3, 2/3, 1, 6/7, ...);
    # no warm-up over 4 steps gives 0.5 * (1, 3/4, ...).
    assert_close(
        rates[3, 10][:5] + rates[0, 4][:2],
        [0.0, 0.5 / 3, 1.0 / 3, 0.5, 0.5 * 6 / 7, 0.5, 0.375],
        "learning rates by hand (warm-up 3 of 10, steps 0..4; no warm-up, steps 0..1)",
        atol=1e-12,
        hint="the first optimizer step of a warm-up runs at rate 0 (step 0 / warmup)",
    )
    with pytest.raises(ValueError, match="warmup_steps"):
        linear_warmup_schedule(optimizer(), warmup_steps=5, total_steps=4)


# Step 5: batches, evaluation, fine-tuning.


def test_make_batches_in_order_and_bucketed(bert):
    tokenizer, _ = bert
    texts = SENTENCES + ["fine"]
    labels = np.array([0, 1, 2, 3, 4])  # distinct, to tell the texts apart
    batches = make_batches(tokenizer, texts, labels, batch_size=2, max_length=16)
    assert_equal([len(b["labels"]) for b in batches], [2, 2, 1], "batch sizes without rng")
    assert_equal(torch.cat([b["labels"] for b in batches]), labels, "labels in order without rng")
    shuffled = make_batches(tokenizer, texts, labels, 2, 16, rng=np.random.default_rng(0))
    seen = torch.cat([b["labels"] for b in shuffled]).tolist()
    assert_true(sorted(seen) == [0, 1, 2, 3, 4], "with rng every text once", [f"got {seen}"])
    for batch in shuffled:
        for row, label in enumerate(batch["labels"].tolist()):
            alone = encode_texts(tokenizer, [texts[label]], 16)["input_ids"][0]
            length = int(batch["attention_mask"][row].sum())
            assert_equal(
                batch["input_ids"][row, :length],
                alone,
                f"ids of text {label} in its batch",
                hint="labels[index] must go with the texts of the same index",
            )
    with pytest.raises(ValueError, match="labels"):
        make_batches(tokenizer, texts, labels[:3])


def test_evaluate_uses_eval_mode_and_restores_train_mode(bert):
    tokenizer, _ = bert
    torch.manual_seed(3)
    model = SentimentClassifier(fresh_encoder(bert), dropout=0.5).train()
    texts = SENTENCES + ["fine", "a mess"]
    labels = np.array([1, 0, 0, 1, 1, 0])
    batches = make_batches(tokenizer, texts, labels, batch_size=4)  # sizes 4 and 2: unequal
    grad_modes = []
    hook = model.head.register_forward_hook(lambda *_: grad_modes.append(torch.is_grad_enabled()))
    first = evaluate(model, batches)
    hook.remove()
    assert_true(
        len(grad_modes) == 2 and not any(grad_modes),
        "evaluate runs the model under torch.no_grad() (no graph is built)",
        [f"gradient tracking on in {sum(grad_modes)} of {len(grad_modes)} forward passes"],
        hint="with torch.no_grad(): around the loop over the batches",
    )
    second = evaluate(model, batches)
    assert_true(
        first == second,
        "two evaluations of the same model give identical results (dropout off)",
        [f"got {first} then {second}"],
        hint="model.eval() before the loop: dropout is random in training mode",
    )
    assert_true(
        all(m.training for m in model.modules()),
        "evaluate hands the model back in training mode",
        ["some module is still in eval mode"],
        hint="remember model.training and call model.train(was_training) at the end",
    )
    assert_true(
        all(p.grad is None for p in model.parameters()),
        "evaluate runs under torch.no_grad() and leaves no gradients",
        ["a parameter has a .grad"],
    )
    model.eval()
    with torch.no_grad():
        logits = model(**encode_texts(tokenizer, texts))
    y = torch.as_tensor(labels)
    expected_loss = F.cross_entropy(logits, y).item()  # the mean over 6 sentences
    expected_accuracy = (logits.argmax(1) == y).float().mean().item()
    assert_close(
        [first["loss"], first["accuracy"]],
        [expected_loss, expected_accuracy],
        "evaluate: mean loss per sentence and accuracy over all batches",
        atol=1e-5,  # float32 logits of padded vs unpadded batches, summed in another order
        hint="sum the per-sentence losses (reduction='sum') and divide by the number of "
        "sentences: a mean of batch means over-weights the small last batch",
    )
    evaluate(model, batches)
    assert_true(not model.training, "a model in eval mode stays in eval mode", ["it was switched"])


class _BagOfIds(nn.Module):
    """A stand-in classifier with SentimentClassifier's call signature, cheap to run."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, input_ids, attention_mask):
        return self.linear((input_ids * attention_mask).float())


def test_fine_tune_shuffles_the_batches_every_epoch_and_minimises_cross_entropy(monkeypatch):
    orders, seen = [], {}

    def order_recording_train_loop(model, optimizer, batches, loss_fn, **settings):
        seen.update(settings, loss_fn=loss_fn)
        orders.extend([b["id"] for b in batches(epoch)] for epoch in range(4))

    monkeypatch.setattr(bert_finetune, "train_loop", order_recording_train_loop)
    g = torch.Generator().manual_seed(7)
    train_batches = [
        {
            "id": i,  # only for telling the batches apart
            "input_ids": torch.randint(0, 5, (2, 4), generator=g),
            "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]),
            "labels": torch.tensor([i % 3, (i + 1) % 3]),
        }
        for i in range(6)
    ]
    torch.manual_seed(8)
    model = _BagOfIds()
    fine_tune(model, train_batches, epochs=4, seed=0)
    batch = train_batches[0]
    expected = F.cross_entropy(model(batch["input_ids"], batch["attention_mask"]), batch["labels"])
    assert_close(
        seen["loss_fn"](batch),
        expected,
        "the loss fine_tune hands to train_loop, on one batch",
        atol=1e-6,  # the same float32 operations
        hint="F.cross_entropy(model(input_ids, attention_mask), labels): logits, not probabilities",
    )
    assert_true(
        all(sorted(order) == list(range(6)) for order in orders),
        "each epoch hands train_loop every batch exactly once",
        [f"orders by epoch: {orders}"],
    )
    # Four independent permutations of 6 are all equal with probability 720^-3, and all in the
    # given order with probability 720^-4: at seed 0 they are not.
    assert_true(
        len({tuple(order) for order in orders}) > 1 and orders[0] != list(range(6)),
        "a new random order of the batches every epoch",
        [f"orders by epoch: {orders}"],
        hint="batches(epoch) returns [train_batches[i] for i in rng.permutation(n)], with one "
        "rng made once in fine_tune and drawn from at every call",
    )
    assert_true(
        seen.get("max_steps") == 24 and seen.get("epochs") == 4,
        "fine_tune asks train_loop for epochs * len(train_batches) steps",
        [f"got epochs {seen.get('epochs')}, max_steps {seen.get('max_steps')}"],
    )


# Step 6: save and load.


def test_save_load_round_trip_gives_identical_logits(bert, tmp_path):
    tokenizer, _ = bert
    torch.manual_seed(5)
    model = SentimentClassifier(fresh_encoder(bert), n_classes=3, pooling="cls", dropout=0.3)
    with torch.no_grad():
        model.encoder.encoder.layer[0].output.dense.bias.add_(0.5)  # not the pre-trained one
    model.eval()
    save_classifier(model, tokenizer, tmp_path / "saved")
    loaded_tokenizer, loaded = load_classifier(tmp_path / "saved")
    batch = encode_texts(tokenizer, SENTENCES)
    assert_equal(
        encode_texts(loaded_tokenizer, SENTENCES)["input_ids"],
        batch["input_ids"],
        "ids from the reloaded tokenizer",
    )
    assert_true(
        loaded.pooling == "cls" and loaded.dropout.p == 0.3 and not loaded.training,
        "load_classifier rebuilds the settings and returns the model in eval mode",
        [f"pooling {loaded.pooling!r}, dropout {loaded.dropout.p}, training {loaded.training}"],
    )
    with torch.no_grad():
        expected = model(**batch)
        got = loaded(**batch)
    assert_close(
        got,
        expected,
        "logits after save_classifier / load_classifier",
        atol=0,  # the same weights and the same operations: bit for bit
        hint="encoder.save_pretrained + AutoModel.from_pretrained; the head's state_dict",
    )
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_classifier(tmp_path / "nowhere")


# Step 7: the frozen baseline.


def test_embed_texts_matches_pooling_one_sentence_at_a_time(bert):
    tokenizer, _ = bert
    encoder = fresh_encoder(bert).train()  # dropout on: embed_texts must switch it off
    features = embed_texts(encoder, tokenizer, SENTENCES, batch_size=3)  # batches of 3 and 1
    assert_true(encoder.training, "embed_texts hands the encoder back in training mode", [])
    encoder.eval()
    for name, pool in (("cls", cls_pool), ("mean", mean_pool)):
        assert_shape(features[name], (4, 384), f"embed_texts()[{name!r}] for 4 sentences")
        with torch.no_grad():
            for i, text in enumerate(SENTENCES):
                batch = encode_texts(tokenizer, [text])
                expected = pool(encoder(**batch).last_hidden_state, batch["attention_mask"])[0]
                assert_close(
                    features[name][i],
                    expected,
                    f"embed_texts {name} embedding of sentence {i} vs the sentence alone",
                    atol=PAD_TOL,
                    hint="eval mode (no dropout), the attention mask, texts kept in order",
                )


def test_frozen_baseline_fits_on_training_rows_only():
    rng = np.random.default_rng(6)
    # Two classes of 20-dimensional features, shifted apart along every axis.
    y_train = rng.integers(0, 2, size=200)
    train_x = rng.normal(size=(200, 20)) + 0.8 * y_train[:, None] + 5.0
    test_x = rng.normal(size=(60, 20)) + 0.8 * rng.integers(0, 2, size=60)[:, None] + 5.0
    got = frozen_baseline_predict(train_x, y_train, test_x, C=1.0)
    sklearn = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    expected = sklearn.fit(train_x, y_train).predict(test_x)
    assert_equal(got, expected, "frozen_baseline_predict vs StandardScaler + LogisticRegression")
    # Far-off extra test rows must not move the other rows' predictions: they would if the
    # scaler (or anything else) were fitted on the test features.
    outliers = rng.normal(size=(40, 20)) * 30.0 - 60.0
    with_outliers = frozen_baseline_predict(train_x, y_train, np.vstack([test_x, outliers]))
    assert_equal(
        with_outliers[:60],
        got,
        "predictions of the same test rows with 40 far-off test rows added",
        hint="fit the scaler and the classifier on the training rows only: test leakage",
    )
    with pytest.raises(ValueError, match="features"):
        frozen_baseline_predict(train_x, y_train, test_x[:, :5])


def test_train_rejects_an_unknown_setting(tmp_path):
    with pytest.raises(ValueError, match="unknown setting"):
        train(tmp_path, {"learning_rate": "1e-4"})


# Step 8: fine-tuning, last: the slowest test of the file.


def test_fine_tune_overfits_a_small_batch(bert, monkeypatch):
    tokenizer, _ = bert
    seen = {}

    def recording_train_loop(model, optimizer, batches, loss_fn, **settings):
        seen.update(settings, optimizer=optimizer)
        return train_loop(model, optimizer, batches, loss_fn, **settings)

    monkeypatch.setattr(bert_finetune, "train_loop", recording_train_loop)
    torch.manual_seed(4)
    model = SentimentClassifier(fresh_encoder(bert), dropout=0.0)
    # The word embeddings (30522 x 384, most of the model) frozen: four times fewer numbers for
    # AdamW to update per step, and fine_tune must cope with frozen parameters.
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    texts = SENTENCES + ["fine", "a mess", "a quiet triumph", "tedious and overlong"]
    labels = np.array([1, 0, 0, 1, 1, 0, 1, 0])
    batches = make_batches(tokenizer, texts, labels, batch_size=4)
    before = evaluate(model, batches)
    history = fine_tune(model, batches, epochs=20, max_steps=30, lr=2e-4, warmup_fraction=0.1)
    after = evaluate(model, batches)
    steps = [s for s, _ in history.series["train_loss"]]
    scheduler = seen.get("scheduler")
    assert_true(
        isinstance(seen.get("optimizer"), torch.optim.AdamW)
        and scheduler is not None
        and seen.get("clip_grad_norm") == 1.0,
        "fine_tune gives train_loop an AdamW, the warm-up schedule and clip_grad_norm",
        [
            f"got {type(seen.get('optimizer')).__name__}, scheduler {scheduler!r}, "
            f"clip_grad_norm {seen.get('clip_grad_norm')!r}"
        ],
        hint="train_loop(..., scheduler=linear_warmup_schedule(...), clip_grad_norm=...)",
    )
    final_lr = seen["optimizer"].param_groups[0]["lr"]
    assert_true(
        final_lr == 0.0,
        "after all 30 steps the linear schedule has decayed the learning rate to 0",
        [f"got {final_lr}: is total_steps min(epochs * len(train_batches), max_steps)?"],
    )
    assert_true(
        steps[-1] == 30,
        "fine_tune stops at max_steps (20 epochs x 2 batches, capped at 30)",
        [f"got {steps[-1]} steps"],
    )
    # Measured: the reference goes from 0.72 to 0.01 in 30 steps; with the learning rate stuck
    # at 0 (or a head that never trains) the loss stays at ~0.7, and with no warm-up but the
    # same decay it still fits. 0.15 is ten times the reference's loss and far below chance.
    assert_true(
        after["loss"] < 0.15 and after["accuracy"] == 1.0,
        "fine_tune overfits 8 sentences in 30 steps (loss < 0.15, every one right)",
        [f"loss {before['loss']:.3f} -> {after['loss']:.3f}", f"accuracy {after['accuracy']}"],
        hint="optimizer from make_optimizer, scheduler from linear_warmup_schedule, both given "
        "to train_loop with clip_grad_norm",
    )
