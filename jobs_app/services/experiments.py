"""Experiments, and what a tracking run holds beyond Eco's own client's writes: its experiment, name, tags,
client-given start and end times, soft deletion, and metric histories (several values at one step).

MLflow's tracking protocol (mlflow_app) is the caller; the rules are Eco's: an experiment belongs to one team
and its name is unique there; a run's tags, like its parameters and points, come only from the user who
started it (jobs_app.attempts.check_writer); deleting a run or an experiment is soft and reversible.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts_app.models import Role, Team, User
from accounts_app.selectors import role_of
from accounts_app.services import record_audit
from jobs_app import attempts, metrics
from jobs_app.models import (
    DEFAULT_EXPERIMENT,
    Experiment,
    Job,
    JobStatus,
    LifecycleStage,
    LoggedModel,
    LoggedModelStatus,
)
from jobs_app.services.submission import cancel_job, finish_run, submit_job
from jobs_app.services.tracking import log_params
from ml import names
from ml.errors import AlreadyExists, Conflict, Forbidden, UserError

NAME_MAX = 250
TAG_KEY_MAX = 250
TAG_VALUE_MAX = 8000
RUN_TAGS_MAX_BYTES = 64 * 1024


def check_name(value, *, field: str = "name") -> str:
    """An experiment's name: a run's name (check_run_name) without "/" (a name `team/experiment` picks the
    team). Raises UserError(field)."""
    name = check_run_name(value, field=field)
    if "/" in name:
        raise UserError('must not contain "/" (the name "team/experiment" picks the team).', field=field)
    return name


def check_run_name(value, *, field: str = "run_name") -> str:
    """A run's name: a printable string of 1 to NAME_MAX characters ("/" allowed: sweep/lr=0.1), in NFC.
    Raises UserError(field)."""
    if not isinstance(value, str) or not value.strip():
        raise UserError("must be a non-empty string.", field=field)
    if len(value) > NAME_MAX:
        raise UserError(f"must be at most {NAME_MAX} characters.", field=field)
    if problem := names.problem(value):
        raise UserError(problem, field=field)
    return names.nfc(value.strip())


def check_tags(tags, *, field: str = "tags") -> dict[str, str]:
    """Tags as {key: value}, both strings (a key printable, 1 to TAG_KEY_MAX characters; a value at most
    TAG_VALUE_MAX). Raises UserError naming the tag."""
    if not isinstance(tags, dict):
        raise UserError("must be an object of string values.", field=field)
    out = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key or len(key) > TAG_KEY_MAX or names.problem(key):
            raise UserError(f"a tag key must be a printable string of 1 to {TAG_KEY_MAX} characters.", field=field)
        if not isinstance(value, str) or len(value) > TAG_VALUE_MAX:
            raise UserError(f"must be a string of at most {TAG_VALUE_MAX} characters.", field=f"{field}.{key}")
        out[names.nfc(key)] = value
    return out


def default_experiment(*, team: Team) -> Experiment:
    """The team's default experiment (named DEFAULT_EXPERIMENT), made the first time it is asked for."""
    found = Experiment.objects.filter(team=team, name=DEFAULT_EXPERIMENT).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Experiment.objects.create(team=team, name=DEFAULT_EXPERIMENT)
    except IntegrityError:  # made at the same moment by another request
        return Experiment.objects.get(team=team, name=DEFAULT_EXPERIMENT)


@transaction.atomic
def create_experiment(*, actor: User, team: Team, name, tags=None) -> Experiment:
    """A new experiment of `team` (the caller's role was checked: member). Raises UserError (400) for a bad
    name or tags, AlreadyExists (400) when the team has an experiment of that name (deleted ones too)."""
    name = check_name(name)
    tags = check_tags(tags or {})
    if Experiment.objects.filter(team=team, name=name).exists():
        raise AlreadyExists(f"the team {team.slug} already has an experiment named {name!r}.", field="name")
    try:
        with transaction.atomic():
            experiment = Experiment.objects.create(team=team, name=name, tags=tags, created_by=actor)
    except IntegrityError:
        raise AlreadyExists(f"the team {team.slug} already has an experiment named {name!r}.", field="name") from None
    record_audit(actor=actor, action="experiment.create", team=team, target=experiment)
    return experiment


@transaction.atomic
def update_experiment(*, actor: User, experiment: Experiment, name=None, tags=None, delete_tag=None) -> Experiment:
    """Rename an experiment, set tags ({key: value}) or delete a tag key (the caller's role was checked: member).
    The default experiment keeps its name. Raises UserError, AlreadyExists (a taken name)."""
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if name is not None:
        name = check_name(name, field="new_name")
        if experiment.name == DEFAULT_EXPERIMENT and name != DEFAULT_EXPERIMENT:
            raise UserError(f"the team's {DEFAULT_EXPERIMENT!r} experiment keeps its name.", field="new_name")
        if Experiment.objects.filter(team=experiment.team_id, name=name).exclude(pk=experiment.pk).exists():
            raise AlreadyExists(f"the team already has an experiment named {name!r}.", field="new_name")
        experiment.name = name
    if tags:
        experiment.tags = {**experiment.tags, **check_tags(tags)}
    if delete_tag is not None:
        experiment.tags = {k: v for k, v in experiment.tags.items() if k != delete_tag}
    experiment.updated_at = timezone.now()
    try:
        with transaction.atomic():
            experiment.save(update_fields=["name", "tags", "updated_at"])
    except IntegrityError:  # renamed to the same name at the same moment by another request
        raise AlreadyExists(f"the team already has an experiment named {name!r}.", field="new_name") from None
    return experiment


@transaction.atomic
def set_experiment_stage(*, actor: User, experiment: Experiment, stage: str) -> Experiment:
    """Delete (soft) or restore an experiment: its runs are hidden from searches of active runs while it is
    deleted. The caller's role was checked (maintainer). Raises UserError for the default experiment."""
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.name == DEFAULT_EXPERIMENT and stage == LifecycleStage.DELETED:
        raise UserError(f"the team's {DEFAULT_EXPERIMENT!r} experiment cannot be deleted.", field="experiment_id")
    if experiment.lifecycle_stage != stage:
        experiment.lifecycle_stage, experiment.updated_at = stage, timezone.now()
        experiment.save(update_fields=["lifecycle_stage", "updated_at"])
        action = "experiment.delete" if stage == LifecycleStage.DELETED else "experiment.restore"
        record_audit(actor=actor, action=action, team=experiment.team, target=experiment)
    return experiment


@transaction.atomic
def start_run(
    *,
    actor: User,
    experiment: Experiment,
    name: str | None = None,
    tags: dict | None = None,
    start_time: datetime | None = None,
) -> Job:
    """A tracking run in `experiment` (its team's; the caller's role was checked: member), running at once.
    Raises UserError for a bad name or tags, or an experiment that is deleted."""
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise UserError("the experiment is deleted; restore it to start runs in it.", field="experiment_id")
    tags = check_tags(tags or {})
    job = submit_job(actor=actor, team=experiment.team, kind="tracking", spec={})
    job.experiment = experiment
    job.name = check_run_name(name) if name else f"run-{job.pk.hex[:8]}"
    job.tags = tags
    if start_time is not None:
        job.started_at = start_time
    job.save(update_fields=["experiment", "name", "tags", "started_at"])
    return job


def _check_writer(job: Job, actor: User) -> None:
    if job.experiment_id is None and job.kind != "tracking":
        raise UserError(f"only a tracking run takes tags and names from its client; this is a {job.kind} job.")
    attempts.check_writer(job, user=actor, token=None)


ENDED = {"FINISHED": JobStatus.SUCCEEDED, "FAILED": JobStatus.FAILED, "KILLED": JobStatus.CANCELLED}


@transaction.atomic
def update_run(
    *, actor: User, job: Job, status: str | None = None, end_time: datetime | None = None, name: str | None = None
) -> Job:
    """What a run's client changes on it: its name, and its end (`status` FINISHED, FAILED or KILLED, with the
    client's `end_time`). RUNNING on a running run changes nothing; an ended run does not start again.

    Raises:
        UserError (400): an unknown status, a bad name, RUNNING for a run that has ended.
        Forbidden (403): the actor is not the run's creator.
        Conflict (409): ending a run that has already ended with another status.
    """
    job = Job.objects.select_for_update().get(pk=job.pk)
    _check_writer(job, actor)
    if name is not None:
        job.name = check_run_name(name)
        job.tags = {**job.tags, "mlflow.runName": job.name} if "mlflow.runName" in job.tags else job.tags
        job.save(update_fields=["name", "tags"])
    if status is None or status == "SCHEDULED":
        return job
    if status == "RUNNING":
        if job.status != JobStatus.RUNNING:
            raise UserError(f"the run has {job.status}; an ended run does not start again in Eco.", field="status")
        return job
    if status not in ENDED:
        raise UserError("must be one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED.", field="status")
    if job.status == ENDED[status]:
        return job  # sent again (a retry): it ended this way
    if job.status != JobStatus.RUNNING:
        raise Conflict(f"the run has already {job.status}.", field="status")
    if ENDED[status] == JobStatus.CANCELLED:
        job = cancel_job(actor=actor, job=job)
    else:
        error = "" if status == "FINISHED" else "the run's client reported it failed"
        job = finish_run(actor=actor, job=job, status=ENDED[status], error=error)
    if end_time is not None:
        job.finished_at = end_time
        job.save(update_fields=["finished_at"])
    return job


@transaction.atomic
def set_run_deleted(*, actor: User, job: Job, deleted: bool) -> Job:
    """Delete (soft) or restore a run: a deleted run answers only to those who ask for deleted runs. Its
    creator may, and a maintainer or admin of its team. Raises Forbidden (403) for anyone else."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.kind != "tracking":
        raise UserError(f"only a tracking run is deleted this way; this is a {job.kind} job (cancel it instead).")
    if actor.pk != job.created_by_id and role_of(user=actor, team=job.team) not in (Role.MAINTAINER, Role.ADMIN):
        raise Forbidden("Only the run's creator, or a maintainer or admin of its team, deletes or restores it.")
    if (job.deleted_at is not None) != deleted:
        job.deleted_at = timezone.now() if deleted else None
        job.save(update_fields=["deleted_at"])
        record_audit(actor=actor, action="run.delete" if deleted else "run.restore", team=job.team, target=job)
    return job


@transaction.atomic
def set_run_tags(*, actor: User, job: Job, tags: dict | None = None, delete: str | None = None) -> Job:
    """Set tags on a run ({key: value}; a key set again takes the new value) or delete one tag key (absent:
    UserError, as MLflow answers). Only the run's creator writes (Forbidden otherwise). The run's tags stay
    within RUN_TAGS_MAX_BYTES of JSON (UserError)."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    _check_writer(job, actor)
    merged = dict(job.tags)
    if tags:
        merged.update(check_tags(tags))
    if delete is not None:
        if delete not in merged:
            raise UserError(f"the run has no tag {delete!r}.", field="key")
        del merged[delete]
    if len(json.dumps(merged)) > RUN_TAGS_MAX_BYTES:
        raise UserError(f"the run's tags would exceed {RUN_TAGS_MAX_BYTES} bytes of JSON.", field="tags")
    if merged != job.tags:
        job.tags = merged
        job.save(update_fields=["tags"])
    return job


def log_history(*, actor: User, job: Job, points: list[tuple]) -> int:
    """Store metric points `(key, step, value, time)` (checked by metrics.check_points' rules) as a history:
    several values at one step all kept, in time order (metrics.ingest with keep_all). Only the run's
    creator writes (Forbidden). Returns how many points were given."""
    with transaction.atomic():
        locked = attempts.locked(job.pk)
        attempts.check_writer(locked, user=actor, token=None)
        metrics.ingest(job.pk, points, keep_all=True)
    return len(points)


@transaction.atomic
def log_batch(*, actor: User, job: Job, points: list[tuple], params: dict, tags: dict) -> None:
    """A client's batch in one transaction: metric points as a history (log_history), parameters
    (services.tracking.log_params: a parameter logged again must keep its value) and tags (set_run_tags).
    Nothing is written when any part is refused (UserError, Forbidden, Conflict)."""
    if params:
        log_params(actor=actor, job=job, params=params)
    if tags:
        set_run_tags(actor=actor, job=job, tags=tags)
    if points:
        log_history(actor=actor, job=job, points=points)


INPUTS_MAX = 100
ECO_ID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")


@transaction.atomic
def log_inputs(*, actor: User, job: Job, datasets: list[dict]) -> Job:
    """Record the data sets a run read (`datasets`: [{dataset: {name, digest, source_type, source, schema?,
    profile?}, tags: {key: value}}], as MLflow's log_input sends them) in the run's `spec.inputs`, once each
    (by name and digest). A data set whose name or source holds the id of one of the team's Eco dataset
    versions links the run to it: the first such becomes the run's `spec.dataset_version` (its lineage) when it
    has none. Only the run's creator writes (Forbidden). Raises UserError for a malformed entry."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    _check_writer(job, actor)
    inputs = list(job.spec.get("inputs") or [])
    spec = dict(job.spec)
    for i, entry in enumerate(datasets):
        dataset = entry.get("dataset") if isinstance(entry, dict) else None
        if not isinstance(dataset, dict):
            raise UserError(
                "must be an object {dataset: {name, digest, source_type, source}, tags}.", field=f"datasets[{i}]"
            )
        for name in ("name", "digest", "source_type", "source", "schema", "profile"):
            value = dataset.get(name)
            if name in ("schema", "profile") and value is None:
                continue
            if not isinstance(value, str) or (name in ("name", "digest") and not value):
                raise UserError("must be a string.", field=f"datasets[{i}].dataset.{name}")
        tags = check_tags(entry.get("tags") or {}, field=f"datasets[{i}].tags")
        record = {
            k: dataset[k] for k in ("name", "digest", "source_type", "source", "schema", "profile") if k in dataset
        }
        record["tags"] = tags
        linked = _eco_dataset_version(actor, job, f"{dataset['name']} {dataset['source']}")
        if linked is not None:
            record["dataset_version"] = linked
            spec.setdefault("dataset_version", linked)
        if not any(x["name"] == record["name"] and x["digest"] == record["digest"] for x in inputs):
            inputs.append(record)
    if len(inputs) > INPUTS_MAX:
        raise UserError(f"a run records at most {INPUTS_MAX} data sets.", field="datasets")
    spec["inputs"] = inputs
    if spec != job.spec:
        job.spec = spec
        job.save(update_fields=["spec"])
    return job


def _eco_dataset_version(actor: User, job: Job, text: str) -> str | None:
    """The id of the first of the team's dataset versions (that `actor` can read) named in `text`, or None."""
    from datasets_app.selectors import versions_for_user

    for found in ECO_ID.findall(text):
        try:
            key = uuid.UUID(found)
        except ValueError:
            continue
        version = versions_for_user(user=actor).filter(pk=key, dataset__team_id=job.team_id).first()
        if version is not None:
            return str(version.pk)
    return None


# --- logged models (MLflow 3's `log_model`) ------------------------------------------------------------


@transaction.atomic
def create_logged_model(
    *, actor: User, job: Job, name: str | None, model_type: str = "", tags=None, params=None
) -> LoggedModel:
    """A new logged model of the run `job` (pending until `finalize_logged_model`); its files go to the run's
    artifacts under `artifact_prefix`. Only the run's creator logs one (Forbidden); `name` defaults to "model".
    Raises UserError naming a bad name, tag or parameter."""
    _check_writer(job, actor)
    model = LoggedModel(
        job=job,
        name=check_run_name(name, field="name") if name not in (None, "") else "model",
        model_type=check_run_name(model_type, field="model_type") if model_type else "",
        tags=check_tags(tags or {}),
        params=check_tags(params or {}, field="params"),
        created_by=actor,
    )
    model.save()
    return model


def _writable_model(logged_model: LoggedModel, actor: User) -> LoggedModel:
    locked = LoggedModel.objects.select_for_update().select_related("job").get(pk=logged_model.pk)
    _check_writer(locked.job, actor)
    return locked


@transaction.atomic
def update_logged_model(
    *,
    actor: User,
    logged_model: LoggedModel,
    status: str | None = None,
    tags: dict | None = None,
    delete_tag: str | None = None,
    params: dict | None = None,
) -> LoggedModel:
    """Finalize a logged model (`status` ready or failed; a finalized model's status no longer changes: 400),
    set or delete tags, add parameters (a parameter set again must keep its value: 400). Only the run's creator
    writes (Forbidden)."""
    locked = _writable_model(logged_model, actor)
    if status is not None:
        if status not in LoggedModelStatus.values:
            raise UserError(f"must be one of {', '.join(LoggedModelStatus.values)}.", field="status")
        if locked.status != LoggedModelStatus.PENDING and status != locked.status:
            raise UserError(f"the model is already {locked.status}; its status no longer changes.", field="status")
        locked.status = status
    if tags:
        locked.tags = {**locked.tags, **check_tags(tags)}
    if delete_tag is not None:
        if delete_tag not in locked.tags:
            raise UserError(f"the model has no tag {delete_tag!r}.", field="key")
        del locked.tags[delete_tag]
    for key, value in check_tags(params or {}, field="params").items():
        if key in locked.params and locked.params[key] != value:
            raise UserError(
                f"parameter {key!r} was logged as {locked.params[key]!r}; it cannot change to {value!r}.",
                field=f"params.{key}",
            )
        locked.params[key] = value
    if len(json.dumps([locked.tags, locked.params])) > RUN_TAGS_MAX_BYTES:
        raise UserError(f"the model's tags and parameters would exceed {RUN_TAGS_MAX_BYTES} bytes of JSON.")
    locked.updated_at = timezone.now()
    locked.save()
    return locked


@transaction.atomic
def delete_logged_model(*, actor: User, logged_model: LoggedModel) -> None:
    """Soft delete: the logged model answers as deleted; its files stay with its run."""
    locked = _writable_model(logged_model, actor)
    locked.deleted_at = locked.deleted_at or timezone.now()
    locked.save(update_fields=["deleted_at"])
