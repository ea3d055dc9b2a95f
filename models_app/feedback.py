"""Feedback rows: predictions someone labelled, turned back into dataset rows for a snapshot.

A prediction log stores its input as an object of dataset columns (see ml/inference.py), so a labelled
prediction is a row of the base dataset version: its feature columns from the input, its target from the
feedback. A snapshot is the base version's rows followed by every labelled prediction of the model up to a
cut-off time, so two snapshots with the same cut-off hold the same rows.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from ml.data import DataError
from ml.inference import PIXELS
from models_app.models import ModelVersion, PredictionLog, RegisteredModel


def labelled_count(
    *, model: RegisteredModel | str, since: datetime | None = None, until: datetime | None = None
) -> int:
    qs = PredictionLog.objects.filter(model=model, feedback_at__isnull=False)
    if since is not None:
        qs = qs.filter(feedback_at__gt=since)
    if until is not None:
        qs = qs.filter(feedback_at__lte=until)
    return qs.count()


def labelled_rows(*, model: RegisteredModel | str, until: datetime) -> list[tuple[dict, object]]:
    """(input columns, label) of every labelled prediction of the model up to `until`, oldest first. Image
    inputs, logged as {"pixels": [...]}, get their column names from the version that served them."""
    rows = list(
        PredictionLog.objects.filter(model=model, feedback_at__isnull=False, feedback_at__lte=until)
        .order_by("created_at", "id")
        .values_list("input", "feedback", "model_version_id")
    )
    pixel_versions = {v for columns, _, v in rows if isinstance(columns, dict) and PIXELS in columns}
    names = {
        pk: (spec.get("preprocessing") or {}).get("feature_names") or []
        for pk, spec in ModelVersion.objects.filter(pk__in=pixel_versions).values_list("pk", "spec")
    }
    out = []
    for columns, label, version in rows:
        if isinstance(columns, dict) and PIXELS in columns and len(names.get(version, ())) == len(columns[PIXELS]):
            columns = dict(zip(names[version], columns[PIXELS], strict=True))
        out.append((columns, label))
    return out


def snapshot_table(base: pa.Table, target: str, rows: list[tuple[dict, object]]) -> tuple[pa.Table, int]:
    """The base table with one row per labelled prediction appended (cast to the base's column types).
    Rows whose input lacks a base column are skipped; returns the table and how many rows were skipped."""
    features = [name for name in base.column_names if name != target]
    kept = [
        (columns, label) for columns, label in rows if isinstance(columns, dict) and all(f in columns for f in features)
    ]
    if not kept:
        raise DataError(
            "no labelled prediction fits this data set's columns"
            + (f" ({len(rows)} labelled, none with the columns {', '.join(features[:5])}…)" if rows else "")
        )
    values = {name: [columns[name] for columns, _ in kept] for name in features}
    values[target] = [label for _, label in kept]
    columns = {}
    for name in base.column_names:
        column, wanted = base.column(name), base.schema.field(name).type
        try:
            columns[name] = (column, pa.array(values[name]).cast(wanted))
        except (pa.ArrowException, TypeError, ValueError) as exc:
            if not pa.types.is_integer(wanted) or name == target:
                raise DataError(f"the feedback values of column '{name}' do not fit its type {wanted}: {exc}") from None
            # whole-number pixels or counts, but feedback brought fractions: the column becomes float64
            columns[name] = (column.cast(pa.float64()), pa.array(values[name], type=pa.float64()))
    merged = pa.table({name: pa.chunked_array([*old.chunks, new]) for name, (old, new) in columns.items()})
    return merged, len(rows) - len(kept)
