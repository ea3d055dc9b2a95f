"""Who may write a job's metric points (and a worker's log lines): the rule, and the writes that follow it.

- A worker job's points come only from the worker that runs its current attempt. `begin_attempt` makes a
  fresh random credential per attempt (`issue`), keeps only its SHA-256 on the Job (`attempt_token_hash`) and
  hands the raw token to the runner (`job.attempt_token`); the next attempt replaces the hash, so a stale
  worker's token stops matching. Over HTTP the token travels in the `X-Eco-Attempt-Token` header; the
  worker's own writes (the reporter's buffered flush, `write_from_worker`) are checked against the same hash.
- A job of a kind that runs outside the workers (`tracking`: RUNS_ON_WORKER False in its kinds module) takes
  points only from its creator, in any state: a spooled run may send its points after it ended.

The rule depends on the job's state, so it lives here (a service), not in a view's permission class; the
view still asks for the member role first. Every check and the write it guards run in one transaction that
holds the job row against state changes (a new attempt, the reaper), so a point is never written by an
attempt that stopped being the current one while it was being checked.
"""

from __future__ import annotations

import hmac
import secrets

from django.db import connection, transaction
from django.http import Http404

from accounts_app.models import User
from accounts_app.services import hash_token
from jobs_app import kinds, metrics
from jobs_app.models import Job, JobLog, JobStatus
from ml.errors import Conflict, Forbidden

HEADER = "X-Eco-Attempt-Token"


def issue(job: Job) -> str:
    """A new credential for the job's current attempt (`job.attempts`). Sets `job.attempt_token_hash` (the
    caller saves it) and returns the raw token, `<attempt>.<random secret>`; only its hash is stored."""
    token = f"{job.attempts}.{secrets.token_urlsafe(32)}"
    job.attempt_token_hash = digest(token)
    return token


# SHA-256 hex, as API tokens are stored: a random 256-bit secret needs no slow hash.
digest = hash_token


def locked(job_id) -> Job:
    """The job row, held until the transaction ends against state changes (a new attempt, the reaper, an end:
    they all lock it FOR UPDATE). On PostgreSQL the lock is FOR KEY SHARE, so concurrent point batches and
    heartbeats do not wait for each other. Raises Job.DoesNotExist."""
    if connection.vendor == "postgresql":
        rows = list(Job.objects.raw("SELECT * FROM jobs_app_job WHERE id = %s FOR KEY SHARE", [job_id]))
        if not rows:
            raise Job.DoesNotExist(f"job {job_id} does not exist")
        return rows[0]
    return Job.objects.get(pk=job_id)  # SQLite: one writer at a time anyway


def locked_for(*, user: User, job_id) -> Job:
    """The job row locked as `locked` does, read only when it is in one of `user`'s teams, in one query (the
    metric ingest hot path): the Job carries `caller_role` (the user's role in its team) and `team_slug`.
    Raises Http404 for an unknown job or one of another team (never revealing it exists)."""
    if connection.vendor == "postgresql":
        rows = list(
            Job.objects.raw(
                "SELECT j.*, m.role AS caller_role, t.slug AS team_slug FROM jobs_app_job j "
                "JOIN accounts_app_membership m ON m.team_id = j.team_id AND m.user_id = %s "
                "JOIN accounts_app_team t ON t.id = j.team_id WHERE j.id = %s FOR KEY SHARE OF j",
                [user.pk, job_id],
            )
        )
    else:  # SQLite: one writer at a time anyway
        rows = list(Job.objects.filter(pk=job_id, team__memberships__user=user).select_related("team"))
        for job in rows:
            job.caller_role = job.team.memberships.get(user=user).role
            job.team_slug = job.team.slug
    if not rows:
        raise Http404("No Job matches the given query.")
    return rows[0]


def check_writer(job: Job, *, user: User | None, token: str | None) -> None:
    """May this writer add points to `job` now? `user` is the caller (None for the worker's own writes);
    `token` the attempt credential it presented (None or '' when none).

    Raises:
        Forbidden (403): a tracking job written by anyone but its creator; a worker job written without
            the current attempt's credential, or with a wrong or stale one.
        Conflict (409): a worker job that is not running (queued, or over): no attempt may write now.
    """
    if not kinds.runs_on_worker(job.kind):
        if user is None or user.pk != job.created_by_id:
            raise Forbidden("A tracking run takes metric points only from the user who started it, whatever the role.")
        return
    if job.status != JobStatus.RUNNING:
        raise Conflict(
            f"The job is {job.status}: its metric points come only from the worker running it, and none is now."
        )
    if not token:
        raise Forbidden(
            f"A {job.kind} job's metric points come only from the worker running it (it sends {HEADER}), "
            "whatever the role."
        )
    if not job.attempt_token_hash or not hmac.compare_digest(digest(token), job.attempt_token_hash):
        attempt = token.split(".", 1)[0]
        if attempt.isdigit() and int(attempt) != job.attempts:
            raise Forbidden(f"This credential is attempt {attempt}'s; the job is on attempt {job.attempts}.")
        raise Forbidden(f"The {HEADER} is not the credential of the job's current attempt.")


@transaction.atomic(savepoint=False)  # in the API's transaction (locked_for) it adds no savepoint round trips
def record_points(
    *, actor: User, job_id, points: list[tuple], token: str | None, batch_id: str | None = None, job: Job | None = None
) -> tuple[int, bool]:
    """Store checked points (metrics.check_points) sent over the API, after `check_writer`; returns
    (how many were written, whether `batch_id` had been recorded for this job before). A batch id seen before
    writes nothing: (0, True). Nothing is written when the check fails (Forbidden / Conflict, see
    `check_writer`). `job` is the row when the caller has already locked it in this transaction (locked_for)."""
    job = job if job is not None else locked(job_id)
    check_writer(job, user=actor, token=token)
    if batch_id is not None and not metrics.record_batch(job_id, batch_id):
        return 0, True
    return metrics.ingest(job_id, points), False


@transaction.atomic
def write_from_worker(
    *,
    job_id,
    token: str,
    lines: list[tuple] = (),
    points: list[tuple[str, int, float]] = (),
    checkpoint: str | None = None,
) -> str:
    """The worker's own writes, in one transaction and only while `token` is still the job's current
    attempt: log lines [(time, text), ...], then metric points, then (when given) the pointer to a new
    checkpoint, so a checkpoint is never recorded without the points and lines logged before it. Returns the
    checkpoint it replaced ('' if none, or when none was given). Raises Forbidden / Conflict
    (`check_writer`) when the attempt is no longer current; nothing is written then."""
    job = locked(job_id)
    check_writer(job, user=None, token=token)
    if lines:
        JobLog.objects.bulk_create([JobLog(job_id=job_id, time=t, line=text) for t, text in lines])
    if points:
        metrics.ingest(job_id, list(points))
    if checkpoint is None:
        return ""
    # a plain UPDATE (FOR NO KEY UPDATE) does not conflict with the KEY SHARE lock other writers hold
    Job.objects.filter(pk=job_id).update(checkpoint=checkpoint)
    return job.checkpoint
