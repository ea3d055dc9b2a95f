"""Migration 0013 moves stored metric points into chunks, and back, losing nothing."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from jobs_app import metrics
from jobs_app.models import Job, MetricChunk

BEFORE = [("jobs_app", "0012_metric_points_without_fk_constraint")]
AFTER = [("jobs_app", "0013_metric_chunks")]

pytestmark = pytest.mark.django_db(transaction=True)


def test_points_move_into_chunks_and_back(world):
    job = Job.objects.create(team=world.alpha, kind="train", spec={})
    at = datetime(2026, 3, 4, 5, 6, 7, 891_011, tzinfo=UTC)
    # two keys, a gap, a block boundary, ties (the earliest step is the extreme named), a tiny and a huge value
    points = [
        ("loss", s, float(s % 5), at + timedelta(seconds=(s % 1000) / 8)) for s in (*range(0, 70), 200, 2**63 - 1)
    ]
    points += [("acc", 3, -0.0, at), ("acc", 4, 1e-300, at), ("acc", 9, 1e300, at)]
    points += [("zero", 1, 0.0, at), ("zero", 2, -0.0, at)]  # a tie: the earlier point, +0.0, is the extreme named

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("jobs_app", "MetricPoint")
    old.objects.bulk_create([old(job_id=job.pk, key=k, step=s, value=v, time=t) for k, s, v, t in points])

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    assert metrics.stored_points(job.pk) == sorted(points)
    recount = {
        (c.key, c.block): c for c in metrics.chunk_rows(job.pk, [(k, s, v, t.timestamp()) for k, s, v, t in points])
    }
    fields = ("count", "first_step", "last_step", "last_value", "min_step", "min_value", "max_step", "max_value")
    moved = {(c.key, c.block): [getattr(c, f) for f in fields] for c in MetricChunk.objects.filter(job=job)}
    assert moved == {pair: [getattr(c, f) for f in fields] for pair, c in recount.items()}
    assert metrics.series(job.pk, "loss", max_points=None)["count"] == 72
    zero = MetricChunk.objects.get(job=job, key="zero")
    assert (zero.min_step, math.copysign(1, zero.min_value), zero.max_step, math.copysign(1, zero.max_value)) == (
        1,
        1,
        1,
        1,
    )

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    state = executor.loader.project_state(BEFORE).apps
    back = state.get_model("jobs_app", "MetricPoint").objects.filter(job_id=job.pk)
    assert sorted(back.values_list("key", "step", "value", "time")) == sorted(points)
    rollups = state.get_model("jobs_app", "MetricRollup").objects.filter(job_id=job.pk, key="loss")
    assert sorted(rollups.values_list("block", "count", "min_step", "max_step")) == [
        (0, 64, 0, 4),
        (1, 6, 65, 64),
        (3, 1, 200, 200),
        ((2**63 - 1) // 64, 1, 2**63 - 1, 2**63 - 1),
    ]

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert metrics.stored_points(job.pk) == sorted(points)
