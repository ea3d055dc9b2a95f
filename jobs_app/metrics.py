"""The metrics store: `MetricPoint(job, key, step, value, time)`, primary key (job, key, step).

Writes are bulk and idempotent: on PostgreSQL the points are COPYed into a temporary table and merged with
one INSERT ... ON CONFLICT DO UPDATE, so sending a batch twice changes nothing and a later value for the same
(job, key, step) wins. Reads return a series in step order, downsampled to `max_points` with min/max
buckets so that spikes survive.
"""

from __future__ import annotations

import math
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from jobs_app.models import MetricPoint

KEY_MAX = 100
STEP_MAX = 2**63 - 1
DEFAULT_MAX_POINTS = 1000
MAX_POINTS_LIMIT = 100_000


class PointError(ValueError):
    """A point is malformed; `field` names it (points[3].value)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def check_points(points) -> list[tuple[str, int, float]]:
    """(key, step, value) tuples from the JSON `points` list; the last of duplicate (key, step) wins."""
    if not isinstance(points, list):
        raise PointError("points", "must be a list of {key, step, value} objects")
    merged: dict[tuple[str, int], float] = {}
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            raise PointError(f"points[{i}]", "must be an object {key, step, value}")
        key, step, value = point.get("key"), point.get("step"), point.get("value")
        if not isinstance(key, str) or not 0 < len(key) <= KEY_MAX or not key.isprintable():
            raise PointError(f"points[{i}].key", f"must be a printable string of 1 to {KEY_MAX} characters")
        if type(step) is not int or not 0 <= step <= STEP_MAX:  # noqa: E721 (bool is not a step)
            raise PointError(f"points[{i}].step", f"must be an integer from 0 to {STEP_MAX}")
        if type(value) not in (int, float) or not _finite(value):  # noqa: E721
            raise PointError(f"points[{i}].value", "must be a finite number")
        if len(point) > 3:
            extra = sorted(set(point) - {"key", "step", "value"})
            raise PointError(f"points[{i}].{extra[0]}", "unknown field; a point is {key, step, value}")
        merged[(key, step)] = float(value)
    return [(k, s, v) for (k, s), v in merged.items()]


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond any float
        return False


def ingest(job_id, points: list[tuple[str, int, float]], *, at: datetime | None = None) -> int:
    """Store checked points for a job; returns how many were written (inserted or updated)."""
    if not points:
        return 0
    at = at or timezone.now()
    if connection.vendor != "postgresql":
        MetricPoint.objects.bulk_create(
            [MetricPoint(job_id=job_id, key=k, step=s, value=v, time=at) for k, s, v in points],
            update_conflicts=True,
            unique_fields=["job_id", "key", "step"],
            update_fields=["value", "time"],
            batch_size=5000,
        )
        return len(points)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS eco_metric_in (key varchar(100), step bigint, value double precision) "
            "ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE eco_metric_in")  # inside an outer transaction the commit has not emptied it
        with cursor.copy("COPY eco_metric_in (key, step, value) FROM STDIN") as copy:
            for point in points:
                copy.write_row(point)
        cursor.execute(
            "INSERT INTO jobs_app_metricpoint (job_id, key, step, value, time) "
            "SELECT %s, key, step, value, %s FROM eco_metric_in "
            "ON CONFLICT (job_id, key, step) DO UPDATE SET value = EXCLUDED.value, time = EXCLUDED.time",
            [job_id, at],
        )
        return cursor.rowcount


def keys(job_id) -> list[dict]:
    """Every metric key of a job with its point count, step range and last value."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key, count(*), min(step), max(step) FROM jobs_app_metricpoint WHERE job_id = %s "
            "GROUP BY key ORDER BY key",
            [job_id],
        )
        rows = cursor.fetchall()
    last = (
        {
            key: value
            for key, value in MetricPoint.objects.filter(job_id=job_id)
            .order_by("key", "-step")
            .distinct("key")
            .values_list("key", "value")
        }
        if connection.vendor == "postgresql"
        else _last_values(job_id)
    )
    return [
        {"key": key, "count": count, "first_step": first, "last_step": last_step, "last_value": last.get(key)}
        for key, count, first, last_step in rows
    ]


def _last_values(job_id) -> dict[str, float]:
    values = {}
    for key, value in MetricPoint.objects.filter(job_id=job_id).order_by("key", "step").values_list("key", "value"):
        values[key] = value
    return values


def series(job_id, key: str, *, max_points: int | None = DEFAULT_MAX_POINTS) -> dict:
    """The series [[step, value], ...] in step order. When it holds more than `max_points` points it is cut
    into max_points // 2 equal step ranges and each keeps its lowest and its highest point (in step order),
    so a spike is never averaged away. `max_points=None` returns every point."""
    points = MetricPoint.objects.filter(job_id=job_id, key=key)
    total = points.count()
    if max_points is None or total <= max_points:
        return {"key": key, "count": total, "downsampled": False, "points": _raw(job_id, key)}
    buckets = max(1, max_points // 2)
    if connection.vendor == "postgresql":
        rows = _minmax_sql(job_id, key, buckets)
    else:
        rows = _minmax_python(_raw(job_id, key), buckets)
    return {"key": key, "count": total, "downsampled": True, "points": rows}


def _raw(job_id, key: str) -> list[list]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT step, value FROM jobs_app_metricpoint WHERE job_id = %s AND key = %s ORDER BY step",
            [job_id, key],
        )
        return [[step, value] for step, value in cursor.fetchall()]


_MINMAX = """
WITH bounds AS (
    SELECT min(step) AS lo, max(step) AS hi FROM jobs_app_metricpoint WHERE job_id = %(job)s AND key = %(key)s
), bucketed AS (
    SELECT p.step, p.value,
           least(floor((p.step - b.lo)::numeric * %(n)s / (b.hi - b.lo + 1))::bigint, %(n)s - 1) AS bucket
    FROM jobs_app_metricpoint p, bounds b
    WHERE p.job_id = %(job)s AND p.key = %(key)s
), picked AS (
    SELECT bucket,
           (array_agg(step ORDER BY value, step))[1] AS low_step, min(value) AS low,
           (array_agg(step ORDER BY value DESC, step))[1] AS high_step, max(value) AS high
    FROM bucketed GROUP BY bucket
)
SELECT low_step, low, high_step, high FROM picked ORDER BY bucket
"""


def _minmax_sql(job_id, key: str, buckets: int) -> list[list]:
    with connection.cursor() as cursor:
        cursor.execute(_MINMAX, {"job": job_id, "key": key, "n": buckets})
        rows = cursor.fetchall()
    return _flatten(rows)


def _flatten(rows) -> list[list]:
    out = []
    for low_step, low, high_step, high in rows:
        pair = sorted({(low_step, low), (high_step, high)})
        out.extend([step, value] for step, value in pair)
    return out


def _minmax_python(points: list[list], buckets: int) -> list[list]:
    lo, hi = points[0][0], points[-1][0]
    width = hi - lo + 1
    picked: dict[int, list] = {}
    for step, value in points:
        bucket = min((step - lo) * buckets // width, buckets - 1)
        low, high = picked.setdefault(bucket, [(step, value), (step, value)])
        if value < low[1]:
            picked[bucket][0] = (step, value)
        if value > high[1]:
            picked[bucket][1] = (step, value)
    return _flatten([(lo_p[0], lo_p[1], hi_p[0], hi_p[1]) for _, (lo_p, hi_p) in sorted(picked.items())])
