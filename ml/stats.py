"""Per-column statistics of a data file, read through its format's reader in constant memory (no Django).

`column_stats(open_source, fmt, schema, num_rows)` streams the file's batches (the rule's types, missing
values as nulls: exactly what preview, processing and training see) at most twice:

- pass 1: per column the count of present and missing values; for numbers (`int64`, `float64`) min, max,
  mean and standard deviation (population, ddof=0; batches merged with Chan's formula) and the distinct
  values; for everything else (`string`, `bool` as `true` / `false`, `empty`) each value's count.
- pass 2, only when needed: a histogram of BINS equal bins from min to max for each number column, and the
  exact counts of the top-value candidates of any text column that had too many distinct values to count.

Memory stays flat whatever the file's size: distinct values are counted exactly up to UNIQUE_MAX of them
(and UNIQUE_MAX_BYTES of text per column), beyond which `unique` is null and a text column keeps only
CANDIDATES counters (Misra-Gries: every value more frequent than 1/(CANDIDATES+1) of the rows stays a
candidate), whose exact counts pass 2 takes; so the counts in `top` are always exact, and the list is the
true top TOP_K whenever its values are that frequent.

NPZ sample columns (arrays of several axes: images) are not read at all: their count and missing come from
the version's schema (inspection counted rows holding NaN), every other figure is null.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ml import formats
from ml.formats.rules import FLOAT, INT, Reading

BINS = 20
TOP_K = 10
UNIQUE_MAX = 100_000
UNIQUE_MAX_BYTES = 32 << 20
CANDIDATES = 1_000
TOP_TEXT_CHARS = 200  # a longer top value is shown cut, ending in "…"

Opener = Callable[[], AbstractContextManager]


def column_stats(open_source: Opener, fmt: str, schema: dict, num_rows: int) -> dict:
    """{"num_rows": int, "columns": [{name, dtype, count, missing, unique, min, max, mean, std, histogram,
    top}, ...]} in the schema's column order (see the module for what each figure is, and when it is null).

    `open_source()` opens the file afresh (a context manager giving a path or a binary stream): it is called
    once per pass. `num_rows` is the version's row count (used when no column needs reading). Raises
    FormatError when the file no longer reads as its schema says."""
    reading = Reading.of(schema)
    columns = schema.get("columns") or []
    flat = [c for c in columns if len(c.get("shape") or (0,)) <= 1]
    stats: dict[str, _Numbers | _Values] = {
        c["name"]: _Numbers() if c["dtype"] in (INT, FLOAT) else _Values() for c in flat
    }
    if flat:
        reading = dataclasses.replace(reading, columns=flat)  # NPZ reads only these arrays
        rows = 0
        for table in _batches(open_source, fmt, reading):
            rows += table.num_rows
            for name, acc in stats.items():
                acc.add(table.column(name))
        num_rows = rows
        if any(acc.needs_second_pass() for acc in stats.values()):
            for acc in stats.values():
                acc.start_second_pass()
            for table in _batches(open_source, fmt, reading):
                for name, acc in stats.items():
                    acc.add_second_pass(table.column(name))
    out = []
    for column in columns:
        acc = stats.get(column["name"])
        if acc is None:  # a sample column: what inspection counted
            missing = int(column.get("missing", 0))
            out.append(_row(column, count=num_rows - missing, missing=missing))
        else:
            out.append(_row(column, **acc.result()))
    return {"num_rows": num_rows, "columns": out}


def _batches(open_source: Opener, fmt: str, reading: Reading):
    with open_source() as source:
        yield from formats.module(fmt).batches(source, reading)


def _row(column: dict, **figures) -> dict:
    row = {"name": column["name"], "dtype": column["dtype"], "count": 0, "missing": 0}
    row.update({key: None for key in ("unique", "min", "max", "mean", "std", "histogram", "top")})
    row.update(figures)
    return row


def _finite(value: float) -> float | None:
    """A JSON-safe float: None for NaN and ±inf (a sum of squares of huge numbers can overflow)."""
    value = float(value)
    return value if math.isfinite(value) else None


class _Numbers:
    """An int64 or float64 column."""

    def __init__(self):
        self.count = self.missing = 0
        self.min: Any = None
        self.max: Any = None
        self.mean = self.m2 = 0.0
        self.distinct: np.ndarray | None = np.empty(0)
        self.counts: np.ndarray | None = None
        self.edges: np.ndarray | None = None

    def add(self, column: pa.ChunkedArray) -> None:
        self.missing += column.null_count
        present = column.drop_null()
        n = len(present)
        if n == 0:
            return
        extremes = pc.min_max(present)  # exact for int64 (no detour through float)
        low, high = extremes["min"].as_py(), extremes["max"].as_py()
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)
        values = present.to_numpy()
        as_float = values.astype(np.float64, copy=False)
        with np.errstate(over="ignore", invalid="ignore"):
            mean = float(as_float.mean())
            m2 = float(np.square(as_float - mean).sum())
            delta = mean - self.mean
            total = self.count + n
            self.mean += delta * n / total
            self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total
        if self.distinct is not None:
            self.distinct = np.union1d(self.distinct.astype(values.dtype, copy=False), values)
            if len(self.distinct) > UNIQUE_MAX:
                self.distinct = None  # too many to count: unique is null

    def needs_second_pass(self) -> bool:
        return self.count > 0 and self.min != self.max

    def start_second_pass(self) -> None:
        if self.needs_second_pass():
            low, high = float(self.min), float(self.max)
            if math.isfinite(high - low):
                self.edges = np.linspace(low, high, BINS + 1)
            else:  # -1e308 to 1e308: low*(1-t) + high*t stays finite where high - low overflows
                t = np.arange(BINS + 1) / BINS
                self.edges = low * (1 - t) + high * t
            self.edges[0], self.edges[-1] = low, high
            self.counts = np.zeros(BINS, dtype=np.int64)

    def add_second_pass(self, column: pa.ChunkedArray) -> None:
        if self.edges is None:
            return
        values = column.drop_null().to_numpy().astype(np.float64, copy=False)
        self.counts += np.histogram(values, bins=self.edges)[0]

    def result(self) -> dict:
        figures: dict[str, Any] = {"count": self.count, "missing": self.missing}
        figures["unique"] = None if self.distinct is None else len(self.distinct)
        if self.count == 0:
            return figures
        std = math.sqrt(self.m2 / self.count) if math.isfinite(self.m2) and self.m2 > 0 else self.m2
        figures.update(min=self.min, max=self.max, mean=_finite(self.mean), std=_finite(std))
        if isinstance(self.min, float):
            figures.update(min=_finite(self.min), max=_finite(self.max))
        if self.edges is not None:
            figures["histogram"] = {"edges": [float(e) for e in self.edges], "counts": self.counts.tolist()}
        else:  # one value: one bin holding every row
            figures["histogram"] = {"edges": [float(self.min)] * 2, "counts": [self.count]}
        return figures


class _Values:
    """A text, bool or empty column: counts of each value."""

    def __init__(self):
        self.count = self.missing = 0
        self.counts: dict[str, int] = {}
        self.text_bytes = 0
        self.exact = True  # False once there were too many distinct values: `counts` then holds candidates
        self.recount: dict[str, int] | None = None
        self.candidates: pa.Array | None = None

    @staticmethod
    def _value_counts(column: pa.ChunkedArray) -> tuple[list, list]:
        present = column.drop_null()
        if not pa.types.is_string(present.type):
            present = present.cast(pa.string())  # bool: true / false
        found = pc.value_counts(present)
        return found.field("values").to_pylist(), found.field("counts").to_pylist()

    def add(self, column: pa.ChunkedArray) -> None:
        self.missing += column.null_count
        self.count += len(column) - column.null_count
        if len(column) == column.null_count:
            return
        counts = self.counts
        values, numbers = self._value_counts(column)
        for value, number in zip(values, numbers, strict=True):
            old = counts.get(value)
            if old is None:
                counts[value] = number
                self.text_bytes += len(value)
            else:
                counts[value] = old + number
        if self.exact and (len(counts) > UNIQUE_MAX or self.text_bytes > UNIQUE_MAX_BYTES):
            self.exact = False
        if not self.exact and len(counts) > 2 * CANDIDATES:
            self._shrink()

    def _shrink(self) -> None:
        """Misra-Gries over merged summaries: take the (CANDIDATES+1)-th largest count off every counter
        and keep those left above zero (at most CANDIDATES)."""
        ordered = sorted(self.counts.values(), reverse=True)
        cut = ordered[CANDIDATES] if len(ordered) > CANDIDATES else 0
        self.counts = {v: c - cut for v, c in self.counts.items() if c > cut}
        self.text_bytes = sum(len(v) for v in self.counts)

    def needs_second_pass(self) -> bool:
        return not self.exact

    def start_second_pass(self) -> None:
        if not self.exact:
            self.candidates = pa.array(list(self.counts), type=pa.string())
            self.recount = dict.fromkeys(self.counts, 0)

    def add_second_pass(self, column: pa.ChunkedArray) -> None:
        if self.recount is None or len(column) == column.null_count:
            return
        present = column.drop_null()
        if not pa.types.is_string(present.type):
            present = present.cast(pa.string())
        present = present.filter(pc.is_in(present, value_set=self.candidates))
        if len(present):
            found = pc.value_counts(present)
            for value, number in zip(found.field("values").to_pylist(), found.field("counts").to_pylist(), strict=True):
                self.recount[value] += number

    def result(self) -> dict:
        counts = self.counts if self.exact else (self.recount or {})
        best = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_K]
        top = [{"value": _cut(value), "count": number} for value, number in best if number > 0]
        return {
            "count": self.count,
            "missing": self.missing,
            "unique": len(self.counts) if self.exact else None,
            "top": top,
        }


def _cut(text: str) -> str:
    return text if len(text) <= TOP_TEXT_CHARS else text[:TOP_TEXT_CHARS] + "…"
