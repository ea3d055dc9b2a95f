"""Parquet (pyarrow): the field's standard columnar format. Types come from the file's own schema, mapped
onto the rule (rules.dtype_of_arrow): integers to int64, floats and decimals to float64, dictionaries to
their values, nested values (lists, structs, maps) to their JSON text, dates and times to ISO text.
Inspection reads the footer's statistics and, one column of one row group at a time in batches, the
columns whose missing values the statistics cannot tell (constant memory).
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


def _file(source, buffer_size: int = 0) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(source, buffer_size=buffer_size)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise FormatError(f"not a readable Parquet file: {str(exc).splitlines()[0][:200]}") from None


def _check_schema(schema: pa.Schema) -> None:
    rules.check_names(schema.names)
    for field in schema:
        t = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            raise FormatError(f"column '{field.name}' holds binary data; Eco reads numbers, booleans and text")


def inspect(path: Path, reading: Reading) -> tuple[int, list[dict]]:
    """(rows, columns) of a Parquet file: its rule types and missing counts, in constant memory.

    Missing counts come from the row groups' statistics (`null_count`) where a column can only be missing
    as a null (integers, booleans, dates, decimals..., and text whose min and max leave out every missing
    token); floats (NaN), other text and nested values are read one column of one row group at a time, in
    batches of BATCH_ROWS rows, on the calling thread. Raises FormatError naming the row group and column
    that cannot be read."""
    # Buffered: pages stream in instead of whole column chunks.
    parquet = _file(path, buffer_size=1 << 20)
    schema = parquet.schema_arrow
    _check_schema(schema)
    names = schema.names
    dtypes = {f.name: STRING if reading.label_column(f.name) else rules.dtype_of_arrow(f.type) for f in schema}
    leaves: dict[str, list[int]] = {}
    for index, leaf_path in enumerate(parquet.reader.column_paths):
        leaves.setdefault(leaf_path[0], []).append(index)
    tokens = {name: reading.missing_tokens(name).to_pylist() for name in names}
    missing = dict.fromkeys(names, 0)
    rows = 0
    for group in range(parquet.num_row_groups):
        meta = parquet.metadata.row_group(group)
        for field in schema:
            counted = _null_count(meta, leaves.get(field.name, []), field, tokens[field.name])
            if counted is None:
                counted = _count_missing(parquet, group, rows, field.name, reading)
            missing[field.name] += counted
        rows += meta.num_rows
    for name in names:  # the rule: a column with no value is `empty`, whatever type the file declares
        if rows and missing[name] == rows and not reading.label_column(name):
            dtypes[name] = EMPTY
    return rows, [{"name": n, "dtype": dtypes[n], "missing": missing[n]} for n in names]


def _null_count(meta: pq.RowGroupMetaData, leaves: list[int], field: pa.Field, tokens: list[str]) -> int | None:
    """A column's missing count in one row group from its statistics, or None where it must be read: a
    flat column whose values can only be missing as nulls (no NaN), text only when its range shows that
    none of its values is one of the missing `tokens`."""
    t = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
    text = rules.is_text_type(t)
    if len(leaves) != 1 or pa.types.is_floating(t) or rules.is_nested_type(t):
        return None
    column = meta.column(leaves[0])
    stats = column.statistics
    if column.path_in_schema != field.name or stats is None or not stats.has_null_count:
        return None
    if text and not _outside_range(stats, tokens):
        return None
    return stats.null_count


def _outside_range(stats: pq.Statistics, tokens: list[str]) -> bool:
    """True when every token lies outside the column's [min, max]. Only for ASCII bounds and tokens: old
    writers compared bytes as signed, which orders ASCII text the same."""
    if not stats.has_min_max:
        return False
    low, high = stats.min, stats.max
    if not (isinstance(low, str) and isinstance(high, str) and low.isascii() and high.isascii()):
        return False
    return all(token.isascii() and not low <= token <= high for token in tokens)


def _count_missing(parquet: pq.ParquetFile, group: int, first_row: int, name: str, reading: Reading) -> int:
    """Missing values of one column in one row group under the rule (a classification target: nulls and
    empty text; nested values: nulls)."""
    count = 0
    try:
        for batch in parquet.iter_batches(BATCH_ROWS, row_groups=[group], columns=[name], use_threads=False):
            count += _missing_in(batch.column(0), name, reading)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        message = str(exc).splitlines()[0][:200]
        raise FormatError(f"row group {group} (from row {first_row + 1}), column '{name}': {message}") from None
    return count


def _missing_in(values: pa.Array, name: str, reading: Reading) -> int:
    if rules.is_nested_type(values.type):
        return values.null_count
    if pa.types.is_dictionary(values.type):
        # Which distinct values are missing, then how many rows point at one of them.
        flags = rules.missing_mask(values.dictionary, name, reading)
        return values.null_count + (pc.sum(pc.take(flags, values.indices)).as_py() or 0)
    if pa.types.is_floating(values.type) and reading.label_column(name):  # a label: NaN is missing, inf is `inf`
        return values.null_count + (pc.sum(pc.is_nan(values)).as_py() or 0)
    return pc.sum(rules.missing_mask(values, name, reading)).as_py() or 0


def batches(source, reading: Reading) -> Iterator[pa.Table]:
    """The file in tables of BATCH_ROWS rows following the rule. Data pages that inspection counted from
    statistics are decoded only here: a corrupt one is a FormatError naming the rows."""
    parquet = _file(source)
    done = 0
    try:
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            yield rules.normalize(batch, reading)
            done += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise FormatError(f"rows from {done + 1}: {str(exc).splitlines()[0][:200]}") from None


def write(table: pa.Table, path: Path) -> dict:
    pq.write_table(table, path)
    return {}
