"""MLflow's model registry (`registered-models/*`, `model-versions/*`) on Eco's registry: one registry, not two.

- A registered model is an Eco model (models_app.RegisteredModel); its MLflow name is `team/name` (a plain name
  means the caller's only team, or the one team that has it). A model made through MLflow names no task
  (NO_TASK) unless its tags say `eco.task`; its first served version gives it one.
- A model version is an Eco model version, numbered alike. `model-versions/create` takes the files of a logged
  model (`models:/m-<id>`) or of a run's artifact folder (`runs:/<run>/<path>`, `mlflow-artifacts:/...`) and
  registers them through models_app.services.register_mlflow_version: an ONNX model with a signature becomes a
  served `onnx` version, any other flavour an opaque `mlflow` version Eco never loads. Eco's versions are
  immutable: MLflow's delete archives one (stage "Archived"), and archiving is what MLflow's stages map to.
- Aliases are Eco's: a move through `registered-models/alias` passes the model's promotion gate or answers
  RESOURCE_CONFLICT (409) whose message lists the failed checks.

Roles are Eco's: reads for every team role, writes from member up (delete and archive: maintainer), as in
Eco's own API (accounts_app.permissions).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F, Q

from accounts_app.models import Role, User
from accounts_app.names import named
from accounts_app.permissions import require_role
from datasets_app.models import Task
from jobs_app import lineage
from jobs_app import selectors as job_selectors
from jobs_app.models import JobOutput, LoggedModel, LoggedModelStatus, OutputKind
from mlflow_app import search
from mlflow_app.api import experiment_id_of, only_team, paged, run_for, split_name
from mlflow_app.artifacts import locate
from mlflow_app.logged_models import artifact_uri, key_of, logged_model_for, model_id
from mlflow_app.protocol import ARTIFACTS_SCHEME, Fields, MlflowError, integer, key_values, ms, not_found, pairs, run_id
from models_app import selectors, services
from models_app.models import NO_TASK, ModelAlias, ModelVersion, RegisteredModel, VersionStatus

TASK_TAG = "eco.task"
MODELS_MAX_RESULTS = 1000
VERSIONS_MAX_RESULTS = 10_000
STAGES = {"None": VersionStatus.READY, "Archived": VersionStatus.ARCHIVED}


# --- lookups -------------------------------------------------------------------------------------------


def model_by_name(user: User, name: str) -> RegisteredModel:
    """The model `name` names ('team/name', or a plain name one of the caller's teams has; names ignore case).
    Raises RESOURCE_DOES_NOT_EXIST, or INVALID_PARAMETER_VALUE for a plain name in several teams."""
    team, plain = split_name(user, name, "registered model")
    models = selectors.models_for_user(user=user)
    if team is not None:
        models = models.filter(team=team)
    found = list(named(models, plain)[:2])
    if len(found) > 1:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE", f"Several of your teams have a model named '{plain}': name it 'team/{plain}'."
        )
    if not found:
        raise not_found(f"Registered Model with name={name} not found")
    return found[0]


def version_of(user: User, model: RegisteredModel, version) -> ModelVersion:
    """Version number `version` of `model`. Raises RESOURCE_DOES_NOT_EXIST (or INVALID_PARAMETER_VALUE for a
    version that is not a number)."""
    number = integer(version, "version")
    found = selectors.versions_for_user(user=user).filter(model=model, version=number).first()
    if found is None:
        raise not_found(f"Model Version (name={full_name(model)}, version={number}) not found")
    return found


def _model(request, fields: Fields, minimum: str | None = None) -> RegisteredModel:
    model = model_by_name(request.user, fields.str("name", required=True))
    if minimum is not None:
        require_role(user=request.user, team=model.team, minimum=minimum)
    return model


def _version(request, fields: Fields, minimum: str | None = None) -> ModelVersion:
    model = _model(request, fields, minimum)
    return version_of(request.user, model, fields.data.get("version"))


# --- shapes --------------------------------------------------------------------------------------------


def full_name(model: RegisteredModel) -> str:
    return f"{model.team.slug}/{model.name}"


def _stored_source(source: str) -> tuple[str, str] | None:
    """(kind, rest) of a version's stored source, as versions_create writes it: ("models", "m-<id>") or
    ("runs", "<run id>/<folder>"); None for a version Eco made (no source)."""
    kind, _, rest = source.partition(":/")
    return (kind, rest) if kind in ("models", "runs") and rest else None


def _source_run(version: ModelVersion) -> str:
    """The id of the run that made the version: its recorded job, else the run its MLflow source names."""
    job = getattr(version, "job_id", None)
    if job is not None:
        return job.hex
    match _stored_source(version.source):
        case ("runs", rest):
            return rest.split("/", 1)[0]
        case ("models", model_id_text):
            found = LoggedModel.objects.filter(pk=key_of(model_id_text)).values_list("job_id", flat=True).first()
            return found.hex if found else ""
    return ""


def model_version_json(version: ModelVersion) -> dict:
    """A version as MLflow's ModelVersion. Eco's own versions (trained, imported) read alike: their source is
    Eco's path to them. Tag `eco.serving` says whether Eco serves it."""
    served = version.format != "mlflow"
    reason = (version.spec.get("mlflow") or {}).get("reason", "") if not served else ""
    source = version.source or f"eco:/models/{version.model_id}/versions/{version.version}"
    answer = {
        "name": full_name(version.model),
        "version": str(version.version),
        "creation_timestamp": ms(version.created_at),
        "last_updated_timestamp": ms(version.created_at),
        "user_id": version.created_by.username if version.created_by_id else "",
        "current_stage": "Archived" if version.status == VersionStatus.ARCHIVED else "None",
        "description": version.description,
        "source": source,
        "run_id": _source_run(version),
        "status": "READY",
        "status_message": "",
        "tags": pairs(
            {**version.tags, "eco.serving": f"{version.format} (served)" if served else f"not served: {reason}"}
        ),
        "aliases": [a.alias for a in version.aliases.all()],
    }
    if (stored := _stored_source(version.source)) and stored[0] == "models":
        answer["model_id"] = stored[1]
    return answer


def registered_models_json(user: User, models: list[RegisteredModel]) -> list[dict]:
    """Models as MLflow's RegisteredModel, each with its latest version of each stage and its aliases' version
    numbers: two queries for the whole list, whatever its length."""
    latest = _latest_of(user, models)
    held = [alias.version_id for model in models for alias in model.aliases.all()]
    numbers = dict(ModelVersion.objects.filter(pk__in=held).values_list("pk", "version"))
    return [
        {
            "name": full_name(model),
            "creation_timestamp": ms(model.created_at),
            "last_updated_timestamp": ms(model.updated_at),
            "user_id": model.created_by.username if model.created_by_id else "",
            "description": model.description,
            "tags": pairs({**model.tags, **({TASK_TAG: model.task} if model.task else {})}),
            "aliases": [{"alias": a.alias, "version": str(numbers[a.version_id])} for a in model.aliases.all()],
            **({"latest_versions": [model_version_json(v) for v in latest[model.pk]]} if latest[model.pk] else {}),
        }
        for model in models
    ]


def _model_answer(user: User, model: RegisteredModel) -> dict:
    """{"registered_model": ...} of `model` read afresh (a write may have changed it)."""
    return {"registered_model": registered_models_json(user, [model_by_name(user, full_name(model))])[0]}


def _latest_of(user: User, models: list[RegisteredModel], stages: list[str] | None = None) -> dict:
    """{model id: [its latest version of each stage asked (default: every stage)]} in one query, as MLflow's
    get-latest-versions."""
    statuses = [status for stage, status in STAGES.items() if not stages or stage in stages]
    found = (
        selectors.versions_for_user(user=user)
        .filter(model__in=models, status__in=statuses)
        .order_by("model_id", "status", "-version")
        .distinct("model_id", "status")
    )
    out: dict = {model.pk: [] for model in models}
    for version in found:
        out[version.model_id].append(version)
    return out


# --- registered models ---------------------------------------------------------------------------------


def models_create(request, fields: Fields) -> dict:
    name = fields.str("name", required=True)
    team, plain = split_name(request.user, name, "registered model")
    if team is None:
        team = only_team(request.user, "a new registered model")
    require_role(user=request.user, team=team, minimum=Role.MEMBER)
    tags = key_values(fields.list("tags"), "tags")
    task = tags.pop(TASK_TAG, NO_TASK)
    if task and task not in Task.values:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"tag {TASK_TAG} must be one of {', '.join(Task.values)}.")
    if named(RegisteredModel.objects.filter(team=team), plain).exists():
        raise MlflowError("RESOURCE_ALREADY_EXISTS", f"Registered Model (name={team.slug}/{plain}) already exists.")
    with transaction.atomic():
        model = services.create_model(
            actor=request.user, team=team, name=plain, task=task, description=fields.str("description") or ""
        )
        if tags:
            services.set_tags(actor=request.user, obj=model, tags=tags)
    return _model_answer(request.user, model)


def models_get(request, fields: Fields) -> dict:
    return _model_answer(request.user, _model(request, fields))


def models_rename(request, fields: Fields) -> dict:
    model = _model(request, fields, Role.MEMBER)
    team, plain = split_name(request.user, fields.str("new_name", required=True), "registered model")
    if team is not None and team.pk != model.team_id:
        raise MlflowError("INVALID_PARAMETER_VALUE", "A model stays in its team: rename it within it.")
    return _model_answer(request.user, services.update_model(actor=request.user, model=model, name=plain))


def models_update(request, fields: Fields) -> dict:
    model = _model(request, fields, Role.MEMBER)
    if (description := fields.data.get("description")) is not None:
        model = services.update_model(actor=request.user, model=model, description=str(description))
    return _model_answer(request.user, model)


def models_delete(request, fields: Fields) -> dict:
    services.delete_model(actor=request.user, model=_model(request, fields, Role.MAINTAINER))
    return {}


MODEL_ATTRIBUTES = {"name": "string"}
MODEL_ORDER = {"name": "name", "creation_timestamp": "created_at", "last_updated_timestamp": "updated_at"}


def models_search(request, fields: Fields) -> dict:
    models = selectors.models_for_user(user=request.user).annotate(_full_name=search.team_name())
    for n, clause in enumerate(search.parse_filter(fields.data.get("filter"), MODEL_ATTRIBUTES)):
        if clause.kind == "tags":
            models = search.filter_tag(models, clause, n, registry=True)
        elif clause.kind == "attributes" and clause.op in search.STRING:
            models = search.filter_name(models, clause)
        else:
            raise MlflowError("INVALID_PARAMETER_VALUE", "Filter registered models by name or tags.<key>.")
    models = search.order_by_attributes(
        models, fields.list("order_by"), MODEL_ORDER, default=("name", "team__slug", "id")
    )
    return paged(
        "registered_models",
        models,
        fields,
        lambda rows: registered_models_json(request.user, rows),
        default=100,
        limit=MODELS_MAX_RESULTS,
    )


def models_get_latest_versions(request, fields: Fields) -> dict:
    model = _model(request, fields)
    latest = _latest_of(request.user, [model], fields.list("stages"))[model.pk]
    return {"model_versions": [model_version_json(v) for v in latest]}


def models_set_tag(request, fields: Fields) -> dict:
    model = _model(request, fields, Role.MEMBER)
    key, value = fields.str("key", required=True), fields.data.get("value")
    if key == TASK_TAG:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"A model's task ({TASK_TAG}) is set when the model is created.")
    services.set_tags(actor=request.user, obj=model, tags={key: "" if value is None else str(value)})
    return {}


def models_delete_tag(request, fields: Fields) -> dict:
    services.set_tags(
        actor=request.user, obj=_model(request, fields, Role.MEMBER), delete=fields.str("key", required=True)
    )
    return {}


def alias(request, fields: Fields) -> dict:
    """POST: point the alias at a version, through the model's promotion gate; DELETE: remove it; GET: the
    version it points at."""
    if request.method == "GET":
        model = _model(request, fields)
        name = fields.str("alias", required=True)
        found = ModelAlias.objects.filter(model=model, alias=name).first()
        if found is None:
            raise not_found(f"Registered model alias {name} not found.")
        return {
            "model_version": model_version_json(selectors.versions_for_user(user=request.user).get(pk=found.version_id))
        }
    model = _model(request, fields, Role.MEMBER)
    name = fields.str("alias", required=True)
    if request.method == "DELETE":
        found = ModelAlias.objects.filter(model=model, alias=name).select_related("model__team").first()
        if found is not None:
            services.delete_alias(actor=request.user, alias=found)
        return {}
    version = version_of(request.user, model, fields.data.get("version"))
    services.set_alias(actor=request.user, model=model, alias=name, version=version)
    return {}


# --- model versions ------------------------------------------------------------------------------------


def _source_files(request, fields: Fields, model: RegisteredModel):
    """(the run, its artifact folder, the logged model or None) the version's source names: a logged model
    (`models:/m-<id>`, or `model_id`), `runs:/<run id>/<path>` or `mlflow-artifacts:/<experiment>/<run>/artifacts/
    <path>`. Raises INVALID_PARAMETER_VALUE for another kind of source, RESOURCE_DOES_NOT_EXIST for a model or run
    the caller cannot see."""
    source = fields.str("source", required=True)
    given_id = fields.str("model_id")
    if given_id or source.startswith("models:/m-"):
        logged = logged_model_for(request.user, given_id or source[len("models:/") :], include_deleted=False)
        if logged.status != LoggedModelStatus.READY:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE",
                f"Logged model {model_id(logged)} is {logged.status}, not ready: its files may be incomplete.",
            )
        return logged.job, logged.artifact_prefix, logged
    if source.startswith("runs:/"):
        run_text, _, folder = source[len("runs:/") :].partition("/")
        job = run_for(request.user, run_text)
        folder = folder.strip("/")
        if folder and not job_selectors.artifacts(job=job).filter(path__startswith=f"{folder}/").exists():
            # MLflow 3 keeps a model logged as `name` apart from the run's files: the run's latest model of that name
            logged = job.logged_models.filter(name=folder, deleted_at__isnull=True).order_by("-created_at").first()
            if logged is not None:
                return job, logged.artifact_prefix, logged
        return job, folder, None
    if source.startswith(f"{ARTIFACTS_SCHEME}/"):
        job, folder = locate(request.user, source[len(ARTIFACTS_SCHEME) + 1 :])
        return job, folder.strip("/"), None
    raise MlflowError(
        "INVALID_PARAMETER_VALUE",
        f"Eco registers models logged to Eco: source must be models:/m-<id>, runs:/<run id>/<path> or "
        f"{ARTIFACTS_SCHEME}/<experiment>/<run>/artifacts/<path>; got {source!r}.",
    )


def versions_create(request, fields: Fields) -> dict:
    model = _model(request, fields, Role.MEMBER)
    job, folder, logged = _source_files(request, fields, model)
    if job.team_id != model.team_id:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE", f"The source's run is in another team than model '{full_name(model)}'."
        )
    prefix = f"{folder}/" if folder else ""
    files = [
        (artifact.path[len(prefix) :], artifact.blob)
        for artifact in job_selectors.artifacts(job=job).filter(path__startswith=prefix).select_related("blob")
    ]
    if not files:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"The source {fields.str('source')} holds no files.")
    # the source as Eco found it (what MLflow's client sends may carry extra slashes)
    source = f"models:/{model_id(logged)}" if logged is not None else f"runs:/{run_id(job)}/{folder}".rstrip("/")
    # the version's lineage names the run where the run may record it (its creator, its first model version);
    # otherwise the version is registered all the same, its source naming the run
    links = job.kind == lineage.TRACKING and lineage.refusal(actor=request.user, job=job) is None
    version = services.register_mlflow_version(
        actor=request.user,
        model=model,
        files=files,
        source=source,
        run=job.pk if links else None,
        description=fields.str("description") or "",
        tags=key_values(fields.list("tags"), "tags"),
    )
    return {"model_version": model_version_json(version_of(request.user, model, version.version))}


def versions_get(request, fields: Fields) -> dict:
    return {"model_version": model_version_json(_version(request, fields))}


def versions_update(request, fields: Fields) -> dict:
    version = _version(request, fields, Role.MEMBER)
    if (description := fields.data.get("description")) is not None:
        version = services.update_version_description(actor=request.user, version=version, description=str(description))
    return {"model_version": model_version_json(version)}


def versions_delete(request, fields: Fields) -> dict:
    """Eco's versions are immutable and may be in use: MLflow's delete archives the version (stage Archived)."""
    version = _version(request, fields, Role.MAINTAINER)
    services.set_version_status(actor=request.user, version=version, status=VersionStatus.ARCHIVED)
    return {}


def versions_transition_stage(request, fields: Fields) -> dict:
    version = _version(request, fields, Role.MAINTAINER)
    stage = fields.str("stage", required=True)
    if stage.capitalize() not in STAGES:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE",
            f"Eco has no stage {stage!r}: point an alias at the version instead (registered-models/alias); "
            "stages None and Archived archive or restore it.",
        )
    services.set_version_status(actor=request.user, version=version, status=STAGES[stage.capitalize()])
    return {"model_version": model_version_json(_version(request, fields))}


VERSION_ATTRIBUTES = {"name": "string", "run_id": "string", "source_path": "string", "version_number": "number"}
VERSION_ORDER = {"name": "model__name", "version_number": "version", "creation_timestamp": "created_at"}


def versions_search(request, fields: Fields) -> dict:
    versions = selectors.versions_for_user(user=request.user).annotate(
        _full_name=search.team_name("model__team__slug", "model__name")
    )
    for n, clause in enumerate(search.parse_filter(fields.data.get("filter"), VERSION_ATTRIBUTES)):
        if clause.kind == "tags":
            versions = search.filter_tag(versions, clause, n, registry=True)
        elif clause.kind == "attributes" and clause.key == "name" and clause.op in (*search.STRING, "IN", "NOT IN"):
            versions = search.filter_name(versions, clause, field="model__name")
        elif clause.kind == "attributes" and clause.key == "version_number" and clause.op in search.NUMERIC:
            versions = versions.filter(search.compare("version", clause.op, clause.value))
        elif clause.kind == "attributes" and clause.key == "run_id" and clause.op in ("=", "IN"):
            values = clause.value if isinstance(clause.value, list) else [clause.value]
            keys = [k for k in map(search.parse_run_id, values) if k is not None]
            made = JobOutput.objects.filter(kind=OutputKind.MODEL_VERSION, job__in=keys).values("object_id")
            logged = [
                f"models:/m-{k.hex}" for k in LoggedModel.objects.filter(job__in=keys).values_list("pk", flat=True)
            ]
            versions = versions.filter(Q(pk__in=made) | Q(source__in=logged))
        elif clause.kind == "attributes" and clause.key == "source_path" and clause.op in search.STRING:
            versions = versions.filter(search.compare("source", clause.op, clause.value))
        else:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE",
                "Filter model versions by name, version_number, run_id (= or IN), source_path or tags.<key>.",
            )
    versions = search.order_by_attributes(
        versions,
        fields.list("order_by"),
        VERSION_ORDER,
        default=("model__name", "model__team__slug", F("version").desc(), "pk"),
    )
    return paged(
        "model_versions",
        versions,
        fields,
        lambda rows: [model_version_json(v) for v in rows],
        default=1000,
        limit=VERSIONS_MAX_RESULTS,
    )


def versions_get_download_uri(request, fields: Fields) -> dict:
    """Where the version's files are: its logged model's or run folder's artifact URI (MLflow downloads them
    through the artifact proxy). An Eco-made version has no MLflow folder: RESOURCE_DOES_NOT_EXIST says so."""
    version = _version(request, fields)
    match _stored_source(version.source):
        case ("models", model_id_text):
            logged = logged_model_for(request.user, model_id_text)
            return {"artifact_uri": artifact_uri(logged, experiment_id_of(logged.job))}
        case ("runs", rest):
            run_text, _, folder = rest.partition("/")
            job = run_for(request.user, run_text)
            uri = f"{ARTIFACTS_SCHEME}/{experiment_id_of(job)}/{run_id(job)}/artifacts"
            return {"artifact_uri": f"{uri}/{folder}" if folder else uri}
    raise not_found(
        f"Version {version.version} of '{full_name(version.model)}' was made by Eco, not logged through MLflow: "
        f"download it with Eco's API (/api/v1/model-versions/{version.pk}/download/)."
    )


def versions_set_tag(request, fields: Fields) -> dict:
    version = _version(request, fields, Role.MEMBER)
    value = fields.data.get("value")
    services.set_tags(
        actor=request.user, obj=version, tags={fields.str("key", required=True): "" if value is None else str(value)}
    )
    return {}


def versions_delete_tag(request, fields: Fields) -> dict:
    services.set_tags(
        actor=request.user, obj=_version(request, fields, Role.MEMBER), delete=fields.str("key", required=True)
    )
    return {}
