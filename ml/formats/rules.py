"""The one typing rule every format follows (README, "How Eco reads a data file").

- Feature columns: a missing value is an empty cell, a null, a NaN number, or one of the tokens in
  `na_values` (by default `NA`, `N/A`, `NaN`, `null`, `NULL`; an upload option replaces the list, and an
  empty list leaves only empty cells, nulls and NaN numbers missing).
- The target of a classification data set (classification, text- or image-classification) is text exactly
  as written (`007` stays `007`, `NA` is a label); only an empty cell (or a null) is a missing target.
- A column's type comes from all of its non-missing values, whatever their order: `int64`, widened to
  `float64` by any fractional or huge number, widened to `string` by any other text; `bool` when every value
  is true or false (`true`, `True`, `TRUE`, `false`...), `string` when mixed with anything else; `empty` when
  every value is missing. Nested values (JSON arrays and objects, Parquet lists, structs and maps) are kept
  as their JSON text in a `string` column.

Readers turn raw batches into Arrow record batches that follow this rule (`normalize`), so everything
downstream (inspection, preview, processing, training) sees one representation: the column types above and
missing values as nulls.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ml.errors import UserError

DEFAULT_NA_VALUES = ("NA", "N/A", "NaN", "null", "NULL")
TRUE_VALUES = ("true", "True", "TRUE")
FALSE_VALUES = ("false", "False", "FALSE")
MAX_NA_VALUES = 50
EMPTY, INT, FLOAT, BOOL, STRING = "empty", "int64", "float64", "bool", "string"
ARROW_TYPES = {INT: pa.int64(), FLOAT: pa.float64(), BOOL: pa.bool_(), STRING: pa.string(), EMPTY: pa.string()}
# Every task whose target is a class label (ml.architectures.TASKS less regression).
CLASSIFICATION_TASKS = ("classification", "text-classification", "image-classification")


class FormatError(UserError):
    """The file cannot be used: the message says why and where (line and column for text formats; array or
    column and row for NPZ and Parquet)."""


@dataclass(frozen=True)
class Reading:
    """How to read one file: the data set's target and task, and the upload's reading options.

    `columns` is the schema's column list once a file has been inspected (None while inspecting)."""

    target: str | None = None
    task: str | None = None
    na_values: tuple[str, ...] = DEFAULT_NA_VALUES
    delimiter: str = ","
    columns: list[dict] | None = field(default=None, compare=False)
    block_bytes: int | None = None  # CSV: the block size a file with very long lines needs

    @classmethod
    def of(cls, schema: dict) -> Reading:
        """The reading recorded in a version's schema (versions from before the options read with defaults)."""
        return cls(
            target=schema.get("target"),
            task=schema.get("task"),
            na_values=tuple(schema.get("na_values", DEFAULT_NA_VALUES)),
            delimiter=schema.get("delimiter", ","),
            columns=schema.get("columns"),
            block_bytes=schema.get("block_bytes"),
        )

    def label_column(self, name: str) -> bool:
        """True for the target of a classification data set (of any kind: tabular, text or images): text as
        written, only empty is missing."""
        return name == self.target and self.task in CLASSIFICATION_TASKS

    def missing_tokens(self, name: str) -> pa.Array:
        tokens = [""] if self.label_column(name) else ["", *self.na_values]
        return pa.array(tokens, type=pa.string())

    def dtypes(self) -> dict[str, str]:
        return {c["name"]: c["dtype"] for c in self.columns or ()}


def check_options(na_values, delimiter) -> tuple[tuple[str, ...], str]:
    """Upload options, checked: `na_values` (a list of strings, or None for the default list) and `delimiter`
    (one character, or None for a comma). UserError names the field."""
    if na_values is None:
        na_values = DEFAULT_NA_VALUES
    elif not isinstance(na_values, (list, tuple)) or not all(isinstance(v, str) for v in na_values):
        raise UserError("give a list of strings (an empty list: only empty cells are missing)", field="na_values")
    elif len(na_values) > MAX_NA_VALUES or any(len(v) > 100 or "\n" in v or "\r" in v for v in na_values):
        raise UserError(f"at most {MAX_NA_VALUES} one-line tokens of up to 100 characters", field="na_values")
    if delimiter in (None, ""):
        delimiter = ","
    elif delimiter == "\\t":  # as typed in a form or a shell
        delimiter = "\t"
    printable = isinstance(delimiter, str) and len(delimiter) == 1 and delimiter.isprintable()
    if delimiter != "\t" and (not printable or delimiter == '"'):
        raise UserError(
            f"the delimiter is one character such as ',', ';', '|' or a tab; got {delimiter!r}", field="delimiter"
        )
    return tuple(dict.fromkeys(na_values)), delimiter


def widen(a: str, b: str) -> str:
    """The narrowest type holding both: empty < int64 < float64 < string; bool joins only bool."""
    if a == b or b == EMPTY:
        return a
    if a == EMPTY:
        return b
    if BOOL in (a, b) or STRING in (a, b):
        return STRING
    return FLOAT  # int64 and float64


def kind_of_text(values: pa.Array | pa.ChunkedArray, start: str = EMPTY) -> tuple[str, int]:
    """The type of non-missing text values widened from `start` (a column read as text, batch by batch),
    and how many of them are numbers that are not finite (`nan`, `inf`, `1e400`: missing in a number column).
    Nulls (missing values) are left out. The casts here are the ones `to_rule` converts with."""
    if start == STRING or len(values) == values.null_count:
        return start, 0
    if start in (EMPTY, INT):
        try:
            pc.cast(values, pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        else:
            if not _may_hold_hex(values):  # Arrow's cast reads 0x1F as 31; the rule reads it as text
                return widen(start, INT), 0
            return STRING, 0
    if start in (EMPTY, INT, FLOAT):
        try:
            numbers = pc.cast(values, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        else:
            return FLOAT, pc.sum(pc.invert(pc.is_finite(numbers))).as_py() or 0
    if start in (EMPTY, BOOL):
        # index_in gives null for a value not in the set (and for a null): all found when only nulls are null
        found = pc.index_in(values, value_set=pa.array(TRUE_VALUES + FALSE_VALUES))
        if found.null_count == values.null_count:
            return BOOL, 0
    return STRING, 0


def _may_hold_hex(values: pa.Array | pa.ChunkedArray) -> bool:
    """True when a text value holds an `x` or `X` (as in 0x1F). The chunks' character buffers are searched
    with bytes.find (memchr speed, where a case-insensitive match costs 7x the int cast); a hit in a
    buffer shared with other values is confirmed value by value."""
    for chunk in values.chunks if isinstance(values, pa.ChunkedArray) else [values]:
        data = chunk.buffers()[2]
        if data is None:
            continue
        raw = data.to_pybytes()
        if raw.find(b"x") >= 0 or raw.find(b"X") >= 0:
            if pc.any(pc.match_substring_regex(chunk, "[xX]")).as_py():
                return True
    return False


def is_text_type(t: pa.DataType) -> bool:
    """string, large_string and string_view (which Parquet readers may give)."""
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def missing_mask(values: pa.Array, name: str, reading: Reading) -> pa.Array:
    """True where a value of column `name` is missing under the rule (nulls, NaN and infinite numbers,
    missing tokens)."""
    mask = pc.is_null(values)
    # Kleene logic: is_nan(null) is null, and a plain `or` would turn a null's True into null (not counted)
    if pa.types.is_floating(values.type):  # NaN and ±inf: not numbers a model can take
        mask = pc.or_kleene(mask, pc.invert(pc.is_finite(values)))
    elif is_text_type(values.type):
        if not pa.types.is_string(values.type):
            values = values.cast(pa.string())
        mask = pc.or_kleene(mask, pc.is_in(values, value_set=reading.missing_tokens(name)))
    return mask


def label_text(value) -> str | None:
    """A target value of a classification data set as text: strings as they are, integers in decimal, floats
    as Python writes them (`7.0`, `0.5`, `1e+300`: a JSON `7.0` and a CSV `7.0` are the same class, apart from
    `7`), booleans as `true` / `false`; None for a missing one (None, NaN or empty text)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else repr(float(value))
    return json_text(value)


def json_text(value) -> str | None:
    """A nested or mixed value as JSON text (strings stay as they are)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, allow_nan=True, default=str)


def to_rule(values: pa.Array, name: str, dtype: str, reading: Reading) -> pa.Array:
    """One column as the rule represents it: type `dtype` (see ARROW_TYPES), missing values as nulls,
    a classification target as its text."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if is_text_type(values.type) and not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    if reading.label_column(name):
        if not pa.types.is_string(values.type):
            values = _as_text(values)
        return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    if is_nested_type(values.type):
        values = pa.array([json_text(v) for v in values.to_pylist()], type=pa.string())
    mask = missing_mask(values, name, reading)
    target = ARROW_TYPES.get(dtype, pa.string())
    if pa.types.is_string(values.type) and dtype in (INT, FLOAT, BOOL):
        values = pc.if_else(mask, pa.scalar(None, pa.string()), values)
        if dtype == BOOL:
            truth = pc.is_in(values, value_set=pa.array(TRUE_VALUES))
            return pc.if_else(pc.is_null(values), pa.scalar(None, pa.bool_()), truth)
        try:
            numbers = pc.cast(values, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:  # the file is not what was inspected
            raise FormatError(f"column '{name}' holds a value that is not {dtype}: {exc}") from None
        if dtype == FLOAT:  # `nan`, `inf`: missing numbers
            numbers = pc.if_else(pc.is_finite(numbers), numbers, pa.scalar(None, pa.float64()))
        return numbers
    if values.type != target:  # numbers to int64 / float64, anything else in a text column to its text
        values = _as_text(values) if target == pa.string() else pc.cast(values, target)
    if pc.any(mask).as_py():
        values = pc.if_else(mask, pa.scalar(None, target), values)
    return values


def sample_array(column: pa.Array | pa.ChunkedArray, field: pa.Field | None = None) -> np.ndarray:
    """A column of samples (fixed-size lists: NPZ arrays of several axes) as numpy: shape (N, *sample shape)
    when `field`'s metadata records the shape, else (N, values per sample)."""
    flat = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    shape = [-1]
    if field is not None and field.metadata and b"shape" in field.metadata:
        shape = json.loads(field.metadata[b"shape"])
    return flat.flatten().to_numpy(zero_copy_only=False).reshape(len(flat), *shape)


def check_names(names: list[str], where: str = "") -> None:
    """Column names: none empty, none twice; FormatError naming the column (`where` prefixes its place,
    `line 1, ` for a CSV header)."""
    seen = set()
    for i, name in enumerate(names):
        if not name.strip():
            raise FormatError(f"{where}column {i + 1}: the column has no name")
        if name in seen:
            raise FormatError(f"{where}column {i + 1}: the column name '{name}' appears twice")
        seen.add(name)


def _as_text(values: pa.Array) -> pa.Array:
    """Values of a non-text type as text: numbers as `label_text` writes them (`7`, `7.0`), timestamps in
    ISO 8601 (2020-01-01T12:30:05), dates, times, booleans and decimals as Arrow writes them (2020-01-02,
    true)."""
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        return pa.array([label_text(v) for v in values.to_pylist()], type=pa.string())
    if pa.types.is_timestamp(values.type):
        return pc.strftime(values, format="%Y-%m-%dT%H:%M:%S" + ("%z" if values.type.tz else ""))
    return pc.cast(values, pa.string())


def is_nested_type(t: pa.DataType) -> bool:
    """Lists, structs, maps and unions: kept as their JSON text."""
    return pa.types.is_nested(t) or pa.types.is_fixed_size_list(t)


def dtype_of_arrow(t: pa.DataType) -> str:
    """The rule's type for an Arrow column type (Parquet): integers and floats widen to int64 / float64,
    dictionaries of text are text, anything else (dates, decimals, nested values) is kept as text."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_uint64(t):  # its values may pass int64's range
        return FLOAT
    if pa.types.is_integer(t):
        return INT
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return FLOAT
    if pa.types.is_boolean(t):
        return BOOL
    if pa.types.is_null(t):
        return EMPTY
    return STRING


def is_numeric(dtype: str) -> bool:
    """True for columns a network can take as numbers (int, uint, float and bool columns, NPZ dtypes too)."""
    try:
        return np.dtype(dtype).kind in "biuf"
    except TypeError:  # "string", "empty"...
        return False


def normalize(batch: pa.RecordBatch | pa.Table, reading: Reading) -> pa.Table:
    """A raw batch as the rule represents it, in the schema's column types."""
    dtypes = reading.dtypes()
    arrays = [
        to_rule(batch.column(i), name, dtypes.get(name, STRING), reading) for i, name in enumerate(batch.column_names)
    ]
    return pa.table(arrays, names=list(batch.column_names))
