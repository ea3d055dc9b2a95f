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
        self.distinct: pa.Array | None = None  # the distinct values so far
        self.too_many = False
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
        if not self.too_many:  # Arrow's hash-based unique: a batch costs about its size
            found = pc.unique(present)
            if self.distinct is not None:
                found = pc.unique(pa.chunked_array([self.distinct, found]))
            self.distinct = found if len(found) <= UNIQUE_MAX else None
            self.too_many = self.distinct is None  # unique is null from here on

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
        figures["unique"] = None if self.too_many else len(self.distinct) if self.distinct is not None else 0
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
    """A text, bool or empty column: counts of each value, kept as an Arrow table (values, counts) that each
    batch's value counts are merged into by Arrow's group-by (no Python loop over values)."""

    def __init__(self):
        self.count = self.missing = 0
        self.summary = _EMPTY_SUMMARY
        self.exact = True  # False once there were too many distinct values: `summary` then holds candidates
        self.recount: dict[str, int] | None = None
        self.candidates: pa.Array | None = None

    def add(self, column: pa.ChunkedArray) -> None:
        self.missing += column.null_count
        self.count += len(column) - column.null_count
        if len(column) == column.null_count:
            return
        batch = _value_counts(column)
        if not self.exact:
            # a batch's exact counts are a Misra-Gries summary; shrunk, it merges with the running one
            # within the same bound (MG summaries are mergeable)
            batch = _shrink(batch)
        merged = pa.concat_tables([self.summary, batch]).group_by("values").aggregate([("counts", "sum")])
        self.summary = pa.table({"values": merged["values"], "counts": merged["counts_sum"]})
        if self.exact and (
            len(self.summary) > UNIQUE_MAX
            or (pc.sum(pc.binary_length(self.summary["values"])).as_py() or 0) > UNIQUE_MAX_BYTES
        ):
            self.exact = False
        if not self.exact and len(self.summary) > 2 * CANDIDATES:
            self.summary = _shrink(self.summary)

    def needs_second_pass(self) -> bool:
        return not self.exact

    def start_second_pass(self) -> None:
        if not self.exact:
            self.candidates = self.summary["values"].combine_chunks()
            self.recount = dict.fromkeys(self.candidates.to_pylist(), 0)

    def add_second_pass(self, column: pa.ChunkedArray) -> None:
        if self.recount is None or len(column) == column.null_count:
            return
        present = _text(column)
        present = present.filter(pc.is_in(present, value_set=self.candidates))
        if len(present):
            found = _value_counts(present)
            for value, number in zip(found["values"].to_pylist(), found["counts"].to_pylist(), strict=True):
                self.recount[value] += number

    def result(self) -> dict:
        if self.exact:
            summary = self.summary
        else:
            recount = self.recount or {}
            summary = pa.table(
                {"values": pa.array(list(recount), pa.string()), "counts": pa.array(list(recount.values()), pa.int64())}
            )
        order = pc.sort_indices(summary, sort_keys=[("counts", "descending"), ("values", "ascending")])
        best = summary.take(order[:TOP_K])
        top = [
            {"value": _cut(value), "count": number}
            for value, number in zip(best["values"].to_pylist(), best["counts"].to_pylist(), strict=True)
            if number > 0
        ]
        return {
            "count": self.count,
            "missing": self.missing,
            "unique": len(self.summary) if self.exact else None,
            "top": top,
        }


_EMPTY_SUMMARY = pa.table({"values": pa.array([], pa.string()), "counts": pa.array([], pa.int64())})


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The present values as text (bool: true / false)."""
    present = column.drop_null()
    return present if pa.types.is_string(present.type) else present.cast(pa.string())


def _value_counts(column: pa.ChunkedArray) -> pa.Table:
    found = pc.value_counts(_text(column))
    return pa.table({"values": found.field("values"), "counts": found.field("counts")})


def _shrink(summary: pa.Table) -> pa.Table:
    """Misra-Gries: take the (CANDIDATES+1)-th largest count off every counter, keep those left above zero (at
    most CANDIDATES of them)."""
    if len(summary) <= CANDIDATES:
        return summary
    top = pc.select_k_unstable(summary, k=CANDIDATES + 1, sort_keys=[("counts", "descending")])
    cut = pc.min(summary["counts"].take(top)).as_py()
    kept = summary.filter(pc.greater(summary["counts"], cut))
    return pa.table({"values": kept["values"], "counts": pc.subtract(kept["counts"], cut)})


def _cut(text: str) -> str:
    return text if len(text) <= TOP_TEXT_CHARS else text[:TOP_TEXT_CHARS] + "…"
