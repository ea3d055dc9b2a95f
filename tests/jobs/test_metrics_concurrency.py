"""Two sessions ingesting into the same rollup block at once: the rollup ends up with both points."""

import threading
import time

import pytest
from django.db import connection, transaction

from jobs_app import metrics
from jobs_app.models import Job, MetricRollup

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="rollups are kept on PostgreSQL only")
def test_concurrent_batches_into_one_block_keep_both_extremes(world):
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
            metrics.ingest(job.pk, [("loss", 2, 100.0)])
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
    rollup = MetricRollup.objects.get(job=job, key="loss", block=0)
    assert (rollup.count, rollup.min_value, rollup.max_value) == (2, -100.0, 100.0)
