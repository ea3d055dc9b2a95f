"""Feedback rows: predictions someone labelled, turned back into dataset rows for a snapshot.

A prediction log stores its input as an object of dataset columns (see ml/inference.py), so a labelled
prediction is a row of the base dataset version: its feature columns from the input, its target from the
feedback. A snapshot is the base version's rows followed by every labelled prediction of the model up to a
cut-off time, so two snapshots with the same cut-off hold the same rows. A labelled prediction that does not
fit the base's schema (`screen_rows`: missing or unknown features, a number outside float32, a label the
target cannot hold) is left out with a reason naming it, so one bad row never stops every later snapshot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from ml.data import DataError
from ml.inference import FLOAT32_MAX, FLOAT32_RANGE, PIXELS
from models_app.models import ModelVersion, PredictionLog, RegisteredModel

SHOWN_REASONS = 5
"""How many reasons for skipped rows a snapshot's result and its new version's source detail keep."""


class Labelled(NamedTuple):
    """A labelled prediction as a dataset row: its input columns, the feedback label, the prediction's id."""

    columns: object
    label: object
    prediction: str | None = None


def labelled(*, model, since=None, until=None):
    """The predictions of `model` labelled after `since` and up to `until` (either may be None: no bound):
    the feedback a retrain trigger counts. Any argument may be a query expression (OuterRef), so a list of
    triggers counts with the same rule in one query (jobs_app.selectors.team_overview)."""
    qs = PredictionLog.objects.filter(model=model, feedback_at__isnull=False)
    if since is not None:
        qs = qs.filter(feedback_at__gt=since)
    if until is not None:
        qs = qs.filter(feedback_at__lte=until)
    return qs


def labelled_count(
    *, model: RegisteredModel | str, since: datetime | None = None, until: datetime | None = None
) -> int:
    return labelled(model=model, since=since, until=until).count()


def labelled_rows(*, model: RegisteredModel | str, until: datetime) -> list[Labelled]:
    """(input columns, label, prediction id) of every labelled prediction of the model up to `until`, oldest
    first. Image inputs, logged as {"pixels": [...]}, get their column names from the version that served them."""
    rows = list(
        PredictionLog.objects.filter(model=model, feedback_at__isnull=False, feedback_at__lte=until)
        .order_by("created_at", "id")
        .values_list("input", "feedback", "model_version_id", "id")
    )
    pixel_versions = {v for columns, _, v, _ in rows if isinstance(columns, dict) and PIXELS in columns}
    names = {
        pk: (spec.get("preprocessing") or {}).get("feature_names") or []
        for pk, spec in ModelVersion.objects.filter(pk__in=pixel_versions).values_list("pk", "spec")
    }
    out = []
    for columns, label, version, pk in rows:
        if isinstance(columns, dict) and PIXELS in columns and len(names.get(version, ())) == len(columns[PIXELS]):
            columns = dict(zip(names[version], columns[PIXELS], strict=True))
        out.append(Labelled(columns, label, str(pk)))
    return out


# --- which feedback rows fit the base's schema -------------------------------------------------------------


class _Unfit(Exception):
    """A value its column cannot hold; the message is a predicate about it: `is 1e+308, outside ...`."""


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(value, dtype: pa.DataType, *, label: bool) -> int | float:
    """A value of a numeric column: a finite number within float32 (models train in float32) and, for an
    integer column, a whole number the type holds. A feature of an integer column may be fractional or larger
    (a float comes back; the column is then widened to float64); a label may not, and may be a class name
    written as a number ("3")."""
    integer = pa.types.is_integer(dtype)
    if label and isinstance(value, str):
        try:
            value = int(value) if integer else float(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                raise _Unfit(f"is {_shown(value)}, not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Unfit(f"is {_shown(value)}, not a number")
    try:
        as_float = float(value)  # PostgreSQL's jsonb gives large floats back as integers: 1e20 -> 100000...
    except OverflowError:
        raise _Unfit(f"is an integer too large for a float, outside the float32 range ({FLOAT32_RANGE})") from None
    if not math.isfinite(as_float):
        raise _Unfit(f"is {as_float}, not a finite number")
    if abs(as_float) > FLOAT32_MAX:
        raise _Unfit(f"is {as_float:g}, outside the float32 range ({FLOAT32_RANGE})")
    if not integer:
        return as_float
    bounds = np.iinfo(dtype.to_pandas_dtype())
    if as_float.is_integer() and bounds.min <= int(value) <= bounds.max:
        return int(value)
    if label:
        raise _Unfit(f"is {_shown(value)}, not a whole number within {dtype}")
    return as_float


def _value(value, dtype: pa.DataType, *, label: bool = False):
    """`value` in the form a column of `dtype` takes, or _Unfit saying why it does not fit."""
    if value is None:
        raise _Unfit("is missing (null)")
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype):
        return _number(value, dtype, label=label)
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        if isinstance(value, str):
            return value
        if label and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise _Unfit(f"is {_shown(value)}, not text")
    if pa.types.is_boolean(dtype):
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):  # served inputs are numbers
            return bool(value)
        raise _Unfit(f"is {_shown(value)}, not true / false")
    try:  # any other type: what Arrow's own cast makes of it
        return pa.array([value]).cast(dtype)[0].as_py()
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        raise _Unfit(f"is {_shown(value)}, which does not fit the type {dtype}") from None


def _listed(names: list[str]) -> str:
    return ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")


def _fitted(row: Labelled, schema: pa.Schema, target: str) -> dict:
    """The row as {column: value} in the base's column types, or _Unfit naming the column and the problem."""
    columns = row.columns
    if not isinstance(columns, dict):
        raise _Unfit(f"its input is {type(columns).__name__}, not an object of columns")
    features = [name for name in schema.names if name != target]
    if missing := [name for name in features if name not in columns]:
        raise _Unfit(f"its input lacks the feature(s) {_listed(missing)}")
    if unknown := [str(key) for key in columns if key not in schema.names]:
        raise _Unfit(f"its input has unknown feature(s) {_listed(unknown)}")
    fitted = {}
    for name in features:
        try:
            fitted[name] = _value(columns[name], schema.field(name).type)
        except _Unfit as exc:
            raise _Unfit(f"'{name}' {exc}") from None
    try:
        fitted[target] = _value(row.label, schema.field(target).type, label=True)
    except _Unfit as exc:
        raise _Unfit(f"the label {exc} (the target '{target}' is {schema.field(target).type})") from None
    return fitted


@dataclass(frozen=True)
class Screened:
    """Feedback rows checked against a base's schema: the ones that fit ({column: value} in the base's column
    types), and one reason per row that does not, naming its prediction and column."""

    rows: list[dict]
    skipped: list[str]


def screen_rows(schema: pa.Schema, target: str, rows: list[tuple]) -> Screened:
    """Check each labelled prediction (a `Labelled`, or a (columns, label) pair) against the base's schema:
    its input has exactly the base's features (the target column may be there too; the label replaces it),
    numbers are finite and within float32, each value fits its column's type and the label fits the target's."""
    kept, skipped = [], []
    for position, row in enumerate(rows):
        row = Labelled(*row)
        try:
            kept.append(_fitted(row, schema, target))
        except _Unfit as exc:
            where = f"prediction {row.prediction}" if row.prediction else f"labelled prediction {position + 1}"
            skipped.append(f"{where}: {exc}")
    return Screened(kept, skipped)


def snapshot_table(base: pa.Table, target: str, rows: list[tuple]) -> tuple[pa.Table, list[str]]:
    """The base table with one row per labelled prediction that fits its schema appended (see `screen_rows`);
    returns the table and one reason per skipped row. An integer feature column to which feedback brings
    fractions becomes float64. Raises DataError when no row fits, quoting the first reasons."""
    screened = screen_rows(base.schema, target, rows)
    if not screened.rows:
        raise DataError(
            f"none of the {len(rows)} labelled predictions fits this data set's schema: "
            + "; ".join(screened.skipped[:SHOWN_REASONS])
            + (" ..." if len(screened.skipped) > SHOWN_REASONS else "")
        )
    columns = {}
    for name in base.column_names:
        column, wanted = base.column(name), base.schema.field(name).type
        values = [row[name] for row in screened.rows]
        if pa.types.is_integer(wanted) and any(isinstance(v, float) for v in values):
            # whole-number pixels or counts, but feedback brought fractions: the column becomes float64
            columns[name] = (column.cast(pa.float64()), pa.array(values, type=pa.float64()))
            continue
        try:
            new = pa.array(values, type=pa.float64()).cast(wanted) if pa.types.is_floating(wanted) else None
            columns[name] = (column, new if new is not None else pa.array(values, type=wanted))
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:  # every value was checked alone
            raise DataError(f"the feedback values of column '{name}' do not fit its type {wanted}: {exc}") from None
    merged = pa.table({name: pa.chunked_array([*old.chunks, new]) for name, (old, new) in columns.items()})
    return merged, screened.skipped
