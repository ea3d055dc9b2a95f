"""Raw prediction inputs to model inputs, and model outputs to labels, with the preprocessing a trained
model's spec carries (see ml/pipeline.py). Serving calls this on every request, so it stays plain numpy.

Accepted inputs, by the kind of model:
  tabular  a list of numbers in feature order, or an object {feature: number} (a dataset row; the target
           column, if present, is ignored)
  image    an H x W (or 1 x H x W) nested list, a flat list of H*W numbers, or an object of pixel columns
  text     a string, or an object {text_column: string}
A null value is filled with the value the model's imputer learnt (options.impute mean, median or
most_frequent); a model trained with drop_rows, or without an imputer, refuses it naming the feature.
Each input is also given back in the form prediction logs store: an object of dataset columns (a text, a
table row), or for images `{"pixels": [...]}` in the order of the version's feature names (64 named pixel
columns per image would make the log several times larger); feedback snapshots turn both into dataset rows.
"""

from __future__ import annotations

import math

import numpy as np

from ml.architectures import IMAGE, REGISTRY, TABULAR, TASKS, TEXT
from ml.data import encode_texts
from ml.errors import UserError
from ml.hf import TOKENIZER as HF_TOKENIZER
from ml.impute import FILLING

PIXELS = "pixels"
FLOAT32_MAX = float(np.finfo(np.float32).max)
"""The largest magnitude an input value may have: models run in float32, where anything larger is infinite."""
FLOAT32_RANGE = "±3.4e38"


class InputError(UserError):
    """An input cannot be encoded; `index` says which one (None: the whole request), and `field` where:
    `inputs[3]`, or `inputs`."""

    def __init__(self, index: int | None, message: str):
        super().__init__(message, field="inputs" if index is None else f"inputs[{index}]")
        self.index = index


def _finite(value) -> bool:
    try:
        return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _number(value, index: int, where: str) -> float:
    if not _finite(value):
        if isinstance(value, int) and not isinstance(value, bool):
            shown = "an integer too large for a float"
        else:
            shown = repr(value) if len(repr(value)) < 40 else repr(value)[:37] + "..."
        raise InputError(index, f"{where} must be a finite number, got {shown}")
    if abs(value) > FLOAT32_MAX:
        raise InputError(index, f"{where} is {float(value):g}, outside the float32 range ({FLOAT32_RANGE})")
    return float(value)


def _numbers(
    values: list, index: int, count: int, what: str, nulls: _Nulls | None = None, names: list[str] | None = None
) -> list[float]:
    """A list input's numbers, checked; a bad one is named by its feature when `names` has one per value."""
    if len(values) != count:
        raise InputError(index, f"expected {count} {what}, got {len(values)}")
    values = nulls(values, index) if nulls is not None else values
    return [_number(v, index, label) for v, label in zip(values, _labels(names, count), strict=True)]


def _labels(names: list[str] | None, size: int) -> list[str]:
    """How messages name the values of a list input: by feature when `names` has one per value, else by
    position."""
    return (
        [f"'{n}'" for n in names] if names is not None and len(names) == size else [f"value {j}" for j in range(size)]
    )


def _from_object(
    row: dict, index: int, names: list[str], target: str | None, nulls: _Nulls | None = None
) -> list[float]:
    missing = [n for n in names if n not in row]
    if missing:
        raise InputError(index, f"missing feature(s) {', '.join(missing[:10])}")
    extra = [k for k in row if k not in names and k != target]
    if extra:
        raise InputError(index, f"unknown feature(s) {', '.join(str(k) for k in extra[:10])}")
    values = [row[n] for n in names]
    values = nulls(values, index) if nulls is not None else values
    return [_number(v, index, f"'{n}'") for n, v in zip(names, values, strict=True)]


class _Nulls:
    """Null (JSON null) input values: filled with the values the model's imputer learnt (mean, median,
    most_frequent; see ml/impute.py), or refused naming the feature (drop_rows, or no imputer). Remembers
    where the nulls were, so the prediction log keeps them missing rather than recording the fill."""

    def __init__(self, preprocessing: dict, names: list[str], size: int):
        imputer = preprocessing.get("impute") or {}
        strategy, values = imputer.get("strategy"), imputer.get("values") or {}
        self.reason = (
            f"this model was trained with impute {strategy}, which cannot fill it"
            if strategy
            else "this model was trained without options.impute, so it cannot fill it"
        )
        self.labels = _labels(names, size)
        self.fills: list | None = None
        if strategy in FILLING and len(names) == size and all(n in values for n in names):
            self.fills = [values[n] for n in names]
        elif strategy in FILLING and len(names) == 1 and names[0] in values:  # an NPZ array: per element
            flat = np.ravel(np.asarray(values[names[0]], dtype=np.float64)).tolist()
            self.fills = flat if len(flat) == size else None
        self.holes: dict[int, list[int]] = {}

    def __call__(self, values: list, index: int) -> list:
        holes = [j for j, v in enumerate(values) if v is None]
        if not holes:
            return values
        if self.fills is None:
            raise InputError(index, f"{self.labels[holes[0]]} is missing; {self.reason}")
        self.holes[index] = holes
        return [self.fills[j] if v is None else v for j, v in enumerate(values)]

    def logged(self, index: int, row: list) -> list:
        """`row` with None where input `index` had its nulls."""
        if index not in self.holes:
            return row
        row = list(row)
        for j in self.holes[index]:
            row[j] = None
        return row


def _flatten_image(value: list, index: int, shape: list[int]) -> list:
    height, width = shape
    if value and isinstance(value[0], list):
        rows = value[0] if len(value) == 1 and value[0] and isinstance(value[0][0], list) else value
        if len(rows) != height or not all(isinstance(r, list) and len(r) == width for r in rows):
            raise InputError(index, f"expected a {height}x{width} image")
        return [v for r in rows for v in r]
    return value


_NUMBER = (int, float)


def _only_numbers(values: list, depth: int) -> bool:
    if depth == 1:
        return all(v.__class__ in _NUMBER for v in values)
    return all(isinstance(v, list) and _only_numbers(v, depth - 1) for v in values)


def _fast_array(inputs: list, shapes: tuple[tuple[int, ...], ...]) -> np.ndarray | None:
    """Every input as one float array when all are well-formed lists of numbers within the float32 range in
    one of `shapes` (per input), checked in bulk; None when any is not, and the per-input path then names the
    problem."""
    if inputs[0].__class__ is not list:
        return None
    try:
        array = np.array(inputs, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    if (
        array.shape[1:] not in shapes
        or not _only_numbers(inputs, array.ndim)
        or not (np.abs(array) <= FLOAT32_MAX).all()  # False for NaN and infinity too: one pass checks all three
    ):
        return None  # strings and booleans would have converted silently: the type check refuses them
    return array.reshape(len(inputs), -1)


def encode(spec: dict, inputs) -> tuple[np.ndarray, list[dict]]:
    """Model inputs for a list of raw inputs, and each input as an object of dataset columns."""
    preprocessing = spec.get("preprocessing") or {}
    kind = preprocessing.get("kind")
    if not isinstance(inputs, list) or not inputs:
        raise InputError(None, "'inputs' must be a non-empty list")
    if kind == TEXT:
        return _encode_texts(preprocessing, inputs)
    names = preprocessing.get("feature_names") or []
    target = spec.get("target")
    if kind == IMAGE:
        shape = preprocessing["image_shape"]
        size = shape[0] * shape[1]
        columns = names if len(names) == size else None
        fast = _fast_array(inputs, ((size,), tuple(shape), (1, *shape)))
        rows = [] if fast is None else fast.tolist()
        nulls = _Nulls(preprocessing, names, size)
        for i, value in enumerate(inputs if fast is None else ()):
            if isinstance(value, dict):
                if columns is None:
                    raise InputError(i, "send the image as a nested list of pixels")
                rows.append(_from_object(value, i, columns, target, nulls))
            elif isinstance(value, list):
                rows.append(_numbers(_flatten_image(value, i, shape), i, size, "pixel values", nulls))
            else:
                raise InputError(i, f"an image is a {shape[0]}x{shape[1]} list of numbers, got {type(value).__name__}")
        array = np.asarray(rows if fast is None else fast, dtype=np.float32)
        array = _standardized(array, preprocessing["input_mean"], preprocessing["input_std"], columns or [])
        # the pixels in the order of the version's feature names (compact; feedback snapshots name them)
        logged = [{PIXELS: r} if columns else {names[0]: r} for r in map(nulls.logged, range(len(rows)), rows)]
        return array.reshape(len(rows), 1, *shape), logged
    fast = _fast_array(inputs, ((len(names),),))
    rows = [] if fast is None else fast.tolist()
    nulls = _Nulls(preprocessing, names, len(names))
    for i, value in enumerate(inputs if fast is None else ()):
        if isinstance(value, dict):
            rows.append(_from_object(value, i, names, target, nulls))
        elif isinstance(value, list):
            rows.append(_numbers(value, i, len(names), "feature values", nulls, names))
        else:
            raise InputError(i, f"a row is a list of {len(names)} numbers or an object of features")
    array = np.asarray(rows if fast is None else fast, dtype=np.float32)
    mean = np.asarray(preprocessing["input_mean"], dtype=np.float32)
    std = np.asarray(preprocessing["input_std"], dtype=np.float32)
    logged = [dict(zip(names, r, strict=True)) for r in map(nulls.logged, range(len(rows)), rows)]
    return _standardized(array, mean, std, names), logged


def _standardized(array: np.ndarray, mean, std, names: list[str]) -> np.ndarray:
    """(array - mean) / std as float32 (N, F); a value in range that the training data's small deviation
    scales past the float32 range is refused, naming the input and its feature (`names`, else its position)."""
    with np.errstate(over="ignore"):
        scaled = ((array - mean) / std).astype(np.float32, copy=False)
    if np.isfinite(scaled).all():
        return scaled
    row, column = (int(k) for k in np.argwhere(~np.isfinite(scaled))[0])
    where = f"'{names[column]}'" if column < len(names) else f"value {column}"
    raise InputError(
        row,
        f"{where} is {float(array[row, column]):g}; standardized with the training data's mean and deviation it "
        f"falls outside the float32 range ({FLOAT32_RANGE})",
    )


def _encode_texts(preprocessing: dict, inputs: list) -> tuple[np.ndarray, list[dict]]:
    column = preprocessing["text_column"]
    nulls = _Nulls(preprocessing, [column], 1)
    texts, logged = [], []
    for i, value in enumerate(inputs):
        if isinstance(value, dict):
            if set(value) - {column} or column not in value:
                raise InputError(i, f"a text input is a string or an object {{'{column}': string}}")
            value = value[column]
        logged.append({column: value})
        value = nulls([value], i)[0]
        if not isinstance(value, str):
            raise InputError(i, f"expected a string, got {type(value).__name__}")
        if "\x00" in value:
            raise InputError(i, "the text contains a NUL character")
        texts.append(value)
    if preprocessing.get("tokenizer") == HF_TOKENIZER:  # the runtime tokenizes with the checkpoint's tokenizer
        return np.array(texts, dtype=object), logged
    ids = encode_texts(texts, preprocessing["vocab"], preprocessing["max_len"])
    return ids, logged


def check_outputs(outputs: np.ndarray) -> None:
    """Refuse outputs (N, num_outputs) with a NaN or infinite value: such a row has no label and no scores
    worth answering, whichever runtime made it. Raises InputError naming the first such input (`inputs[3]`)."""
    finite = np.isfinite(outputs).all(axis=1)
    if finite.all():
        return
    bad = np.flatnonzero(~finite)
    others = f" ({len(bad)} inputs of {len(outputs)} in all)" if len(bad) > 1 else ""
    raise InputError(
        int(bad[0]),
        "the model's output is not finite for this input, so there is no prediction to give; the input is "
        f"probably far outside the values the model was trained on{others}",
    )


def decode(spec: dict, outputs: np.ndarray) -> list[dict]:
    """{"label", "scores"} per row: the most likely class and every class's probability, or the value.
    Every serving runtime's outputs pass through here, so non-finite ones are refused here (`check_outputs`)."""
    check_outputs(outputs)
    if spec.get("task") == "regression":
        return [{"label": float(v), "scores": None} for v in outputs[:, 0]]
    classes = (spec.get("preprocessing") or {}).get("classes") or [str(i) for i in range(outputs.shape[1])]
    logits = outputs.astype(np.float64)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = exp / exp.sum(axis=1, keepdims=True)
    best = probabilities.argmax(axis=1).tolist()
    rows = np.round(probabilities, 6).tolist()
    return [
        {"label": classes[b], "scores": dict(zip(classes, row, strict=True))} for b, row in zip(best, rows, strict=True)
    ]


def check_label(spec: dict, label) -> str | float:
    """A feedback label in the form the model's targets take: one of its classes, or a finite number."""
    if spec.get("task") == "regression":
        if not _finite(label):
            raise InputError(None, "a regression label must be a finite number")
        return float(label)
    classes = (spec.get("preprocessing") or {}).get("classes") or []
    if isinstance(label, bool) or not isinstance(label, (str, int)):
        raise InputError(None, f"a label is one of the model's classes, got {label!r}")
    if isinstance(label, int) and label.bit_length() > 64:
        raise InputError(None, "a label is one of the model's classes, not a huge integer")
    text = str(label)
    if classes and text not in classes:
        shown = ", ".join(classes[:20]) + (" ..." if len(classes) > 20 else "")
        raise InputError(None, f"'{text}' is not one of the model's classes ({shown})")
    return text


def run_batched(runtime, inputs: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """A runtime's outputs for many inputs, `batch_size` rows at a time."""
    parts = [runtime.run(inputs[start : start + batch_size]) for start in range(0, len(inputs), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)


# --- the serving spec of a brought model -------------------------------------------------------------------

OUTPUTS = ("logits", "probabilities")
"""What a brought graph's first output holds per class: logits (softmax applied when serving) or probabilities."""
MAX_FEATURES = 100_000
MAX_CLASSES = 100_000
MAX_TEXT_LEN = 4096
_KIND_TASKS = {
    TABULAR: ("classification", "regression"),
    IMAGE: ("classification", "image-classification"),
    TEXT: ("text-classification",),
}
_KIND_KEYS = {
    TABULAR: {"kind", "classes", "feature_names", "input_mean", "input_std"},
    IMAGE: {"kind", "classes", "image_shape", "input_mean", "input_std", "feature_names"},
    TEXT: {"kind", "classes", "text_column", "vocab", "max_len"},
}


class ServingSpecError(UserError):
    """A brought model's serving spec is not acceptable; `field` names the key (`preprocessing.vocab`)."""


def _strings(value, field: str, *, minimum: int, maximum: int, empty_ok: bool = False) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ServingSpecError("must be a list of strings", field=field)
    if not minimum <= len(value) <= maximum:
        raise ServingSpecError(f"must hold {minimum} to {maximum} names, got {len(value)}", field=field)
    if not empty_ok and any(not v.strip() for v in value):
        raise ServingSpecError("holds an empty name", field=field)
    if len(set(value)) != len(value):
        twin = next(v for i, v in enumerate(value) if v in value[:i])
        raise ServingSpecError(f"names '{twin}' twice", field=field)
    return value


def _positive_ints(value, field: str, count: int, maximum: int) -> list[int]:
    if (
        not isinstance(value, list)
        or len(value) != count
        or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= maximum for v in value)
    ):
        raise ServingSpecError(f"must be a list of {count} integers from 1 to {maximum}", field=field)
    return value


def _scaling(preprocessing: dict, width: int | None) -> tuple:
    """input_mean / input_std: per feature (`width` of them) or one number for images (None); default 0 and 1."""
    out = []
    for key, default in (("input_mean", 0.0), ("input_std", 1.0)):
        value = preprocessing.get(key, default if width is None else [default] * width)
        values = [value] if width is None else value
        if width is not None and (not isinstance(value, list) or len(value) != width):
            raise ServingSpecError(f"must be a list of {width} numbers, one per feature", field=f"preprocessing.{key}")
        if not all(_finite(v) and abs(v) <= FLOAT32_MAX for v in values):
            raise ServingSpecError("must hold finite numbers", field=f"preprocessing.{key}")
        if key == "input_std" and not all(v > 0 for v in values):
            raise ServingSpecError("a standard deviation must be above 0", field=f"preprocessing.{key}")
        out.append(float(value) if width is None else [float(v) for v in value])
    return tuple(out)


def check_serving_spec(spec) -> dict:
    """The serving spec of a brought model (an ONNX graph), checked and with its defaults filled in.

    It has the shape a trained version's spec has, less the architecture, so `encode`, `decode`, evaluation
    and feedback read both alike:
        {"task": one of ml.architectures.TASKS, "target": label column (optional; the data's otherwise),
         "outputs": "logits" (default) | "probabilities",
         "preprocessing": {"kind": "tabular" | "image" | "text", "classes": [names] (classification), and
            tabular: "feature_names": [F names], "input_mean", "input_std": [F numbers] (default 0 and 1);
            image: "image_shape": [H, W], "input_mean", "input_std": numbers (default 0 and 1), "feature_names":
                   the H*W pixel columns of the data, or [the name of its NPZ array];
            text: "text_column", "vocab": [words] (Eco's tokens: lower-cased \\w+ words; id 0 pads, 1 is unknown,
                  vocab[i] is i + 2), "max_len": tokens per text}}
    The graph takes float (N, F), float (N, 1, H, W) or int64 (N, max_len) after that preprocessing.
    Raises ServingSpecError naming the key."""
    if not isinstance(spec, dict):
        raise ServingSpecError("the spec must be a JSON object")
    if "architecture" in spec:
        raise ServingSpecError(
            "an ONNX version's spec describes its inputs and outputs (task, preprocessing), not an architecture; "
            "send safetensors weights with an architecture spec instead",
            field="architecture",
        )
    unknown = sorted(set(spec) - {"task", "target", "preprocessing", "outputs"})
    if unknown:
        raise ServingSpecError(f"unknown key(s) {', '.join(unknown)}; known: task, target, preprocessing, outputs")
    task = spec.get("task")
    if task not in TASKS:
        raise ServingSpecError(f"must be one of {', '.join(TASKS)}; got {task!r}", field="task")
    out: dict = {"task": task}
    if spec.get("target") is not None:
        if not isinstance(spec["target"], str) or not spec["target"].strip():
            raise ServingSpecError("must be the name of the label column", field="target")
        out["target"] = spec["target"]
    outputs = spec.get("outputs", "logits")
    if outputs not in OUTPUTS or (outputs == "probabilities" and task == "regression"):
        allowed = "logits" if task == "regression" else " or ".join(OUTPUTS)
        raise ServingSpecError(f"must be {allowed}; got {outputs!r}", field="outputs")
    if outputs != "logits":
        out["outputs"] = outputs
    preprocessing = spec.get("preprocessing")
    if not isinstance(preprocessing, dict):
        raise ServingSpecError(
            'must be an object such as {"kind": "tabular", "feature_names": [...]}', field="preprocessing"
        )
    kind = preprocessing.get("kind")
    if kind not in _KIND_TASKS:
        raise ServingSpecError(f"must be one of {', '.join(_KIND_TASKS)}; got {kind!r}", field="preprocessing.kind")
    if task not in _KIND_TASKS[kind]:
        raise ServingSpecError(
            f"a {kind} input serves {' or '.join(_KIND_TASKS[kind])}, not {task}", field="preprocessing.kind"
        )
    unknown = sorted(set(preprocessing) - _KIND_KEYS[kind])
    if unknown:
        raise ServingSpecError(
            f"unknown key(s) {', '.join(unknown)} for a {kind} input; known: {', '.join(sorted(_KIND_KEYS[kind]))}",
            field="preprocessing",
        )
    checked: dict = {"kind": kind}
    if task == "regression":
        if "classes" in preprocessing:
            raise ServingSpecError("a regression model has no classes", field="preprocessing.classes")
    else:
        checked["classes"] = _strings(
            preprocessing.get("classes"), "preprocessing.classes", minimum=2, maximum=MAX_CLASSES
        )
    if kind == TABULAR:
        names = _strings(
            preprocessing.get("feature_names"), "preprocessing.feature_names", minimum=1, maximum=MAX_FEATURES
        )
        if out.get("target") in names:
            raise ServingSpecError(
                f"the target '{out['target']}' is also a feature", field="preprocessing.feature_names"
            )
        checked["feature_names"] = names
        checked["input_mean"], checked["input_std"] = _scaling(preprocessing, len(names))
    elif kind == IMAGE:
        shape = _positive_ints(preprocessing.get("image_shape"), "preprocessing.image_shape", 2, 4096)
        if shape[0] * shape[1] > MAX_FEATURES:
            raise ServingSpecError(f"an image holds at most {MAX_FEATURES} pixels", field="preprocessing.image_shape")
        checked["image_shape"] = shape
        checked["input_mean"], checked["input_std"] = _scaling(preprocessing, None)
        names = _strings(
            preprocessing.get("feature_names"), "preprocessing.feature_names", minimum=1, maximum=MAX_FEATURES
        )
        if len(names) not in (1, shape[0] * shape[1]):
            raise ServingSpecError(
                f"names {len(names)} columns; name the {shape[0] * shape[1]} pixel columns of a "
                f"{shape[0]}x{shape[1]} image, or the one array of an NPZ file",
                field="preprocessing.feature_names",
            )
        checked["feature_names"] = names
    else:
        column = preprocessing.get("text_column")
        if not isinstance(column, str) or not column.strip():
            raise ServingSpecError("must name the text column", field="preprocessing.text_column")
        checked["text_column"] = column
        checked["vocab"] = _strings(preprocessing.get("vocab"), "preprocessing.vocab", minimum=1, maximum=1_000_000)
        checked["max_len"] = _positive_ints([preprocessing.get("max_len")], "preprocessing.max_len", 1, MAX_TEXT_LEN)[0]
    out["preprocessing"] = checked
    return out


def input_signature(spec: dict) -> tuple[tuple[int | None, ...], str]:
    """The model input a serving spec's preprocessing makes: its shape with None for the batch axis, and its
    element type, "float" or "int64" (token ids)."""
    preprocessing = spec["preprocessing"]
    kind = preprocessing["kind"]
    if kind == TEXT:
        return (None, preprocessing["max_len"]), "int64"
    if kind == IMAGE:
        return (None, 1, *preprocessing["image_shape"]), "float"
    return (None, len(preprocessing["feature_names"])), "float"


def num_outputs(spec: dict) -> int:
    """How many values per input the model must give: one per class, or 1 for regression."""
    return 1 if spec["task"] == "regression" else len(spec["preprocessing"]["classes"])


def example_inputs(spec: dict, count: int) -> list:
    """`count` raw inputs that `encode` accepts for a serving spec (zeros, or a one-word text)."""
    preprocessing = spec["preprocessing"]
    kind = preprocessing["kind"]
    if kind == TEXT:
        return ["example"] * count
    size = (
        preprocessing["image_shape"][0] * preprocessing["image_shape"][1]
        if kind == IMAGE
        else len(preprocessing["feature_names"])
    )
    return [[0.0] * size for _ in range(count)]


def pipeline_spec(spec: dict, target: str | None = None) -> dict:
    """The spec `ml.pipeline` encodes data with. A brought model's spec has no architecture; the pipeline
    reads only the input kind from one, so the first Eco architecture of that kind stands in (it is never
    built). `target` fills in a target the spec does not name (the data set's label column)."""
    out = dict(spec)
    if "architecture" not in out:
        kind = (spec.get("preprocessing") or {}).get("kind")
        out["architecture"] = next((name for name, entry in REGISTRY.items() if entry.input_kind == kind), None)
    if not out.get("target") and target:
        out["target"] = target
    return out
