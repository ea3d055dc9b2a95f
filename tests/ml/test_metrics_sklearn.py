"""Classification metrics are scikit-learn's on the same predictions: macro averages over the union of the
true and predicted classes (a class with no rows here but predicted counts, with precision 0), a per-class
table named by class, and a log warning when a held-out split lacks a class."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import classification_report, log_loss

from config.jsonsafe import unsafe_text
from ml.data import Arrays
from ml.evaluate import classification_metrics, evaluate, metrics_from_outputs, predict, softmax
from ml.pipeline import encoded_split, train
from tests.ml.test_pipeline import MemoryReporter

CASES = Path(__file__).resolve().parent.parent / "data" / "cases"


def _one_hot_probabilities(predicted: np.ndarray, num_classes: int, rng) -> np.ndarray:
    """Random probabilities (rows sum to 1) whose argmax is `predicted`."""
    scores = rng.random((len(predicted), num_classes))
    scores[np.arange(len(predicted)), predicted] += num_classes  # beats every other column
    return scores / scores.sum(axis=1, keepdims=True)


def _assert_matches_report(metrics: dict, report: dict) -> None:
    """Per class and macro, `metrics` equals scikit-learn's classification_report(output_dict=True)."""
    per_class = {k: v for k, v in report.items() if k not in ("accuracy", "macro avg", "weighted avg")}
    assert set(metrics["per_class"]) == set(per_class)
    for name, row in per_class.items():
        ours = metrics["per_class"][name]
        for key in ("precision", "recall", "f1"):
            assert ours[key] == pytest.approx(row[key if key != "f1" else "f1-score"], abs=1e-12), (name, key)
        assert ours["support"] == row["support"]
    assert metrics["accuracy"] == pytest.approx(report["accuracy"], abs=1e-12)
    for ours, theirs in (("precision_macro", "precision"), ("recall_macro", "recall"), ("f1_macro", "f1-score")):
        assert metrics[ours] == pytest.approx(report["macro avg"][theirs], abs=1e-12), ours


@pytest.mark.parametrize("seed", range(8))
def test_random_predictions_match_sklearn_with_absent_classes(seed):
    rng = np.random.default_rng(seed)
    num_classes = 7
    rows = int(rng.integers(5, 60))
    # targets use classes 0-4 only; predictions never name class 4 (in targets) and may name 5 (not in targets);
    # class 6 is in neither
    targets = rng.integers(0, 5, size=rows)
    predicted = rng.choice([0, 1, 2, 3, 5], size=rows)
    predicted[0] = 5  # at least one false positive of a class with no rows
    probabilities = _one_hot_probabilities(predicted, num_classes, rng)

    metrics = classification_metrics(targets, probabilities)
    report = classification_report(targets, predicted, output_dict=True, zero_division=0)
    report = {str(k): v for k, v in report.items()}
    _assert_matches_report(metrics, report)
    assert "5" in metrics["per_class"] and metrics["per_class"]["5"]["precision"] == 0.0
    assert metrics["per_class"]["5"]["support"] == 0 and "6" not in metrics["per_class"]
    assert metrics["log_loss"] == pytest.approx(log_loss(targets, probabilities, labels=range(num_classes)), abs=1e-12)
    assert np.array_equal(
        metrics["confusion_matrix"]["matrix"],
        np.array([[np.sum((targets == t) & (predicted == p)) for p in range(7)] for t in range(7)]),
    )

    names = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu"]
    named = classification_metrics(targets, probabilities, names)
    by_name = classification_report(
        np.array(names)[targets], np.array(names)[predicted], output_dict=True, zero_division=0
    )
    _assert_matches_report(named, by_name)
    assert json.loads(json.dumps(named, allow_nan=False)) == named and unsafe_text(named) is None


def test_a_predicted_class_without_rows_lowers_the_macro_precision():
    """The case that reported precision_macro 1.0 next to two false positives."""
    targets = np.array([0, 0, 1, 1])
    probabilities = np.eye(3)[[0, 2, 1, 2]]  # class 2 predicted twice, never true
    metrics = classification_metrics(targets, probabilities, ["a", "b", "c"])
    assert metrics["confusion_matrix"] == {"labels": ["a", "b", "c"], "matrix": [[1, 0, 1], [0, 1, 1], [0, 0, 0]]}
    assert metrics["precision_macro"] == pytest.approx(2 / 3)  # (1 + 1 + 0) / 3, not (1 + 1) / 2
    assert metrics["recall_macro"] == pytest.approx(1 / 3)  # (0.5 + 0.5 + 0) / 3
    assert metrics["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert metrics["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}


def test_names_that_do_not_fit_the_outputs_fall_back_to_indices():
    metrics = classification_metrics(np.array([0, 1, 2]), np.eye(3), ["a", "b"])
    assert set(metrics["per_class"]) == {"0", "1", "2"}


def test_no_rows_is_a_clear_error():
    with pytest.raises(ValueError, match="at least one row"):
        classification_metrics(np.zeros(0, dtype=np.int64), np.zeros((0, 3)))


def test_evaluate_names_the_classes_from_the_preprocessing():
    import torch

    model = torch.nn.Linear(2, 3)
    inputs = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    targets = np.arange(20) % 3
    metrics = evaluate(model, Arrays(inputs, targets, {"classes": ["x", "y", "z"]}), "classification")
    assert set(metrics["per_class"]) <= {"x", "y", "z"}
    assert sum(row["support"] for row in metrics["per_class"].values()) == 20


def _singleton_columns() -> dict[str, np.ndarray]:
    """The case file as the platform's reader gives it: float feature columns, the label as strings. Read with
    the csv module so this test does not hang on the reader's module layout."""
    with (CASES / "10_singleton_class.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {name: np.array([float(r[name]) for r in rows]) for name in ("f1", "f2", "f3")}
    columns["label"] = np.array([r["label"] for r in rows], dtype=object)
    return columns


@pytest.mark.parametrize("seed", [0, 2])
def test_the_singleton_class_case_matches_sklearn_and_warns(seed):
    columns = _singleton_columns()
    assert sorted(columns["label"]).count("singleton") == 1
    reporter = MemoryReporter()
    outcome = train(
        columns,
        task="classification",
        target="label",
        architecture="mlp",
        hyperparameters={"epochs": 3, "batch_size": 16, "seed": seed},
        reporter=reporter,
    )

    # the same test rows, the same model, then scikit-learn on its predictions
    arrays = encoded_split(outcome.spec, columns, split="test")
    assert len(arrays) == outcome.split["test_rows"]
    probabilities = softmax(predict(outcome.model, arrays.inputs).astype(np.float64))
    classes = np.array(outcome.spec["preprocessing"]["classes"])
    assert list(classes) == ["common", "frequent", "singleton"]
    truth, predicted = classes[arrays.targets], classes[probabilities.argmax(axis=1)]
    assert "singleton" not in truth
    report = classification_report(truth, predicted, output_dict=True, zero_division=0)
    _assert_matches_report(outcome.metrics, report)
    assert outcome.metrics["log_loss"] == pytest.approx(log_loss(arrays.targets, probabilities, labels=[0, 1, 2]))
    matrix = outcome.metrics["confusion_matrix"]["matrix"]
    false_positives = matrix[0][2] + matrix[1][2]
    assert ("singleton" in outcome.metrics["per_class"]) == (false_positives > 0)
    assert {"val_per_class", "val_precision_macro"} <= set(outcome.metrics)
    assert unsafe_text(outcome.metrics) is None

    warnings = [line for line in reporter.lines if line.startswith("warning:")]
    assert warnings == [
        "warning: class 'singleton' has no validation rows (1 row in all); its validation metrics are not measured "
        "(any validation prediction of it is a false positive)",
        "warning: class 'singleton' has no test rows (1 row in all); its test metrics are not measured "
        "(any test prediction of it is a false positive)",
    ]


def _warnings(columns: dict) -> list[str]:
    """The warning lines of one epoch of training without a validation split."""
    reporter = MemoryReporter()
    train(
        columns,
        task="classification",
        target="label",
        architecture="mlp",
        hyperparameters={"epochs": 1},
        split={"validation": 0.0},
        reporter=reporter,
    )
    return [line for line in reporter.lines if line.startswith("warning:")]


def test_no_warning_when_every_split_has_every_class_and_none_for_an_empty_validation_split():
    columns = _singleton_columns()
    keep = columns["label"] != "singleton"
    columns = {name: values[keep] for name, values in columns.items()}
    assert _warnings(columns) == []

    two_rows = _singleton_columns()
    two_rows["label"][np.flatnonzero(two_rows["label"] == "common")[:29]] = "frequent"  # common: 1 row left
    two_rows["label"][np.flatnonzero(two_rows["label"] == "singleton")] = "common"  # common: 2 rows
    assert _warnings(two_rows) == [
        "warning: class 'common' has no test rows (2 rows in all); its test metrics are not measured "
        "(any test prediction of it is a false positive)"
    ]


def test_outputs_that_are_not_finite_give_no_metrics():
    from ml.data import DataError

    outputs = np.array([[0.1, 0.9], [np.nan, 0.0], [np.inf, 1.0]])
    with pytest.raises(DataError, match=r"not finite for 2 of 3 rows \(first: row 1\)"):
        metrics_from_outputs(outputs, np.array([1, 0, 1]), "classification")
    with pytest.raises(DataError, match="not finite for 1 of 2 rows"):
        metrics_from_outputs(np.array([[1.0], [np.inf]]), np.array([1.0, 2.0]), "regression")


def test_features_beyond_float32_are_named_when_training_data_is_prepared():
    from ml.data import DataError, prepare

    columns = {"a": np.array([1.0, 2.0, 3.0]), "b": np.array([1.0, 1e39, 2.0]), "label": np.array(["x", "y", "x"])}
    with pytest.raises(DataError, match=r"beyond float32 \(±3.4e38\): b;"):
        prepare(columns, target="label", task="classification", architecture="mlp")
