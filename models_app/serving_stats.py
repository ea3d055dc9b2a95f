"""Serving statistics of one model: its predict requests and the feedback on its predictions, per time bucket.

`serving_stats` reads a model the caller may already see (the view fetches it through a selector). On PostgreSQL
the buckets are computed in SQL, one grouped query per table (requests: counts and `percentile_cont` latencies;
predictions: feedback and correct counts), plus one query for the versions that served; on SQLite the rows of
the window are read and bucketed in Python (a development fallback). Either way the query count is fixed.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
from django.db import connection

from models_app.models import ModelVersion, PredictionLog, RegisteredModel, ServingRequest

MIN_BUCKET_S = 60
DEFAULT_BUCKETS = 200
MAX_BUCKETS = 1000
MAX_SPAN = timedelta(days=400)
DEFAULT_SPAN = timedelta(hours=24)


def default_bucket_s(span: timedelta) -> int:
    """The smallest whole number of minutes (at least one) that cuts `span` into at most DEFAULT_BUCKETS."""
    seconds = span.total_seconds() / DEFAULT_BUCKETS
    return max(MIN_BUCKET_S, math.ceil(seconds / 60) * 60)


def _empty_bucket(start: datetime) -> dict:
    return {
        "start": start,
        "requests": 0,
        "ok": 0,
        "refused": 0,
        "failed": 0,
        "latency_p50_ms": None,
        "latency_p95_ms": None,
        "feedback": 0,
        "correct": 0,
        "accuracy": None,
    }


def _index(created_at: datetime, since: datetime, bucket_s: int) -> int:
    return int((created_at - since).total_seconds() // bucket_s)


def _postgres_rows(model: RegisteredModel, version: ModelVersion | None, since, until, bucket_s: int):
    which = "AND model_version_id = %s" if version is not None else ""
    base = [since, bucket_s, model.pk, since, until] + ([version.pk] if version is not None else [])
    bucket = "floor(extract(epoch FROM (created_at - %s)) / %s)::int"
    ok = "status_code BETWEEN 200 AND 299"
    requests_sql = f"""
        SELECT {bucket} AS i, count(*),
            count(*) FILTER (WHERE {ok}),
            count(*) FILTER (WHERE status_code BETWEEN 400 AND 499),
            count(*) FILTER (WHERE status_code >= 500),
            percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE {ok}),
            percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE {ok})
        FROM {ServingRequest._meta.db_table}
        WHERE model_id = %s AND created_at >= %s AND created_at < %s {which}
        GROUP BY i"""
    feedback_sql = f"""
        SELECT {bucket} AS i, count(*), count(*) FILTER (WHERE feedback = output -> 'label')
        FROM {PredictionLog._meta.db_table}
        WHERE model_id = %s AND created_at >= %s AND created_at < %s {which} AND feedback IS NOT NULL
        GROUP BY i"""
    with connection.cursor() as cursor:
        cursor.execute(requests_sql, base)
        requests = {row[0]: row[1:] for row in cursor.fetchall()}
        cursor.execute(feedback_sql, base)
        feedback = {row[0]: row[1:] for row in cursor.fetchall()}
    return requests, feedback


def _python_rows(model: RegisteredModel, version: ModelVersion | None, since, until, bucket_s: int):
    """The same figures as `_postgres_rows`, computed here (SQLite has no percentile_cont); numpy's default
    (linear) percentile is percentile_cont's interpolation."""
    window = {"model": model, "created_at__gte": since, "created_at__lt": until}
    if version is not None:
        window["model_version"] = version
    grouped: dict[int, list] = {}
    for created_at, status_code in ServingRequest.objects.filter(**window).values_list("created_at", "status_code"):
        grouped.setdefault(_index(created_at, since, bucket_s), []).append(status_code)
    latencies: dict[int, list] = {}
    served = ServingRequest.objects.filter(**window, status_code__gte=200, status_code__lt=300)
    for created_at, latency in served.values_list("created_at", "latency_ms"):
        latencies.setdefault(_index(created_at, since, bucket_s), []).append(latency)
    requests = {}
    for i, codes in grouped.items():
        values = latencies.get(i)
        requests[i] = (
            len(codes),
            sum(200 <= c < 300 for c in codes),
            sum(400 <= c < 500 for c in codes),
            sum(c >= 500 for c in codes),
            float(np.percentile(values, 50)) if values else None,
            float(np.percentile(values, 95)) if values else None,
        )
    feedback: dict[int, list[int]] = {}
    labelled = PredictionLog.objects.filter(**window, feedback__isnull=False)
    for created_at, label, output in labelled.values_list("created_at", "feedback", "output"):
        counts = feedback.setdefault(_index(created_at, since, bucket_s), [0, 0])
        counts[0] += 1
        counts[1] += isinstance(output, dict) and output.get("label") == label
    return requests, {i: tuple(c) for i, c in feedback.items()}


def serving_stats(
    *, model: RegisteredModel, version: ModelVersion | None, since: datetime, until: datetime, bucket_s: int
) -> dict:
    """{bucket_s, since, until, versions: [{id, version}], buckets: [...]} for requests made in [since, until).

    Buckets start at `since`, every `bucket_s` seconds, all of them (empty ones too). Each: `start`,
    `requests` (all), `ok` (2xx), `refused` (4xx), `failed` (5xx), `latency_p50_ms` / `latency_p95_ms` (the
    whole request's time in ms over the served requests, null when none), `feedback` (predictions made in the
    bucket that have feedback), `correct` (of those, the ones whose predicted label is the feedback label) and
    `accuracy` (correct / feedback, null without feedback). A regression model's predictions are numbers, never
    exactly right: `correct` and `accuracy` are null for it. `versions`: the versions that answered a request
    in the window (only `version` when it is given), by number. Callers check the bounds (see the view)."""
    count = max(1, math.ceil((until - since).total_seconds() / bucket_s))
    if connection.vendor == "postgresql":
        requests, feedback = _postgres_rows(model, version, since, until, bucket_s)
    else:
        requests, feedback = _python_rows(model, version, since, until, bucket_s)
    regression = model.task == "regression"
    buckets = []
    for i in range(count):
        bucket = _empty_bucket(since + timedelta(seconds=i * bucket_s))
        if i in requests:
            total, ok, refused, failed, p50, p95 = requests[i]
            bucket.update(requests=total, ok=ok, refused=refused, failed=failed, latency_p50_ms=p50, latency_p95_ms=p95)
        given, correct = feedback.get(i, (0, 0))
        bucket.update(feedback=given, correct=None if regression else correct)
        if given and not regression:
            bucket["accuracy"] = correct / given
        buckets.append(bucket)
    if version is not None:
        versions = [version]
    else:
        served = ServingRequest.objects.filter(
            model=model, created_at__gte=since, created_at__lt=until, model_version__isnull=False
        ).values("model_version")
        versions = ModelVersion.objects.filter(pk__in=served).order_by("version").only("id", "version")
    return {
        "bucket_s": bucket_s,
        "since": since,
        "until": until,
        "versions": [{"id": str(v.pk), "version": v.version} for v in versions],
        "buckets": buckets,
    }
