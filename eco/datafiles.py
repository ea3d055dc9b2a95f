"""Reading a local data file before it is pushed (`eco datasets push`): its schema and the task it fits.

The file is read by ml.formats (Django-free: pyarrow and numpy), the same readers and typing rule the server
applies to an upload, so a malformed file is refused here, naming the problem, before anything is created.
The light client (eco/pyproject.toml) has no ml package: there `eco datasets push` of a new data set needs
--task, and the server alone checks the file."""

from __future__ import annotations

from pathlib import Path

MAX_CLASSES = 20  # a whole-number target with at most this many distinct values is a class label


def _target_values(path: Path, fmt: str, schema: dict, target: str):
    """The target's non-missing values, one array per block (NPZ: the one array, read without pickle)."""
    import numpy as np

    from ml import formats

    if fmt == "npz":
        with np.load(path, allow_pickle=False) as archive:
            yield archive[target]
        return
    for table in formats.module(fmt).batches(str(path), formats.Reading.of(schema)):
        yield formats.column_array(table.column(target).drop_null())


def _class_like(path: Path, fmt: str, schema: dict, target: str) -> tuple[bool, str]:
    """Whether a number column holds class labels: whole numbers only, at most MAX_CLASSES distinct."""
    import numpy as np

    seen: set = set()
    for values in _target_values(path, fmt, schema, target):
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        if np.any(values != np.round(values)):
            return False, f"the target '{target}' holds fractional numbers"
        seen.update(np.unique(values).tolist())
        if len(seen) > MAX_CLASSES:
            return False, f"the target '{target}' holds more than {MAX_CLASSES} distinct numbers"
    return True, f"the target '{target}' holds {len(seen)} distinct whole numbers"


def inspect_file(
    path: str | Path,
    target: str,
    *,
    fmt: str | None = None,
    delimiter: str | None = None,
    na_values: list[str] | None = None,
) -> dict:
    """Reads the whole file as the server will and tells the task it fits.

    Returns {format, num_rows, columns: [{name, dtype, missing, ...}], task, reason} where `task` is
    image-classification (a feature array of images, NPZ), text-classification (only text features and a
    class target), regression (a number target with fractional values or more than MAX_CLASSES distinct
    ones) or classification, and `reason` says why in words. Raises ml.formats.FormatError naming the
    problem (a malformed file, a missing target column, an empty target)."""
    from ml import formats

    path = Path(path)
    fmt = formats.detect_format(path.name, fmt)
    options = {"delimiter": delimiter} if delimiter else {}
    if na_values is not None:
        options["na_values"] = tuple(na_values)
    inspection = formats.inspect(path, fmt, formats.Reading(target=target, **options))
    columns = inspection.schema["columns"]
    column = next(c for c in columns if c["name"] == target)
    features = [c for c in columns if c["name"] != target]
    answer = {"format": fmt, "num_rows": inspection.num_rows, "columns": columns}
    if column["dtype"] == formats.rules.EMPTY or column["missing"] >= inspection.num_rows:
        raise formats.FormatError(f"the target column '{target}' has no values")
    images = [c["name"] for c in features if len(c.get("shape") or ()) >= 3]
    if images:
        return {**answer, "task": "image-classification", "reason": f"'{images[0]}' holds images"}
    if formats.is_numeric(column["dtype"]) and column["dtype"] != formats.rules.BOOL:
        classes, why = _class_like(path, fmt, inspection.schema, target)
        if not classes:
            return {**answer, "task": "regression", "reason": why}
    else:
        why = f"the target '{target}' is {column['dtype']}"
    if features and all(c["dtype"] == formats.rules.STRING for c in features):
        return {**answer, "task": "text-classification", "reason": f"{why} and every feature is text"}
    return {**answer, "task": "classification", "reason": why}
