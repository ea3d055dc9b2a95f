"""tracking: a run outside Eco's workers (what the tracking client's `eco.start_run` opens).

It never reaches a broker (`RUNS_ON_WORKER = False`): submission marks it running the moment it is
submitted, its creator ends it (`services.finish_run`, `POST /api/v1/jobs/{id}/finish/`) or a member cancels
it, and the reaper leaves it alone (it has no heartbeat). It lists and reads like any job. Its metric points
come only from its creator, also after it ended, so a run spooled offline can be sent later (the rule is
jobs_app.attempts.check_writer).
"""

from __future__ import annotations

import json

from accounts_app.models import Team, User
from datasets_app import selectors as dataset_selectors
from datasets_app.models import DatasetVersion
from jobs_app import specs
from jobs_app.kinds import SCHEMA_DIALECT
from jobs_app.models import Job
from ml.errors import UserError
from models_app.models import RegisteredModel

DESCRIPTION = "A run outside Eco's workers (the tracking client): running once submitted, ended by its creator."
RUNS_ON_WORKER = False
TRACKING_KEYS = ("model", "dataset_version", "params", "description")
MODEL_NAME_MAX = 200
PARAMS_MAX_BYTES = 64 * 1024
SPEC_SCHEMA = {
    "$schema": SCHEMA_DIALECT,
    "title": "tracking job spec",
    "type": "object",
    "required": [],
    "additionalProperties": False,
    "properties": {
        "model": {
            "type": ["string", "null"],
            "minLength": 1,
            "maxLength": MODEL_NAME_MAX,
            "description": "A model's id or a model name of the team (an unknown name is kept as `model_name`).",
        },
        "dataset_version": {
            "type": ["string", "null"],
            "format": "uuid",
            "description": "The run's data (its lineage): one of the team's dataset versions.",
        },
        "params": {
            "type": ["object", "null"],
            "description": f'The run\'s parameters, such as {{"lr": 0.001}}; at most {PARAMS_MAX_BYTES} bytes of JSON.',
        },
        "description": {"type": ["string", "null"]},
    },
}


def run(job: Job, reporter) -> None:
    """Never called: a tracking run is not sent to a broker (RUNS_ON_WORKER is False)."""
    raise RuntimeError(f"job {job.pk} is a tracking run: it runs outside the workers")


# --- the spec ------------------------------------------------------------------------------------------


def check(*, user: User, team: Team, spec: dict) -> dict:
    """The spec of a tracking run, `{model?, dataset_version?, params?, description?}`, with ids as strings.

    `model` is an existing model's id or a model name of the team (an unknown name is kept as `model_name`:
    the run may register a version under it later); `dataset_version` must be one of the team's versions
    (the run's lineage). Raises UserError naming the field (`spec.model`, ...); an id of another team reads
    as not found."""
    unknown = sorted(set(spec) - set(TRACKING_KEYS))
    if unknown:
        raise UserError(
            f"unknown field for a tracking job; known: {', '.join(TRACKING_KEYS)}", field=f"spec.{unknown[0]}"
        )
    out: dict = {}
    version = None
    if spec.get("dataset_version") not in (None, ""):
        version = _dataset_version(user, team, spec["dataset_version"])
        out["dataset_version"] = str(version.pk)
    if spec.get("model") not in (None, ""):
        out.update(_model(team, spec["model"], version))
    params = spec.get("params")
    if params is not None:
        if not isinstance(params, dict):
            raise UserError('must be an object such as {"lr": 0.001, "epochs": 10}.', field="spec.params")
        if len(json.dumps(params)) > PARAMS_MAX_BYTES:
            raise UserError(f"must be at most {PARAMS_MAX_BYTES} bytes of JSON.", field="spec.params")
        out["params"] = params
    if spec.get("description") is not None:
        if not isinstance(spec["description"], str):
            raise UserError("must be a string.", field="spec.description")
        out["description"] = spec["description"]
    return out


def _dataset_version(user: User, team: Team, value) -> DatasetVersion:
    field = "spec.dataset_version"
    if not isinstance(value, str) or specs.as_uuid(value) is None:
        raise UserError(f"Dataset version {value} does not exist.", field=field)
    version = dataset_selectors.versions_for_user(user=user).filter(pk=specs.as_uuid(value)).first()
    if version is None or version.dataset.team_id != team.pk:
        raise UserError(f"Dataset version {value} does not exist in team '{team.slug}'.", field=field)
    return version


def _model(team: Team, value, version: DatasetVersion | None) -> dict:
    field = "spec.model"
    if not isinstance(value, str):
        raise UserError("must be a model id or a model name.", field=field)
    if specs.as_uuid(value) is not None:
        model = RegisteredModel.objects.filter(team=team, pk=specs.as_uuid(value)).first()
        if model is None:
            raise UserError(f"Model {value} does not exist in team '{team.slug}'.", field=field)
    else:
        if len(value) > MODEL_NAME_MAX or not value.strip():
            raise UserError(f"a model name must be 1 to {MODEL_NAME_MAX} characters.", field=field)
        model = RegisteredModel.objects.filter(team=team, name=value).first()
        if model is None:
            return {"model": None, "model_name": value}
    if version is not None and model.task != version.dataset.task:
        raise UserError(
            f"model '{model.name}' is a {model.task} model; the dataset is {version.dataset.task}.", field=field
        )
    return {"model": str(model.pk), "model_name": model.name}
