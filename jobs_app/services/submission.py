"""Submitting, cancelling and (for a run outside the workers) finishing jobs: the writes a user makes.

A kind whose module says `RUNS_ON_WORKER = False` (`tracking`) is never sent to a broker: it is running from
the moment it is submitted, a cancel ends it at once, and its creator ends it with `finish_run`."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts_app.models import Team, User
from accounts_app.services import record_audit
from jobs_app import kinds, specs
from jobs_app.models import FINISHED, Job, JobStatus
from jobs_app.services import admission
from jobs_app.services.lifecycle import finish, log_line
from ml.errors import Conflict, Forbidden, UserError

ENDINGS = (JobStatus.SUCCEEDED, JobStatus.FAILED)


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
    job_id=None,
) -> Job:
    """Check the submission, record the job as queued and run an admission round of its pool: it is sent to the
    broker once the transaction commits if its team's quota and the pool allow, else it waits with a
    `queue_reason` (jobs_app.services.admission). A job of a kind that runs outside the workers is running at
    once instead, and never sent to a broker. The job's `warnings` attribute lists what its kind warns of
    (kinds.warnings), each also written to its log.

    `job_id` is an id the client chose (a uuid), so that sending the same submission again cannot make a second
    job: when a job with that id exists and is the actor's, of the same team and kind, it is returned unchanged
    with `replayed = True`; a job of that id that is someone else's, or of another team or kind, is a
    Conflict (409)."""
    if job_id is not None and (existing := Job.objects.filter(pk=job_id).first()) is not None:
        return _replayed(existing, actor=actor, team=team, kind=kind)
    resources = specs.check_common(
        kind=kind, priority=priority, resources=resources or {}, max_retries=max_retries, timeout_s=timeout_s
    )
    spec = specs.check_spec(user=actor, team=team, kind=kind, spec=spec)
    job = Job(
        team=team,
        kind=kind,
        spec=spec,
        priority=priority,
        resources=resources,
        pool=resources["pool"],
        gpus=resources["gpus"],
        units=admission.units_for(
            pool=resources["pool"], gpus=resources["gpus"], processes=resources.get("processes", 1)
        ),
        max_retries=max_retries,
        timeout_s=timeout_s,
        trigger_run=trigger_run,
        created_by=actor,
    )
    if job_id is not None:
        job.pk = job_id
    try:
        with transaction.atomic():  # a savepoint: the same id sent twice at once makes one job; the other replays
            job.save(force_insert=True)
    except IntegrityError:
        if job_id is None or (existing := Job.objects.filter(pk=job_id).first()) is None:
            raise
        return _replayed(existing, actor=actor, team=team, kind=kind)
    job.replayed = False
    record_audit(actor=actor, action="job.submit", team=team, target=job, data={"kind": kind})
    job.warnings = kinds.warnings(job)
    for warning in job.warnings:
        log_line(job, f"warning: {warning}")
    if kinds.runs_on_worker(kind):
        admission.admit(pool=job.pool)  # sent now if its team's quota and its pool allow; else it waits
        job.refresh_from_db(fields=["admitted_at", "queue_reason", "task_id", "enqueued_at"])
    else:
        _start_outside(job)
    return job


def _replayed(existing: Job, *, actor: User, team: Team, kind: str) -> Job:
    if existing.created_by_id != actor.pk or existing.team_id != team.pk or existing.kind != kind:
        raise Conflict(f"The id {existing.pk} is another job's; a new job needs a new id.")
    existing.replayed, existing.warnings = True, []
    return existing


def _start_outside(job: Job) -> None:
    """Mark a just-submitted job of a kind outside the workers running: it runs wherever its creator runs it."""
    now = timezone.now()
    job.status, job.started_at, job.attempt_started_at = JobStatus.RUNNING, now, now
    job.save(update_fields=["status", "started_at", "attempt_started_at"])
    log_line(job, f"{job.kind} run started by {job.created_by.username if job.created_by else '?'}")


@transaction.atomic
def cancel_job(*, actor: User, job: Job) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop and stops within seconds."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status in FINISHED:
        raise Conflict(f"The job has already {job.status}; there is nothing to cancel.")
    now = timezone.now()
    if job.status == JobStatus.QUEUED:
        job.cancel_requested_at = now
        finish(job, JobStatus.CANCELLED, "cancelled before it started", now=now, also=("cancel_requested_at",))
    elif not kinds.runs_on_worker(job.kind):  # no worker to ask: it ends now
        job.cancel_requested_at = now
        finish(job, JobStatus.CANCELLED, f"cancelled by {actor.username}", now=now, also=("cancel_requested_at",))
    elif job.cancel_requested_at is None:
        job.cancel_requested_at = now
        job.save(update_fields=["cancel_requested_at"])
        log_line(job, f"cancel requested by {actor.username}")
    record_audit(actor=actor, action="job.cancel", team=job.team, target=job)
    return job


@transaction.atomic
def finish_run(*, actor: User, job: Job, status: str, error: str = "") -> Job:
    """End a running job of a kind outside the workers (`tracking`) as `succeeded` or `failed` (with a one-line
    `error`). Only its creator may: a state-dependent rule, listed in accounts_app.permissions.

    Raises:
        UserError (400): `status` is not succeeded or failed, or the job's kind runs on the workers.
        Forbidden (403): the actor is not the run's creator.
        Conflict (409): the run has already ended.
    """
    job = Job.objects.select_for_update().get(pk=job.pk)
    if kinds.runs_on_worker(job.kind):
        raise UserError(f"only a tracking job is ended by its client; this is a {job.kind} job.")
    if status not in ENDINGS:
        raise UserError(f"must be one of {', '.join(ENDINGS)}.", field="status")
    if actor.pk != job.created_by_id:
        raise Forbidden("Only the user who started a tracking run ends it, whatever the role (a member may cancel it).")
    if job.status != JobStatus.RUNNING:
        raise Conflict(f"The run has already {job.status}.")
    if status == JobStatus.SUCCEEDED:
        job.status, job.finished_at, job.progress, job.error = status, timezone.now(), 1.0, ""
        job.save(update_fields=["status", "finished_at", "progress", "error"])
        log_line(job, f"succeeded (ended by {actor.username})")
    else:
        finish(job, JobStatus.FAILED, " ".join(str(error).split()) or "failed (no error given)")
    record_audit(actor=actor, action="job.finish", team=job.team, target=job, data={"status": status})
    return job
