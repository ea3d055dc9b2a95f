"""The reaper's round: jobs whose worker died, that ignore a cancel or outlive their timeout, and
messages the broker never took."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from datasets_app.services import purge_deleted_datasets
from jobs_app import kinds
from jobs_app.models import Job, JobStatus, ResourcePool
from jobs_app.services import admission
from jobs_app.services.dispatch import broker_priority, enqueue, send
from jobs_app.services.lifecycle import finish, gives_up, log_line, requeue
from models_app.services import purge_deleted_models

log = logging.getLogger(__name__)


def reap_stale_jobs(*, now=None) -> list[str]:
    """The reaper's round. Safe to run from several places at once (rows are locked, skip-locked).
    - a running job whose heartbeat stopped (its worker died) is re-queued; the new delivery resumes from the
      last checkpoint (or failed, when its workers keep dying);
    - a running job that ignores its cancel request or outlives timeout_s by the heartbeat timeout (stuck
      outside the train loop) is cancelled or failed; its delivery no longer owns it;
    - a running job asked to give its place back (preemption) that has not within its pool's grace period is
      re-queued (its delivery no longer owns it); it resumes from its last checkpoint;
    - a queued job the broker never took (it was away) is sent again;
    - models and data sets deleted more than ECO_RETENTION_DAYS ago are purged (`purge_deleted`).
    Returns the ids of the jobs it touched."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.ECO_HEARTBEAT_TIMEOUT_S)
    touched, resend = [], []
    with transaction.atomic():
        running = (
            Job.objects.select_for_update(skip_locked=True)
            .filter(status=JobStatus.RUNNING)
            .exclude(kind__in=kinds.outside_workers())  # runs outside the workers: no heartbeat, ended by their creator
        )
        for job in running.filter(Q(heartbeat_at__lt=now - grace) | Q(heartbeat_at__isnull=True)):
            touched.append(str(job.pk))
            if job.cancel_requested_at is not None:
                finish(
                    job, JobStatus.CANCELLED, "cancelled (its worker had stopped responding)", now=now, new_owner=True
                )
                continue
            if gives_up(job, now):
                continue
            silent = (now - (job.heartbeat_at or job.started_at or job.created_at)).total_seconds()
            admission.account_attempt(job, now=job.heartbeat_at or now)  # it ran until its last heartbeat
            job.status = JobStatus.QUEUED
            job.save(update_fields=["status"])
            log_line(
                job, f"worker {job.worker or '?'} stopped responding ({silent:.0f} s without a heartbeat); re-queued"
            )
            enqueue(job)
        for job in running.filter(cancel_requested_at__lt=now - grace).exclude(pk__in=touched):
            touched.append(str(job.pk))
            finish(job, JobStatus.CANCELLED, "cancelled (the run did not stop by itself)", now=now, new_owner=True)
        for job in running.filter(timeout_s__isnull=False, attempt_started_at__isnull=False).exclude(pk__in=touched):
            if now - job.attempt_started_at > timedelta(seconds=job.timeout_s) + grace:
                touched.append(str(job.pk))
                error = f"timed out: the job ran longer than its timeout_s ({job.timeout_s} s) and did not stop"
                finish(job, JobStatus.FAILED, error, now=now, new_owner=True)
        for job in running.filter(preempt_requested_at__isnull=False).exclude(pk__in=touched):
            grace = ResourcePool.objects.filter(name=job.pool).values_list("preemption_grace_s", flat=True).first()
            if grace is not None and now - job.preempt_requested_at > timedelta(seconds=grace):
                touched.append(str(job.pk))
                requeue(
                    job,
                    f"preempted: it did not stop within the grace period ({grace} s); re-queued, to resume from "
                    "its last checkpoint",
                    now=now,
                )
        unsent = (
            Job.objects.select_for_update(skip_locked=True)
            .filter(status=JobStatus.QUEUED, sent_at__isnull=True, enqueued_at__lt=now - timedelta(seconds=30))
            .exclude(pk__in=touched)
        )
        for job in unsent:
            touched.append(str(job.pk))
            resend.append((job.pk, job.task_id, job.pool, broker_priority(job.priority)))
    for delivery in resend:
        send(*delivery)
    try:  # a new month, a quota raised in the admin, an admission lost with its web process
        admission.admit_all(now=now)
    except Exception:
        log.warning("the admission round failed; the next one retries", exc_info=True)
    if touched:
        log.warning("reaper touched %d job(s): %s", len(touched), ", ".join(touched))
    purge_deleted(now=now)
    return touched


def purge_deleted(*, now=None) -> list[str]:
    """Purge the soft-deleted models, then data sets (a model's versions may hold a data set's), whose
    retention period is over (datasets_app.retention); never fails the round. Returns the ids purged."""
    try:
        return purge_deleted_models(now=now) + purge_deleted_datasets(now=now)
    except Exception:  # the database or storage is away: the next round tries again
        log.exception("purging deleted models and data sets failed; the next round tries again")
        return []
