"""Content hashes of a data file's rows, to count the rows two files share (a promotion gate's leakage check).

A row's hash is one 64-bit number over its typed feature values, as the one reader of its format gives them
(`ml.formats`: the same typing rule upload, training and evaluation follow), taken in column-name order and
without the target column. So the hash does not change when the file is re-uploaded, re-encoded as another
format, its rows are shuffled, its columns reordered or its labels changed. Values are hashed by their type
under the rule, not their text:

- numbers and booleans as the float64 training reads (`1`, `1.0` and `1e0` are one value; `true` is 1.0;
  -0.0 is 0.0);
- text as its UTF-8 bytes (case and spaces count);
- a missing value (null, NaN, an `na_values` token) as one marker, whatever its spelling;
- a column of samples (an NPZ array of several axes) as the sequence of its values, in order.

Column names are not hashed, only their order: the same values under other names still match when the names
sort the same way. Hashes are not cryptographic; two different rows share one with a chance of about 2**-64,
so among a million rows against a million rows a false match has a chance of about 1 in 20 million.

Shapes: `row_hashes` gives the sorted DISTINCT hashes of a file (numpy uint64, 8 bytes a row) and the number of
rows read; `overlap` counts the values two such arrays share. Bump VERSION when anything here changes what a
hash is, so that stored hashes are recomputed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ml.formats import Reading, module

VERSION = 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MISSING = np.uint64(0x6D697373696E6721)  # one value for every missing cell, whatever its spelling
_SEED = np.uint64(0x65636F2D726F7773)
_TEXT_SALT = np.uint64(0x65636F2D74657874)
TEXT_CHUNK_BYTES = 1 << 22  # at most this many text bytes (32 MiB of scratch) are hashed at once
SAMPLE_CHUNK_VALUES = 1 << 22  # at most this many sample values (32 MiB as uint64) are hashed at once


@dataclass(frozen=True)
class RowHashes:
    hashes: np.ndarray  # sorted, distinct, uint64
    rows: int  # rows read (duplicates included)
    columns: tuple[str, ...]  # the columns hashed, in the order they were hashed

    @property
    def distinct(self) -> int:
        return len(self.hashes)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (in place; returns it): every input bit moves every output bit."""
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= _M1
        x ^= x >> np.uint64(27)
        x *= _M2
        x ^= x >> np.uint64(31)
    return x


def _numbers(values: np.ndarray) -> np.ndarray:
    """Hashes of float64 values (NaN = missing); -0.0 is 0.0."""
    values = np.asarray(values, dtype=np.float64) + 0.0  # a copy, and -0.0 + 0.0 is 0.0
    missing = np.isnan(values)
    out = _mix(values.view(np.uint64).copy())
    out[missing] = _MISSING
    return out


def _text_values(array: pa.Array) -> np.ndarray:
    """Hashes of distinct-or-not text values, none missing: each UTF-8 byte is mixed with its position, the
    bytes' mixes are summed, and the sum is mixed with the length. Vectorised; at most TEXT_CHUNK_BYTES bytes
    (8 bytes of scratch each) are hashed at once."""
    array = array.cast(pa.large_binary())
    n = len(array)
    _validity, offset_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offset_buffer, dtype=np.int64)[array.offset : array.offset + n + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.empty(0, np.uint8)
    lengths = np.diff(offsets).astype(np.uint64)
    sums = np.zeros(n, dtype=np.uint64)
    start = 0
    while start < n:
        # as many values as fit in TEXT_CHUNK_BYTES (at least one)
        stop = int(np.searchsorted(offsets, offsets[start] + TEXT_CHUNK_BYTES, side="right")) - 1
        stop = min(max(stop, start + 1), n)
        first, last = int(offsets[start]), int(offsets[stop])
        if last > first:
            local = offsets[start : stop + 1] - first
            sizes = np.diff(local)
            position = np.arange(last - first, dtype=np.uint64) - np.repeat(local[:-1], sizes).astype(np.uint64)
            mixed = _mix((position << np.uint64(8)) | data[first:last].astype(np.uint64))
            filled = sizes > 0
            with np.errstate(over="ignore"):
                sums[start:stop][filled] = np.add.reduceat(mixed, local[:-1][filled], dtype=np.uint64)
        start = stop
    with np.errstate(over="ignore"):
        return _mix((sums ^ _TEXT_SALT) + lengths * _GOLDEN)


def _texts(array: pa.Array) -> np.ndarray:
    """Hashes of a text array (null = missing): each distinct value of the batch is hashed once."""
    encoded = pc.dictionary_encode(array)
    dictionary = _text_values(encoded.dictionary)
    indices = encoded.indices
    out = np.full(len(array), _MISSING, dtype=np.uint64)
    present = ~np.asarray(indices.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if present.any() and len(dictionary):
        picked = indices.fill_null(0).to_numpy(zero_copy_only=False)
        out[present] = dictionary[picked[present]]
    return out


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t)


def _scalars(array: pa.Array) -> np.ndarray:
    """Hashes of a one-value-per-row array of any rule type."""
    t = array.type
    if pa.types.is_null(t):
        return np.full(len(array), _MISSING, dtype=np.uint64)
    if _is_number(t):
        if pa.types.is_boolean(t):
            array = array.cast(pa.int8())
        values = array.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        return _numbers(values)  # nulls came out as NaN
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        array = array.cast(pa.string())  # the rule gives no other scalar type; be safe anyway
    return _texts(array)


def _samples(array: pa.FixedSizeListArray) -> np.ndarray:
    """Hashes of a column of samples (fixed-size lists): each value hashed, salted by its position, summed."""
    width = array.type.list_size
    n = len(array)
    out = np.empty(n, dtype=np.uint64)
    salts = _mix(np.arange(1, width + 1, dtype=np.uint64) * _GOLDEN)
    step = max(1, SAMPLE_CHUNK_VALUES // max(width, 1))
    for start in range(0, n, step):
        part = array.slice(start, step)
        values = _scalars(part.flatten()).reshape(len(part), width)
        with np.errstate(over="ignore"):
            values ^= salts
            out[start : start + len(part)] = _mix(values).sum(axis=1, dtype=np.uint64)
    nulls = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    out[nulls] = _MISSING
    return out


def column_hashes(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """One uint64 per row of a rule-typed column (see the module docstring for what counts as equal)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_fixed_size_list(array.type):
        return _samples(array)
    return _scalars(array)


def table_hashes(table: pa.Table, columns: Sequence[str]) -> np.ndarray:
    """One uint64 per row of `table` over `columns`, in the order given (not deduplicated)."""
    h = np.full(table.num_rows, _SEED, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in columns:
            h *= _GOLDEN
            h += column_hashes(table.column(name))
            _mix(h)
    return h


def feature_columns(schema: dict) -> list[str]:
    """The columns a row hash covers by default: every column of the schema but the target, by name."""
    return sorted(c["name"] for c in schema.get("columns", []) if c["name"] != schema.get("target"))


def row_hashes(source, fmt: str, schema: dict, columns: Iterable[str] | None = None) -> RowHashes:
    """The sorted distinct row hashes of a file (a path or a binary stream) over `columns` (default:
    `feature_columns(schema)`), taken in name order. Reads the file once, a batch at a time, through the
    format's reader; memory is the file's largest batch plus 8 bytes a row (16 while sorting).

    Raises KeyError for a named column the schema lacks, and FormatError as the reader does."""
    names = sorted(columns) if columns is not None else feature_columns(schema)
    known = {c["name"] for c in schema.get("columns", [])}
    if unknown := [n for n in names if n not in known]:
        raise KeyError(f"columns not in the data: {', '.join(unknown[:10])}")
    parts, rows = [], 0
    for table in module(fmt).batches(source, Reading.of(schema)):
        parts.append(table_hashes(table, names))
        rows += table.num_rows
    return RowHashes(hashes=merged(parts), rows=rows, columns=tuple(names))


def merged(arrays: Iterable[np.ndarray]) -> np.ndarray:
    """The sorted distinct union of several hash arrays."""
    arrays = list(arrays)
    if not arrays:
        return np.empty(0, dtype=np.uint64)
    values = np.concatenate(arrays).astype(np.uint64, copy=False)
    values.sort()  # a sort and a neighbour test: numpy's unique() hashes uint64, several times slower
    if len(values) < 2:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def overlap(a: np.ndarray, b: np.ndarray) -> int:
    """How many values two sorted distinct hash arrays share (distinct rows in both files)."""
    if not len(a) or not len(b):
        return 0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    at = np.searchsorted(large, small)
    at[at == len(large)] = 0
    return int(np.count_nonzero(large[at] == small))


def to_bytes(hashes: np.ndarray) -> bytes:
    """Hashes as stored: little-endian uint64, 8 bytes each."""
    return np.asarray(hashes, dtype="<u8").tobytes()


def from_bytes(data: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype="<u8").astype(np.uint64, copy=False)
