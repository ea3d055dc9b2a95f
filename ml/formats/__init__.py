"""The data layer: one reader per file format, one typing rule (see `rules`), no Django.

Every format is one module here with the same parts:
    EXTENSIONS                      file name endings that mean this format
    inspect(path, reading)          -> (rows, columns[, extra schema entries]): schema and missing counts,
                                       in constant memory
    batches(source, reading)        -> iterator of Arrow tables that follow the rule (preview, processing)
    write(table, path)              -> the reading options the written file needs
and optionally `arrays(path, reading)` for formats whose training arrays are not columns of a table (NPZ).

Upload inspection and preview (datasets_app), the process job, training, evaluation and feedback snapshots
all read through the functions below, so a file means the same on every path. A new format is one module
added to `_MODULES`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow as pa

from ml.formats.rules import (
    ARROW_TYPES,
    DEFAULT_NA_VALUES,
    EMPTY,
    STRING,
    FormatError,
    Reading,
    check_options,
    is_numeric,
    label_text,
    sample_array,
)

__all__ = [
    "DEFAULT_NA_VALUES",
    "FORMATS",
    "FormatError",
    "Inspection",
    "Reading",
    "arrays",
    "check_options",
    "detect_format",
    "format_of",
    "inspect",
    "is_numeric",
    "label_text",
    "preview",
    "read_table",
    "write_table",
]

_MODULES = {
    "csv": "ml.formats.csv",
    "jsonl": "ml.formats.jsonl",
    "npz": "ml.formats.npz",
    "parquet": "ml.formats.parquet",
}
FORMATS = tuple(_MODULES)
PREVIEW_TEXT_CHARS = 10_000  # longer text cells are cut in previews


def module(fmt: str) -> ModuleType:
    """The reader module of a format; FormatError for an unknown one."""
    if fmt not in _MODULES:
        raise FormatError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    return importlib.import_module(_MODULES[fmt])


def format_of(filename: str) -> str | None:
    """The format a file name's extension tells (case-insensitive), or None."""
    suffix = Path(filename or "").suffix.lower()
    return next((fmt for fmt in FORMATS if suffix in module(fmt).EXTENSIONS), None)


def detect_format(filename: str, explicit: str | None = None) -> str:
    """`explicit` when given (checked), else the format of the file's extension; FormatError otherwise."""
    if explicit:
        module(explicit)  # FormatError for an unknown one
        return explicit
    fmt = format_of(filename)
    if fmt is None:
        endings = ", ".join(e for f in FORMATS for e in module(f).EXTENSIONS)
        raise FormatError(f"cannot tell the format of '{filename}' from its extension; use {endings}, or pass 'format'")
    return fmt


@dataclass(frozen=True)
class Inspection:
    format: str
    num_rows: int
    schema: dict  # {"columns": [{"name", "dtype", "missing", ...}], "target", "task", "na_values", "delimiter"}


def inspect(path: str | Path, fmt: str, reading: Reading, early=None) -> Inspection:
    """Validate a complete file and give its schema. `early` is a CSV parse that ran while the file arrived.

    Raises FormatError naming the problem and where it is; the target must be one of the columns."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise FormatError("the file is empty")
    reader = module(fmt)
    rows, columns, *extra = reader.inspect(path, reading, early) if fmt == "csv" else reader.inspect(path, reading)
    names = [c["name"] for c in columns]
    if reading.target is not None and reading.target not in names:
        raise FormatError(f"target column '{reading.target}' not found; the columns are: {', '.join(names[:50])}")
    if rows == 0:
        raise FormatError("the file has no data rows")
    schema = {
        "columns": columns,
        "target": reading.target,
        "task": reading.task,
        "na_values": list(reading.na_values),
    }
    if fmt == "csv":
        schema["delimiter"] = reading.delimiter
    schema.update(extra[0] if extra else {})  # what a reader needs to read this file again (block_bytes)
    return Inspection(format=fmt, num_rows=rows, schema=schema)


def read_table(source, fmt: str, schema: dict) -> pa.Table:
    """The whole file (a path or binary stream) as one Arrow table that follows the rule: the schema's
    column types, missing values as nulls, a classification target as text."""
    reading = Reading.of(schema)
    parts = list(module(fmt).batches(source, reading))
    if not parts:
        return _empty_table(reading)
    return pa.concat_tables(parts)


def _empty_table(reading: Reading) -> pa.Table:
    return pa.table({c["name"]: pa.array([], ARROW_TYPES.get(c["dtype"], pa.string())) for c in reading.columns})


def write_table(table: pa.Table, path: str | Path, fmt: str) -> dict:
    """Write a table in `fmt`; returns the reading options (delimiter) the written file is read with."""
    return module(fmt).write(table, Path(path)) or {}


def preview(source, fmt: str, schema: dict, *, limit: int, offset: int = 0) -> dict:
    """Rows `offset` to `offset + limit` as {"columns": [...], "rows": [[...], ...], "offset", "limit"},
    values as the rule reads them (missing as null; long text cut); reads only as far as it needs."""
    reading = Reading.of(schema)
    names = [c["name"] for c in reading.columns or ()]
    rows: list[list] = []
    skip = offset
    for table in module(fmt).batches(source, reading):
        if skip >= table.num_rows:
            skip -= table.num_rows
            continue
        part = table.slice(skip, limit - len(rows))
        skip = 0
        columns = [_values(part, field) for field in part.schema]
        rows.extend([_jsonable(v) for v in row] for row in zip(*columns, strict=True))
        if len(rows) >= limit:
            break
    return {"columns": names, "rows": rows, "offset": offset, "limit": limit}


def _values(table: pa.Table, field: pa.Field) -> list:
    """A column's values as Python objects; sample columns (NPZ) in their shape."""
    column = table.column(field.name)
    if pa.types.is_fixed_size_list(field.type):
        return sample_array(column, field).tolist()
    return column.to_pylist()


def _jsonable(value, depth: int = 0):
    """A preview value safe for JSON: NaN / inf become None, bytes become text, long text is cut, numpy
    scalars become Python numbers, nesting is bounded."""
    if depth > 32:
        return None
    if isinstance(value, np.generic):
        value = value.item() if not isinstance(value, np.floating) else float(value)
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value if len(value) <= PREVIEW_TEXT_CHARS else value[:PREVIEW_TEXT_CHARS] + "…"
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    return value


def arrays(source, fmt: str, schema: dict) -> dict[str, np.ndarray]:
    """Every column of a file as a numpy array for training, by name: numbers and booleans as float64
    with NaN where missing, text as an object array with None where missing (a classification target is
    text as written). NPZ gives its arrays as stored (any shape), read without pickle."""
    reader = module(fmt)
    reading = Reading.of(schema)
    if hasattr(reader, "arrays"):
        return reader.arrays(source, reading)
    table = read_table(source, fmt, schema)
    return {name: column_array(table.column(name)) for name in table.column_names}


def column_array(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """One rule-typed Arrow column as numpy: float64 with NaN for numbers and booleans, else object."""
    t = column.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
        if pa.types.is_boolean(t):
            column = column.cast(pa.int8())
        # unsafe: integers beyond 2**53 become the nearest float instead of an error
        return column.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    return np.array(column.to_pylist(), dtype=object)


def missing_counts(schema: dict, names) -> dict[str, int]:
    """{column: missing count} for the named columns that have missing values, from a version's schema."""
    by_name = {c["name"]: c for c in schema.get("columns", [])}
    return {n: by_name[n].get("missing", 0) for n in names if n in by_name and by_name[n].get("missing", 0)}


def text_columns(schema: dict) -> list[str]:
    return [c["name"] for c in schema.get("columns", []) if c["dtype"] in (STRING, EMPTY)]
