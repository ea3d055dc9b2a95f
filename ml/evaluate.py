"""Predictions and metrics: accuracy, macro precision / recall / F1, a per-class table, confusion matrix and
log loss for classification (scikit-learn's own functions, so the numbers are the ones people check them
against); MAE, RMSE and R² for regression."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, precision_recall_fscore_support

from ml.data import Arrays, DataError


@torch.no_grad()
def predict(model: torch.nn.Module, inputs: np.ndarray, *, batch_size: int = 1024, device: str = "cpu") -> np.ndarray:
    """Raw outputs (logits for classification, values for regression) for every input row."""
    model.eval()
    outputs = []
    for start in range(0, len(inputs), batch_size):
        batch = torch.from_numpy(inputs[start : start + batch_size]).to(device)
        outputs.append(model(batch).float().cpu())
    return torch.cat(outputs).numpy() if outputs else np.zeros((0, 1), dtype=np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def classification_metrics(targets: np.ndarray, probabilities: np.ndarray, classes: list[str] | None = None) -> dict:
    """Metrics of class probabilities (N, K) against int class indices (N,) in [0, K); JSON-safe.

    Precision, recall and F1 are scikit-learn's `precision_recall_fscore_support` with `zero_division=0`,
    over the union of the classes in the targets and in the predictions (its default, `labels=None`): a
    class with no rows here but predicted still counts, with precision 0. Their unweighted means are the
    `*_macro` values (equal to scikit-learn's `average="macro"`). `per_class` holds the same union, keyed
    by class name (`classes[i]`) or, without K names, by the index as a string: {precision, recall, f1,
    support}, support being the class's number of rows here. `confusion_matrix` is {"labels": [K class names
    (or indices as strings)], "matrix": K x K counts} over every class of the model (scikit-learn's
    `confusion_matrix`; rows: true class, columns: predicted, both in `labels` order). `log_loss` is
    scikit-learn's (probabilities clipped to float64 epsilon). Raises ValueError when there are no rows.
    """
    if not len(targets):
        raise ValueError("classification metrics need at least one row")
    num_classes = probabilities.shape[1]
    predicted = probabilities.argmax(axis=1)
    present = np.union1d(targets, predicted)
    precision, recall, f1, support = precision_recall_fscore_support(
        targets, predicted, labels=present, average=None, zero_division=0
    )
    # names only when they fit the outputs (a hand-written spec may disagree); indices otherwise
    names = [str(c) for c in classes] if classes and len(classes) == num_classes else list(map(str, range(num_classes)))
    return {
        "accuracy": float(accuracy_score(targets, predicted)),
        # np.average, which scikit-learn's macro average is, is the plain mean of the same values
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "log_loss": float(log_loss(targets, probabilities, labels=np.arange(num_classes))),
        "confusion_matrix": {
            "labels": names,
            "matrix": confusion_matrix(targets, predicted, labels=np.arange(num_classes)).tolist(),
        },
        "per_class": {
            names[c]: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
            for c, p, r, f, n in zip(present.tolist(), precision, recall, f1, support, strict=True)
        },
    }


def regression_metrics(targets: np.ndarray, predictions: np.ndarray) -> dict:
    errors = predictions - targets
    total = float(((targets - targets.mean()) ** 2).sum())
    return {
        "mae": float(np.abs(errors).mean()),
        "rmse": float(np.sqrt((errors**2).mean())),
        "r2": float(1.0 - (errors**2).sum() / total) if total > 0 else 0.0,
    }


def evaluate(model: torch.nn.Module, data: Arrays, task: str, *, device: str = "cpu") -> dict:
    """Metrics of `model` on `data`; classes are named from `data.preprocessing["classes"]` when present."""
    classes = data.preprocessing.get("classes")
    return metrics_from_outputs(predict(model, data.inputs, device=device), data.targets, task, classes=classes)


def headline(metrics: dict) -> tuple[str, float | None]:
    """The task's headline metric: accuracy, or R² for regression."""
    name = "r2" if "r2" in metrics else "accuracy"
    return name, metrics.get(name)


def metrics_from_outputs(
    outputs: np.ndarray, targets: np.ndarray, task: str, *, classes: list[str] | None = None
) -> dict:
    """Metrics of raw outputs (logits, or values for regression) against the targets, from any runtime;
    `classes` (the preprocessing's class names) names the rows of a classification's `per_class` table.
    Raises DataError when an output is not finite: metrics of such rows would be NaN or meaningless."""
    finite = np.isfinite(outputs).reshape(len(outputs), -1).all(axis=1)
    if not finite.all():
        raise DataError(
            f"the model's outputs are not finite for {int((~finite).sum())} of {len(outputs)} rows (first: row "
            f"{int(np.flatnonzero(~finite)[0])}); its weights diverged or these inputs lie far outside its training "
            "data"
        )
    if task == "regression":
        return regression_metrics(targets.astype(np.float64), outputs[:, 0].astype(np.float64))
    return classification_metrics(targets, softmax(outputs.astype(np.float64)), classes)
