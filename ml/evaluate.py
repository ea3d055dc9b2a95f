"""Predictions and metrics: accuracy, macro precision / recall / F1, confusion matrix and log loss for
classification; MAE, RMSE and R² for regression. Plain numpy, so the numbers are easy to check."""

from __future__ import annotations

import numpy as np
import torch

from ml.data import Arrays


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


def classification_metrics(targets: np.ndarray, probabilities: np.ndarray) -> dict:
    num_classes = probabilities.shape[1]
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (targets, predicted), 1)
    true_pos = np.diag(confusion).astype(np.float64)
    predicted_pos = confusion.sum(axis=0)
    actual_pos = confusion.sum(axis=1)
    precision = np.divide(true_pos, predicted_pos, out=np.zeros(num_classes), where=predicted_pos > 0)
    recall = np.divide(true_pos, actual_pos, out=np.zeros(num_classes), where=actual_pos > 0)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros(num_classes), where=(precision + recall) > 0
    )
    present = actual_pos > 0
    chosen = np.clip(probabilities[np.arange(len(targets)), targets], 1e-15, 1.0)
    return {
        "accuracy": float((predicted == targets).mean()),
        "precision_macro": float(precision[present].mean()),
        "recall_macro": float(recall[present].mean()),
        "f1_macro": float(f1[present].mean()),
        "log_loss": float(-np.log(chosen).mean()),
        "confusion_matrix": confusion.tolist(),
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
    return metrics_from_outputs(predict(model, data.inputs, device=device), data.targets, task)


def headline(metrics: dict) -> tuple[str, float | None]:
    """The task's headline metric: accuracy, or R² for regression."""
    name = "r2" if "r2" in metrics else "accuracy"
    return name, metrics.get(name)


def metrics_from_outputs(outputs: np.ndarray, targets: np.ndarray, task: str) -> dict:
    """Metrics of raw outputs (logits, or values for regression) against the targets, from any runtime."""
    if task == "regression":
        return regression_metrics(targets.astype(np.float64), outputs[:, 0].astype(np.float64))
    return classification_metrics(targets, softmax(outputs.astype(np.float64)))
