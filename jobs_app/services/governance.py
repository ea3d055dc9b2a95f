"""Governance writes the admin makes: a pool or its quotas changed (audited with the values before and after,
then an admission round, so a raised limit lets waiting jobs through at once), a waiting job's priority, and
sending an admitted job back to wait (requeue)."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from accounts_app.models import User
from accounts_app.services import record_audit
from jobs_app import kinds, specs
from jobs_app.models import Job, JobStatus, ResourcePool
from jobs_app.services import admission
from jobs_app.services.lifecycle import log_line

QUOTA_FIELDS = (
    "weight",
    "max_concurrent_jobs",
    "max_gpus",
    "gpu_hours_per_month",
    "cpu_hours_per_month",
    "storage_bytes",
)


def snapshot(pool: ResourcePool) -> dict:
    """A pool and its teams' quotas as plain values: {"pool": {...}, "quotas": {team slug: {...}}}."""
    return {
        "pool": {"capacity": pool.capacity, "accelerator": pool.accelerator, "queue": pool.queue},
        "quotas": {q.team.slug: {f: getattr(q, f) for f in QUOTA_FIELDS} for q in pool.quotas.select_related("team")},
    }


@transaction.atomic
def pool_saved(*, actor: User, pool: ResourcePool, before: dict | None) -> None:
    """Audit a pool saved in the admin (`governance.pool`, data {"before", "after"}; before is None for a new
    pool) and run an admission round of it once committed."""
    after = snapshot(pool)
    if before != after:
        record_audit(
            actor=actor,
            action="governance.pool",
            target=pool,
            data={"pool": pool.name, "before": before, "after": after},
        )
    admission.admit_after_commit(pool.name)


@transaction.atomic
def set_priority(*, actor: User, job: Job, priority: int) -> bool:
    """Change a waiting job's priority (-10..10, clamped); audited with before and after. Returns False for a job
    that is no longer waiting for admission (its priority no longer decides anything)."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    priority = max(-specs.MAX_PRIORITY, min(specs.MAX_PRIORITY, priority))
    if job.status != JobStatus.QUEUED or job.admitted_at is not None or priority == job.priority:
        return False
    before, job.priority = job.priority, priority
    job.save(update_fields=["priority"])
    log_line(job, f"priority changed from {before} to {priority} by {actor.username}")
    record_audit(
        actor=actor, action="job.priority", team=job.team, target=job, data={"before": before, "after": priority}
    )
    admission.admit_after_commit(job.pool)
    return True


@transaction.atomic
def requeue_job(*, actor: User, job: Job) -> bool:
    """Send an admitted job back to wait for admission (an operator making room): one not started yet at once;
    a running train or finetune job (kinds.PREEMPTIBLE) is asked to checkpoint and return, as a preemption;
    audited. False for a job that is not admitted, or running but unable to checkpoint."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.admitted_at is None or job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        return False
    if job.status == JobStatus.QUEUED:
        requeue_waiting(job, f"requeued by {actor.username}: it waits for admission again")
    elif job.kind in kinds.PREEMPTIBLE and job.preempt_requested_at is None:
        job.preempt_requested_at = timezone.now()
        job.save(update_fields=["preempt_requested_at"])
        log_line(job, f"requeued by {actor.username}: asked to save an on-demand checkpoint and return to the queue")
    else:
        return False
    record_audit(actor=actor, action="job.requeue", team=job.team, target=job, data={"status": job.status})
    return True


def requeue_waiting(job: Job, message: str) -> None:
    """An admitted job not started yet waits for admission again; its message in the broker becomes stale."""
    Job.objects.filter(pk=job.pk).update(admitted_at=None, task_id=uuid.uuid4().hex, queue_reason=message)
    log_line(job, message)
    admission.admit_after_commit(job.pool)
