"""JSON Lines: one JSON object per line (UTF-8); blank lines are skipped and keys may differ between lines
(a key a line lacks is a missing value there). Numbers, booleans and text keep their JSON types under the
rule (rules.py); arrays and objects are kept as their JSON text.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from ml.formats import rules
from ml.formats.rules import BOOL, EMPTY, FLOAT, INT, STRING, FormatError, Reading

EXTENSIONS = (".jsonl", ".ndjson")
BATCH_LINES = 8192
MAX_LINE_BYTES = 64 << 20
_INT64 = 2**63


def _too_deep(value, limit: int = 32) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple]) -> dict:
    """An object's pairs as a dict, refusing a key given twice (json.loads would keep the last silently)."""
    record = dict(pairs)
    if len(record) != len(pairs):
        seen = set()
        for key, _value in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return record


@contextmanager
def _opened(source):
    if isinstance(source, (str, Path)):
        with open(source, "rb") as fh:
            yield fh
    else:
        yield source


def records(source) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; FormatError names the line (and column) of a bad one."""
    with _opened(source) as fh:
        # a line is read with a cap: a whole JSON array saved as one "line" would otherwise fill memory
        for number, raw in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES + 1), b""), start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise FormatError(
                    f"line {number} is longer than {MAX_LINE_BYTES >> 20} MiB; JSON Lines holds one object per line"
                )
            if not raw.strip():
                continue
            try:
                record = json.loads(raw, object_pairs_hook=_unique_keys)
            except UnicodeDecodeError as exc:
                raise FormatError(f"line {number}, column {exc.start + 1}: the file is not valid UTF-8 text") from None
            except json.JSONDecodeError as exc:
                raise FormatError(f"line {number}, column {exc.colno}: invalid JSON ({exc.msg})") from None
            except _DuplicateKey as exc:
                raise FormatError(f"line {number}: the key '{exc.args[0]}' appears twice in one object") from None
            except (ValueError, RecursionError) as exc:  # numbers too long to convert, nesting too deep
                raise FormatError(f"line {number}: unreadable JSON ({exc.__class__.__name__})") from None
            if not isinstance(record, dict):
                raise FormatError(f"line {number}: each line must be a JSON object, found {type(record).__name__}")
            if _too_deep(record):
                raise FormatError(f"line {number}: a value is nested deeper than 32 levels")
            if "" in record:
                raise FormatError(f"line {number}: a key is empty; every column needs a name")
            yield number, record


def _kind(value) -> str:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        if -_INT64 <= value < _INT64:
            return INT
        try:  # a huge number widens to float64, as in CSV; beyond any float it is kept as its digits
            float(value)
        except OverflowError:
            return STRING
        return FLOAT
    if isinstance(value, float):
        return FLOAT
    return STRING


def _missing(value, tokens: frozenset) -> str | None:
    """'empty' for a null or empty text, 'na' for a missing token, 'nonfinite' for NaN or ±Infinity (missing
    in a number column; in a text column it is its JSON text, missing only when that is a token), else None."""
    if value is None or value == "":
        return "empty"
    if isinstance(value, str) and value in tokens:
        return "na"
    if isinstance(value, float) and not math.isfinite(value):
        return "nonfinite"
    return None


def inspect(path: Path, reading: Reading) -> tuple[int, list[dict]]:
    tokens = frozenset(reading.na_values)
    kinds: dict[str, str] = {}
    present: dict[str, int] = {}
    nonfinite: dict[str, Counter] = {}
    rows = 0
    for _number, record in records(path):
        rows += 1
        for key, value in record.items():
            if key not in kinds:
                kinds[key], present[key], nonfinite[key] = EMPTY, 0, Counter()
            missing = _missing(value, tokens)
            if missing is None:
                present[key] += 1
                kinds[key] = rules.widen(kinds[key], _kind(value))
            elif missing == "na" and reading.label_column(key):
                present[key] += 1  # `NA` is a label
            elif missing == "nonfinite":
                nonfinite[key][rules.json_text(value)] += 1
    columns = []
    for key, kind in kinds.items():
        label = reading.label_column(key)
        if label:  # NaN is a missing label; ±Infinity is the label `inf`
            present[key] += sum(n for text, n in nonfinite[key].items() if text != "NaN")
        elif kind == STRING:  # NaN and Infinity are text there: missing only when a token
            present[key] += sum(n for text, n in nonfinite[key].items() if text not in tokens)
        columns.append({"name": key, "dtype": STRING if label else kind, "missing": rows - present[key]})
    return rows, columns


def _convert(values: list, dtype: str, label: bool) -> pa.Array:
    if label:
        return pa.array([rules.label_text(v) for v in values], type=pa.string())
    if dtype == INT:
        return pa.array([v if _kind(v) == INT else None for v in values], type=pa.int64())
    if dtype == FLOAT:
        out = [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None for v in values]
        return pa.array(out, type=pa.float64())
    if dtype == BOOL:
        return pa.array([v if isinstance(v, bool) else None for v in values], type=pa.bool_())
    return pa.array([rules.json_text(v) if not isinstance(v, bool) else str(v).lower() for v in values], pa.string())


def batches(source, reading: Reading) -> Iterator[pa.Table]:
    names = [c["name"] for c in reading.columns]
    dtypes = reading.dtypes()
    chunk: list[dict] = []

    def table() -> pa.Table:
        arrays = [_convert([r.get(n) for r in chunk], dtypes[n], reading.label_column(n)) for n in names]
        return rules.normalize(pa.table(arrays, names=names), reading)

    for _number, record in records(source):
        chunk.append(record)
        if len(chunk) >= BATCH_LINES:
            yield table()
            chunk = []
    if chunk:
        yield table()


def write(table: pa.Table, path: Path) -> dict:
    with open(path, "w", encoding="utf-8") as fh:
        for batch in table.to_batches(max_chunksize=10_000):
            for row in batch.to_pylist():
                fh.write(json.dumps(row, ensure_ascii=False, allow_nan=True) + "\n")
    return {}
