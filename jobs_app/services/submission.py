"""Submitting and cancelling jobs: the writes a user makes."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts_app.models import Team, User
from accounts_app.services import record_audit
from config.errors import Conflict
from jobs_app import specs
from jobs_app.models import FINISHED, Job, JobStatus
from jobs_app.services.dispatch import enqueue
from jobs_app.services.lifecycle import finish, log_line


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
    enqueue(job)
    return job


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
    elif job.cancel_requested_at is None:
        job.cancel_requested_at = now
        job.save(update_fields=["cancel_requested_at"])
        log_line(job, f"cancel requested by {actor.username}")
    record_audit(actor=actor, action="job.cancel", team=job.team, target=job)
    return job
