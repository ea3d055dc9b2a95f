"""Parquet (pyarrow): the field's standard columnar format. Types come from the file's own schema, mapped
onto the rule (rules.dtype_of_arrow): integers to int64, floats and decimals to float64, dictionaries to
their values, nested values (lists, structs, maps) to their JSON text, dates and times to ISO text.
Inspection reads one row group at a time (constant memory for row groups of bounded size).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ml.formats import rules
from ml.formats.rules import EMPTY, STRING, FormatError, Reading

EXTENSIONS = (".parquet", ".pq")
BATCH_ROWS = 65_536


def _file(source) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(source)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise FormatError(f"not a readable Parquet file: {str(exc).splitlines()[0][:200]}") from None


def _check_schema(schema: pa.Schema) -> None:
    seen = set()
    for i, field in enumerate(schema):
        if not field.name.strip():
            raise FormatError(f"column {i + 1} has no name")
        if field.name in seen:
            raise FormatError(f"column '{field.name}' appears twice")
        seen.add(field.name)
        t = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            raise FormatError(f"column '{field.name}' holds binary data; Eco reads numbers, booleans and text")


def inspect(path: Path, reading: Reading) -> tuple[int, list[dict]]:
    parquet = _file(path)
    schema = parquet.schema_arrow
    _check_schema(schema)
    names = schema.names
    dtypes = {f.name: STRING if reading.label_column(f.name) else rules.dtype_of_arrow(f.type) for f in schema}
    missing = dict.fromkeys(names, 0)
    rows = 0
    for group in range(parquet.num_row_groups):
        try:
            table = parquet.read_row_group(group)
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            raise FormatError(f"row group {group} (from row {rows + 1}): {str(exc).splitlines()[0][:200]}") from None
        for name in names:
            values = table.column(name)
            if rules.is_nested_type(values.type):
                missing[name] += values.null_count
                continue
            if reading.label_column(name):
                text = rules.to_rule(values, name, STRING, reading)
                missing[name] += text.null_count
                continue
            if pa.types.is_dictionary(values.type):
                values = values.cast(values.type.value_type)
            missing[name] += pc.sum(rules.missing_mask(values, name, reading)).as_py() or 0
        rows += table.num_rows
    for name in names:  # the rule: a column with no value is `empty`, whatever type the file declares
        if rows and missing[name] == rows and not reading.label_column(name):
            dtypes[name] = EMPTY
    return rows, [{"name": n, "dtype": dtypes[n], "missing": missing[n]} for n in names]


def batches(source, reading: Reading) -> Iterator[pa.Table]:
    parquet = _file(source)
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        yield rules.normalize(batch, reading)


def write(table: pa.Table, path: Path) -> dict:
    pq.write_table(table, path)
    return {}
