"""Handing a job to the broker: a fresh delivery id, then the message to its pool's queue once the
transaction commits. Shared by submission, retries and the reaper."""

from __future__ import annotations

import logging
import uuid

from celery import current_app
from django.db import transaction
from django.utils import timezone

from jobs_app import specs
from jobs_app.models import Job

log = logging.getLogger(__name__)
RUN_TASK = "jobs.run"


def enqueue(job: Job, *, countdown: float | None = None) -> None:
    """Give the job a fresh delivery id and send it to its pool's queue after commit. If the broker is away
    the job stays queued with `sent_at` empty, and the reaper sends it again later."""
    job.task_id = uuid.uuid4().hex
    job.enqueued_at, job.sent_at = timezone.now(), None
    Job.objects.filter(pk=job.pk).update(task_id=job.task_id, enqueued_at=job.enqueued_at, sent_at=None)
    job_id, task_id, queue, priority = job.pk, job.task_id, job.pool, broker_priority(job.priority)
    transaction.on_commit(lambda: send(job_id, task_id, queue, priority, countdown), robust=True)


def send(job_id, task_id: str, queue: str, priority: int, countdown: float | None = None) -> bool:
    try:
        current_app.send_task(
            RUN_TASK, args=[str(job_id)], task_id=task_id, queue=queue, countdown=countdown, priority=priority
        )
    except Exception:  # the broker is away: the reaper sends it again
        log.warning("could not send job %s to the %s queue; the reaper will retry", job_id, queue, exc_info=True)
        return False
    try:
        Job.objects.filter(pk=job_id, task_id=task_id).update(sent_at=timezone.now())
    except Exception:  # sent all the same; at worst the reaper sends a duplicate, which is turned away
        log.warning("could not record that job %s was sent", job_id, exc_info=True)
    return True


def broker_priority(priority: int) -> int:
    """A job's priority (-10 .. 10, higher runs first) as the broker's (Redis: 0 .. 9, 0 runs first). Jobs
    waiting in the same pool's queue start in priority order; a running job is never pre-empted."""
    return round((specs.MAX_PRIORITY - priority) * 9 / (2 * specs.MAX_PRIORITY))
