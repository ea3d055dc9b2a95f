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

import psycopg
from django.db import connection, transaction
from django.http import Http404

from accounts_app.models import User
from accounts_app.permissions import check_role
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


# The ingest hot path's one query: the job row locked as `locked` locks it, read only when it is in one of the
# user's teams, with the user's role and the team's slug; and, when a batch id is given, the batch recorded for the
# job (ON CONFLICT DO NOTHING: `new_batch` 0 when it was recorded before, after waiting for a transaction that is
# recording it now). A check that fails afterwards rolls the whole transaction back, the batch record with it.
_RECEIVE = """
WITH j AS (
    SELECT j.id, j.kind, j.status, j.created_by_id, j.attempts, j.attempt_token_hash, m.role, t.slug
    FROM jobs_app_job j
    JOIN accounts_app_membership m ON m.team_id = j.team_id AND m.user_id = %(user)s
    JOIN accounts_app_team t ON t.id = j.team_id
    WHERE j.id = %(job)s FOR KEY SHARE OF j
), b AS (
    INSERT INTO jobs_app_metricbatch (job_id, batch_id, received_at)
    SELECT id, %(batch)s, now() FROM j WHERE %(batch)s::varchar IS NOT NULL
    ON CONFLICT DO NOTHING RETURNING 1
)
SELECT j.*, (SELECT count(*) FROM b) AS new_batch FROM j
"""
_RECEIVED_FIELDS = ("id", "kind", "status", "created_by_id", "attempts", "attempt_token_hash")


def receive_points(
    *,
    user: User,
    job_id,
    points: list[tuple] | metrics.Batch,
    token: str | None,
    batch_id: str | None,
    minimum_role: str,
) -> tuple[int, bool]:
    """The API's metric ingest (POST /jobs/{id}/metrics/): store checked points (a metrics.Batch from
    check_batch, or tuples) after the caller's role (at least `minimum_role` in the job's team) and
    `check_writer`; returns (how many were written, whether `batch_id` had been recorded for this job before:
    then nothing is written).

    One transaction of three round trips in the common case: the job, role and batch in one prepared query,
    the points in one statement (metrics.ingest; a batch that overlaps stored chunks adds a read and a
    rewrite of those), the commit.

    Raises Http404 (no such job in the user's teams), PermissionDenied (a role below `minimum_role`),
    Forbidden / Conflict (`check_writer`); nothing is written then."""
    with transaction.atomic():
        job, new_batch = _locked_with_batch(user=user, job_id=job_id, batch_id=batch_id)
        check_role(role=job.caller_role, team_slug=job.team_slug, minimum=minimum_role)
        check_writer(job, user=user, token=token)
        if batch_id is not None and not new_batch:
            return 0, True
        return metrics.ingest(job_id, points), False


def check_caller(*, user: User, job_id, minimum_role: str) -> None:
    """The checks of receive_points that come before any look at the request's body: Http404 for a job not
    in the user's teams, PermissionDenied for a role below `minimum_role`."""
    job, _ = _locked_with_batch(user=user, job_id=job_id, batch_id=None)
    check_role(role=job.caller_role, team_slug=job.team_slug, minimum=minimum_role)


def _locked_with_batch(*, user: User, job_id, batch_id: str | None) -> tuple[Job, bool]:
    """(the job row locked, with `caller_role` and `team_slug`; whether `batch_id` is new), see _RECEIVE.
    Raises Http404 for an unknown job or one of another team (never revealing it exists)."""
    if connection.vendor != "postgresql":  # SQLite: one writer at a time anyway
        job = Job.objects.filter(pk=job_id, team__memberships__user=user).select_related("team").first()
        if job is None:
            raise Http404("No Job matches the given query.")
        job.caller_role, job.team_slug = job.team.memberships.get(user=user).role, job.team.slug
        return job, batch_id is None or metrics.record_batch(job_id, batch_id)
    with psycopg.Cursor(connection.connection) as cursor:  # bound on the server, planned once per connection
        cursor.execute(_RECEIVE, {"user": user.pk, "job": job_id, "batch": batch_id}, prepare=True)
        row = cursor.fetchone()
    if row is None:
        raise Http404("No Job matches the given query.")
    read = dict(zip(_RECEIVED_FIELDS, row, strict=False))
    # from_db takes the values in the model's field order; the fields not read stay deferred (loaded on access)
    ordered = [f.attname for f in Job._meta.concrete_fields if f.attname in read]
    job = Job.from_db(connection.alias, ordered, [read[name] for name in ordered])
    job.caller_role, job.team_slug, new_batch = row[len(_RECEIVED_FIELDS) :]
    return job, bool(new_batch)


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
