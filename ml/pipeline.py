"""A data file's columns to a trained model and its metrics, and a trained model back over data.

`train` encodes the targets of every row first (so every class is known and the split can stratify),
splits with a seeded `split_indices`, and only then learns the input preprocessing (feature mean / std,
image mean / std, vocabulary, the imputer of `options.impute`: see ml/impute.py) from the train rows,
applying it unchanged to the validation and test rows: nothing about the held-out rows leaks into the model.
With an impute strategy, rows with a missing target (and for drop_rows, a missing used value) are dropped
before the split, in training and evaluation alike. The same data and split seed give the same split
and preprocessing, so a redelivered job resumes from its checkpoint with identical inputs.

The model's spec carries everything needed to encode raw inputs again at serving time:
    {**architecture spec, "task": ..., "target": ..., "preprocessing": {...}}
`build_model` ignores the extra keys, and the whole spec is plain JSON.

A regression is trained on standardised targets (`ml.train.fit`, with the train rows' mean and standard
deviation) and its output layer then rescaled, so the saved weights answer in the target's units:
evaluation, serving, export and quantization need nothing more. The preprocessing records `target_mean`
and `target_std` for provenance only; nothing applies them again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from torch import nn

from ml import evaluate as metrics_of
from ml import impute
from ml.architectures import TEXT, SpecError, input_kind
from ml.data import Arrays, DataError, encode_targets, prepare, split_indices, used_features
from ml.recipes import build_spec, check_options, default_hyperparameters, fits_task, text_max_len
from ml.train import FitResult, HyperparameterError, Reporter, fit, fit_processes
from ml.train import hyperparameters as checked_hyperparameters

SPLIT_DEFAULTS = {"seed": 0, "validation": 0.1, "test": 0.2, "stratify": True}
SPLITS = ("train", "validation", "test", "all")


@dataclass
class TrainOutcome:
    model: nn.Module  # on the CPU, in eval mode
    spec: dict  # architecture spec + task, target, preprocessing (JSON)
    hyperparameters: dict  # effective: recipe defaults, then the user's values
    split: dict  # effective split config + train_rows, validation_rows, test_rows
    metrics: dict  # test metrics, and val_* metrics when there is a validation split (JSON)
    fit: FitResult


def split_config(given: dict | None) -> dict:
    """The split settings with defaults filled in and every value checked (DataError names the key)."""
    if given is not None and not isinstance(given, dict):
        raise DataError("the split must be a JSON object")
    given = dict(given or {})
    unknown = sorted(set(given) - set(SPLIT_DEFAULTS))
    if unknown:
        raise DataError(f"unknown split setting(s): {', '.join(unknown)}; known: {', '.join(SPLIT_DEFAULTS)}")
    config = {**SPLIT_DEFAULTS, **given}
    seed = config["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**31 - 1:
        raise DataError(f"split 'seed' must be an integer from 0 to {2**31 - 1}, got {seed!r}")
    for key, low_open in (("validation", False), ("test", True)):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise DataError(f"split '{key}' must be a fraction, got {value!r}")
        if not (0 < value < 1 if low_open else 0 <= value < 1):
            raise DataError(f"split '{key}' must be in {'(0, 1)' if low_open else '[0, 1)'}, got {value!r}")
        config[key] = float(value)
    if config["validation"] + config["test"] >= 1:
        raise DataError("split 'validation' + 'test' must be below 1, leaving rows to train on")
    if not isinstance(config["stratify"], bool):
        raise DataError(f"split 'stratify' must be true or false, got {config['stratify']!r}")
    return config


_split_config = split_config  # `evaluate` takes a parameter of the same name


def _checked_columns(columns: dict, target: str) -> dict[str, np.ndarray]:
    """Columns as arrays of one common length, the target among them (strings as object arrays, the
    way read_columns gives them)."""
    if target not in columns:
        raise DataError(f"target column '{target}' not found")
    arrays = {name: np.asarray(values) for name, values in columns.items()}
    arrays = {name: a.astype(object) if a.dtype.kind in "US" else a for name, a in arrays.items()}
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) != 1:
        raise DataError(f"the columns have different lengths: {sorted(lengths)}")
    if not lengths.pop():
        raise DataError("the data has no rows")
    return arrays


def _rows(columns: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[index] for name, values in columns.items()}


def _drop_unusable_rows(
    columns: dict[str, np.ndarray], target: str, used: list[str], strategy: str, log=None
) -> dict[str, np.ndarray]:
    """The rows a model with an imputer can use, chosen before the split (training and evaluation drop the
    same rows, so they draw the same split): never a missing target; with drop_rows, no missing used value."""
    no_target = impute.missing_target(columns[target])
    drop = no_target | (impute.missing_rows(columns, used) if strategy == impute.DROP_ROWS else False)
    if not drop.any():
        return columns
    if log is not None:
        if no_target.any():
            log(f"impute {strategy}: dropped {int(no_target.sum())} row(s) whose target '{target}' is missing")
        if strategy == impute.DROP_ROWS and (drop & ~no_target).any():
            named = [n for n in used if impute.missing_mask(columns[n]).any()]
            shown = ", ".join(named[:10]) + (" ..." if len(named) > 10 else "")
            log(f"impute drop_rows: dropped {int((drop & ~no_target).sum())} row(s) with missing values in {shown}")
    if drop.all():
        raise DataError(f"no rows are left after impute {strategy} dropped the rows with missing values")
    return _rows(columns, np.flatnonzero(~drop))


def _shorten_texts(arrays: Arrays) -> Arrays:
    """Token ids cut to the recipe's length for these texts (most of them fit; padding is not kept)."""
    lengths = (arrays.inputs != 0).sum(axis=1)
    length = text_max_len(lengths, int(arrays.inputs.shape[1]))
    preprocessing = {**arrays.preprocessing, "max_len": length}
    return Arrays(np.ascontiguousarray(arrays.inputs[:, :length]), arrays.targets, preprocessing)


def _unmeasured_classes(
    targets: np.ndarray, classes: list[str] | None, val_index: np.ndarray, test_index: np.ndarray
) -> list[str]:
    """Warnings for classes that a held-out split lacks (a class of one row, say): their recall there is not
    measured, and any prediction of them there is a false positive. A validation split is only checked when
    there is one. Nothing for regression (no classes)."""
    if not classes:
        return []
    overall = np.bincount(targets, minlength=len(classes))
    lines = []
    for split, index in (("validation", val_index), ("test", test_index)):
        if not len(index):
            continue
        counts = np.bincount(targets[index], minlength=len(classes))
        for c in np.flatnonzero(counts == 0):
            total = int(overall[c])
            lines.append(
                f"warning: class {classes[c]!r} has no {split} rows ({total} row{'s' if total != 1 else ''} in all); "
                f"its {split} metrics are not measured (any {split} prediction of it is a false positive)"
            )
    return lines


def train(
    columns: dict,
    *,
    task: str,
    target: str,
    architecture: str,
    hyperparameters: dict | None = None,
    options: dict | None = None,
    split: dict | None = None,
    reporter: Reporter,
    device: str | None = None,
    image_shape: list[int] | None = None,
    text_column: str | None = None,
    step_delay_s: float = 0.0,
    processes: int = 1,
    tmp_dir: str | None = None,
) -> TrainOutcome:
    """Train `architecture` on a file's columns with the recommended recipe and the user's overrides.
    `step_delay_s` slows the loop down for tests (see `fit`). With `processes` > 1 the fit runs in that many
    processes with DistributedDataParallel (`fit_processes`: gloo on the CPU, one GPU each on `cuda`; the batch
    size is per process), passing its files through a temporary folder in `tmp_dir`."""
    problem = fits_task(architecture, task)
    if problem:
        raise SpecError(problem)
    check_options(architecture, options)
    strategy = impute.strategy_of(options)
    if hyperparameters is not None and not isinstance(hyperparameters, dict):
        raise HyperparameterError("hyperparameters must be a JSON object")
    config = split_config(split)
    columns = _checked_columns(columns, target)
    if strategy:
        used = used_features({k: v for k, v in columns.items() if k != target}, architecture, text_column)
        columns = _drop_unusable_rows(columns, target, used, strategy, reporter.log)
    targets, label_info = encode_targets(columns[target], task)
    train_index, val_index, test_index = split_indices(targets, **config)

    def encode(index: np.ndarray, preprocessing: dict) -> Arrays:
        return prepare(
            _rows(columns, index),
            target=target,
            task=task,
            architecture=architecture,
            image_shape=image_shape,
            text_column=text_column,
            preprocessing=preprocessing,
            impute=strategy,
        )

    train_arrays = encode(train_index, label_info)  # learns the input preprocessing from train rows only
    if strategy in impute.FILLING:
        reporter.log(f"{impute.summary(train_arrays.preprocessing['impute'])} (from {len(train_index)} train rows)")
    if input_kind(architecture) == TEXT:
        train_arrays = _shorten_texts(train_arrays)
    preprocessing = train_arrays.preprocessing
    val_arrays = encode(val_index, preprocessing) if len(val_index) else None
    test_arrays = encode(test_index, preprocessing)

    spec = build_spec(architecture, train_arrays, task, options)
    hyper = checked_hyperparameters(
        {**default_hyperparameters(architecture, len(train_index), task), **(hyperparameters or {})}
    )
    reporter.log(
        f"{architecture} on {len(train_index)} train / {len(val_index)} validation / {len(test_index)} test rows; "
        + " ".join(f"{k}={v}" for k, v in hyper.items())
    )
    for line in _unmeasured_classes(targets, label_info.get("classes"), val_index, test_index):
        reporter.log(line)
    if processes > 1:
        result = fit_processes(
            processes,
            spec=spec,
            task=task,
            train=train_arrays,
            validation=val_arrays,
            hyper=hyper,
            reporter=reporter,
            device=device,
            tmp_dir=tmp_dir,
            step_delay_s=step_delay_s,
        )
    else:
        result = fit(spec, task, train_arrays, val_arrays, hyper, reporter, device=device, step_delay_s=step_delay_s)
    if result.target_mean is not None:  # a record of the scaling fit folded into the output layer
        preprocessing = {**preprocessing, "target_mean": result.target_mean, "target_std": result.target_std}
    metrics = metrics_of.evaluate(result.model, test_arrays, task)
    if val_arrays is not None:
        metrics.update({f"val_{k}": v for k, v in metrics_of.evaluate(result.model, val_arrays, task).items()})
    return TrainOutcome(
        model=result.model,
        spec={**spec, "task": task, "target": target, "preprocessing": preprocessing},
        hyperparameters=hyper,
        split={
            **config,
            "train_rows": len(train_index),
            "validation_rows": len(val_index),
            "test_rows": len(test_index),
        },
        metrics=metrics,
        fit=result,
    )


def encoded_split(spec: dict, columns: dict, *, split: str = "test", split_config: dict | None = None) -> Arrays:
    """One split of `columns`, encoded with the spec's preprocessing. The split is drawn exactly as in
    training, so "test" on the training data set is its held-out test rows."""
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    for key in ("architecture", "task", "target", "preprocessing"):
        if key not in spec:
            raise DataError(f"the model's spec has no '{key}'; it was not trained by this pipeline")
    task, target, preprocessing = spec["task"], spec["target"], spec["preprocessing"]
    columns = _checked_columns(columns, target)
    if imputer := preprocessing.get("impute"):
        features = {k: v for k, v in columns.items() if k != target}
        used = used_features(features, spec["architecture"], preprocessing=preprocessing)
        columns = _drop_unusable_rows(columns, target, used, imputer["strategy"])
    targets, _ = encode_targets(columns[target], task, preprocessing.get("classes"))
    if split == "all":
        index = np.arange(len(targets))
    else:
        train_index, val_index, test_index = split_indices(targets, **_split_config(split_config))
        index = {"train": train_index, "validation": val_index, "test": test_index}[split]
        if not len(index):
            raise DataError(f"the {split} split of this data is empty")
    return prepare(
        _rows(columns, index),
        target=target,
        task=task,
        architecture=spec["architecture"],
        preprocessing=preprocessing,
    )


def evaluate(
    model: nn.Module,
    spec: dict,
    columns: dict,
    *,
    split: str = "test",
    split_config: dict | None = None,
    device: str = "cpu",
) -> dict:
    """Metrics of `model` on one split of `columns` (see `encoded_split`), plus `num_rows`."""
    arrays = encoded_split(spec, columns, split=split, split_config=split_config)
    return {**metrics_of.evaluate(model, arrays, spec["task"], device=device), "num_rows": len(arrays)}
