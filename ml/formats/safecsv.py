"""A CSV copy of a stored file that is safe to open in a spreadsheet (not a format of its own: an export).

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula (and some also after a leading
tab or carriage return), so a data set can carry `=HYPERLINK(...)` to whoever opens it (CSV injection,
OWASP). The export reads the file through its format's reader, under the one typing rule, and writes:

- text cells (the rule's `string` and `empty` columns, a classification target, nested values as their JSON
  text, column names) that start with one of FORMULA_START with an apostrophe in front, which spreadsheets
  show as text and do not run; every other text cell as it is. A text cell is text whatever it looks like:
  `-1` in a text column is prefixed too;
- numbers (`int64`, `float64`: `-3.5` in a number column stays `-3.5`) and booleans as they are;
- missing values as empty cells.

The file is read and written batch by batch (the readers' batches), so memory stays constant whatever its
size. Arrays of samples (an NPZ's images: more than one axis) have no CSV form: `sample_columns` names them
so that the caller refuses before it starts.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ml.formats import module
from ml.formats.rules import Reading

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_PATTERN = "^[=+\\-@\t\r]"
CHUNK_BYTES = 1 << 20  # what one piece of the answer holds, about


def sample_columns(schema: dict) -> list[str]:
    """The columns of a version that hold arrays of samples (more than one axis: images), which CSV cannot."""
    return [c["name"] for c in schema.get("columns", []) if len(c.get("shape") or (0,)) > 1]


def escape_text(value: str) -> str:
    """One text value as the export writes it (for column names and tests; cells go through `_escaped`)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def _is_text(field: pa.Field) -> bool:
    return pa.types.is_string(field.type) or pa.types.is_large_string(field.type)


def _escaped(table: pa.Table) -> pa.Table:
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if _is_text(field):
            formula = pc.match_substring_regex(column, _FORMULA_PATTERN)
            column = pc.if_else(formula, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.table(columns, names=[escape_text(name) for name in table.column_names])


def chunks(source, fmt: str, schema: dict, *, chunk_bytes: int | None = None) -> Iterator[bytes]:
    """The file (a path or binary stream in `fmt`, read with the version's `schema`) as safe CSV, in pieces of
    at least `chunk_bytes` (CHUNK_BYTES by default) and at most about that plus one reader batch: a header line,
    then the rows. ValueError when it has sample columns."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    if found := sample_columns(schema):
        raise ValueError(f"columns {', '.join(found)} hold arrays of samples (images), which CSV cannot")
    reading = Reading.of(schema)
    sink = io.BytesIO()
    writer, arrow_schema = None, None
    options = pacsv.WriteOptions(quoting_style="needed")
    for table in module(fmt).batches(source, reading):
        table = _escaped(table)
        if writer is None:
            arrow_schema = table.schema
            writer = pacsv.CSVWriter(sink, arrow_schema, write_options=options)
        writer.write_table(table.cast(arrow_schema))
        if sink.tell() >= chunk_bytes:
            yield sink.getvalue()
            sink.seek(0)
            sink.truncate()
    if writer is None:  # no rows at all: the header alone
        names = [escape_text(c["name"]) for c in reading.columns or ()]
        writer = pacsv.CSVWriter(sink, pa.schema([(n, pa.string()) for n in names]), write_options=options)
    writer.close()
    if sink.tell():
        yield sink.getvalue()
