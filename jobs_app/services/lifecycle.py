"""A delivery's life on a worker: begin, heartbeat, checkpoint, complete, fail or cancel, retry; and `finish`,
the one way a job ends. Every write locks the row and checks that the delivery (`task_id`) still owns the
job, else raises Lost. Whoever must act when a job ends registers with `on_job_end`."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from jobs_app import attempts, kinds
from jobs_app.models import FINISHED, Job, JobLog, JobOutput, JobStatus
from jobs_app.services import admission
from jobs_app.services.dispatch import enqueue

log = logging.getLogger(__name__)
# a job whose worker keeps dying (out of memory, say) is failed after this many re-queues beyond max_retries
WORKER_LOSSES_TOLERATED = 3


class Lost(Exception):
    """This delivery no longer owns the job (it was re-queued, cancelled or finished elsewhere)."""


def log_line(job: Job, line: str) -> None:
    """Append one line to the job's log now (in the caller's transaction)."""
    JobLog.objects.create(job=job, line=line)


def append_log(*, job_id, lines: list[tuple]) -> None:
    """Store buffered log lines [(time, text), ...]."""
    JobLog.objects.bulk_create([JobLog(job_id=job_id, time=t, line=text) for t, text in lines])


# --- a delivery's life on a worker --------------------------------------------------------------------


@transaction.atomic
def begin_attempt(*, job_id, task_id: str, worker: str) -> Job | None:
    """Mark the job running for this delivery, or None when the delivery is stale, the job is over, or a
    live delivery is already running it (the broker handed the same message out twice). The job returned
    carries `attempt_token`, the new attempt's credential (jobs_app.attempts)."""
    job = Job.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.task_id != task_id or job.status in FINISHED:
        return None
    now = timezone.now()
    if job.status == JobStatus.RUNNING:
        silent = (now - (job.heartbeat_at or job.attempt_started_at or now)).total_seconds()
        if silent < settings.ECO_HEARTBEAT_TIMEOUT_S:
            return None
        if gives_up(job, now):  # the same message keeps killing its worker (out of memory, say)
            return None
    if job.cancel_requested_at is not None:
        finish(job, JobStatus.CANCELLED, "cancelled before it started", now=now)
        return None
    job.status = JobStatus.RUNNING
    job.attempts += 1
    job.worker = worker[:200]
    job.started_at = job.started_at or now
    job.attempt_started_at = now
    job.heartbeat_at = now
    job.error = ""
    job.attempt_token = attempts.issue(job)  # handed to the runner; only its hash is stored
    job.save(
        update_fields=[
            "status",
            "attempts",
            "worker",
            "started_at",
            "attempt_started_at",
            "heartbeat_at",
            "error",
            "attempt_token_hash",
        ]
    )
    log_line(job, f"attempt {job.attempts} started on {worker}")
    return job


def gives_up(job: Job, now) -> bool:
    """Fail a job whose workers keep dying under it; True when it did."""
    if job.attempts <= job.max_retries + WORKER_LOSSES_TOLERATED:
        return False
    finish(
        job,
        JobStatus.FAILED,
        f"the worker running this job stopped responding {job.attempts} times; giving up",
        now=now,
    )
    return True


def heartbeat(*, job_id, task_id: str, progress: float) -> str | None:
    """Record that the delivery is alive and how far it got. Returns "cancel" when a cancel was requested,
    "preempt" when admission asked the job to give its place back, "lost" when this delivery no longer owns
    the job, None otherwise. One UPDATE and one read, no lock held."""
    progress = min(1.0, max(0.0, float(progress)))
    owned = Job.objects.filter(pk=job_id, task_id=task_id, status=JobStatus.RUNNING)
    if not owned.update(heartbeat_at=timezone.now(), progress=progress):
        return "lost"
    cancel, preempt = owned.values_list("cancel_requested_at", "preempt_requested_at").first() or (None, None)
    if cancel is not None:
        return "cancel"
    if preempt is not None:
        return "preempt"
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
    admission.account_attempt(job, now=job.finished_at)
    admission.released(job)
    log_line(job, f"succeeded: {', '.join(f'{k}={v}' for k, v in outputs.items())}")
    _drop_checkpoint_after_commit(job)
    _ended(job)
    return job


def record_output(*, job: Job, kind: str, object_id) -> JobOutput:
    """Record that `job` made the object (`kind` is an OutputKind): a runner calls it in the transaction that
    registers the object, inside `complete`. A second output of the same kind for the job is an
    IntegrityError, like a second registration."""
    return JobOutput.objects.create(job=job, kind=kind, object_id=object_id)


_end_hooks: list[Callable[[Job], None]] = []


def on_job_end(hook: Callable[[Job], None]) -> Callable[[Job], None]:
    """Register `hook(job)`, called in the transaction that ends a job (succeeded, failed or cancelled), after
    its row is saved. Retrain triggers hand over to a run's next step this way (wired in JobsAppConfig.ready), so
    the services need not know them. Registering the same hook twice keeps one."""
    if hook not in _end_hooks:
        _end_hooks.append(hook)
    return hook


def _ended(job: Job) -> None:
    for hook in _end_hooks:
        hook(job)


@transaction.atomic
def fail(*, job_id, task_id: str, error: str) -> Job:
    return finish(_owned(job_id, task_id), JobStatus.FAILED, error)


@transaction.atomic
def mark_cancelled(*, job_id, task_id: str) -> Job:
    return finish(_owned(job_id, task_id), JobStatus.CANCELLED, "cancelled")


@transaction.atomic
def retry_or_fail(*, job_id, task_id: str, error: str) -> Job:
    """A transient failure: queue the job again after a back-off while retries remain, else fail it."""
    job = _owned(job_id, task_id)
    error = _one_line(error)
    if job.attempts > job.max_retries:
        return finish(
            job, JobStatus.FAILED, f"{error} (gave up after {job.attempts} attempt{'s' if job.attempts != 1 else ''})"
        )
    delay = settings.ECO_RETRY_BACKOFF_S * job.attempts
    admission.account_attempt(job)  # the retry keeps its place in the pool (it stays admitted)
    job.status, job.error = JobStatus.QUEUED, error
    job.save(update_fields=["status", "error"])
    log_line(job, f"transient error: {error}; retry {job.attempts} of {job.max_retries} in {delay:g} s")
    enqueue(job, countdown=delay)
    return job


@transaction.atomic
def requeue_preempted(*, job_id, task_id: str, message: str = "") -> Job:
    """A preempted attempt has stopped (after its on-demand checkpoint, or the reaper gave up waiting): the job
    goes back to waiting for admission, keeping its checkpoint, and resumes from it when let through again. Its
    delivery no longer owns it."""
    return requeue(_owned(job_id, task_id), message or "preempted: it returns to the queue")


def requeue(job: Job, message: str, *, now=None) -> Job:
    """Put a running job (locked by the caller) back in the queue to wait for admission: its attempt is
    accounted, a fresh task_id turns away its current delivery, and admission runs once committed."""
    now = now or timezone.now()
    admission.account_attempt(job, now=now)
    job.status, job.admitted_at, job.preempt_requested_at = JobStatus.QUEUED, None, None
    job.task_id, job.queue_reason = uuid.uuid4().hex, "preempted: waiting to be admitted again"
    job.save(update_fields=["status", "admitted_at", "preempt_requested_at", "task_id", "queue_reason"])
    log_line(job, message)
    admission.admit_after_commit(job.pool)
    return job


def finish(job: Job, status: str, message: str, *, now=None, new_owner: bool = False, also=()) -> Job:
    """End a job as failed (`message` is its one-line error) or cancelled (`message` is the log line); its
    checkpoint files go once that commits. `new_owner` gives it a fresh task_id, so a delivery still stuck
    on it finds its later writes Lost. `also` names other fields the caller changed."""
    was_running = job.status == JobStatus.RUNNING
    job.status, job.finished_at = status, now or timezone.now()
    fields = ["status", "finished_at", *also]
    if was_running and kinds.runs_on_worker(job.kind):
        admission.account_attempt(job, now=job.finished_at)
    if status == JobStatus.FAILED:
        job.error = _one_line(message)
        fields.append("error")
        message = f"failed: {job.error}"
    if new_owner:
        job.task_id = uuid.uuid4().hex
        fields.append("task_id")
    job.save(update_fields=fields)
    log_line(job, message)
    _drop_checkpoint_after_commit(job)
    if kinds.runs_on_worker(job.kind):
        admission.released(job)
    _ended(job)
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
