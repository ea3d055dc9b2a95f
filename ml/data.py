"""A file's columns (as ml.formats.arrays reads them) to arrays a network can eat, and seeded train / validation /
test splits.

Everything needed to turn raw inputs into model inputs again at serving time (class names, feature
names, input scaling, vocabulary) is returned as `preprocessing`, which goes into the model's spec.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ml.architectures import IMAGE, TABULAR, TEXT
from ml.architectures import get as architecture_entry
from ml.errors import UserError
from ml.formats import label_text
from ml.hf import TOKENIZER as HF_TOKENIZER
from ml.impute import fill as fill_missing
from ml.impute import learn as learn_imputer

PAD, UNK = 0, 1
_TOKEN = re.compile(r"\w+", re.UNICODE)


class DataError(UserError):
    """The data cannot feed this architecture; the message says why."""


@dataclass
class Arrays:
    inputs: np.ndarray  # float32 features (N, F), float32 images (N, C, H, W), or int64 token ids (N, L)
    targets: np.ndarray  # int64 class indices, or float32 values for regression
    preprocessing: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, index: np.ndarray) -> Arrays:
        return Arrays(self.inputs[index], self.targets[index], self.preprocessing)


def encode_targets(values: np.ndarray, task: str, classes: list[str] | None = None) -> tuple[np.ndarray, dict]:
    if task == "regression":
        try:
            targets = values.astype(np.float32)
        except (TypeError, ValueError):
            raise DataError("a regression target must be numeric") from None
        if not np.isfinite(targets).all():
            raise DataError("the target has missing or infinite values; drop those rows first")
        return targets, {}
    labels = np.array([label_text(v) for v in values], dtype=object)
    if any(label is None for label in labels):
        raise DataError("the target has missing values; drop those rows first")
    classes = classes or sorted(set(labels), key=_natural)
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({label for label in labels if label not in index})
    if unknown:
        raise DataError(f"labels not seen in training: {', '.join(unknown[:10])}")
    if len(classes) < 2:
        raise DataError("classification needs at least two classes")
    return np.array([index[label] for label in labels], dtype=np.int64), {"classes": classes}


def _natural(label: str):
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(str(text).lower())


def build_vocab(texts, max_size: int = 20000, min_count: int = 1) -> list[str]:
    counts = Counter(token for text in texts for token in tokenize(text))
    ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return ranked[: max_size - 2]


def encode_texts(texts, vocab: list[str], max_len: int) -> np.ndarray:
    index = {token: i + 2 for i, token in enumerate(vocab)}
    ids = np.zeros((len(texts), max_len), dtype=np.int64)
    for row, text in enumerate(texts):
        tokens = [index.get(t, UNK) for t in tokenize(text)][:max_len] or [UNK]
        ids[row, : len(tokens)] = tokens
    return ids


def prepare(
    columns: dict[str, np.ndarray],
    *,
    target: str,
    task: str,
    architecture: str,
    image_shape: list[int] | None = None,
    text_column: str | None = None,
    max_len: int = 128,
    max_vocab: int = 20000,
    preprocessing: dict | None = None,
    impute: str | None = None,
) -> Arrays:
    """Arrays for `architecture` from a file's columns. Pass `preprocessing` from training to encode new
    data the same way (evaluation, serving). `impute` (a strategy of ml.impute) learns an imputer from these
    rows when `preprocessing` has none; an imputer in `preprocessing` fills missing feature values."""
    if target not in columns:
        raise DataError(f"target column '{target}' not found")
    known = dict(preprocessing or {})
    targets, label_info = encode_targets(columns[target], task, known.get("classes"))
    hf = known.get("tokenizer") == HF_TOKENIZER  # a fine-tuned checkpoint tokenizes raw texts itself
    kind = TEXT if hf else architecture_entry(architecture).input_kind
    features = {k: v for k, v in columns.items() if k != target}
    imputer, learnt = known.get("impute"), {}
    if imputer is None and impute:
        imputer = learn_imputer(features, used_features(features, architecture, text_column, known), impute)
    if imputer is not None:
        features = fill_missing(features, imputer)
        learnt["impute"] = imputer
    if kind == TEXT:
        name = known.get("text_column") or text_column or _pick_text_column(features)
        if name not in features:
            raise DataError(f"text column '{name}' not found")
        texts = [("" if v is None else str(v)) for v in features[name]]
        if hf:
            return Arrays(np.array(texts, dtype=object), targets, {**known, **label_info, "kind": kind})
        vocab = known.get("vocab") or build_vocab(texts, max_vocab)
        length = known.get("max_len", max_len)
        inputs = encode_texts(texts, vocab, length)
        info = {"text_column": name, "vocab": vocab, "max_len": length}
    else:
        inputs, info = _numeric_inputs(features, kind, image_shape, known)
    return Arrays(inputs, targets, {**known, **label_info, **learnt, **info, "kind": kind})


def used_features(
    features: dict[str, np.ndarray],
    architecture: str,
    text_column: str | None = None,
    preprocessing: dict | None = None,
) -> list[str]:
    """The feature columns `architecture` reads: the text column for text models, else every feature column
    (those of `preprocessing` once a model has been trained)."""
    known = preprocessing or {}
    if architecture_entry(architecture).input_kind == TEXT:
        name = known.get("text_column") or text_column or _pick_text_column(features)
        if name not in features:
            raise DataError(f"text column '{name}' not found")
        return [name]
    return [n for n in known.get("feature_names") or features if n in features]


def _pick_text_column(features: dict[str, np.ndarray]) -> str:
    text = [k for k, v in features.items() if v.dtype == object]
    if len(text) != 1:
        raise DataError(f"name the text column: found {len(text)} text columns ({', '.join(text) or 'none'})")
    return text[0]


def _numeric_inputs(features, kind, image_shape, known) -> tuple[np.ndarray, dict]:
    if len(features) == 1 and next(iter(features.values())).ndim > 1:  # NPZ: one array of samples
        name, array = next(iter(features.items()))
        inputs = array.astype(np.float32)
        names = [name]
    else:
        bad = [k for k, v in features.items() if v.dtype == object or v.ndim != 1]
        if bad:
            raise DataError(f"feature columns must be numeric: {', '.join(bad[:10])}")
        names = known.get("feature_names") or list(features)
        missing = [n for n in names if n not in features]
        if missing:
            raise DataError(f"missing feature columns: {', '.join(missing[:10])}")
        inputs = np.stack([features[n] for n in names], axis=1).astype(np.float32)
    if not np.isfinite(inputs).all():
        flat = inputs.reshape(len(inputs), -1)
        bad = [
            names[i] if len(names) == flat.shape[1] else f"feature {i}"
            for i in np.flatnonzero(~np.isfinite(flat).all(axis=0))
        ]
        raise DataError(
            f"features have missing values or values beyond float32 (±3.4e38): {', '.join(bad[:10])}; set "
            "options.impute, or drop or fill them first (a process job's dropna, fillna or filter)"
        )
    if kind == IMAGE:
        shape = (
            known.get("image_shape")
            or image_shape
            or ([inputs.shape[1], inputs.shape[2]] if inputs.ndim >= 3 else None)
        )
        if shape is None:
            side = int(round(inputs.shape[1] ** 0.5))
            if side * side != inputs.shape[1]:
                raise DataError("give image_shape: the feature count is not a square")
            shape = [side, side]
        try:
            inputs = inputs.reshape(len(inputs), 1, *shape) if inputs.ndim == 2 else inputs
        except ValueError:
            raise DataError(f"{inputs.shape[1]} features do not make images of shape {shape}") from None
        if inputs.ndim == 3:
            inputs = inputs[:, None]
        mean = known.get("input_mean", float(inputs.mean()))
        std = known.get("input_std", float(inputs.std()) or 1.0)
        inputs = (inputs - mean) / std
        return inputs.astype(np.float32), {
            "image_shape": list(shape),
            "input_mean": mean,
            "input_std": std,
            "feature_names": names,
        }
    if kind == TABULAR and inputs.ndim != 2:
        inputs = inputs.reshape(len(inputs), -1)
    mean = np.array(known["input_mean"], dtype=np.float32) if "input_mean" in known else inputs.mean(axis=0)
    std = np.array(known["input_std"], dtype=np.float32) if "input_std" in known else inputs.std(axis=0)
    std = np.where(std > 0, std, 1.0).astype(np.float32)
    inputs = (inputs - mean) / std
    return inputs.astype(np.float32), {
        "feature_names": names,
        "input_mean": [float(m) for m in np.ravel(mean)],
        "input_std": [float(s) for s in np.ravel(std)],
    }


def split_indices(
    targets: np.ndarray, *, seed: int, validation: float = 0.1, test: float = 0.2, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train / validation / test indices, the same for the same seed; stratified by class when asked."""
    if not (0 <= validation < 1 and 0 < test < 1 and validation + test < 1):
        raise DataError("validation and test fractions must be in [0, 1) and sum to less than 1")
    rng = np.random.default_rng(seed)
    stratify = stratify and np.issubdtype(targets.dtype, np.integer)  # class indices; never regression values
    groups = [np.flatnonzero(targets == c) for c in np.unique(targets)] if stratify else [np.arange(len(targets))]
    train, val, tst = [], [], []
    for group in groups:
        group = rng.permutation(group)
        n_test = int(round(len(group) * test))
        n_val = int(round(len(group) * validation))
        tst.append(group[:n_test])
        val.append(group[n_test : n_test + n_val])
        train.append(group[n_test + n_val :])
    parts = [np.sort(np.concatenate(p)) for p in (train, val, tst)]
    if len(parts[0]) == 0 or len(parts[2]) == 0:
        raise DataError("too few rows to split into train and test")
    return parts[0], parts[1], parts[2]
