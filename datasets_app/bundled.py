"""scikit-learn's bundled data sets, written as CSV (no download: they ship inside the package).

The bytes are deterministic, so the same data set always gets the same SHA-256 and is stored once.
"""

import csv
import re
from pathlib import Path

import numpy as np

from datasets_app.models import Task

BUILTINS = {
    "digits": {
        "loader": "load_digits",
        "task": Task.CLASSIFICATION,
        "labels": "index",
        "tasks": {Task.CLASSIFICATION, Task.IMAGE_CLASSIFICATION},
        "image_shape": [8, 8],
    },
    "iris": {"loader": "load_iris", "task": Task.CLASSIFICATION, "labels": "names", "tasks": {Task.CLASSIFICATION}},
    "wine": {"loader": "load_wine", "task": Task.CLASSIFICATION, "labels": "names", "tasks": {Task.CLASSIFICATION}},
    "breast_cancer": {
        "loader": "load_breast_cancer",
        "task": Task.CLASSIFICATION,
        "labels": "names",
        "tasks": {Task.CLASSIFICATION},
    },
    "diabetes": {"loader": "load_diabetes", "task": Task.REGRESSION, "labels": None, "tasks": {Task.REGRESSION}},
}
TARGET = "target"


def _column(name: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^0-9a-zA-Z]+", "_", name)).strip("_").lower()


def _number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else format(value, ".10g")


def write_csv(name: str, path: Path) -> dict:
    """Write the bundled data set `name` to `path`; returns facts for the version's source detail."""
    from sklearn import datasets as skdatasets

    spec = BUILTINS[name]
    bunch = getattr(skdatasets, spec["loader"])()
    features = [_column(f) for f in bunch.feature_names]
    if spec["labels"] == "names":
        labels = [str(bunch.target_names[t]) for t in bunch.target]
    else:
        labels = [_number(t) for t in bunch.target]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([*features, TARGET])
        for row, label in zip(np.asarray(bunch.data), labels, strict=True):
            writer.writerow([*(_number(v) for v in row), label])
    detail = {"builtin": name, "provider": "scikit-learn"}
    if "image_shape" in spec:
        detail["image_shape"] = spec["image_shape"]
    return detail
