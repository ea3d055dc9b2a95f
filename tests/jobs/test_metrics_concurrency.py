"""Two sessions ingesting into the same metric chunk at once: the chunk ends up with both points."""

import threading
import time

import pytest
from django.db import connection, transaction

from jobs_app import metrics
from jobs_app.models import Job, MetricChunk

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has one writer at a time")
@pytest.mark.parametrize("second_step", [2, 0], ids=["appended", "merged"])
def test_concurrent_batches_into_one_chunk_keep_both_points(world, second_step):
    """The second batch waits for the first one's chunk; it then appends to it (a later step) or merges into it
    (an earlier step), from the committed chunk either way."""
    job = Job.objects.create(team=world.alpha, kind="train", spec={})
    ready, go = threading.Event(), threading.Event()
    errors = []

    def first():
        try:
            with transaction.atomic():  # holds its batch uncommitted while the second one runs
                metrics.ingest(job.pk, [("loss", 1, -100.0)])
                ready.set()
                go.wait(5)
                time.sleep(0.5)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    def second():
        ready.wait(5)
        go.set()
        try:
            metrics.ingest(job.pk, [("loss", second_step, 100.0)])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    chunk = MetricChunk.objects.get(job=job, key="loss", block=0)
    assert (chunk.count, chunk.min_value, chunk.max_value) == (2, -100.0, 100.0)
    assert [p[1:3] for p in metrics.stored_points(job.pk)] == sorted([(1, -100.0), (second_step, 100.0)])
