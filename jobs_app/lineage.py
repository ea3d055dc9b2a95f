"""Lineage of versions registered from outside the workers: a tracking run (`eco.start_run`, kind "tracking")
that made a model version the user uploads. models_app calls `record_run_output` through the hook jobs_app
registers (`models_app.services.on_version_from_run`), in the transaction that registers the version."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from accounts_app.models import Team, User
from jobs_app.models import Job, JobOutput, OutputKind
from jobs_app.services import record_output
from models_app.models import ModelVersion

TRACKING = "tracking"


def record_run_output(*, actor: User, team: Team, run_id, version: ModelVersion) -> JobOutput:
    """Record that the tracking run `run_id` made `version`, as a worker job's output is recorded (a JobOutput;
    the run's `outputs` gain `model_version`), so the version's `job` names the run.

    Raises ValidationError on `job` (400; the caller's transaction, which registers the version, is undone):
    no tracking run of that id in `team` (another team's reads the same), a run `actor` did not start, or a run
    that already recorded a model version (a run makes at most one, as a train job does)."""
    job = Job.objects.select_for_update().filter(pk=run_id, team=team).first()
    if job is None or job.kind != TRACKING:
        raise ValidationError({"job": [f"No tracking run {run_id} in team '{team.slug}'."]})
    if problem := refusal(actor=actor, job=job):
        raise ValidationError({"job": [problem]})
    output = record_output(job=job, kind=OutputKind.MODEL_VERSION, object_id=version.pk)
    job.outputs = {**(job.outputs or {}), "model_version": str(version.pk)}
    job.save(update_fields=["outputs"])
    return output


def refusal(*, actor: User, job: Job) -> str | None:
    """Why `actor` cannot record a model version as made by the tracking run `job` (None: they can): only the
    user who started the run records what it made, and a run makes one model version."""
    if job.created_by_id != actor.pk:
        return "Only the user who started the run records what it made."
    earlier = JobOutput.objects.filter(job=job, kind=OutputKind.MODEL_VERSION).values_list("object_id", flat=True)
    if made := earlier.first():
        return f"Run {job.pk} already recorded model version {made}; a run makes one."
    return None
