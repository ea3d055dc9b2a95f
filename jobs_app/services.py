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
    trigger_run=None,
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
        trigger_run=trigger_run,
        created_by=actor,
    )
    record_audit(actor=actor, action="job.submit", team=team, target=job, data={"kind": kind})
    _enqueue(job)
    return job


def _enqueue(job: Job, *, countdown: float | None = None) -> None:
    """Give the job a fresh delivery id and send it to its pool's queue after commit. If the broker is away
    the job stays queued with `sent_at` empty, and the reaper sends it again later."""
    job.task_id = uuid.uuid4().hex
    job.enqueued_at, job.sent_at = timezone.now(), None
    Job.objects.filter(pk=job.pk).update(task_id=job.task_id, enqueued_at=job.enqueued_at, sent_at=None)
    job_id, task_id, queue, priority = job.pk, job.task_id, job.pool, broker_priority(job.priority)
    transaction.on_commit(lambda: _send(job_id, task_id, queue, priority, countdown), robust=True)


def _send(job_id, task_id: str, queue: str, priority: int, countdown: float | None = None) -> bool:
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


@transaction.atomic
def cancel_job(*, actor: User, job: Job) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop and stops within seconds."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status in FINISHED:
        raise Conflict(f"The job has already {job.status}; there is nothing to cancel.")
    now = timezone.now()
    if job.status == JobStatus.QUEUED:
        job.cancel_requested_at = now
        _finish(job, JobStatus.CANCELLED, "cancelled before it started", now=now, also=("cancel_requested_at",))
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
    """Mark the job running for this delivery, or None when the delivery is stale, the job is over, or a
    live delivery is already running it (the broker handed the same message out twice)."""
    job = Job.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.task_id != task_id or job.status in FINISHED:
        return None
    now = timezone.now()
    if job.status == JobStatus.RUNNING:
        silent = (now - (job.heartbeat_at or job.attempt_started_at or now)).total_seconds()
        if silent < settings.ECO_HEARTBEAT_TIMEOUT_S:
            return None
        if _gives_up(job, now):  # the same message keeps killing its worker (out of memory, say)
            return None
    if job.cancel_requested_at is not None:
        _finish(job, JobStatus.CANCELLED, "cancelled before it started", now=now)
        return None
    job.status = JobStatus.RUNNING
    job.attempts += 1
    job.worker = worker[:200]
    job.started_at = job.started_at or now
    job.attempt_started_at = now
    job.heartbeat_at = now
    job.error = ""
    job.save(
        update_fields=["status", "attempts", "worker", "started_at", "attempt_started_at", "heartbeat_at", "error"]
    )
    _log(job, f"attempt {job.attempts} started on {worker}")
    return job


def _gives_up(job: Job, now) -> bool:
    """Fail a job whose workers keep dying under it; True when it did."""
    if job.attempts <= job.max_retries + WORKER_LOSSES_TOLERATED:
        return False
    _finish(
        job,
        JobStatus.FAILED,
        f"the worker running this job stopped responding {job.attempts} times; giving up",
        now=now,
    )
    return True


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
    _advance_trigger_run(job)
    return job


def _advance_trigger_run(job: Job) -> None:
    """A job that is a step of a retrain run hands over to the run's next step, in the same transaction."""
    if job.trigger_run_id:
        from jobs_app import triggers

        triggers.advance(job)


@transaction.atomic
def fail(*, job_id, task_id: str, error: str) -> Job:
    return _finish(_owned(job_id, task_id), JobStatus.FAILED, error)


@transaction.atomic
def mark_cancelled(*, job_id, task_id: str) -> Job:
    return _finish(_owned(job_id, task_id), JobStatus.CANCELLED, "cancelled")


@transaction.atomic
def retry_or_fail(*, job_id, task_id: str, error: str) -> Job:
    """A transient failure: queue the job again after a back-off while retries remain, else fail it."""
    job = _owned(job_id, task_id)
    error = _one_line(error)
    if job.attempts > job.max_retries:
        return _finish(
            job, JobStatus.FAILED, f"{error} (gave up after {job.attempts} attempt{'s' if job.attempts != 1 else ''})"
        )
    delay = settings.ECO_RETRY_BACKOFF_S * job.attempts
    job.status, job.error = JobStatus.QUEUED, error
    job.save(update_fields=["status", "error"])
    _log(job, f"transient error: {error}; retry {job.attempts} of {job.max_retries} in {delay:g} s")
    _enqueue(job, countdown=delay)
    return job


def reap_stale_jobs(*, now=None) -> list[str]:
    """The reaper's round. Safe to run from several places at once (rows are locked, skip-locked).
    - a running job whose heartbeat stopped (its worker died) is re-queued; the new delivery resumes from the
      last checkpoint (or failed, when its workers keep dying);
    - a running job that ignores its cancel request or outlives timeout_s by the heartbeat timeout (stuck
      outside the train loop) is cancelled or failed; its delivery no longer owns it;
    - a queued job the broker never took (it was away) is sent again.
    Returns the ids it touched."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.ECO_HEARTBEAT_TIMEOUT_S)
    touched, resend = [], []
    with transaction.atomic():
        running = Job.objects.select_for_update(skip_locked=True).filter(status=JobStatus.RUNNING)
        for job in running.filter(Q(heartbeat_at__lt=now - grace) | Q(heartbeat_at__isnull=True)):
            touched.append(str(job.pk))
            if job.cancel_requested_at is not None:
                _finish(
                    job, JobStatus.CANCELLED, "cancelled (its worker had stopped responding)", now=now, new_owner=True
                )
                continue
            if _gives_up(job, now):
                continue
            silent = (now - (job.heartbeat_at or job.started_at or job.created_at)).total_seconds()
            job.status = JobStatus.QUEUED
            job.save(update_fields=["status"])
            _log(job, f"worker {job.worker or '?'} stopped responding ({silent:.0f} s without a heartbeat); re-queued")
            _enqueue(job)
        for job in running.filter(cancel_requested_at__lt=now - grace).exclude(pk__in=touched):
            touched.append(str(job.pk))
            _finish(job, JobStatus.CANCELLED, "cancelled (the run did not stop by itself)", now=now, new_owner=True)
        for job in running.filter(timeout_s__isnull=False, attempt_started_at__isnull=False).exclude(pk__in=touched):
            if now - job.attempt_started_at > timedelta(seconds=job.timeout_s) + grace:
                touched.append(str(job.pk))
                error = f"timed out: the job ran longer than its timeout_s ({job.timeout_s} s) and did not stop"
                _finish(job, JobStatus.FAILED, error, now=now, new_owner=True)
        unsent = (
            Job.objects.select_for_update(skip_locked=True)
            .filter(status=JobStatus.QUEUED, sent_at__isnull=True, enqueued_at__lt=now - timedelta(seconds=30))
            .exclude(pk__in=touched)
        )
        for job in unsent:
            touched.append(str(job.pk))
            resend.append((job.pk, job.task_id, job.pool, broker_priority(job.priority)))
    for delivery in resend:
        _send(*delivery)
    if touched:
        log.warning("reaper touched %d job(s): %s", len(touched), ", ".join(touched))
    return touched


def _finish(job: Job, status: str, message: str, *, now=None, new_owner: bool = False, also=()) -> Job:
    """End a job as failed (`message` is its one-line error) or cancelled (`message` is the log line); its
    checkpoint files go once that commits. `new_owner` gives it a fresh task_id, so a delivery still stuck
    on it finds its later writes Lost. `also` names other fields the caller changed."""
    job.status, job.finished_at = status, now or timezone.now()
    fields = ["status", "finished_at", *also]
    if status == JobStatus.FAILED:
        job.error = _one_line(message)
        fields.append("error")
        message = f"failed: {job.error}"
    if new_owner:
        job.task_id = uuid.uuid4().hex
        fields.append("task_id")
    job.save(update_fields=fields)
    _log(job, message)
    _drop_checkpoint_after_commit(job)
    _advance_trigger_run(job)
    return job


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
