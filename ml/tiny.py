"""A tiny randomly initialised BERT checkpoint and made-up reviews it learns in a few epochs: for the tests, the
browser tests' data and the GPU check (benchmarks/gpu_finetune.py). Django-free, like the rest of ml/."""

from __future__ import annotations

from pathlib import Path

import numpy as np

TINY_WORDS = (
    "the a an and or not very really quite good great fine bad awful poor movie film plot actor story "
    "love hate like boring fun slow fast loved hated enjoyed liked it this that was is were be"
).split()


def tiny_bert(
    folder: Path, *, hidden: int = 32, layers: int = 2, seed: int = 0, words=TINY_WORDS, dropout: float = 0.1
) -> Path:
    """A tiny randomly initialised BERT checkpoint written by save_pretrained into `folder` (config.json,
    model.safetensors, tokenizer.json, tokenizer_config.json): a WordPiece vocabulary of `words` plus
    letters and digits (so any text tokenizes), `layers` layers of width `hidden`, `dropout` everywhere (0 makes
    a step deterministic whatever the RNG). Fast on 2 cores."""
    import string

    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pieces = list(string.ascii_lowercase + string.digits)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *pieces, *(f"##{p}" for p in pieces), *words]
    vocab = list(dict.fromkeys(vocab))
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True).save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=128,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    BertModel(config).save_pretrained(folder)
    return folder


def review_texts(rows: int = 96, seed: int = 0) -> tuple[list[str], list[str]]:
    """Short made-up movie reviews in TINY_WORDS and their labels, `pos` or `neg` (a sentiment word decides):
    a text-classification task a tiny BERT learns in a few epochs."""
    rng = np.random.default_rng(seed)
    positive, negative = ["good", "great", "loved", "enjoyed", "fun"], ["bad", "awful", "hated", "boring", "poor"]
    fillers = ["the", "movie", "film", "plot", "story", "actor", "was", "really", "very", "it", "this"]
    texts, labels = [], []
    for i in range(rows):
        label = "pos" if i % 2 == 0 else "neg"
        words = list(rng.choice(fillers, size=int(rng.integers(2, 7))))
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(positive if label == "pos" else negative)))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels
