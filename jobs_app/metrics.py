"""The metrics store: `MetricPoint(job, key, step, value, time)`, primary key (job, key, step).

Writes are bulk and idempotent: a batch is checked and held as numpy columns (Batch), and on PostgreSQL COPYed
straight into the table in COPY's binary format (the common case: new steps), its new points then folded into the
rollups; a batch that holds a (job, key, step) already stored is merged instead with one INSERT ... ON CONFLICT
DO UPDATE and the rollup blocks it touched are recomputed, so sending a batch twice changes nothing and a later
value for the same (job, key, step) wins. Reads return a series in step order, downsampled to `max_points` with
min/max buckets so that spikes survive.
"""

from __future__ import annotations

import functools
import math
import re
import time as clock
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import psycopg
from django.db import connection, transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from jobs_app.models import ROLLUP_STEPS, MetricPoint, MetricRollup
from ml import names
from ml.errors import UserError

KEY_MAX = 100
STEP_MAX = 2**63 - 1
DEFAULT_MAX_POINTS = 1000
MAX_POINTS_LIMIT = 100_000
TIME_MIN = 946_684_800.0  # 2000-01-01T00:00:00Z: a client time before it is a clock that was never set
TIME_AHEAD_S = 86_400.0  # a client time may run ahead of the server's clock by at most a day
BATCH_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class PointError(UserError):
    """A point is malformed; `field` names it (points[3].value)."""

    def __init__(self, field: str, message: str):
        super().__init__(message, field=field)


def check_points(points) -> list[tuple]:
    """The points of a JSON `points` list, checked: `(key, step, value)` tuples, or `(key, step, value, time)`
    for a point that carries its client `time` (Unix epoch seconds, float). Keys come back in NFC; of two
    points with the same (key, step) the last one wins. Raises PointError naming the first bad point's field
    (`points[3].time`): a key that is not a printable string of 1 to KEY_MAX characters, a step outside
    0..STEP_MAX or not an integer, a value or time that is not a finite number, a time before 2000-01-01 or
    more than a day ahead of the server's clock, an unknown field."""
    if not isinstance(points, list):
        raise PointError("points", "must be a list of {key, step, value, time?} objects")
    merged: dict[tuple[str, int], tuple] = {}
    checked: dict[str, str] = {}  # a batch repeats a few keys many times: check and normalise each once
    latest = clock.time() + TIME_AHEAD_S
    for i, point in enumerate(points):
        if type(point) is not dict:
            raise PointError(f"points[{i}]", "must be an object {key, step, value, time?}")
        key, step, value = point.get("key"), point.get("step"), point.get("value")
        clean = checked.get(key) if type(key) is str else None
        if clean is None:
            if type(key) is not str or not 0 < len(key) <= KEY_MAX or names.problem(key):
                raise PointError(f"points[{i}].key", f"must be a printable string of 1 to {KEY_MAX} characters")
            clean = checked[key] = names.nfc(key)
        if type(step) is not int or not 0 <= step <= STEP_MAX:  # noqa: E721 (bool is not a step)
            raise PointError(f"points[{i}].step", f"must be an integer from 0 to {STEP_MAX}")
        if type(value) is float:
            if not math.isfinite(value):
                raise PointError(f"points[{i}].value", "must be a finite number")
        elif finite_number(value):
            value = float(value)
        else:
            raise PointError(f"points[{i}].value", "must be a finite number")
        size = len(point)
        if size == 3:
            merged[(clean, step)] = (clean, step, value)
            continue
        if size != 4 or "time" not in point:
            extra = sorted(set(point) - {"key", "step", "value", "time"})
            raise PointError(f"points[{i}].{extra[0]}", "unknown field; a point is {key, step, value, time?}")
        at = point["time"]
        if not (math.isfinite(at) if type(at) is float else finite_number(at)) or not TIME_MIN <= at <= latest:
            raise PointError(
                f"points[{i}].time",
                "must be a finite number of seconds since the Unix epoch, from 2000-01-01 to a day ahead of now",
            )
        merged[(clean, step)] = (clean, step, value, float(at))
    return list(merged.values())


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
    def of(cls, points) -> Batch:
        """A Batch from `(key, step, value[, time])` tuples (keys already checked), or the Batch itself."""
        if isinstance(points, Batch):
            return points
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
        order = np.lexsort((steps, key_index))  # stable: equal (key, step) keep their order in the request
        if not unique and len(order) > 1:
            k, s = key_index[order], steps[order]
            last = np.ones(len(order), dtype=bool)
            last[:-1] = (k[1:] != k[:-1]) | (s[1:] != s[:-1])
            order = order[last]
        return cls(keys, key_index[order], steps[order], values[order], times[order])

    def block_starts(self) -> tuple[np.ndarray, np.ndarray]:
        """(each point's rollup block, step // ROLLUP_STEPS; a mask of the points that start a (key, block) run):
        the points are in (key, step) order, so each block the batch touches is one run."""
        block = self.steps // ROLLUP_STEPS
        start = np.r_[True, (self.key_index[1:] != self.key_index[:-1]) | (block[1:] != block[:-1])]
        return block, start

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
    for key in distinct:
        if type(key) is not str or not 0 < len(key) <= KEY_MAX or names.problem(key) or names.nfc(key) != key:
            return None
    # bool is a subclass of int, and neither a step nor a number here: the types must match exactly
    if set(map(type, steps)) != {int} or not set(map(type, values)) <= {int, float}:
        return None
    if times is not None and not set(map(type, times)) <= {int, float}:
        return None
    try:
        step_column = np.array(steps, dtype=np.int64)  # OverflowError beyond 64 bits
        value_column = np.array(values, dtype=np.float64)  # OverflowError for an integer beyond any float
        time_column = np.array(times, dtype=np.float64) if times is not None else np.full(len(points), math.nan)
    except OverflowError:
        return None
    if step_column.min() < 0 or not np.isfinite(value_column).all():
        return None
    if times is not None and not (
        np.isfinite(time_column).all()
        and time_column.min() >= TIME_MIN
        and time_column.max() <= clock.time() + TIME_AHEAD_S
    ):
        return None
    keys = sorted(distinct)
    code = {k: i for i, k in enumerate(keys)}
    key_index = np.fromiter(map(code.__getitem__, raw_keys), np.int32, len(points))
    return Batch._sorted(keys, key_index, step_column, value_column, time_column, unique=False)


def record_batch(job_id, batch_id: str) -> bool:
    """Record that the job received client batch `batch_id`, in the caller's transaction: True when it is new,
    False when it was recorded before (then the caller writes nothing). A concurrent transaction recording
    the same id makes this one wait for its end: then False if it committed, True if it rolled back."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO jobs_app_metricbatch (job_id, batch_id, received_at) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            [job_id, batch_id, timezone.now()],
        )
        return cursor.fetchone() is not None


class StoredPointMet(Exception):
    """An optimistic ingest met a point already stored: the caller's transaction must be rolled back and the
    batch written again without `optimistic` (which merges it)."""


def ingest(job_id, points: list[tuple] | Batch, *, at: datetime | None = None, optimistic: bool = False) -> int:
    """Store points for a job; returns how many were written (inserted or updated). `points` is a Batch
    (check_batch) or a list of `(key, step, value)` / `(key, step, value, time)` tuples, `time` in Unix epoch
    seconds (None or absent: `at`, default now), keys already checked (check_points). Of two points with the
    same (key, step) the last one wins. Runs in the caller's transaction when there is one.

    New points are COPYed in one go inside a savepoint, and a batch that meets a stored point is merged
    instead. With `optimistic` there is no savepoint (two round trips fewer) and such a batch raises
    StoredPointMet, leaving the caller's transaction to be rolled back (see attempts.receive_points)."""
    batch = Batch.of(points)
    if not len(batch):
        return 0
    at = at or timezone.now()
    times = np.where(np.isnan(batch.times), at.timestamp(), batch.times)
    if connection.vendor != "postgresql":
        MetricPoint.objects.bulk_create(
            [
                MetricPoint(job_id=job_id, key=batch.keys[k], step=s, value=v, time=datetime.fromtimestamp(t, UTC))
                for k, s, v, t in zip(
                    batch.key_index.tolist(), batch.steps.tolist(), batch.values.tolist(), times.tolist(), strict=True
                )
            ],
            update_conflicts=True,
            unique_fields=["job_id", "key", "step"],
            update_fields=["value", "time"],
            batch_size=5000,
        )
        return len(batch)
    with transaction.atomic(savepoint=False):
        # psycopg's own cursor: parameters bound on the server in binary (Django's quotes them into the SQL text)
        cursor = psycopg.Cursor(connection.connection)
        data = _copy_binary(job_id, batch, times)  # rows in (key, step) order: one lock order for every writer
        try:
            with transaction.atomic(savepoint=not optimistic):  # a batch that meets a stored point is merged below
                with cursor.copy(_COPY) as copy:
                    copy.write(data)
            merged = None
        except psycopg.errors.UniqueViolation as error:  # COPY is psycopg's own: its errors come unwrapped
            if optimistic:
                raise StoredPointMet(str(error)) from error
            merged = _merge(cursor, job_id, batch, times)
        # Rollup writes of one job take turns: the lock is held to commit, so a refresh that waited for another
        # write starts after that commit and sees its points (two at once would each see only their own and the
        # later write would drop the other's extremes). The point writes above run concurrently.
        lock = f"eco-metrics-{job_id}"
        if merged is None:
            cursor.execute(_ADD_TO_ROLLUPS, [job_id, lock, *_folded_blocks(batch)])
            return len(batch)
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [lock])
        block, start = batch.block_starts()
        cursor.execute(
            _REFRESH_ROLLUPS,
            {
                "job": job_id,
                "keys": [batch.keys[k] for k in batch.key_index[start].tolist()],
                "blocks": block[start].tolist(),
                "width": ROLLUP_STEPS,
            },
        )
        return merged


_COPY = "COPY jobs_app_metricpoint (job_id, key, step, value, time) FROM STDIN (FORMAT binary)"
# COPY's binary format: a signature, flags and header extension length; each row its field count and each
# field its length then its bytes (big-endian); -1 ends the data. https://www.postgresql.org/docs/current/sql-copy.html
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = b"\xff\xff"
_PG_EPOCH_S = 946_684_800  # a binary timestamptz counts microseconds from 2000-01-01T00:00:00Z


def _copy_binary(job_id, batch: Batch, times: np.ndarray) -> bytes:
    """The batch as COPY binary data, built as numpy records (one fixed layout per key), so no Python object is
    made per point. `times` in epoch seconds, rounded to the microsecond half to even after splitting off the
    whole seconds, as datetime.fromtimestamp rounds."""
    whole = np.floor(times)
    micros = (whole.astype(np.int64) - _PG_EPOCH_S) * 1_000_000 + np.rint((times - whole) * 1e6).astype(np.int64)
    job = uuid.UUID(str(job_id)).bytes
    bounds = np.searchsorted(batch.key_index, np.arange(len(batch.keys) + 1))
    parts = [_COPY_HEADER]
    for i, key in enumerate(batch.keys):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        text = key.encode()
        rows = np.empty(hi - lo, _copy_row(len(text)))
        rows["fields"], rows["job_len"], rows["job"] = 5, 16, job
        rows["key_len"], rows["key"] = len(text), text
        rows["step_len"], rows["value_len"], rows["time_len"] = 8, 8, 8
        rows["step"], rows["value"], rows["time"] = batch.steps[lo:hi], batch.values[lo:hi], micros[lo:hi]
        parts.append(rows.tobytes())
    parts.append(_COPY_TRAILER)
    return b"".join(parts)


@functools.cache
def _copy_row(key_bytes: int) -> np.dtype:
    """One row of the points table in COPY's binary format, for a key of `key_bytes` UTF-8 bytes."""
    return np.dtype(
        [
            ("fields", ">i2"),
            ("job_len", ">i4"),
            ("job", "S16"),
            ("key_len", ">i4"),
            ("key", f"S{key_bytes}"),
            ("step_len", ">i4"),
            ("step", ">i8"),
            ("value_len", ">i4"),
            ("value", ">f8"),
            ("time_len", ">i4"),
            ("time", ">i8"),
        ]
    )


def _merge(cursor, job_id, batch: Batch, times: np.ndarray) -> int:
    """Upsert the batch (some points already stored) in (key, step) order; returns how many rows were written."""
    cursor.execute(
        "INSERT INTO jobs_app_metricpoint (job_id, key, step, value, time) "
        "SELECT %s, key, step, value, to_timestamp(time) "
        "FROM unnest(%s::varchar[], %s::bigint[], %s::float8[], %s::float8[]) WITH ORDINALITY "
        "AS p(key, step, value, time, n) ORDER BY n "
        "ON CONFLICT (job_id, key, step) DO UPDATE SET value = EXCLUDED.value, time = EXCLUDED.time",
        [
            job_id,
            [batch.keys[k] for k in batch.key_index.tolist()],
            batch.steps.tolist(),
            batch.values.tolist(),
            times.tolist(),
        ],
    )
    return cursor.rowcount


def _folded_blocks(batch: Batch) -> list[list]:
    """Per rollup block the batch touches, as columns (keys, blocks, counts, min steps, min values, max steps,
    max values) for _ADD_TO_ROLLUPS: each block's lowest and highest point, the earlier step on ties, as
    _REFRESH_ROLLUPS picks them."""
    block, start = batch.block_starts()
    starts = np.flatnonzero(start)
    group = np.cumsum(start) - 1
    counts = np.diff(np.r_[starts, len(batch)])
    # within a block, sorted by value then step: the block's first entry is its extreme (groups keep their place)
    low = np.lexsort((batch.steps, batch.values, group))[starts]
    high = np.lexsort((batch.steps, -batch.values, group))[starts]
    return [
        [batch.keys[k] for k in batch.key_index[starts].tolist()],
        block[starts].tolist(),
        counts.tolist(),
        batch.steps[low].tolist(),
        batch.values[low].tolist(),
        batch.steps[high].tolist(),
        batch.values[high].tolist(),
    ]


# Fold the blocks of points that were all new (the COPY took every one) into their rollups: counts add up and the
# extremes are compared, with no need to read the blocks' other points back. The job's rollup lock (see ingest)
# is taken in the same statement: the blocks' rows are written only after it is held.
_ADD_TO_ROLLUPS = """
INSERT INTO jobs_app_metricrollup AS r (job_id, key, block, count, min_step, min_value, max_step, max_value)
SELECT %s, u.* FROM (SELECT pg_advisory_xact_lock(hashtext(%s))) AS lock,
    unnest(%s::varchar[], %s::bigint[], %s::int[], %s::bigint[], %s::float8[], %s::bigint[], %s::float8[]) AS u
ON CONFLICT (job_id, key, block) DO UPDATE SET
    count = r.count + EXCLUDED.count,
    min_step = CASE WHEN (EXCLUDED.min_value, EXCLUDED.min_step) < (r.min_value, r.min_step)
               THEN EXCLUDED.min_step ELSE r.min_step END,
    min_value = least(r.min_value, EXCLUDED.min_value),
    max_step = CASE WHEN EXCLUDED.max_value > r.max_value
                      OR (EXCLUDED.max_value = r.max_value AND EXCLUDED.max_step < r.max_step)
               THEN EXCLUDED.max_step ELSE r.max_step END,
    max_value = greatest(r.max_value, EXCLUDED.max_value)
"""


# Recompute, from the points themselves, every rollup block the batch touched (so a replaced value can never
# leave a stale extreme behind): per block one range scan of the primary key (at most ROLLUP_STEPS points;
# ORDER BY ... LIMIT keeps it an index scan even when the table's statistics are stale, where a join over the
# batch would read every point of the job).
_REFRESH_ROLLUPS = """
INSERT INTO jobs_app_metricrollup (job_id, key, block, count, min_step, min_value, max_step, max_value)
SELECT %(job)s, t.key, t.block, r.count, r.min_step, r.min_value, r.max_step, r.max_value
FROM unnest(%(keys)s::varchar[], %(blocks)s::bigint[]) WITH ORDINALITY AS t(key, block, n)
CROSS JOIN LATERAL (
    SELECT count(*) AS count,
           (array_agg(b.step ORDER BY b.value, b.step))[1] AS min_step, min(b.value) AS min_value,
           (array_agg(b.step ORDER BY b.value DESC, b.step))[1] AS max_step, max(b.value) AS max_value
    FROM (
        SELECT step, value FROM jobs_app_metricpoint
        WHERE job_id = %(job)s AND key = t.key AND step >= t.block * %(width)s
          AND step <= t.block * %(width)s + (%(width)s - 1)
        ORDER BY step LIMIT %(width)s
    ) AS b
) AS r
ORDER BY t.n
ON CONFLICT (job_id, key, block) DO UPDATE SET
    count = EXCLUDED.count, min_step = EXCLUDED.min_step, min_value = EXCLUDED.min_value,
    max_step = EXCLUDED.max_step, max_value = EXCLUDED.max_value
"""


# Per key: the count from the rollups (a 64th of the points), the first and last step by one index probe each.
_KEYS = """
SELECT r.key, r.count, first.step, last.step, last.value
FROM (SELECT key, sum(count) AS count FROM jobs_app_metricrollup WHERE job_id = %s GROUP BY key) AS r
CROSS JOIN LATERAL (
    SELECT step FROM jobs_app_metricpoint p WHERE p.job_id = %s AND p.key = r.key ORDER BY p.step LIMIT 1
) AS first
CROSS JOIN LATERAL (
    SELECT step, value FROM jobs_app_metricpoint p WHERE p.job_id = %s AND p.key = r.key ORDER BY p.step DESC LIMIT 1
) AS last
ORDER BY r.key
"""


def keys(job_id) -> list[dict]:
    """Every metric key of a job, in name order, as {key, count, first_step, last_step, last_value}. On
    PostgreSQL from the rollups and two index probes per key (a job with 1,000,000 points answers in
    milliseconds, not the second a count over the points takes)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_KEYS, [job_id, job_id, job_id])
            rows = cursor.fetchall()
        names = ("key", "count", "first_step", "last_step", "last_value")
        return [
            dict(zip(names, (key, int(count), first, last, value), strict=True))
            for key, count, first, last, value in rows
        ]
    points = MetricPoint.objects.filter(job_id=job_id)
    rows = (
        points.values("key")
        .annotate(count=Count("step"), first_step=Min("step"), last_step=Max("step"))
        .order_by("key")
    )
    last = dict(points.order_by("key", "step").values_list("key", "value"))  # the last of each key wins
    return [{**row, "last_value": last.get(row["key"])} for row in rows]


def series(
    job_id,
    key: str,
    *,
    max_points: int | None = DEFAULT_MAX_POINTS,
    start_step: int | None = None,
    end_step: int | None = None,
    after_step: int | None = None,
) -> dict:
    """One series for a chart: `{key, count, total, downsampled, truncated, points: [[step, value], ...],
    times: [epoch seconds, ...]}`, points in step order, `times[i]` the time points[i] was recorded.

    Three reads (bad combinations are the caller's to refuse; see the API view):
    - the whole series (no window), or the inclusive window `start_step..end_step` (either end may be
      omitted): every point when the range holds at most `max_points` (or `max_points=None`), else the range
      cut into max_points // 2 equal step ranges, each keeping its lowest and its highest point (in step
      order), so a spike is never averaged away;
    - `after_step`: the exact points with step > after_step, in step order, at most `max_points` of them
      (`truncated` says more are waiting: ask again with the last step received).
    `count` is the number of points in the range read (series, window or after_step), `total` the number in
    the whole series, `downsampled` whether `points` is a min/max selection rather than every point.

    A long range is read from its rollups (each 64-step block's lowest and highest point): every block's
    extremes, hence every spike, survive exactly; where a range boundary cuts through a block, that range
    may keep a block extreme instead of its own, so the picture is the exact one to within a block. A window
    edge that cuts a block reads that block's points inside the window, so nothing outside it comes back."""
    if after_step is not None:
        lo, hi = after_step + 1, STEP_MAX
        if lo > STEP_MAX:
            return _answer(key, 0, _count(job_id, key, 0, STEP_MAX), False, *_empty(), truncated=False)
        count = _count(job_id, key, lo, hi)
        steps, values, times = read(job_id, key, lo, hi, limit=max_points)
        total = count if after_step < 0 else _count(job_id, key, 0, STEP_MAX)
        return _answer(key, count, total, False, steps, values, times, truncated=len(steps) < count)
    lo = 0 if start_step is None else start_step
    hi = STEP_MAX if end_step is None else end_step
    whole = lo == 0 and hi == STEP_MAX
    buckets = max(1, (max_points or 0) // 2)
    candidates = _rollup(job_id, key, lo, hi) if max_points is not None else None
    if candidates is not None and candidates[0] <= max_points:
        candidates = None  # the range fits: every point comes back
        steps, values, times = read(job_id, key, lo, hi)
        count = len(steps)
    elif candidates is not None and len(candidates[1]) >= buckets:
        # the rollup is finer than the answer: its extremes are the only candidates a min/max bucket can keep
        count, steps, values = candidates
        steps, values = steps[(keep := _keep(steps, values, buckets))], values[keep]
        times = times_of(job_id, key, steps)
    else:
        steps, values, times = read(job_id, key, lo, hi)
        count = len(steps)
        if max_points is not None and count > max_points:
            keep = _keep(steps, values, buckets)
            steps, values, times = steps[keep], values[keep], times[keep]
    total = count if whole else _count(job_id, key, 0, STEP_MAX)
    return _answer(key, count, total, len(steps) < count, steps, values, times, truncated=False)


def _answer(key, count, total, downsampled, steps, values, times, *, truncated) -> dict:
    return {
        "key": key,
        "count": count,
        "total": total,
        "downsampled": downsampled,
        "truncated": truncated,
        "points": [list(pair) for pair in zip(steps.tolist(), values.tolist(), strict=True)],
        "times": times.tolist(),
    }


def _empty() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.float64)


# array_send's binary form of a one-dimensional array without NULLs: a 20-byte header, then per element
# its length (int32) and its bytes, all big-endian
_ARRAY_HEADER = 20
_STEP_ITEMS = np.dtype([("len", ">i4"), ("item", ">i8")])
_VALUE_ITEMS = np.dtype([("len", ">i4"), ("item", ">f8")])


def _decode(raw, items: np.dtype, dtype) -> np.ndarray:
    return np.frombuffer(bytes(raw), dtype=items, offset=_ARRAY_HEADER)["item"].astype(dtype)


def fetch(job_id, key: str) -> tuple[np.ndarray, np.ndarray]:
    """One whole series as (steps int64, values float64) in step order."""
    steps, values, _ = read(job_id, key, 0, STEP_MAX)
    return steps, values


def read(job_id, key: str, lo: int, hi: int, *, limit: int | None = None) -> tuple[np.ndarray, ...]:
    """The points with lo <= step <= hi (the first `limit` of them; None for all) as (steps int64, values
    float64, times float64 epoch seconds) in step order. On PostgreSQL they come back as three binary arrays
    in one row, decoded straight into numpy: no Python object per point."""
    if connection.vendor != "postgresql":
        rows = MetricPoint.objects.filter(job_id=job_id, key=key, step__gte=lo, step__lte=hi).order_by("step")
        rows = rows.values_list("step", "value", "time")
        rows = list(rows[:limit] if limit else rows)
        return (
            np.array([r[0] for r in rows], dtype=np.int64),
            np.array([r[1] for r in rows], dtype=np.float64),
            np.array([r[2].timestamp() for r in rows], dtype=np.float64),
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_send(array_agg(step ORDER BY step)), array_send(array_agg(value ORDER BY step)), "
            "array_send(array_agg(extract(epoch FROM time)::float8 ORDER BY step)) FROM ("
            "SELECT step, value, time FROM jobs_app_metricpoint WHERE job_id = %s AND key = %s "
            "AND step >= %s AND step <= %s ORDER BY step LIMIT %s) AS range",
            [job_id, key, lo, hi, limit],
        )
        steps, values, times = cursor.fetchone()
    if steps is None:
        return _empty()
    return (
        _decode(steps, _STEP_ITEMS, np.int64),
        _decode(values, _VALUE_ITEMS, np.float64),
        _decode(times, _VALUE_ITEMS, np.float64),
    )


def times_of(job_id, key: str, steps: np.ndarray) -> np.ndarray:
    """The recorded times (epoch seconds) of the given steps of a series, in the order given: one query."""
    if len(steps) == 0:
        return np.zeros(0, np.float64)
    wanted = steps.tolist()
    if connection.vendor != "postgresql":
        found = dict(MetricPoint.objects.filter(job_id=job_id, key=key, step__in=wanted).values_list("step", "time"))
        return np.array([found[s].timestamp() for s in wanted], dtype=np.float64)
    with connection.cursor() as cursor:
        cursor.execute(
            # one primary-key probe per step: LIMIT 1 keeps the planner from flattening the lateral into a
            # join, and a plain `step = ANY(...)` may be planned as a filter over the whole series when the
            # table's statistics are stale (seconds for a million points)
            "SELECT s.step, extract(epoch FROM p.time)::float8 FROM unnest(%s::bigint[]) AS s(step) "
            "CROSS JOIN LATERAL (SELECT time FROM jobs_app_metricpoint "
            "WHERE job_id = %s AND key = %s AND step = s.step LIMIT 1) AS p",
            [wanted, job_id, key],
        )
        found = dict(cursor.fetchall())
    return np.array([found[s] for s in wanted], dtype=np.float64)


def _edges(lo: int, hi: int) -> tuple[int, int, list[tuple[int, int]]]:
    """The rollup blocks lo..hi touches, as (first block, last block, [(from, to) step ranges of the window
    inside a block the window only partly covers]); those blocks' extremes may lie outside the window."""
    first, last = lo // ROLLUP_STEPS, hi // ROLLUP_STEPS
    cut = []
    if lo > first * ROLLUP_STEPS:
        cut.append((lo, min(hi, first * ROLLUP_STEPS + ROLLUP_STEPS - 1)))
    if hi < last * ROLLUP_STEPS + ROLLUP_STEPS - 1 and (last != first or not cut):
        cut.append((max(lo, last * ROLLUP_STEPS), hi))
    return first, last, cut


def _count(job_id, key: str, lo: int, hi: int) -> int:
    """Points of the series with lo <= step <= hi. On PostgreSQL: the rollups' counts of the blocks inside the
    range plus the points of the (at most two) blocks it cuts, so a count over a million points reads about
    16,000 rollup rows, not the points."""
    points = MetricPoint.objects.filter(job_id=job_id, key=key)
    if connection.vendor != "postgresql":
        return points.filter(step__gte=lo, step__lte=hi).count()
    first, last, cut = _edges(lo, hi)
    partial = {s // ROLLUP_STEPS for s, _ in cut}
    ranges = " OR ".join(["(step >= %s AND step <= %s)"] * len(cut)) or "false"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT coalesce(sum(count), 0) FROM jobs_app_metricrollup WHERE job_id = %s AND key = %s "
            "AND block >= %s AND block <= %s AND NOT block = ANY(%s)) + (SELECT count(*) FROM "
            f"jobs_app_metricpoint WHERE job_id = %s AND key = %s AND ({ranges}))",
            [job_id, key, first, last, sorted(partial), job_id, key, *[b for pair in cut for b in pair]],
        )
        return int(cursor.fetchone()[0])


def _rollup(job_id, key: str, lo: int, hi: int) -> tuple[int, np.ndarray, np.ndarray] | None:
    """(points in lo..hi, candidate steps, candidate values): each whole block's lowest and highest point
    from the rollups, and every point of a block the range cuts (at most 2 x 64). None where there are no
    rollups (SQLite)."""
    if connection.vendor != "postgresql":
        return None
    first, last, cut = _edges(lo, hi)
    partial = sorted({s // ROLLUP_STEPS for s, _ in cut})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count, min_step, min_value, max_step, max_value FROM jobs_app_metricrollup "
            "WHERE job_id = %s AND key = %s AND block >= %s AND block <= %s AND NOT block = ANY(%s) ORDER BY block",
            [job_id, key, first, last, partial],
        )
        rows = cursor.fetchall()
        edge = []
        if cut:
            ranges = " OR ".join(["(step >= %s AND step <= %s)"] * len(cut))
            cursor.execute(
                f"SELECT step, value FROM jobs_app_metricpoint WHERE job_id = %s AND key = %s AND ({ranges})",
                [job_id, key, *[b for pair in cut for b in pair]],
            )
            edge = cursor.fetchall()
    count = sum(r[0] for r in rows) + len(edge)
    steps = np.array([s for r in rows for s in (r[1], r[3])] + [e[0] for e in edge], dtype=np.int64)
    values = np.array([v for r in rows for v in (r[2], r[4])] + [e[1] for e in edge], dtype=np.float64)
    steps, first_seen = np.unique(steps, return_index=True)  # sorted; a one-point block names its point twice
    return count, steps, values[first_seen]


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


# One statement for a page of jobs: per (job, key) the count and extremes from the rollups (a 64th of the
# points), then the last point by one backward probe of the primary key (LIMIT 1 keeps each a probe).
_SUMMARIES = """
WITH g AS (
    SELECT job_id, key, sum(count) AS count,
           min(min_value) AS min, (array_agg(min_step ORDER BY min_value, min_step))[1] AS min_step,
           max(max_value) AS max, (array_agg(max_step ORDER BY max_value DESC, max_step))[1] AS max_step
    FROM jobs_app_metricrollup WHERE job_id = ANY(%s::uuid[]) GROUP BY job_id, key
)
SELECT g.job_id, g.key, g.count, g.min, g.min_step, g.max, g.max_step, last.step, last.value
FROM g CROSS JOIN LATERAL (
    SELECT step, value FROM jobs_app_metricpoint p
    WHERE p.job_id = g.job_id AND p.key = g.key ORDER BY p.step DESC LIMIT 1
) AS last
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
    else:  # SQLite keeps no rollups: reduce the points here (development databases only)
        rows = _summaries_from_points([job.pk for job in jobs])
    for job_id, key, count, low, low_step, high, high_step, last_step, last in rows:
        job_id = str(job_id)
        out[job_id][key] = {
            "last": last,
            "last_step": last_step,
            "min": low,
            "min_step": low_step,
            "max": high,
            "max_step": high_step,
            "count": int(count),
            "direction": direction(key, kind_of[job_id]),
        }
    for job_summaries in out.values():  # keys in name order, as GET .../metrics/ lists them
        ordered = dict(sorted(job_summaries.items()))
        job_summaries.clear()
        job_summaries.update(ordered)
    return out


def _summaries_from_points(job_ids: list) -> list[tuple]:
    rows: dict[tuple, list] = {}
    points = MetricPoint.objects.filter(job_id__in=job_ids).order_by("job_id", "key", "step")
    for job_id, key, step, value in points.values_list("job_id", "key", "step", "value").iterator():
        row = rows.get((job_id, key))
        if row is None:
            rows[(job_id, key)] = [job_id, key, 1, value, step, value, step, step, value]
            continue
        row[2] += 1
        if value < row[3]:
            row[3], row[4] = value, step
        if value > row[5]:
            row[5], row[6] = value, step
        row[7], row[8] = step, value
    return [tuple(row) for row in rows.values()]


def keys_of(jobs_queryset, *, limit: int = 1000) -> list[str]:
    """The distinct metric keys of the jobs (a queryset of Job), in name order, at most `limit` of them.
    Read from the rollups on PostgreSQL (a 64th of the points)."""
    table = MetricRollup if connection.vendor == "postgresql" else MetricPoint
    found = table.objects.filter(job__in=jobs_queryset.values("pk")).values_list("key", flat=True)
    return list(found.distinct().order_by("key")[:limit])


def rollups_of(points: list[MetricPoint]) -> list[MetricRollup]:
    """The rollup rows of a set of points (all of the blocks they fall in, nothing else in those blocks), as
    `ingest` would leave them: for bulk rows written around `ingest`, such as the `seed_jobs` command's."""
    blocks: dict[tuple, list] = {}
    for p in sorted(points, key=lambda p: (str(p.job_id), p.key, p.step)):
        block = blocks.setdefault((p.job_id, p.key, p.step // ROLLUP_STEPS), [0, p.step, p.value, p.step, p.value])
        block[0] += 1
        if p.value < block[2]:
            block[1], block[2] = p.step, p.value
        if p.value > block[4]:
            block[3], block[4] = p.step, p.value
    return [
        MetricRollup(job_id=job, key=key, block=b, count=n, min_step=s0, min_value=v0, max_step=s1, max_value=v1)
        for (job, key, b), (n, s0, v0, s1, v1) in blocks.items()
    ]
