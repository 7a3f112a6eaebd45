"""Given: the masked_lm_ner kata's full run (`kata train masked_lm_ner`), built on your encoder,
heads, pre-training and fine-tuning: the same encoder fine-tuned for NER twice with the same
budget, once from random weights and once after masked-LM pre-training, on CoNLL-2002 Spanish.
`from masked_lm_ner import ...` resolves to your code or the reference exactly as in the tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gpt_helpers import GPTConfig
from masked_lm_ner import (
    MaskedLM,
    MaskedLMEncoder,
    TokenClassifier,
    encode_tagged,
    evaluate_ner,
    finetune_ner,
    pretrain_mlm,
)
from ner_data import encode_words, pretraining_sentences, train_wordpiece

from ml_refresher.data import load_conll2002
from ml_refresher.training import (
    History,
    apply_overrides,
    count_parameters,
    plot_history,
    seed_everything,
)


@dataclass
class Config:
    """`kata train masked_lm_ner --set name=value` changes one of these."""

    vocab_size: int = 4000  # WordPiece subwords, specials included
    block_size: int = 256  # longest sentence in subwords; longer ones are cut (0.1% of them)
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.1
    pretrain_steps: int = 600
    pretrain_batch_size: int = 64
    pretrain_lr: float = 2e-3
    finetune_epochs: int = 2
    finetune_batch_size: int = 32
    finetune_lr: float = 1e-3
    seed: int = 0


def train(out_dir: Path, overrides: dict[str, str] | None = None) -> dict:
    """The full run (`kata train masked_lm_ner`): a WordPiece tokenizer and the pre-training id
    sequences from pretraining_sentences() (train + development words, never the test split);
    the tagged train and test sentences through encode_tagged. Then two models with the same
    GPTConfig and the same fine-tuning budget (finetune_ner): one from random weights, one whose
    encoder was first pre-trained by pretrain_mlm. Saves out_dir/mlm_curves.png and
    out_dir/curves.png; returns both models' test entity precision, recall and F1, with times."""
    config = apply_overrides(Config(), overrides)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    corpus = load_conll2002("esp")
    text = pretraining_sentences("esp")  # train + development words; never the test split
    tokenizer = train_wordpiece(text, config.vocab_size)
    sequences = [encode_words(tokenizer, words)[0][: config.block_size] for words in text]
    train_examples = [encode_tagged(tokenizer, s, config.block_size) for s in corpus.train]
    test_examples = [encode_tagged(tokenizer, s, config.block_size) for s in corpus.test]
    gpt_config = GPTConfig(
        tokenizer.get_vocab_size(),
        config.block_size,
        config.n_layer,
        config.n_head,
        config.n_embd,
        config.dropout,
    )
    finetune = dict(
        epochs=config.finetune_epochs,
        batch_size=config.finetune_batch_size,
        lr=config.finetune_lr,
        seed=config.seed,
        progress=True,
    )
    metrics: dict = {"data": "CoNLL-2002 Spanish: 8,323 train / 1,517 test sentences"}

    # 1. The same encoder and fine-tuning budget, from random weights.
    seed_everything(config.seed)
    start = time.perf_counter()
    scratch = TokenClassifier(MaskedLMEncoder(gpt_config))
    scratch_history = finetune_ner(scratch, train_examples, test_examples, **finetune)
    metrics["scratch"] = {k: round(v, 4) for k, v in evaluate_ner(scratch, test_examples).items()}
    metrics["scratch"]["seconds"] = round(time.perf_counter() - start)

    # 2. Masked-LM pre-training on the unlabelled text, then the same fine-tuning.
    seed_everything(config.seed)
    start = time.perf_counter()
    mlm = MaskedLM(gpt_config)
    mlm_history = pretrain_mlm(
        mlm,
        sequences,
        steps=config.pretrain_steps,
        batch_size=config.pretrain_batch_size,
        lr=config.pretrain_lr,
        seed=config.seed,
        progress=True,
    )
    pretrain_seconds = time.perf_counter() - start
    start = time.perf_counter()
    pretrained = TokenClassifier(mlm.encoder)
    pretrained_history = finetune_ner(pretrained, train_examples, test_examples, **finetune)
    metrics["pretrained"] = {
        k: round(v, 4) for k, v in evaluate_ner(pretrained, test_examples).items()
    }
    metrics["pretrained"]["seconds"] = round(time.perf_counter() - start)
    metrics["pretraining"] = {
        "steps": config.pretrain_steps,
        "mlm_loss_first_50": round(
            float(np.mean([v for _, v in mlm_history.series["train_loss"][:50]])), 3
        ),
        "mlm_loss_last_50": round(
            float(np.mean([v for _, v in mlm_history.series["train_loss"][-50:]])), 3
        ),
        "seconds": round(pretrain_seconds),
    }
    metrics["parameters"] = count_parameters(scratch)

    plot_history(mlm_history, out_dir / "mlm_curves.png", "Masked-LM pre-training, CoNLL-2002 text")
    f1_by_epoch = {
        "scratch_test_f1": [v for _, v in scratch_history.series["test_f1"]],
        "pretrained_test_f1": [v for _, v in pretrained_history.series["test_f1"]],
        "scratch_train_loss": _epoch_means(scratch_history),
        "pretrained_train_loss": _epoch_means(pretrained_history),
    }
    plot_history(f1_by_epoch, out_dir / "curves.png", "NER fine-tuning: from scratch vs after MLM")
    return metrics


def _epoch_means(history: History) -> list[float]:
    """The mean training loss of each epoch (the evaluations mark where epochs end)."""
    ends = [step for step, _ in history.series["test_f1"]]
    losses = history.series["train_loss"]
    means, begin = [], 0
    for end in ends:
        chunk = [v for s, v in losses if begin < s <= end]
        means.append(float(np.mean(chunk)))
        begin = end
    return means
