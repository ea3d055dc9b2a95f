"""What a tracking run's client writes besides metric points: parameters logged after the start and files
(`run.log_params`, `run.log_artifact`, `run.log_text`). Only the run's creator writes, whatever the role, also
after the run ended, so that a run spooled offline can be sent later (the rule of jobs_app.attempts.check_writer).
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from accounts_app.models import User
from datasets_app import blobs
from datasets_app.services import check_storage_quota
from jobs_app import attempts, kinds
from jobs_app.kinds.tracking import PARAMS_MAX_BYTES
from jobs_app.models import Job, JobArtifact
from jobs_app.services.lifecycle import log_line
from ml import names
from ml.errors import Conflict, UserError

ARTIFACT_PATH_MAX = 255


def _check_run_writer(job: Job, actor: User) -> None:
    if kinds.runs_on_worker(job.kind):
        raise UserError(f"only a tracking run takes parameters and files from its client; this is a {job.kind} job.")
    attempts.check_writer(job, user=actor, token=None)  # Forbidden (403) for anyone but the run's creator


@transaction.atomic
def log_params(*, actor: User, job: Job, params) -> Job:
    """Add `params` ({name: JSON value}) to the run's `spec.params`. Sending a parameter again with the same
    value changes nothing; a different value for a logged parameter is refused, as in the tracking tools users
    know: a run's parameters describe how it ran and do not change under it.

    Raises:
        UserError (400): `params` is not an object, or the merged parameters exceed 64 KiB of JSON; a job of a
            kind that runs on the workers.
        Forbidden (403): the actor is not the run's creator.
        Conflict (409): a parameter already logged with another value (the message names it and both values).
    """
    if not isinstance(params, dict) or not params:
        raise UserError('must be a non-empty object such as {"lr": 0.001}.', field="params")
    job = Job.objects.select_for_update().get(pk=job.pk)
    _check_run_writer(job, actor)
    merged = dict(job.spec.get("params") or {})
    for name, value in params.items():
        if problem := names.problem(name):
            raise UserError(problem, field=f"params.{name}")
        if name in merged and merged[name] != value:
            raise Conflict(
                f"parameter {name!r} was logged as {json.dumps(merged[name])}; a run's parameters do not change "
                f"(this asks for {json.dumps(value)}).",
                field=f"params.{name}",
            )
        merged[name] = value
    if len(json.dumps(merged)) > PARAMS_MAX_BYTES:
        raise UserError(f"the run's parameters would exceed {PARAMS_MAX_BYTES} bytes of JSON.", field="params")
    if merged != job.spec.get("params"):
        job.spec = {**job.spec, "params": merged}
        job.save(update_fields=["spec"])
    return job


def clean_artifact_path(value) -> str:
    """A relative POSIX path for an artifact (`plots/loss.png`): printable, at most 255 characters, no empty,
    `.` or `..` segment, no leading slash or backslash. Raises UserError(field="path")."""
    if not isinstance(value, str) or not value.strip():
        raise UserError("must be a relative file path such as plots/loss.png.", field="path")
    if len(value) > ARTIFACT_PATH_MAX:
        raise UserError(f"must be at most {ARTIFACT_PATH_MAX} characters.", field="path")
    if problem := names.problem(value):
        raise UserError(problem, field="path")
    parts = value.split("/")
    if "\\" in value or value.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise UserError("must be a relative path without empty, '.' or '..' parts (a/b.txt).", field="path")
    return str(PurePosixPath(names.nfc(value)))


def log_artifact(*, actor: User, job: Job, path: str, content: File, sha256: str, size: int) -> JobArtifact:
    """Store a file the run logged under `path` (clean_artifact_path); logging a path again replaces its file.
    The content is stored once as a blob (`sha256`, `size` in bytes) and counts toward the team's storage quota.

    Raises:
        UserError (400): a bad path; a job of a kind that runs on the workers.
        Forbidden (403): the actor is not the run's creator.
        Conflict (409): the file does not fit the team's storage quota (nothing is stored).
    """
    path = clean_artifact_path(path)
    _check_run_writer(job, actor)
    check_storage_quota(team=job.team, sha256=sha256, size=size)
    with blobs.stored(content, sha256=sha256, size=size) as blob:
        job = Job.objects.select_for_update().get(pk=job.pk)
        _check_run_writer(job, actor)
        artifact, created = JobArtifact.objects.update_or_create(
            job=job, path=path, defaults={"blob": blob, "size_bytes": size, "created_at": timezone.now()}
        )
        log_line(job, f"artifact {'logged' if created else 'replaced'}: {path} ({size:,} bytes)")
    return artifact
