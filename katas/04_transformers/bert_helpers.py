"""Given code for the bert_finetune kata: loading the pre-trained encoder, cut to its first layers
when a test or a quick run needs it to be fast.

- load_encoder: (tokenizer, BertModel) of all-MiniLM-L6-v2, offline, optionally truncated.
"""

from __future__ import annotations

from ml_refresher.data import load_pretrained_bert


def load_encoder(n_layers: int | None = None):
    """(tokenizer, encoder): the pre-trained 6-layer, 384-wide MiniLM BERT (English, uncased),
    in eval mode. With n_layers, only the first n_layers transformer layers are kept (and the
    config says so, so that save_pretrained / from_pretrained rebuild the same model): lower
    layers of a pre-trained BERT still give useful features, at a fraction of the cost."""
    tokenizer, encoder = load_pretrained_bert()
    total = len(encoder.encoder.layer)
    if n_layers is not None:
        if not 1 <= n_layers <= total:
            raise ValueError(f"n_layers must be in 1..{total}, got {n_layers!r}")
        encoder.encoder.layer = encoder.encoder.layer[:n_layers]
        encoder.config.num_hidden_layers = n_layers
    return tokenizer, encoder
