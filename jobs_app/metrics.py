"""The metrics store: each series (job, key) kept as MetricChunk rows, one per block of CHUNK_STEPS steps, holding
the block's points as packed columns with its count, first and last point and extremes.

Writes are bulk and idempotent: a batch is checked and held as numpy columns (Batch), cut into its (key, block)
chunks, and written with one statement. The common case, steps after every stored step of their block (a
training loop logging as it goes), appends to the stored chunks in the database; a chunk the batch overlaps
or interleaves is read back and merged, the batch's value winning at a step stored before. So a batch sent
twice stores each (job, key, step) once (a point without the client's time takes the later send's), and a
later value for the same (job, key, step) wins. Reads return a series in step
order, downsampled to `max_points` with min/max buckets (from the chunks' extremes) so that spikes survive.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import re
import time as clock
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
from django.db import connection, transaction
from django.db.models import Max, Min, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from jobs_app.models import CHUNK_STEPS, MetricBatch, MetricChunk
from ml import names
from ml.errors import UserError

KEY_MAX = 100
STEP_MAX = 2**63 - 1
DEFAULT_MAX_POINTS = 1000
MAX_POINTS_LIMIT = 100_000
TIME_MIN = 946_684_800.0  # 2000-01-01T00:00:00Z: a client time before it is a clock that was never set
TIME_AHEAD_S = 86_400.0  # a client time may run ahead of the server's clock by at most a day
BATCH_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# what a bad field is told, in either form of a batch
KEY_RULE = f"must be a printable string of 1 to {KEY_MAX} characters"
STEP_RULE = f"must be an integer from 0 to {STEP_MAX}"
VALUE_RULE = "must be a finite number"
TIME_RULE = "must be a finite number of seconds since the Unix epoch, from 2000-01-01 to a day ahead of now"


class PointError(UserError):
    """A point is malformed; `field` names it (points[3].value)."""

    def __init__(self, field: str, message: str):
        super().__init__(message, field=field)


def check_points(points, *, nonfinite: bool = False) -> list[tuple]:
    """The points of a JSON `points` list, checked: `(key, step, value)` tuples, or `(key, step, value, time)`
    for a point that carries its client `time` (Unix epoch seconds, float). Keys come back in NFC; of two
    points with the same (key, step) the last one wins. Raises PointError naming the first bad point's field
    (`points[3].time`): a key that is not a printable string of 1 to KEY_MAX characters, a step outside
    0..STEP_MAX or not an integer, a value or time that is not a finite number, a time before 2000-01-01 or
    more than a day ahead of the server's clock, an unknown field. With `nonfinite` a value may also be a float
    NaN or ±infinity (MLflow's protocol, whose clients log them: a diverging loss); Eco's own API keeps finite
    values only."""
    if not isinstance(points, list):
        raise PointError("points", "must be a list of {key, step, value, time?} objects")
    nonfinite = nonfinite and connection.vendor == "postgresql"  # SQLite (development) would store a NaN as NULL
    merged: dict[tuple[str, int], tuple] = {}
    checked: dict[str, str] = {}  # a batch repeats a few keys many times: check and normalise each once
    latest = clock.time() + TIME_AHEAD_S
    for i, point in enumerate(points):
        if type(point) is not dict:
            raise PointError(f"points[{i}]", "must be an object {key, step, value, time?}")
        key, step, value = point.get("key"), point.get("step"), point.get("value")
        clean = checked.get(key) if type(key) is str else None
        if clean is None:
            if not _good_key(key):
                raise PointError(f"points[{i}].key", KEY_RULE)
            clean = checked[key] = names.nfc(key)
        if type(step) is not int or not 0 <= step <= STEP_MAX:  # noqa: E721 (bool is not a step)
            raise PointError(f"points[{i}].step", STEP_RULE)
        if type(value) is float:
            if not math.isfinite(value) and not nonfinite:
                raise PointError(f"points[{i}].value", VALUE_RULE)
        elif finite_number(value):
            value = float(value)
        else:
            raise PointError(f"points[{i}].value", VALUE_RULE)
        size = len(point)
        if size == 3:
            merged[(clean, step)] = (clean, step, value)
            continue
        if size != 4 or "time" not in point:
            extra = sorted(set(point) - {"key", "step", "value", "time"})
            raise PointError(f"points[{i}].{extra[0]}", "unknown field; a point is {key, step, value, time?}")
        at = point["time"]
        if not (math.isfinite(at) if type(at) is float else finite_number(at)) or not TIME_MIN <= at <= latest:
            raise PointError(f"points[{i}].time", TIME_RULE)
        merged[(clean, step)] = (clean, step, value, float(at))
    return list(merged.values())


def _good_key(key) -> bool:
    """A metric key as sent: a printable string of 1 to KEY_MAX characters (not yet in NFC)."""
    return type(key) is str and 0 < len(key) <= KEY_MAX and not names.problem(key)


def finite_number(value) -> bool:
    """An int or float (not a bool) that is a finite float."""
    if type(value) not in (int, float):  # noqa: E721 (bool is a subclass of int, and not a number here)
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond any float
        return False


def check_batch_id(value) -> str | None:
    """A client's batch id: None when absent, else a string of 1 to 64 characters from [A-Za-z0-9._:-].
    Raises PointError("batch_id") for anything else."""
    if value is None:
        return None
    if type(value) is not str or not BATCH_ID.fullmatch(value):
        raise PointError("batch_id", "must be a string of 1 to 64 characters from A-Z, a-z, 0-9 and . _ : -")
    return value


@dataclass(frozen=True)
class Batch:
    """Points as columns, one entry per (key, step) (of two points with the same (key, step) the last one wins),
    in (key, step) order: `keys` the distinct keys in code-point order, `key_index` (int32) each point's
    position in `keys`, `steps` (int64), `values` (float64), `times` (float64 Unix epoch seconds; NaN where the
    point carries no time of its own)."""

    keys: list[str]
    key_index: np.ndarray
    steps: np.ndarray
    values: np.ndarray
    times: np.ndarray

    def __len__(self) -> int:
        return len(self.steps)

    @classmethod
    def of(cls, points, *, keep_all: bool = False) -> Batch:
        """A Batch from `(key, step, value[, time])` tuples (keys already checked), or the Batch itself. With
        `keep_all` (a history, as MLflow's clients log it), every point is kept, several at one step among
        them, in (key, step, time, value) order; only a point equal to another in all four is dropped."""
        if isinstance(points, Batch):
            return points
        if keep_all:
            return cls._history(points)
        merged = {(p[0], p[1]): p for p in points}  # last wins
        rows = list(merged.values())
        keys = sorted({p[0] for p in rows})
        code = {k: i for i, k in enumerate(keys)}
        n = len(rows)
        return cls._sorted(
            keys,
            np.fromiter((code[p[0]] for p in rows), np.int32, n),
            np.fromiter((p[1] for p in rows), np.int64, n),
            np.fromiter((p[2] for p in rows), np.float64, n),
            np.fromiter((p[3] if len(p) > 3 and p[3] is not None else math.nan for p in rows), np.float64, n),
            unique=True,
        )

    @classmethod
    def _sorted(cls, keys, key_index, steps, values, times, *, unique: bool) -> Batch:
        """The columns in (key, step) order; unless `unique`, only the last point of each (key, step)."""
        order = np.lexsort((steps, key_index)) if unique else _last_of_each(key_index, steps)
        return cls(keys, key_index[order], steps[order], values[order], times[order])

    @classmethod
    def _history(cls, points) -> Batch:
        """The keep_all Batch of `(key, step, value, time)` tuples (see `of`)."""
        keys = sorted({p[0] for p in points})
        code = {k: i for i, k in enumerate(keys)}
        n = len(points)
        key_index = np.fromiter((code[p[0]] for p in points), np.int32, n)
        steps = np.fromiter((p[1] for p in points), np.int64, n)
        values = np.fromiter((p[2] for p in points), np.float64, n)
        times = np.fromiter((p[3] if len(p) > 3 and p[3] is not None else math.nan for p in points), np.float64, n)
        order = _distinct_points(key_index, steps, times, values)
        return cls(keys, key_index[order], steps[order], values[order], times[order])

    def tuples(self) -> list[tuple]:
        """The points as `(key, step, value)` or `(key, step, value, time)` tuples, in (key, step) order."""
        keys = [self.keys[i] for i in self.key_index.tolist()]
        rows = zip(keys, self.steps.tolist(), self.values.tolist(), self.times.tolist(), strict=True)
        return [(k, s, v) if math.isnan(t) else (k, s, v, t) for k, s, v, t in rows]


def check_batch(points) -> Batch:
    """The JSON `points` list, checked by the rules of `check_points`, as a Batch. The common request (every
    point a dict of key, step, value and, for all or none, time; keys printable) is checked column by column;
    anything else goes through `check_points`, which names the first bad point. Raises PointError."""
    found = _batch_of_plain_points(points)
    return found if found is not None else Batch.of(check_points(points))


def _batch_of_plain_points(points) -> Batch | None:
    """The Batch when every point passes check_points' rules seen as whole columns; None when a point does
    not, or when the batch is unusual (mixed sizes, keys that change in NFC): check_points then decides."""
    if type(points) is not list or not points or set(map(type, points)) != {dict}:
        return None
    sizes = set(map(len, points))
    if sizes not in ({3}, {4}):
        return None
    raw_keys = [p.get("key") for p in points]
    steps = [p.get("step") for p in points]
    values = [p.get("value") for p in points]
    times = [p.get("time") for p in points] if sizes == {4} else None
    try:
        distinct = set(raw_keys)
    except TypeError:  # a key that is a list or an object
        return None
    if not all(_good_key(key) and names.nfc(key) == key for key in distinct):
        return None
    try:
        step_column = _column(steps, np.int64, "", STEP_RULE, 0, STEP_MAX)
        value_column = _column(values, np.float64, "", VALUE_RULE)
        time_column = (
            np.full(len(points), math.nan)
            if times is None
            else _column(times, np.float64, "", TIME_RULE, TIME_MIN, clock.time() + TIME_AHEAD_S)
        )
    except PointError:  # check_points names the point
        return None
    keys = sorted(distinct)
    code = {k: i for i, k in enumerate(keys)}
    key_index = np.fromiter(map(code.__getitem__, raw_keys), np.int32, len(points))
    return Batch._sorted(keys, key_index, step_column, value_column, time_column, unique=False)


def check_series(series) -> Batch:
    """The JSON `series` list, the columnar form of a batch (what the tracking client sends: a third of the
    bytes, parsed and checked without an object per point), checked by the rules of `check_points`, as a Batch.
    Each series is `{key, steps: [int], values: [number], times?: [epoch seconds]}`, the lists of equal length;
    of two points with the same (key, step) the last one sent wins, across series too. Raises PointError naming
    a bad field (`series[1].steps[3]`, `series[0].times`): the series' shapes are checked first, then each
    column of all series at once."""
    if type(series) is not list:
        raise PointError("series", "must be a list of {key, steps, values, times?} objects")
    parsed = []  # (where, key, steps, values, times or None), each checked as a whole column below
    for i, one in enumerate(series):
        where = f"series[{i}]"
        if type(one) is not dict:
            raise PointError(where, "must be an object {key, steps, values, times?}")
        extra = sorted(set(one) - {"key", "steps", "values", "times"})
        if extra:
            raise PointError(f"{where}.{extra[0]}", "unknown field; a series is {key, steps, values, times?}")
        key = one.get("key")
        if not _good_key(key):
            raise PointError(f"{where}.key", KEY_RULE)
        steps, values, times = one.get("steps"), one.get("values"), one.get("times")
        if type(steps) is not list:
            raise PointError(f"{where}.steps", "must be a list of integers")
        for name, column in (("values", values), ("times", times)):
            if (name in one or name == "values") and (type(column) is not list or len(column) != len(steps)):
                raise PointError(f"{where}.{name}", f"must be a list of {len(steps)} numbers, one per step")
        parsed.append((where, names.nfc(key), steps, values, times))
    if not parsed:
        return Batch.of([])
    steps = _columns(parsed, 2, np.int64, STEP_RULE, 0, STEP_MAX)
    values = _columns(parsed, 3, np.float64, VALUE_RULE)
    times = np.full(len(steps), math.nan)
    if any(p[4] is not None for p in parsed):
        timed = np.repeat([p[4] is not None for p in parsed], [len(p[2]) for p in parsed])
        times[timed] = _columns(
            [p for p in parsed if p[4] is not None],
            4,
            np.float64,
            TIME_RULE,
            TIME_MIN,
            clock.time() + TIME_AHEAD_S,
        )
    distinct = sorted({p[1] for p in parsed})
    code = {k: n for n, k in enumerate(distinct)}
    key_index = np.repeat(np.array([code[p[1]] for p in parsed], np.int32), [len(p[2]) for p in parsed])
    return Batch._sorted(distinct, key_index, steps, values, times, unique=False)


_FIELDS = {2: "steps", 3: "values", 4: "times"}


def _columns(parsed: list[tuple], at: int, dtype, message: str, low=None, high=None) -> np.ndarray:
    """Field `at` of every parsed series, joined and checked as one column (_column); when it is refused, the
    series are checked one by one so that the error names the series and the item (`series[2].times[7]`)."""
    try:
        return _column(list(itertools.chain.from_iterable(p[at] for p in parsed)), dtype, "", message, low, high)
    except PointError:
        for p in parsed:
            _column(p[at], dtype, f"{p[0]}.{_FIELDS[at]}", message, low, high)
        raise


def _column(items: list, dtype, where: str, message: str, low=None, high=None) -> np.ndarray:
    """A JSON list of numbers as a numpy column: integers only for an int64 column (a bool is neither), finite,
    within low..high when given. Raises PointError naming the first bad item (`where[3]`)."""
    allowed = {int} if dtype is np.int64 else {int, float}
    column = None
    if set(map(type, items)) <= allowed:
        try:
            column = np.array(items, dtype=dtype)  # OverflowError beyond 64 bits or beyond any double
        except OverflowError:
            column = None
    ok = column is not None and (dtype is np.int64 or np.isfinite(column).all())
    ok = ok and (low is None or not len(column) or (column.min() >= low and column.max() <= high))
    if ok:
        return column
    for n, item in enumerate(items):
        fits = type(item) is int if dtype is np.int64 else finite_number(item)
        if not fits or (low is not None and not low <= item <= high):
            raise PointError(f"{where}[{n}]", message)
    raise AssertionError("a column refused as a whole has a bad item")


def record_batch(job_id, batch_id: str) -> bool:
    """Record that the job received client batch `batch_id`, in the caller's transaction: True when it is new,
    False when it was recorded before (then the caller writes nothing). A concurrent transaction recording
    the same id makes this one wait for its end: then False if it committed, True if it rolled back."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO jobs_app_metricbatch (job_id, batch_id, received_at) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            [MetricBatch._meta.get_field("job").get_db_prep_value(job_id, connection), batch_id, timezone.now()],
        )
        return cursor.fetchone() is not None


def ingest(job_id, points: list[tuple] | Batch, *, at: datetime | None = None, keep_all: bool = False) -> int:
    """Store points for a job; returns how many were written (inserted or updated). `points` is a Batch
    (check_batch) or a list of `(key, step, value)` / `(key, step, value, time)` tuples, `time` in Unix epoch
    seconds (None or absent: `at`, default now), keys already checked (check_points). Of two points with the
    same (key, step) the last one wins, and a point at a stored (key, step) replaces what is stored there (every
    point, where a history holds several), leaving other steps as they are. With `keep_all` (a
    history, as MLflow's clients log one: Batch.of) a point joins those stored at its step instead, ordered
    by time, and only a point equal to a stored one in step, time and value is not stored twice. Runs in the
    caller's transaction when there is one.

    On PostgreSQL one statement writes every chunk the batch touches (_APPEND): it inserts the new chunks
    and appends to a stored chunk whose steps all come before the batch's; the chunks it leaves (the batch
    overlaps or interleaves their steps) stay locked by it and are merged next (_merge). Writers of one job
    lock its chunks in (key, block) order, so two of them never deadlock."""
    batch, micros, chunks = _cut(points, at, keep_all=keep_all)
    if not len(batch):
        return 0
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            # psycopg's own cursor: parameters bound on the server in binary (Django's quotes them into the SQL)
            with psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(_APPEND, [uuid.UUID(str(job_id)), *chunks])
                written = set(cursor.fetchall()) if cursor.rowcount < len(chunks[0]) else None
            if written is None:
                return len(batch)
            left = {pair for pair in zip(chunks[0], chunks[1], strict=True) if pair not in written}
        else:  # SQLite: one writer at a time anyway, and every chunk is merged
            left = set(zip(chunks[0], chunks[1], strict=True))
        _merge(job_id, batch, micros, left, keep_all=keep_all)
    return len(batch)


def _cut(
    points: list[tuple] | Batch, at: datetime | None, *, keep_all: bool = False
) -> tuple[Batch, np.ndarray, list[list]]:
    """(the points as a Batch, their times in microseconds (`at` or now where a point has none), their
    chunks as _chunks gives them; no chunk for no point)."""
    batch = Batch.of(points, keep_all=keep_all)
    at = at or timezone.now()
    micros = _micros(np.where(np.isnan(batch.times), at.timestamp(), batch.times))
    if not len(batch):
        return batch, micros, [[] for _ in _CHUNK_FIELDS]
    return batch, micros, _chunks(batch.keys, batch.key_index, batch.steps, batch.values, micros)


def _models(job_id, columns: list[list]) -> list[MetricChunk]:
    """Unsaved MetricChunk rows of columns in _CHUNK_FIELDS order."""
    rows = zip(*columns, strict=True)
    return [MetricChunk(job_id=job_id, **dict(zip(_CHUNK_FIELDS, row, strict=True))) for row in rows]


def _micros(times: np.ndarray) -> np.ndarray:
    """Epoch seconds as int64 microseconds, rounded half to even after splitting off the whole seconds, as
    datetime.fromtimestamp rounds."""
    whole = np.floor(times)
    return whole.astype(np.int64) * 1_000_000 + np.rint((times - whole) * 1e6).astype(np.int64)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK_FIELDS = (
    "key",
    "block",
    "count",
    "first_step",
    "last_step",
    "last_value",
    "min_step",
    "min_value",
    "max_step",
    "max_value",
    "step_bytes",
    "value_bytes",
    "time_bytes",
)


def _chunks(keys: list[str], key_index, steps, values, micros) -> list[list]:
    """The MetricChunk rows of points in (key, step) order (several at one step only in a history), as columns in
    _CHUNK_FIELDS order (one entry per (key, block) the points touch). Extremes name the earliest step on ties."""
    block = steps // CHUNK_STEPS
    start = np.r_[True, (key_index[1:] != key_index[:-1]) | (block[1:] != block[:-1])]
    starts = np.flatnonzero(start)
    ends = np.r_[starts[1:], len(steps)]
    group = np.cumsum(start) - 1
    # within a chunk, sorted by value then step: the chunk's first entry is its extreme (groups keep their place)
    low = np.lexsort((steps, values, group))[starts]
    high = np.lexsort((steps, -values, group))[starts]
    bounds = list(zip((8 * starts).tolist(), (8 * ends).tolist(), strict=True))
    packed = [steps.astype(">i8").tobytes(), values.astype(">f8").tobytes(), micros.astype(">i8").tobytes()]
    return [
        [keys[k] for k in key_index[starts].tolist()],
        block[starts].tolist(),
        (ends - starts).tolist(),
        steps[starts].tolist(),
        steps[ends - 1].tolist(),
        values[ends - 1].tolist(),
        steps[low].tolist(),
        values[low].tolist(),
        steps[high].tolist(),
        values[high].tolist(),
        *[[data[a:b] for a, b in bounds] for data in packed],
    ]


# Insert the batch's chunks (every parameter bound in binary: psycopg escapes each element of a text array, a
# millisecond per request here); a stored chunk whose steps all come before the new chunk's gets the new points
# appended (counts add up, extremes compare; on ties the stored, earlier step stays; PostgreSQL orders NaN above
# every number, so a NaN is a chunk's extreme only when all its values are NaN, as in _chunks). A stored chunk the batch
# overlaps or interleaves is left as it is but locked (ON CONFLICT locks the row before its WHERE): the rows
# RETURNed are the chunks written, the others are for _merge.
_APPEND = """
INSERT INTO jobs_app_metricchunk AS c (job_id, key, block, count, first_step, last_step, last_value,
    min_step, min_value, max_step, max_value, step_bytes, value_bytes, time_bytes)
SELECT %b::uuid, u.* FROM unnest(%b::varchar[], %b::bigint[], %b::int[], %b::bigint[], %b::bigint[], %b::float8[],
    %b::bigint[], %b::float8[], %b::bigint[], %b::float8[], %b::bytea[], %b::bytea[], %b::bytea[]) AS u
ON CONFLICT (job_id, key, block) DO UPDATE SET
    count = c.count + EXCLUDED.count,
    last_step = EXCLUDED.last_step,
    last_value = EXCLUDED.last_value,
    min_step = CASE WHEN EXCLUDED.min_value < c.min_value THEN EXCLUDED.min_step ELSE c.min_step END,
    min_value = least(c.min_value, EXCLUDED.min_value),
    max_step = CASE WHEN EXCLUDED.max_value <> 'NaN' AND (c.max_value = 'NaN' OR EXCLUDED.max_value > c.max_value)
        THEN EXCLUDED.max_step ELSE c.max_step END,
    max_value = CASE WHEN EXCLUDED.max_value <> 'NaN' AND (c.max_value = 'NaN' OR EXCLUDED.max_value > c.max_value)
        THEN EXCLUDED.max_value ELSE c.max_value END,
    step_bytes = c.step_bytes || EXCLUDED.step_bytes,
    value_bytes = c.value_bytes || EXCLUDED.value_bytes,
    time_bytes = c.time_bytes || EXCLUDED.time_bytes
WHERE c.last_step < EXCLUDED.first_step
RETURNING key, block
"""


def _merge(job_id, batch: Batch, micros: np.ndarray, pairs: set[tuple[str, int]], *, keep_all: bool = False) -> None:
    """Merge the batch's points of the chunks `pairs` ((key, block), locked or new) with the points stored
    in them, the batch's value winning at a stored step (with `keep_all`: joining the points stored there,
    less those equal in step, time and value), and write those chunks whole."""
    code = {k: i for i, k in enumerate(batch.keys)}
    blocks = batch.steps // CHUNK_STEPS
    mine = np.fromiter(
        ((batch.keys[k], b) in pairs for k, b in zip(batch.key_index.tolist(), blocks.tolist(), strict=True)),
        bool,
        len(batch),
    )
    wanted: dict[str, list[int]] = {}
    for key, block in sorted(pairs):
        wanted.setdefault(key, []).append(block)
    exact = functools.reduce(operator.or_, (Q(key=key, block__in=blocks) for key, blocks in wanted.items()))
    stored = MetricChunk.objects.filter(exact, job_id=job_id).order_by("key", "block")
    stored = list(stored.values_list("key", "block", "count", "step_bytes", "value_bytes", "time_bytes"))
    old_steps, old_values, old_micros = _unpack(row[3:] for row in stored)
    old_index = np.repeat(np.array([code[row[0]] for row in stored], np.int32), [row[2] for row in stored])
    if not keep_all:
        # the batch's value replaces what is stored at its steps; other stored points stay as they are (a history
        # that MLflow's protocol wrote keeps its several values at a step the batch does not write)
        written = set(zip(batch.key_index[mine].tolist(), batch.steps[mine].tolist(), strict=True))
        kept = np.fromiter(
            ((k, s) not in written for k, s in zip(old_index.tolist(), old_steps.tolist(), strict=True)),
            bool,
            len(old_steps),
        )
        old_index, old_steps, old_values, old_micros = (c[kept] for c in (old_index, old_steps, old_values, old_micros))
    key_index = np.r_[old_index, batch.key_index[mine]]
    steps = np.r_[old_steps, batch.steps[mine]]
    values = np.r_[old_values, batch.values[mine]]
    all_micros = np.r_[old_micros, micros[mine]]
    # stable: stored points keep their order, and come before the batch's at one (key, step)
    order = _distinct_points(key_index, steps, all_micros, values) if keep_all else np.lexsort((steps, key_index))
    columns = _chunks(batch.keys, key_index[order], steps[order], values[order], all_micros[order])
    MetricChunk.objects.bulk_create(
        _models(job_id, columns),
        update_conflicts=True,
        unique_fields=["job_id", "key", "block"],
        update_fields=_CHUNK_FIELDS[2:],
        batch_size=1000,
    )


def _last_of_each(key_index: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Indices that put points in (key, step) order keeping only the last given of each (key, step)."""
    order = np.lexsort((steps, key_index))  # stable: equal (key, step) keep their given order
    if len(order) > 1:
        k, s = key_index[order], steps[order]
        last = np.ones(len(order), dtype=bool)
        last[:-1] = (k[1:] != k[:-1]) | (s[1:] != s[:-1])
        order = order[last]
    return order


def _distinct_points(key_index: np.ndarray, steps: np.ndarray, times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Indices that put points in (key, step, time, value) order, each point equal to another in all four
    kept once (a history's identity: MLflow's own store keys a metric row by them)."""
    order = np.lexsort((values, times, steps, key_index))
    if len(order) > 1:
        columns = [c[order] for c in (key_index, steps, times, values)]
        new = np.ones(len(order), dtype=bool)
        new[1:] = np.logical_or.reduce(
            [c[1:] != c[:-1] for c in columns[:2]] + [~_same(c[1:], c[:-1]) for c in columns[2:]]
        )
        order = order[new]
    return order


def _same(a, b) -> np.ndarray:
    """a == b elementwise for float values, where NaN equals NaN: a point sent again is one point, a NaN value or
    a missing time included."""
    return (a == b) | (np.isnan(a) & np.isnan(b))


def _unpack(rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points of chunks given as (step_bytes, value_bytes, time_bytes) rows, concatenated in the order
    given: (steps int64, values float64, times int64 microseconds)."""
    columns = list(zip(*rows, strict=True)) or [(), (), ()]
    return tuple(
        np.frombuffer(b"".join(parts), dtype).astype(native)
        for parts, dtype, native in zip(columns, (">i8", ">f8", ">i8"), (np.int64, np.float64, np.int64), strict=True)
    )


def chunk_rows(job_id, points: list[tuple] | Batch, *, at: datetime | None = None) -> list[MetricChunk]:
    """The MetricChunk rows that hold `points` (as `ingest` takes them) on their own, unsaved: for bulk writes
    of whole series around `ingest`, such as the `seed_jobs` command's."""
    return _models(job_id, _cut(points, at)[2])


def stored_points(job_id, key: str | None = None) -> list[tuple[str, int, float, datetime]]:
    """Every stored point of a job (of one key when given) as (key, step, value, time) in (key, step) order."""
    chunks = MetricChunk.objects.filter(job_id=job_id, **({"key": key} if key is not None else {}))
    rows = list(chunks.order_by("key", "block").values_list("key", "count", "step_bytes", "value_bytes", "time_bytes"))
    steps, values, micros = _unpack(row[2:] for row in rows)
    keys = [row[0] for row in rows for _ in range(row[1])]
    return [
        (k, s, v, _EPOCH + timedelta(microseconds=t))
        for k, s, v, t in zip(keys, steps.tolist(), values.tolist(), micros.tolist(), strict=True)
    ]


def keys(job_id) -> list[dict]:
    """Every metric key of a job, in name order, as {key, count, first_step, last_step, last_value}, from the
    chunks' own counts and ends (a job with 1,000,000 points reads about 16,000 chunk rows and unpacks none)."""
    last = MetricChunk.objects.filter(job_id=job_id, key=OuterRef("key")).order_by("-block").values("last_value")
    rows = (
        MetricChunk.objects.filter(job_id=job_id)
        .values("key")
        .annotate(count=Sum("count"), first_step=Min("first_step"), last_step=Max("last_step"))
        .annotate(last_value=Subquery(last[:1]))
        .order_by("key")
    )
    return [{**row, "count": int(row["count"]), "last_value": json_value(row["last_value"])} for row in rows]


def series(
    job_id,
    key: str,
    *,
    max_points: int | None = DEFAULT_MAX_POINTS,
    start_step: int | None = None,
    end_step: int | None = None,
    after_step: int | None = None,
    raw: bool = False,
) -> dict:
    """One series for a chart: `{key, count, total, downsampled, truncated, points: [[step, value], ...],
    times: [epoch seconds, ...]}`, points in step order, `times[i]` the time points[i] was recorded. A NaN or
    infinite value (MLflow's protocol stores them) reads as None, unless `raw`.

    Three reads (bad combinations are the caller's to refuse; see the API view):
    - the whole series (no window), or the inclusive window `start_step..end_step` (either end may be
      omitted): every point when the range holds at most `max_points` (or `max_points=None`), else the range
      cut into max_points // 2 equal step ranges, each keeping its lowest and its highest point (in step
      order), so a spike is never averaged away;
    - `after_step`: the exact points with step > after_step, in step order, at most `max_points` of them
      (`truncated` says more are waiting: ask again with the last step received).
    `count` is the number of points in the range read (series, window or after_step), `total` the number in
    the whole series, `downsampled` whether `points` is a min/max selection rather than every point.

    A long range is read from its chunks' extremes (each 64-step block's lowest and highest point): every
    block's extremes, hence every spike, survive exactly; where a bucket boundary cuts through a block, that
    bucket may keep a block extreme instead of its own, so the picture is the exact one to within a block. A
    window edge that cuts a block reads that block's points inside the window, so nothing outside it comes back."""
    if after_step is not None:
        lo, hi = after_step + 1, STEP_MAX
        if lo > STEP_MAX:
            return _answer(key, 0, _count(job_id, key, 0, STEP_MAX), False, *_empty(), truncated=False, raw=raw)
        count = _count(job_id, key, lo, hi)
        limit = None if max_points is None else max_points + 1
        steps, values, times = read(job_id, key, lo, hi, limit=limit)
        if max_points is not None and len(steps) > max_points:
            following = steps[max_points]
            steps, values, times = steps[:max_points], values[:max_points], times[:max_points]
            if steps[-1] == following:
                # a page never ends inside a step (a history holds several points at one): the next read, after
                # the page's last step, must not skip the rest of that step
                whole = steps < following
                if whole.any():
                    steps, values, times = steps[whole], values[whole], times[whole]
                else:  # the page is one step's points: all of them come, beyond max_points
                    steps, values, times = read(job_id, key, int(following), int(following))
        total = count if after_step < 0 else _count(job_id, key, 0, STEP_MAX)
        return _answer(key, count, total, False, steps, values, times, truncated=len(steps) < count, raw=raw)
    lo = 0 if start_step is None else start_step
    hi = STEP_MAX if end_step is None else end_step
    whole = lo == 0 and hi == STEP_MAX
    buckets = max(1, (max_points or 0) // 2)
    candidates = _extremes(job_id, key, lo, hi) if max_points is not None else None
    if candidates is not None and candidates[0] <= max_points:
        candidates = None  # the range fits: every point comes back
        steps, values, times = read(job_id, key, lo, hi)
        count = len(steps)
    elif candidates is not None and len(candidates[1]) >= buckets:
        # the chunks are finer than the answer: their extremes are the only candidates a min/max bucket keeps
        count, steps, values = candidates
        steps, values = steps[(keep := _keep(steps, values, buckets))], values[keep]
        times = times_of(job_id, key, steps, values)
    else:
        steps, values, times = read(job_id, key, lo, hi)
        count = len(steps)
        if max_points is not None and count > max_points:
            keep = _keep(steps, values, buckets)
            steps, values, times = steps[keep], values[keep], times[keep]
    total = count if whole else _count(job_id, key, 0, STEP_MAX)
    return _answer(key, count, total, len(steps) < count, steps, values, times, truncated=False, raw=raw)


def _answer(key, count, total, downsampled, steps, values, times, *, truncated, raw: bool = False) -> dict:
    return {
        "key": key,
        "count": count,
        "total": total,
        "downsampled": downsampled,
        "truncated": truncated,
        "points": [
            list(pair) for pair in zip(steps.tolist(), values.tolist() if raw else json_values(values), strict=True)
        ],
        "times": times.tolist(),
    }


def json_value(value: float | None) -> float | None:
    """A stored value for Eco's JSON: None for a NaN or an infinity, which JSON cannot hold (only MLflow's
    protocol stores them, and gives them back as MLflow's strings)."""
    return value if value is None or math.isfinite(value) else None


def json_values(values: np.ndarray) -> list:
    """`values` as a list for Eco's JSON (json_value of each)."""
    if np.isfinite(values).all():
        return values.tolist()
    return [json_value(v) for v in values.tolist()]


def _empty() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.float64)


def fetch(job_id, key: str) -> tuple[np.ndarray, np.ndarray]:
    """One whole series as (steps int64, values float64) in step order."""
    steps, values, _ = read(job_id, key, 0, STEP_MAX)
    return steps, values


def _chunks_of(job_id, key: str, lo: int, hi: int):
    """The series' chunks that may hold steps lo..hi, in step order (a queryset)."""
    chunks = MetricChunk.objects.filter(job_id=job_id, key=key)
    return chunks.filter(block__gte=lo // CHUNK_STEPS, block__lte=hi // CHUNK_STEPS).order_by("block")


def read(job_id, key: str, lo: int, hi: int, *, limit: int | None = None) -> tuple[np.ndarray, ...]:
    """The points with lo <= step <= hi (the first `limit` of them; None for all) as (steps int64, values
    float64, times float64 epoch seconds) in step order. The chunks' packed columns are joined and decoded
    by numpy: no Python object per point. With a `limit`, chunks are read a page at a time until it is met."""
    chunks = _chunks_of(job_id, key, lo, hi).values_list("block", "step_bytes", "value_bytes", "time_bytes")
    parts, found, first = [], 0, lo // CHUNK_STEPS
    page = None if limit is None else limit // CHUNK_STEPS + 2
    while True:
        rows = list(chunks.filter(block__gte=first)[:page] if page else chunks)
        steps, values, micros = _unpack(row[1:] for row in rows)
        inside = (steps >= lo) & (steps <= hi)
        parts.append((steps[inside], values[inside], micros[inside]))
        found += int(inside.sum())
        if page is None or len(rows) < page or found >= limit:
            break
        first, page = rows[-1][0] + 1, min(limit - found, page * 8)  # each chunk holds at least one point
    steps, values, micros = (np.concatenate(column) for column in zip(*parts, strict=True))
    if limit is not None:
        steps, values, micros = steps[:limit], values[:limit], micros[:limit]
    return steps, values, micros / 1e6


def times_of(job_id, key: str, steps: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
    """The recorded times (epoch seconds) of the given stored points of a series, in the order given, each
    found by its step (and, given `values`, its value too: a history may hold several points at one step): one
    query over the chunks that hold them. Raises KeyError for a point not stored."""
    if len(steps) == 0:
        return np.zeros(0, np.float64)
    blocks = np.unique(steps // CHUNK_STEPS).tolist()
    rows = MetricChunk.objects.filter(job_id=job_id, key=key, block__in=blocks).order_by("block")
    stored, stored_values, micros = _unpack(rows.values_list("step_bytes", "value_bytes", "time_bytes"))
    at = np.searchsorted(stored, steps)
    if not (at < len(stored)).all() or not (stored[np.minimum(at, len(stored) - 1)] == steps).all():
        raise KeyError(f"a step of {key} is not stored")
    if values is not None:
        for i in np.flatnonzero(~_same(stored_values[at], values)).tolist():  # another point of the same step
            end = np.searchsorted(stored, steps[i], side="right")
            match = at[i] + np.flatnonzero(_same(stored_values[at[i] : end], values[i]))
            if not len(match):
                raise KeyError(f"a point of {key} is not stored")
            at[i] = match[0]
    return micros[at] / 1e6


def _edges(job_id, key: str, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of the points in lo..hi of the one or two chunks at the range's ends, which it may
    only partly cover."""
    rows = MetricChunk.objects.filter(job_id=job_id, key=key, block__in={lo // CHUNK_STEPS, hi // CHUNK_STEPS})
    steps, values, _ = _unpack(rows.order_by("block").values_list("step_bytes", "value_bytes", "time_bytes"))
    inside = (steps >= lo) & (steps <= hi)
    return steps[inside], values[inside]


def _count(job_id, key: str, lo: int, hi: int) -> int:
    """Points of the series with lo <= step <= hi: the counts of the chunks strictly inside the range plus
    the points of its (at most two) end chunks, so a count over a million points reads about 16,000 counts."""
    inner = MetricChunk.objects.filter(
        job_id=job_id, key=key, block__gt=lo // CHUNK_STEPS, block__lt=hi // CHUNK_STEPS
    ).aggregate(count=Sum("count"))["count"]
    return int(inner or 0) + len(_edges(job_id, key, lo, hi)[0])


def _extremes(job_id, key: str, lo: int, hi: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(points in lo..hi, candidate steps, candidate values in step order): each inner chunk's lowest and
    highest point, and every point in the range of the (at most two) end chunks."""
    inner = MetricChunk.objects.filter(
        job_id=job_id, key=key, block__gt=lo // CHUNK_STEPS, block__lt=hi // CHUNK_STEPS
    ).values_list("count", "min_step", "min_value", "max_step", "max_value")
    rows = list(inner)
    edge_steps, edge_values = _edges(job_id, key, lo, hi)
    count = sum(r[0] for r in rows) + len(edge_steps)
    steps = np.array([s for r in rows for s in (r[1], r[3])] + edge_steps.tolist(), dtype=np.int64)
    values = np.array([v for r in rows for v in (r[2], r[4])] + edge_values.tolist(), dtype=np.float64)
    # sorted by step; a one-point chunk names its point twice (a history's step may hold its low and its high)
    order = np.lexsort((values, steps))
    steps, values = steps[order], values[order]
    if len(steps) > 1:
        new = np.r_[True, (steps[1:] != steps[:-1]) | ~_same(values[1:], values[:-1])]
        steps, values = steps[new], values[new]
    return count, steps, values


def downsample(steps: np.ndarray, values: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Min/max buckets: `buckets` equal step ranges, each keeping its lowest and highest point (the earlier
    step on ties), returned in step order."""
    keep = _keep(steps, values, buckets)
    return steps[keep], values[keep]


def _keep(steps: np.ndarray, values: np.ndarray, buckets: int) -> np.ndarray:
    """The indices `downsample` keeps, in step order."""
    if len(steps) == 0:
        return np.zeros(0, np.int64)
    lo, width = int(steps[0]), int(steps[-1]) - int(steps[0]) + 1
    bucket = np.minimum(((steps - lo).astype(np.float64) * buckets / width).astype(np.int64), buckets - 1)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(steps)]
    keep = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        segment = values[start:end]
        numbers = np.flatnonzero(~np.isnan(segment))
        if len(numbers) == 0:  # a bucket of NaN keeps one of them (a gap, where the series has one)
            low = high = start
        elif len(numbers) < len(segment):  # a NaN is neither a bucket's low nor its high
            low, high = (start + int(numbers[f(segment[numbers])]) for f in (np.argmin, np.argmax))
        else:
            low, high = start + int(segment.argmin()), start + int(segment.argmax())
        keep.extend((low, high) if low <= high else (high, low))
    return np.unique(np.array(keep, dtype=np.int64))


# --- summaries for the runs table -------------------------------------------------------------------------

DIRECTIONS = ("min", "max")  # which way a metric is better: lower, higher
_LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "rmse", "perplexity")


def direction(key: str, kind: str | None = None) -> str:
    """Whether a lower ("min") or a higher ("max") value of metric `key` is better: the one rule every summary,
    column and chart uses. First the job kind's declaration (its module's METRIC_DIRECTIONS, {key: "min"|"max"}),
    or without a kind, the first declaration of any kind in registry order; else "min" for a name containing
    loss, error, mse, mae, rmse or perplexity (case-insensitive), else "max"."""
    declared = _declared()
    found = declared.get(kind, {}).get(key) if kind else None
    if found is None:
        found = next((d[key] for d in declared.values() if key in d), None)
    if found is not None:
        return found
    name = key.lower()
    return "min" if any(word in name for word in _LOWER_IS_BETTER) else "max"


def _declared() -> dict[str, dict[str, str]]:
    from jobs_app import kinds

    return {name: getattr(kinds.get(name), "METRIC_DIRECTIONS", {}) for name in kinds.NAMES}


# One statement for a page of jobs: per (job, key) the count, extremes and last point from the chunks' own
# columns (a 64th of the points, none of them unpacked).
_SUMMARIES = """
SELECT job_id, key, sum(count),
       (array_agg(min_value ORDER BY min_value, min_step))[1], (array_agg(min_step ORDER BY min_value, min_step))[1],
       (array_agg(max_value ORDER BY max_value = 'NaN', max_value DESC, max_step))[1],
       (array_agg(max_step ORDER BY max_value = 'NaN', max_value DESC, max_step))[1],
       max(last_step), (array_agg(last_value ORDER BY block DESC))[1]
FROM jobs_app_metricchunk WHERE job_id = ANY(%s::uuid[]) GROUP BY job_id, key
"""


def summaries(jobs) -> dict[str, dict[str, dict]]:
    """{job id: {key: {last, last_step, min, min_step, max, max_step, count, direction}}} for the given jobs
    (Job objects: their kind picks each key's direction), from ONE query whatever their number. On ties the
    earliest step holding the extreme is named. A job without points maps to {}."""
    jobs = list(jobs)
    kind_of = {str(job.pk): job.kind for job in jobs}
    out: dict[str, dict[str, dict]] = {pk: {} for pk in kind_of}
    if not jobs:
        return out
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_SUMMARIES, [[job.pk for job in jobs]])
            rows = cursor.fetchall()
    else:  # SQLite: reduced here (development databases only)
        rows = _summaries_from_chunks([job.pk for job in jobs])
    for job_id, key, count, low, low_step, high, high_step, last_step, last in rows:
        job_id = str(job_id)
        out[job_id][key] = {
            "last": json_value(last),
            "last_step": last_step,
            "min": json_value(low),
            "min_step": low_step,
            "max": json_value(high),
            "max_step": high_step,
            "count": int(count),
            "direction": direction(key, kind_of[job_id]),
        }
    for job_summaries in out.values():  # keys in name order, as GET .../metrics/ lists them
        ordered = dict(sorted(job_summaries.items()))
        job_summaries.clear()
        job_summaries.update(ordered)
    return out


def _summaries_from_chunks(job_ids: list) -> list[tuple]:
    """_SUMMARIES' rows reduced here from the chunks' columns (SQLite, which has no array_agg)."""
    rows: dict[tuple, list] = {}
    chunks = MetricChunk.objects.filter(job_id__in=job_ids).order_by("job_id", "key", "block")
    fields = ("job_id", "key", "count", "min_value", "min_step", "max_value", "max_step", "last_step", "last_value")
    for job_id, key, count, low, low_step, high, high_step, last_step, last in chunks.values_list(*fields).iterator():
        row = rows.get((job_id, key))
        if row is None:
            rows[(job_id, key)] = [job_id, key, count, low, low_step, high, high_step, last_step, last]
            continue
        row[2] += count
        if low < row[3]:  # chunks in step order: on ties the earlier step stays
            row[3], row[4] = low, low_step
        if high > row[5]:
            row[5], row[6] = high, high_step
        row[7], row[8] = last_step, last
    return [tuple(row) for row in rows.values()]


def keys_of(jobs_queryset, *, limit: int = 1000) -> list[str]:
    """The distinct metric keys of the jobs (a queryset of Job), in name order, at most `limit` of them."""
    found = MetricChunk.objects.filter(job__in=jobs_queryset.values("pk")).values_list("key", flat=True)
    return list(found.distinct().order_by("key")[:limit])


def latest_points(job_ids) -> dict:
    """{job id: [(key, step, value, time epoch seconds), ...] in key order}: each series' latest point (its
    highest step, the latest in time there), from the last chunk of each series, in one query."""
    top = MetricChunk.objects.filter(job_id=OuterRef("job_id"), key=OuterRef("key")).order_by("-block")
    rows = (
        MetricChunk.objects.filter(job_id__in=list(job_ids), block=Subquery(top.values("block")[:1]))
        .order_by("job_id", "key")
        .values_list("job_id", "key", "last_step", "last_value", "time_bytes")
    )
    out: dict = {}
    for job_id, key, step, value, times in rows:
        micros = int.from_bytes(bytes(times)[-8:], "big", signed=True)
        out.setdefault(job_id, []).append((key, int(step), float(value), micros / 1e6))
    return out


def history_page(job_id, key: str, offset: int, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Points `offset` to `offset + limit` of one series in stored order (step, then time), as (steps int64,
    values float64, times float64 epoch seconds, the series' total count): a page of a history, read from the
    chunks' counts and only the chunks that hold the page (a page deep in a 100,000-point series unpacks about
    limit / CHUNK_STEPS chunks, not the whole series)."""
    counts = list(MetricChunk.objects.filter(job_id=job_id, key=key).order_by("block").values_list("block", "count"))
    total = sum(count for _, count in counts)
    wanted, before, seen = [], None, 0
    for block, count in counts:
        if seen + count > offset and seen < offset + limit:
            wanted.append(block)
            before = seen if before is None else before
        seen += count
    if not wanted:
        steps, values, times = _empty()
        return steps, values, times, total
    rows = MetricChunk.objects.filter(job_id=job_id, key=key, block__in=wanted).order_by("block")
    steps, values, micros = _unpack(rows.values_list("step_bytes", "value_bytes", "time_bytes"))
    start = offset - before
    end = start + limit
    return steps[start:end], values[start:end], micros[start:end] / 1e6, total
