"""MLflow 3's logged models (`/api/2.0/mlflow/logged-models`, `runs/outputs`): what every
`mlflow.<flavor>.log_model` call makes before it uploads the model's files.

A logged model belongs to its source run (jobs_app.models.LoggedModel); its artifact URI is a folder of that
run's artifacts (`<run artifact URI>/models/m-<id>`), so the client uploads its files through the artifact proxy
as the run's own files. Only the run's creator writes; every role of the team reads. The id is MLflow's
`m-<32 hex digits>`.
"""

from __future__ import annotations

import uuid

from accounts_app.models import Role
from accounts_app.permissions import require_role
from jobs_app import selectors
from jobs_app.models import LoggedModel, LoggedModelStatus
from jobs_app.services import experiments as services
from mlflow_app import search
from mlflow_app.api import experiment_by_id, experiment_id_of, paged, run_for
from mlflow_app.protocol import ARTIFACTS_SCHEME, Fields, MlflowError, integer, key_values, ms, not_found, pairs, run_id

STATUS = {
    LoggedModelStatus.PENDING: "LOGGED_MODEL_PENDING",
    LoggedModelStatus.READY: "LOGGED_MODEL_READY",
    LoggedModelStatus.FAILED: "LOGGED_MODEL_UPLOAD_FAILED",
}
FROM_STATUS = {**{v: k for k, v in STATUS.items()}, "1": "pending", "2": "ready", "3": "failed"}
SEARCH_ATTRIBUTES = {"name": "string", "model_id": "string", "source_run_id": "string"}
MODELS_MAX_RESULTS = 1000


def model_id(logged_model: LoggedModel) -> str:
    return f"m-{logged_model.pk.hex}"


def artifact_uri(logged_model: LoggedModel, experiment_id: str) -> str:
    """The folder of the run's artifacts that holds the model's files, as a `mlflow-artifacts:` URI."""
    return f"{ARTIFACTS_SCHEME}/{experiment_id}/{run_id(logged_model.job)}/artifacts/{logged_model.artifact_prefix}"


def logged_model_json(logged_model: LoggedModel) -> dict:
    """A logged model as MLflow's LoggedModel {info, data}."""
    experiment_id = experiment_id_of(logged_model.job)
    return {
        "info": {
            "model_id": model_id(logged_model),
            "experiment_id": experiment_id,
            "name": logged_model.name,
            "creation_timestamp_ms": ms(logged_model.created_at),
            "last_updated_timestamp_ms": ms(logged_model.updated_at),
            "artifact_uri": artifact_uri(logged_model, experiment_id),
            "status": STATUS[logged_model.status],
            "model_type": logged_model.model_type,
            "source_run_id": run_id(logged_model.job),
            "status_message": logged_model.status_message,
            "tags": pairs(logged_model.tags),
        },
        "data": {"params": pairs(logged_model.params), "metrics": []},
    }


def key_of(value) -> uuid.UUID | None:
    """The uuid in a model id `m-<32 hex>` (None for anything else)."""
    text = str(value or "")
    if not text.startswith("m-"):
        return None
    try:
        return uuid.UUID(text[2:])
    except ValueError:
        return None


def logged_model_for(user, value, *, include_deleted: bool = True) -> LoggedModel:
    """The logged model of id `value` among the caller's teams'. Raises RESOURCE_DOES_NOT_EXIST."""
    key = key_of(value)
    found = None
    if key is not None:
        found = selectors.logged_models_for_user(user=user).filter(pk=key).first()
    if found is None or (found.deleted_at is not None and not include_deleted):
        raise not_found(f"Logged model with ID '{value}' not found.")
    return found


def _writable(request, model_id_value) -> LoggedModel:
    found = logged_model_for(request.user, model_id_value, include_deleted=False)
    require_role(user=request.user, team=found.job.team, minimum=Role.MEMBER)
    return found


def create(request, fields: Fields) -> dict:
    experiment = experiment_by_id(request.user, fields.str("experiment_id", required=True))
    source = fields.str("source_run_id")
    if source is None:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE",
            "Eco keeps a logged model's files with the run that logged it: call log_model inside "
            "mlflow.start_run() (source_run_id is required).",
        )
    job = run_for(request.user, source, include_deleted=False)
    require_role(user=request.user, team=job.team, minimum=Role.MEMBER)
    if experiment_id_of(job) != str(experiment.pk):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"Run {source} is not in experiment {experiment.pk}.")
    found = services.create_logged_model(
        actor=request.user,
        job=job,
        name=fields.str("name"),
        model_type=fields.str("model_type") or "",
        tags=key_values(fields.list("tags"), "tags"),
        params=key_values(fields.list("params"), "params"),
    )
    return {"model": logged_model_json(found)}


def detail(request, fields: Fields, model_id: str) -> dict:
    """GET: the model; PATCH: finalize it (its status); DELETE: soft delete."""
    if request.method == "GET":
        allow_deleted = str(request.query_params.get("allow_deleted", "")).lower() == "true"
        return {"model": logged_model_json(logged_model_for(request.user, model_id, include_deleted=allow_deleted))}
    found = _writable(request, model_id)
    if request.method == "DELETE":
        services.delete_logged_model(actor=request.user, logged_model=found)
        return {}
    status = fields.data.get("status")
    if str(status) not in FROM_STATUS:
        raise MlflowError("INVALID_PARAMETER_VALUE", "status must be LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED.")
    found = services.update_logged_model(actor=request.user, logged_model=found, status=FROM_STATUS[str(status)])
    return {"model": logged_model_json(found)}


def set_tags(request, fields: Fields, model_id: str) -> dict:
    found = _writable(request, model_id)
    services.update_logged_model(actor=request.user, logged_model=found, tags=key_values(fields.list("tags"), "tags"))
    return {}


def delete_tag(request, fields: Fields, model_id: str, tag_key: str) -> dict:
    services.update_logged_model(actor=request.user, logged_model=_writable(request, model_id), delete_tag=tag_key)
    return {}


def log_params(request, fields: Fields, model_id: str) -> dict:
    found = _writable(request, model_id)
    services.update_logged_model(
        actor=request.user, logged_model=found, params=key_values(fields.list("params"), "params")
    )
    return {}


def search_models(request, fields: Fields) -> dict:
    """The logged models of the experiments named, filtered by `name`, `model_id` or `source_run_id`
    (= != LIKE ILIKE IN), newest first."""
    experiments = [experiment_by_id(request.user, value) for value in fields.list("experiment_ids")]
    found = selectors.logged_models_for_user(user=request.user).filter(deleted_at__isnull=True)
    found = found.filter(selectors.runs_of(experiments, prefix="job__"))
    for clause in search.parse_filter(fields.data.get("filter"), SEARCH_ATTRIBUTES):
        if clause.kind != "attributes" or clause.op in ("IS NULL", "IS NOT NULL"):
            raise MlflowError(
                "INVALID_PARAMETER_VALUE", "Filter logged models by name, model_id or source_run_id (= != LIKE IN)."
            )
        if clause.key == "name":
            found = found.filter(search.compare("name", clause.op, clause.value))
            continue
        values = clause.value if isinstance(clause.value, list) else [clause.value]
        field = "pk" if clause.key == "model_id" else "job_id"
        parse = key_of if clause.key == "model_id" else search.parse_run_id
        keys = [k for k in map(parse, values) if k is not None]
        if clause.op in ("=", "IN"):
            found = found.filter(**{f"{field}__in": keys})
        elif clause.op in ("!=", "NOT IN"):
            found = found.exclude(**{f"{field}__in": keys})
        else:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"{clause.key} takes = != IN or NOT IN.")
    return paged(
        "models",
        found.order_by("-created_at", "id"),
        fields,
        lambda rows: [logged_model_json(m) for m in rows],
        default=100,
        limit=MODELS_MAX_RESULTS,
    )


def log_outputs(request, fields: Fields) -> dict:
    """runs/outputs: the models a run made. A logged model's run is its source run, so this only checks that
    each model is one the caller's run may name (same team; member role)."""
    job = run_for(request.user, fields.first("run_id"))
    require_role(user=request.user, team=job.team, minimum=Role.MEMBER)
    for i, item in enumerate(fields.list("models")):
        if not isinstance(item, dict):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"models[{i}] must be an object {{model_id, step}}.")
        found = logged_model_for(request.user, item.get("model_id"))
        if found.job.team_id != job.team_id:
            raise not_found(f"Logged model with ID '{item.get('model_id')}' not found.")
        integer(item.get("step"), f"models[{i}].step", default=0)
    return {}
