"""Recipes (architecture choice, spec sizing, default hyperparameters) and the columns -> model pipeline:
splits, train-only preprocessing, evaluation on the same seeded split, and clear data errors."""

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, load_iris

from ml.architectures import SpecError, build_model
from ml.data import Arrays, DataError, split_indices
from ml.pipeline import SPLIT_DEFAULTS, evaluate, split_config, train
from ml.recipes import (
    BUILTIN_RECIPES,
    build_spec,
    default_hyperparameters,
    fits_task,
    recommended_architecture,
)
from ml.train import HyperparameterError, Stopped, hyperparameters


class MemoryReporter:
    """The Reporter protocol in memory; asks to stop after `stop_after_steps` batches when set."""

    def __init__(self, stop_after_steps=None):
        self.metrics, self.lines = [], []
        self.checkpoint = None
        self.steps = 0
        self.stop_after_steps = stop_after_steps

    def log_metrics(self, step, metrics):
        self.metrics.append((step, dict(metrics)))

    def set_progress(self, fraction):
        pass

    def log(self, message):
        self.lines.append(message)

    def save_checkpoint(self, tensors, meta):
        self.checkpoint = ({k: v.clone() for k, v in tensors.items()}, meta)

    def load_checkpoint(self):
        return self.checkpoint

    def should_stop(self):
        self.steps += 1
        return self.stop_after_steps is not None and self.steps > self.stop_after_steps


def iris_columns():
    """Iris as the platform stores it: four float columns and class names as the target."""
    bunch = load_iris()
    columns = {name: bunch.data[:, i].astype(np.float64) for i, name in enumerate(["sl", "sw", "pl", "pw"])}
    columns["target"] = np.array([str(bunch.target_names[t]) for t in bunch.target], dtype=object)
    return columns


def digits_columns():
    bunch = load_digits()
    columns = {f"p{i}": bunch.data[:, i].astype(np.float64) for i in range(64)}
    columns["target"] = bunch.target.astype(np.float64)
    return columns


def review_columns(rows=300, seed=0):
    """Synthetic reviews, as a JSONL file reads back: a keyword decides the label, the rest is noise."""
    rng = np.random.default_rng(seed)
    words = ["film", "plot", "actor", "scene", "music", "story", "ending", "camera", "light", "cast"]
    texts, labels = [], []
    for i in range(rows):
        good = i % 2 == 0
        body = list(rng.choice(words, size=int(rng.integers(4, 9))))
        body.insert(int(rng.integers(0, len(body) + 1)), "wonderful" if good else "dreadful")
        texts.append(" ".join(body))
        labels.append("pos" if good else "neg")
    return {"review": np.array(texts, dtype=object), "sentiment": np.array(labels, dtype=object)}


def tabular_arrays(rows=40, features=3, classes=2):
    rng = np.random.default_rng(0)
    targets = np.arange(rows) % classes
    return Arrays(rng.normal(size=(rows, features)).astype(np.float32), targets, {"classes": ["a", "b"][:classes]})


# --- recipes ---------------------------------------------------------------------------------------------


def test_recommended_architectures():
    assert recommended_architecture("text-classification") == "textcnn"
    assert recommended_architecture("image-classification", image_shape=[8, 8]) == "cnn"
    assert recommended_architecture("classification", num_features=4) == "mlp"
    assert recommended_architecture("regression", num_features=10) == "mlp"
    assert BUILTIN_RECIPES["digits"] == "cnn" and BUILTIN_RECIPES["diabetes"] == "mlp"
    for name, architecture in BUILTIN_RECIPES.items():
        task = "regression" if name == "diabetes" else "classification"
        assert fits_task(architecture, task) is None, name


@pytest.mark.parametrize(
    ("architecture", "task", "needle"),
    [
        ("mlp", "text-classification", "mlp cannot serve text-classification"),
        ("mlp", "image-classification", "mlp cannot serve image-classification"),
        ("cnn", "regression", "cnn cannot serve regression"),
        ("textcnn", "classification", "text-classification only"),
        ("transformer", "image-classification", "text-classification only"),
        ("resnet", "classification", "known: mlp, cnn, textcnn, transformer"),
        ("mlp", "clustering", "unknown task 'clustering'"),
    ],
)
def test_fits_task_says_why_not(architecture, task, needle):
    assert needle in fits_task(architecture, task)


@pytest.mark.parametrize(
    ("architecture", "task"),
    [
        ("mlp", "classification"),
        ("mlp", "regression"),
        ("cnn", "classification"),
        ("cnn", "image-classification"),
        ("textcnn", "text-classification"),
        ("transformer", "text-classification"),
    ],
)
def test_fits_task_accepts(architecture, task):
    assert fits_task(architecture, task) is None


def test_build_spec_sizes_the_network_from_the_data_and_merges_options():
    spec = build_spec("mlp", tabular_arrays(), "classification", {"hidden": [8, 4]})
    assert spec["in_features"] == 3 and spec["num_outputs"] == 2 and spec["hidden"] == [8, 4]
    assert build_spec("mlp", tabular_arrays(), "regression", None)["num_outputs"] == 1
    build_model(spec)


@pytest.mark.parametrize(
    ("architecture", "options", "needle"),
    [
        ("mlp", {"foo": 1}, "unknown option 'foo' for mlp; allowed: hidden, dropout"),
        ("mlp", {"channels": [8]}, "unknown option 'channels' for mlp"),
        ("mlp", {"in_features": 9}, "'in_features' is set from the data"),
        ("mlp", {"num_outputs": 3}, "'num_outputs' is set from the data"),
        ("mlp", {"architecture": "cnn"}, "'architecture' is set from the data"),
        ("mlp", {"hidden": [0]}, "'hidden'"),
        ("mlp", {"hidden": "wide"}, "'hidden'"),
        ("mlp", {"dropout": 1.5}, "'dropout'"),
        ("mlp", ["hidden"], "must be a JSON object"),
        ("resnet", {}, "'architecture' must be one of"),
    ],
)
def test_build_spec_rejects_bad_options_naming_the_key(architecture, options, needle):
    with pytest.raises(SpecError, match=needle):
        build_spec(architecture, tabular_arrays(), "classification", options)


def test_build_spec_checks_text_options_too():
    arrays = Arrays(np.ones((4, 6), dtype=np.int64), np.array([0, 1, 0, 1]), {"classes": ["a", "b"], "vocab": ["x"]})
    spec = build_spec("transformer", arrays, "text-classification", {"num_layers": 1})
    assert spec["vocab_size"] == 3 and spec["max_len"] == 6
    with pytest.raises(SpecError, match="divisible"):
        build_spec("transformer", arrays, "text-classification", {"embed_dim": 30})
    with pytest.raises(SpecError, match="'vocab_size' is set from the data"):
        build_spec("textcnn", arrays, "text-classification", {"vocab_size": 10})
    with pytest.raises(SpecError, match="cannot serve classification"):
        build_spec("textcnn", arrays, "classification", None)


@pytest.mark.parametrize("architecture", ["mlp", "cnn", "textcnn", "transformer"])
@pytest.mark.parametrize("rows", [1, 100, 1_000, 100_000, 10_000_000])
def test_default_hyperparameters_are_valid(architecture, rows):
    for task in (None, "regression"):
        hyper = hyperparameters(default_hyperparameters(architecture, rows, task))
        assert 10 <= hyper["epochs"] <= 200


@pytest.mark.parametrize("rows", [100, 500, 2_000])
def test_small_tables_get_enough_optimizer_steps(rows):
    hyper = default_hyperparameters("mlp", rows)
    assert hyper["epochs"] * -(-rows // hyper["batch_size"]) >= 1000, hyper


# --- split settings ---------------------------------------------------------------------------------------


def test_split_config_defaults_and_overrides():
    assert split_config(None) == SPLIT_DEFAULTS
    assert split_config({"validation": 0, "seed": 3}) == {**SPLIT_DEFAULTS, "validation": 0.0, "seed": 3}


@pytest.mark.parametrize(
    ("given", "needle"),
    [
        ({"folds": 5}, "unknown split setting.*folds"),
        ({"seed": -1}, "'seed'"),
        ({"seed": 1.5}, "'seed'"),
        ({"seed": True}, "'seed'"),
        ({"validation": 1.0}, "'validation'"),
        ({"validation": "0.1"}, "'validation'"),
        ({"test": 0}, "'test'"),
        ({"test": float("nan")}, "'test'"),
        ({"validation": 0.5, "test": 0.5}, "below 1"),
        ({"stratify": "yes"}, "'stratify'"),
    ],
)
def test_split_config_names_the_bad_key(given, needle):
    with pytest.raises(DataError, match=needle):
        split_config(given)


# --- training and evaluation ------------------------------------------------------------------------------


def test_iris_trains_with_the_recipe_and_evaluates_its_own_test_split():
    columns = iris_columns()
    reporter = MemoryReporter()
    outcome = train(columns, task="classification", target="target", architecture="mlp", reporter=reporter)
    spec, split = outcome.spec, outcome.split
    assert split["train_rows"] + split["validation_rows"] + split["test_rows"] == 150
    assert split["test_rows"] == 30 and split["seed"] == 0 and split["stratify"] is True
    assert outcome.hyperparameters == hyperparameters(default_hyperparameters("mlp", split["train_rows"]))
    assert outcome.metrics["accuracy"] >= 0.85 and "val_accuracy" in outcome.metrics
    assert spec["task"] == "classification" and spec["target"] == "target"
    assert spec["preprocessing"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert spec["preprocessing"]["feature_names"] == ["sl", "sw", "pl", "pw"]
    assert json.loads(json.dumps(spec)) == spec and json.loads(json.dumps(outcome.metrics)) == outcome.metrics

    rebuilt = build_model(spec)  # the extra keys are ignored; the weights fit
    rebuilt.load_state_dict(outcome.model.state_dict())
    again = evaluate(rebuilt, spec, columns, split="test", split_config=None)
    assert again.pop("num_rows") == 30
    assert_same_metrics(again, _test_part(outcome))
    validation = evaluate(outcome.model, spec, columns, split="validation", split_config=None)
    assert validation["accuracy"] == pytest.approx(outcome.metrics["val_accuracy"])
    assert evaluate(outcome.model, spec, columns, split="all", split_config=None)["num_rows"] == 150


def assert_same_metrics(got: dict, expected: dict) -> None:
    """Floats within rounding, anything else (confusion matrices) exactly."""
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == (pytest.approx(value) if isinstance(value, float) else value), key


def _test_part(outcome):
    return {k: v for k, v in outcome.metrics.items() if not k.startswith("val_")}


def test_user_hyperparameters_and_options_override_the_recipe_key_by_key():
    outcome = train(
        iris_columns(),
        task="classification",
        target="target",
        architecture="mlp",
        hyperparameters={"epochs": 2, "seed": 5},
        options={"hidden": [16]},
        split={"validation": 0.0, "seed": 1},
        reporter=MemoryReporter(),
    )
    defaults = default_hyperparameters("mlp", outcome.split["train_rows"])
    assert outcome.hyperparameters["epochs"] == 2 and outcome.hyperparameters["seed"] == 5
    assert outcome.hyperparameters["batch_size"] == defaults["batch_size"]
    assert outcome.spec["hidden"] == [16] and outcome.fit.epochs_run == 2
    assert outcome.split["validation_rows"] == 0 and not any(k.startswith("val_") for k in outcome.metrics)


def test_preprocessing_is_learnt_from_the_train_rows_only():
    columns = iris_columns()
    columns["sl"] = columns["sl"].copy()
    train_index, val_index, test_index = split_indices(
        np.repeat([0, 1, 2], 50), seed=0, validation=0.1, test=0.2
    )  # iris is sorted by class, so these are the pipeline's own indices
    columns["sl"][test_index] += 1000.0  # test rows far off: any leak shows in the mean / std
    outcome = train(
        columns,
        task="classification",
        target="target",
        architecture="mlp",
        hyperparameters={"epochs": 1},
        reporter=MemoryReporter(),
    )
    pre = outcome.spec["preprocessing"]
    assert pre["input_mean"][0] == pytest.approx(columns["sl"][train_index].mean(), rel=1e-5)
    assert pre["input_std"][0] == pytest.approx(columns["sl"][train_index].std(), rel=1e-4)
    assert pre["input_mean"][0] < 10


def test_text_vocabulary_comes_from_the_train_rows_only():
    columns = review_columns()
    _, _, test_index = split_indices(np.arange(300) % 2, seed=0)
    columns["review"][test_index[0]] = "zyzzyva " + columns["review"][test_index[0]]
    outcome = train(
        columns,
        task="text-classification",
        target="sentiment",
        architecture="textcnn",
        hyperparameters={"epochs": 1},
        reporter=MemoryReporter(),
    )
    vocab = outcome.spec["preprocessing"]["vocab"]
    assert "wonderful" in vocab and "zyzzyva" not in vocab
    assert outcome.spec["vocab_size"] == len(vocab) + 2


def test_digits_as_images_with_the_cnn():
    columns = digits_columns()
    outcome = train(
        columns,
        task="classification",
        target="target",
        architecture="cnn",
        hyperparameters={"epochs": 4},
        reporter=MemoryReporter(),
    )
    spec = outcome.spec
    assert spec["in_channels"] == 1 and spec["image_size"] == [8, 8] and spec["num_outputs"] == 10
    assert spec["preprocessing"]["image_shape"] == [8, 8] and spec["preprocessing"]["kind"] == "image"
    assert outcome.metrics["accuracy"] >= 0.9, outcome.metrics
    assert len(outcome.metrics["confusion_matrix"]["matrix"]) == 10
    assert outcome.metrics["confusion_matrix"]["labels"] == [str(c) for c in spec["preprocessing"]["classes"]]
    again = evaluate(outcome.model, spec, columns, split="test", split_config=None)
    assert again["accuracy"] == outcome.metrics["accuracy"] and again["num_rows"] == outcome.split["test_rows"]


def test_an_interrupted_run_resumes_to_the_same_model():
    columns = iris_columns()
    kwargs = {
        "task": "classification",
        "target": "target",
        "architecture": "mlp",
        "hyperparameters": {"epochs": 3, "batch_size": 32},
    }
    whole = train(columns, reporter=MemoryReporter(), **kwargs)
    interrupted = MemoryReporter(stop_after_steps=5)  # 4 batches an epoch: dies in epoch 2
    with pytest.raises(Stopped):
        train(columns, reporter=interrupted, **kwargs)
    interrupted.stop_after_steps = None
    resumed = train(columns, reporter=interrupted, **kwargs)
    assert resumed.fit.resumed_from_epoch == 0 and resumed.spec == whole.spec
    for name, tensor in whole.model.state_dict().items():
        assert torch.allclose(tensor, resumed.model.state_dict()[name], atol=1e-6), name
    assert_same_metrics(resumed.metrics, whole.metrics)


def test_regression_reports_regression_metrics():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    columns = {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": 100 + 30 * x[:, 0] - 20 * x[:, 1]}
    outcome = train(columns, task="regression", target="y", architecture="mlp", reporter=MemoryReporter())
    assert outcome.spec["num_outputs"] == 1 and "classes" not in outcome.spec["preprocessing"]
    assert outcome.metrics["r2"] > 0.8 and {"val_mae", "val_rmse", "val_r2"} <= set(outcome.metrics)


def test_evaluation_data_that_does_not_fit_is_a_clear_error():
    columns = iris_columns()
    outcome = train(
        columns,
        task="classification",
        target="target",
        architecture="mlp",
        hyperparameters={"epochs": 1},
        reporter=MemoryReporter(),
    )
    model, spec = outcome.model, outcome.spec
    other = dict(columns, target=np.array(["setosa", "lotus"] * 75, dtype=object))
    with pytest.raises(DataError, match="labels not seen in training: lotus"):
        evaluate(model, spec, other, split="all", split_config=None)
    with pytest.raises(DataError, match="missing feature columns: pw"):
        evaluate(model, spec, {k: v for k, v in columns.items() if k != "pw"}, split="all", split_config=None)
    with pytest.raises(DataError, match="target column 'target' not found"):
        evaluate(model, spec, {"sl": columns["sl"]}, split="all", split_config=None)
    with pytest.raises(DataError, match="split must be one of"):
        evaluate(model, spec, columns, split="holdout", split_config=None)
    with pytest.raises(DataError, match="validation split of this data is empty"):
        evaluate(model, spec, columns, split="validation", split_config={"validation": 0})
    with pytest.raises(DataError, match="different lengths"):
        evaluate(model, spec, dict(columns, sl=columns["sl"][:10]), split="all", split_config=None)


def test_training_refuses_a_mismatched_architecture_or_target():
    with pytest.raises(SpecError, match="textcnn cannot serve classification"):
        train(iris_columns(), task="classification", target="target", architecture="textcnn", reporter=MemoryReporter())
    with pytest.raises(DataError, match="target column 'label' not found"):
        train(iris_columns(), task="classification", target="label", architecture="mlp", reporter=MemoryReporter())
    with pytest.raises(HyperparameterError, match="unknown hyperparameter.*momentum"):
        train(
            iris_columns(),
            task="classification",
            target="target",
            architecture="mlp",
            hyperparameters={"momentum": 0.9},
            reporter=MemoryReporter(),
        )
    with pytest.raises(SpecError, match="unknown option 'width'"):
        train(
            iris_columns(),
            task="classification",
            target="target",
            architecture="mlp",
            options={"width": 3},
            reporter=MemoryReporter(),
        )


@pytest.mark.parametrize("architecture", ["textcnn", "transformer"])
def test_text_classification_with_the_default_recipe(architecture):
    columns = review_columns()
    outcome = train(
        columns, task="text-classification", target="sentiment", architecture=architecture, reporter=MemoryReporter()
    )
    pre = outcome.spec["preprocessing"]
    assert pre["classes"] == ["neg", "pos"] and pre["text_column"] == "review"
    assert 8 <= pre["max_len"] <= 10 and outcome.spec["max_len"] == pre["max_len"]
    assert outcome.metrics["accuracy"] >= 0.95, outcome.metrics
    assert (
        evaluate(outcome.model, outcome.spec, columns, split="test", split_config=None)["accuracy"]
        == (outcome.metrics["accuracy"])
    )
    build_model(outcome.spec)
