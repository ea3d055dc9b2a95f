"""Every write of jobs_app: submitting and cancelling jobs, and each step of a job's life on a worker.

A job's row is the truth. Every worker-side write locks the row (`select_for_update`) and first checks that
the Celery delivery doing it (`task_id`) is still the job's current one, so a redelivered or re-queued
message can never run a job twice or register a second output.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts_app.models import Team, User
from accounts_app.services import record_audit
from config.errors import Conflict
from jobs_app import specs
from jobs_app.models import FINISHED, Job, JobLog, JobStatus

log = logging.getLogger(__name__)
RUN_TASK = "jobs.run"
# a job whose worker keeps dying (out of memory, say) is failed after this many re-queues beyond max_retries
WORKER_LOSSES_TOLERATED = 3


class Lost(Exception):
    """This delivery no longer owns the job (it was re-queued, cancelled or finished elsewhere)."""


@transaction.atomic
def submit_job(
    *,
    actor: User,
    team: Team,
    kind: str,
    spec,
    priority: int = 0,
    resources: dict | None = None,
    max_retries: int = 0,
    timeout_s: int | None = None,
) -> Job:
    """Check the submission, record the job as queued and enqueue it once the transaction commits."""
    resources = specs.check_common(
        kind=kind, priority=priority, resources=resources or {}, max_retries=max_retries, timeout_s=timeout_s
    )
    spec = specs.check_spec(user=actor, team=team, kind=kind, spec=spec)
    job = Job.objects.create(
        team=team,
        kind=kind,
        spec=spec,
        priority=priority,
        resources=resources,
        pool=resources["pool"],
        max_retries=max_retries,
        timeout_s=timeout_s,
        created_by=actor,
    )
    record_audit(actor=actor, action="job.submit", team=team, target=job, data={"kind": kind})
    _enqueue(job)
    return job


def _enqueue(job: Job, *, countdown: float | None = None) -> None:
    """Give the job a fresh delivery id and send it to its pool's queue after commit."""
    job.task_id = uuid.uuid4().hex
    Job.objects.filter(pk=job.pk).update(task_id=job.task_id)
    job_id, task_id, queue, priority = str(job.pk), job.task_id, job.pool, broker_priority(job.priority)

    def send():
        current_app.send_task(
            RUN_TASK, args=[job_id], task_id=task_id, queue=queue, countdown=countdown, priority=priority
        )

    transaction.on_commit(send)


def broker_priority(priority: int) -> int:
    """A job's priority (-10 .. 10, higher runs first) as the broker's (Redis: 0 .. 9, 0 runs first). Jobs
    waiting in the same pool's queue start in priority order; a running job is never pre-empted."""
    return round((specs.MAX_PRIORITY - priority) * 9 / (2 * specs.MAX_PRIORITY))


@transaction.atomic
def cancel_job(*, actor: User, job: Job) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop and stops within seconds."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status in FINISHED:
        raise Conflict(f"The job has already {job.status}; there is nothing to cancel.")
    now = timezone.now()
    if job.status == JobStatus.QUEUED:
        job.status, job.finished_at, job.cancel_requested_at = JobStatus.CANCELLED, now, now
        job.save(update_fields=["status", "finished_at", "cancel_requested_at"])
        _log(job, "cancelled before it started")
    elif job.cancel_requested_at is None:
        job.cancel_requested_at = now
        job.save(update_fields=["cancel_requested_at"])
        _log(job, f"cancel requested by {actor.username}")
    record_audit(actor=actor, action="job.cancel", team=job.team, target=job)
    return job


def _log(job: Job, line: str) -> None:
    JobLog.objects.create(job=job, line=line)


def append_log(*, job_id, lines: list[tuple]) -> None:
    """Store buffered log lines [(time, text), ...]."""
    JobLog.objects.bulk_create([JobLog(job_id=job_id, time=t, line=text) for t, text in lines])


# --- a delivery's life on a worker --------------------------------------------------------------------


@transaction.atomic
def begin_attempt(*, job_id, task_id: str, worker: str) -> Job | None:
    """Mark the job running for this delivery, or None when the delivery is stale or the job is over."""
    job = Job.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.task_id != task_id or job.status in FINISHED:
        return None
    now = timezone.now()
    if job.cancel_requested_at is not None:
        job.status, job.finished_at = JobStatus.CANCELLED, now
        job.save(update_fields=["status", "finished_at"])
        return None
    job.status = JobStatus.RUNNING
    job.attempts += 1
    job.worker = worker[:200]
    job.started_at = job.started_at or now
    job.heartbeat_at = now
    job.error = ""
    job.save(update_fields=["status", "attempts", "worker", "started_at", "heartbeat_at", "error"])
    _log(job, f"attempt {job.attempts} started on {worker}")
    return job


def heartbeat(*, job_id, task_id: str, progress: float) -> str | None:
    """Record that the delivery is alive and how far it got. Returns "cancel" when a cancel was requested,
    "lost" when this delivery no longer owns the job, None otherwise. One UPDATE, no lock held."""
    progress = min(1.0, max(0.0, float(progress)))
    owned = Job.objects.filter(pk=job_id, task_id=task_id, status=JobStatus.RUNNING)
    if not owned.update(heartbeat_at=timezone.now(), progress=progress):
        return "lost"
    if owned.filter(cancel_requested_at__isnull=False).exists():
        return "cancel"
    return None


def _owned(job_id, task_id: str) -> Job:
    job = Job.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.task_id != task_id or job.status != JobStatus.RUNNING:
        raise Lost(f"job {job_id} is no longer owned by delivery {task_id}")
    return job


@transaction.atomic
def record_checkpoint(*, job_id, task_id: str, name: str) -> str:
    """Point the job at its newest checkpoint; returns the name of the one it replaces ('' if none)."""
    job = _owned(job_id, task_id)
    previous, job.checkpoint = job.checkpoint, name
    job.save(update_fields=["checkpoint"])
    return previous


@transaction.atomic
def complete(*, job_id, task_id: str, register: Callable[[Job], dict]) -> Job:
    """Register the job's outputs and mark it succeeded, in one transaction: both happen or neither."""
    job = _owned(job_id, task_id)
    outputs = register(job)
    job.status, job.progress, job.finished_at, job.outputs = JobStatus.SUCCEEDED, 1.0, timezone.now(), outputs
    job.save(update_fields=["status", "progress", "finished_at", "outputs"])
    _log(job, f"succeeded: {', '.join(f'{k}={v}' for k, v in outputs.items())}")
    _drop_checkpoint_after_commit(job)
    return job


@transaction.atomic
def fail(*, job_id, task_id: str, error: str) -> Job:
    job = _owned(job_id, task_id)
    job.status, job.finished_at, job.error = JobStatus.FAILED, timezone.now(), _one_line(error)
    job.save(update_fields=["status", "finished_at", "error"])
    _log(job, f"failed: {job.error}")
    _drop_checkpoint_after_commit(job)
    return job


@transaction.atomic
def mark_cancelled(*, job_id, task_id: str) -> Job:
    job = _owned(job_id, task_id)
    job.status, job.finished_at = JobStatus.CANCELLED, timezone.now()
    job.save(update_fields=["status", "finished_at"])
    _log(job, "cancelled")
    _drop_checkpoint_after_commit(job)
    return job


@transaction.atomic
def retry_or_fail(*, job_id, task_id: str, error: str) -> Job:
    """A transient failure: queue the job again after a back-off while retries remain, else fail it."""
    job = _owned(job_id, task_id)
    error = _one_line(error)
    if job.attempts > job.max_retries:
        job.status, job.finished_at = JobStatus.FAILED, timezone.now()
        job.error = f"{error} (gave up after {job.attempts} attempt{'s' if job.attempts != 1 else ''})"
        job.save(update_fields=["status", "finished_at", "error"])
        _log(job, f"failed: {job.error}")
        _drop_checkpoint_after_commit(job)
        return job
    delay = settings.ECO_RETRY_BACKOFF_S * job.attempts
    job.status, job.error = JobStatus.QUEUED, error
    job.save(update_fields=["status", "error"])
    _log(job, f"transient error: {error}; retry {job.attempts} of {job.max_retries} in {delay:g} s")
    _enqueue(job, countdown=delay)
    return job


def reap_stale_jobs(*, now=None) -> list[str]:
    """Re-queue running jobs whose heartbeat stopped (their worker died); the new delivery resumes from
    the last checkpoint. Returns the ids it touched. Safe to run from several places at once."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.ECO_HEARTBEAT_TIMEOUT_S)
    touched = []
    with transaction.atomic():
        stale = (
            Job.objects.select_for_update(skip_locked=True)
            .filter(status=JobStatus.RUNNING)
            .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
        )
        for job in stale:
            silent = (now - (job.heartbeat_at or job.started_at or job.created_at)).total_seconds()
            if job.attempts > job.max_retries + WORKER_LOSSES_TOLERATED:
                job.status, job.finished_at = JobStatus.FAILED, now
                job.error = f"the worker running this job stopped responding {job.attempts} times; giving up"
                job.save(update_fields=["status", "finished_at", "error"])
                _log(job, f"failed: {job.error}")
                _drop_checkpoint_after_commit(job)
            else:
                job.status = JobStatus.QUEUED
                job.save(update_fields=["status"])
                _log(
                    job,
                    f"worker {job.worker or '?'} stopped responding ({silent:.0f} s without a heartbeat); re-queued",
                )
                _enqueue(job)
            touched.append(str(job.pk))
    if touched:
        log.warning("reaper re-queued or failed %d job(s): %s", len(touched), ", ".join(touched))
    return touched


def _drop_checkpoint_after_commit(job: Job) -> None:
    """A finished job needs no checkpoint; its files go once the finish has committed."""
    if not job.checkpoint:
        return
    prefix = job.checkpoint.rsplit("/", 1)[0]

    def drop():
        try:
            _, files = default_storage.listdir(prefix)
            for name in files:
                default_storage.delete(f"{prefix}/{name}")
        except (FileNotFoundError, NotImplementedError, OSError):
            log.warning("could not remove checkpoints under %s", prefix, exc_info=True)

    transaction.on_commit(drop, robust=True)


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line[:1000] or "unknown error"
