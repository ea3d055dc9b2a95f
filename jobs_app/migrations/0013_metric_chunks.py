"""Metric points move from one row per point (MetricPoint, with MetricRollup per 64-step block) to one row per
series and 64-step block (MetricChunk, its points packed as big-endian columns): the points are copied, then
the old tables dropped."""

import struct
from datetime import UTC, datetime, timedelta
from itertools import groupby

import django.db.models.deletion
from django.db import migrations, models

CHUNK_STEPS = 64
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Per (job, key, block): the count, ends and extremes (earliest step on ties), and the points packed in step
# order with PostgreSQL's own send functions (big-endian), the layout jobs_app.metrics reads.
COPY = """
INSERT INTO jobs_app_metricchunk (job_id, key, block, count, first_step, last_step, last_value, min_step, min_value,
    max_step, max_value, step_bytes, value_bytes, time_bytes)
SELECT p.job_id, p.key, p.step / 64, count(*), min(p.step), max(p.step), (array_agg(p.value ORDER BY p.step DESC))[1],
    (array_agg(p.step ORDER BY p.value, p.step))[1], (array_agg(p.value ORDER BY p.value, p.step))[1],
    (array_agg(p.step ORDER BY p.value DESC, p.step))[1], (array_agg(p.value ORDER BY p.value DESC, p.step))[1],
    string_agg(int8send(p.step), ''::bytea ORDER BY p.step),
    string_agg(float8send(p.value), ''::bytea ORDER BY p.step),
    string_agg(int8send((extract(epoch FROM p.time) * 1000000)::bigint), ''::bytea ORDER BY p.step)
FROM jobs_app_metricpoint p JOIN jobs_app_job j ON j.id = p.job_id
GROUP BY p.job_id, p.key, p.step / 64
"""


def copy_points(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(COPY)
        return
    point, chunk = apps.get_model("jobs_app", "MetricPoint"), apps.get_model("jobs_app", "MetricChunk")
    job = apps.get_model("jobs_app", "Job")
    rows = point.objects.filter(job_id__in=job.objects.values("pk"))  # no point outlives its job (no FK held it)
    rows = rows.order_by("job_id", "key", "step").values_list("job_id", "key", "step", "value", "time")
    chunks = []
    for (job_id, key, block), group in groupby(rows.iterator(), lambda r: (r[0], r[1], r[2] // CHUNK_STEPS)):
        if len(chunks) >= 5000:
            chunk.objects.bulk_create(chunks, batch_size=1000)
            chunks = []
        group = list(group)
        low = min(group, key=lambda r: (r[3], r[2]))
        high = min(group, key=lambda r: (-r[3], r[2]))
        micros = [round(r[4].timestamp() * 1_000_000) for r in group]
        chunks.append(
            chunk(
                job_id=job_id,
                key=key,
                block=block,
                count=len(group),
                first_step=group[0][2],
                last_step=group[-1][2],
                last_value=group[-1][3],
                min_step=low[2],
                min_value=low[3],
                max_step=high[2],
                max_value=high[3],
                step_bytes=struct.pack(f">{len(group)}q", *[r[2] for r in group]),
                value_bytes=struct.pack(f">{len(group)}d", *[r[3] for r in group]),
                time_bytes=struct.pack(f">{len(group)}q", *micros),
            )
        )
    chunk.objects.bulk_create(chunks, batch_size=1000)


def copy_chunks_back(apps, schema_editor):
    """The reverse: each chunk's points as MetricPoint rows, and its count and extremes as a MetricRollup."""
    point, rollup = apps.get_model("jobs_app", "MetricPoint"), apps.get_model("jobs_app", "MetricRollup")
    chunk = apps.get_model("jobs_app", "MetricChunk")
    points, rollups = [], []
    for c in chunk.objects.order_by("job_id", "key", "block").iterator():
        steps = struct.unpack(f">{c.count}q", bytes(c.step_bytes))
        values = struct.unpack(f">{c.count}d", bytes(c.value_bytes))
        micros = struct.unpack(f">{c.count}q", bytes(c.time_bytes))
        points += [
            point(job_id=c.job_id, key=c.key, step=s, value=v, time=EPOCH + timedelta(microseconds=t))
            for s, v, t in zip(steps, values, micros, strict=True)
        ]
        if len(points) >= 50_000:  # in bounded slices: a whole table of points would not fit in memory
            point.objects.bulk_create(points, batch_size=5000)
            rollup.objects.bulk_create(rollups, batch_size=5000)
            points, rollups = [], []
        rollups.append(
            rollup(
                job_id=c.job_id,
                key=c.key,
                block=c.block,
                count=c.count,
                min_step=c.min_step,
                min_value=c.min_value,
                max_step=c.max_step,
                max_value=c.max_value,
            )
        )
    point.objects.bulk_create(points, batch_size=5000)
    rollup.objects.bulk_create(rollups, batch_size=5000)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs_app", "0012_metric_points_without_fk_constraint"),
    ]

    operations = [
        migrations.CreateModel(
            name="MetricChunk",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "job_id", "key", "block", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("key", models.CharField(max_length=100)),
                ("block", models.BigIntegerField(help_text="step // CHUNK_STEPS")),
                ("count", models.IntegerField()),
                ("first_step", models.BigIntegerField()),
                ("last_step", models.BigIntegerField()),
                ("last_value", models.FloatField()),
                ("min_step", models.BigIntegerField(help_text="the step of the lowest value, the earliest on ties")),
                ("min_value", models.FloatField()),
                ("max_step", models.BigIntegerField(help_text="the step of the highest value, the earliest on ties")),
                ("max_value", models.FloatField()),
                ("step_bytes", models.BinaryField()),
                ("value_bytes", models.BinaryField()),
                ("time_bytes", models.BinaryField()),
                (
                    "job",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="metric_chunks",
                        to="jobs_app.job",
                    ),
                ),
            ],
        ),
        migrations.RunPython(copy_points, copy_chunks_back),
        migrations.DeleteModel(
            name="MetricPoint",
        ),
        migrations.DeleteModel(
            name="MetricRollup",
        ),
    ]
