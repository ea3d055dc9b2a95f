"""What a job submission must hold, checked before anything is queued. Every problem is a ValidationError
keyed by the field it is about (`spec.architecture`, `spec.hyperparameters`, `resources.pool`…), so the
API answers 400 naming it. Ids in a spec must belong to the job's team; any other id reads as not found.

The fields every job has are checked here (`check_common`); each kind checks its own spec in its module
under `jobs_app/kinds/` with the helpers below."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from accounts_app.models import Team, User
from accounts_app.names import named
from config.jsonsafe import unsafe_text
from datasets_app import selectors as dataset_selectors
from datasets_app.models import DatasetVersion, Task
from jobs_app import kinds
from jobs_app.models import JobKind, ResourcePool
from jobs_app.services import admission
from ml.formats import missing_counts
from ml.names import clean_name
from models_app import selectors as model_selectors
from models_app.models import ModelVersion, RegisteredModel, WeightsFormat

MAX_PRIORITY = 10
MODEL_NAME_MAX = 200
MAX_RETRIES = 10
MAX_TIMEOUT_S = 7 * 24 * 3600
MAX_PROCESSES = 64


def error(field: str, message: str) -> ValidationError:
    """The ValidationError for one field (`spec.split`), to raise."""
    return ValidationError({field: [message]})


def unknown_keys(spec: dict, allowed: set[str], kind: str) -> None:
    """Refuse the first key of `spec` not in `allowed`, naming the known ones."""
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise error(f"spec.{unknown[0]}", f"unknown field for a {kind} job; known: {', '.join(sorted(allowed))}")


def dataset_version(user: User, team: Team, value, field: str = "spec.dataset_version") -> DatasetVersion:
    """The team's dataset version with id `value` that `user` can read, or a ValidationError on `field`."""
    if value in (None, ""):
        raise error(field, "This field is required.")
    try:
        version = dataset_selectors.versions_for_user(user=user).select_related("dataset", "blob").get(pk=str(value))
    except (DatasetVersion.DoesNotExist, ValidationError, ValueError):
        raise error(field, f"Dataset version {value} does not exist.") from None
    if version.dataset.team_id != team.pk:
        raise error(field, f"Dataset version {value} does not exist in team '{team.slug}'.")
    return version


def model_version(user: User, team: Team, value, field: str = "spec.model_version") -> ModelVersion:
    """The team's model version with id `value` that `user` can read, or a ValidationError on `field`."""
    if value in (None, ""):
        raise error(field, "This field is required.")
    try:
        version = model_selectors.versions_for_user(user=user).get(pk=str(value))
    except (ModelVersion.DoesNotExist, ValidationError, ValueError):
        raise error(field, f"Model version {value} does not exist.") from None
    if version.model.team_id != team.pk:
        raise error(field, f"Model version {value} does not exist in team '{team.slug}'.")
    if version.format == WeightsFormat.MLFLOW:
        name = version.model.name
        raise error(field, f"v{version.version} of '{name}' is an MLflow model Eco stores but never loads.")
    return version


def model_field(team: Team, value, task: str | None, field: str = "spec.model") -> dict:
    """`{model, model_name}` for `value`, an existing model's id or the name of a new (or existing) model of
    the team (printable, NFC, found without regard to case); `model` is None for a name not yet taken. With a
    `task`, an existing model must be of that task. Raises UserError / ValidationError naming `field`."""
    if value in (None, ""):
        raise error(field, "This field is required: a model id, or a name for a new model.")
    if not isinstance(value, str):
        raise error(field, "must be a model id or a model name.")
    model = RegisteredModel.objects.filter(team=team, pk=as_uuid(value)).first() if as_uuid(value) else None
    if model is None and as_uuid(value):
        raise error(field, f"Model {value} does not exist in team '{team.slug}'.")
    if model is None:
        value = clean_name(value, field=field, max_length=MODEL_NAME_MAX)
        model = named(RegisteredModel.objects.filter(team=team), value).first()
        if model is None:
            return {"model": None, "model_name": value}
    if task is not None and not model.task:
        raise error(field, f"model '{model.name}' has no task (registered through MLflow); train into another model.")
    if task is not None and model.task != task:
        raise error(field, f"model '{model.name}' is a {model.task} model; the dataset is {task}.")
    return {"model": str(model.pk), "model_name": model.name}


def missing_values(version: DatasetVersion, names) -> str | None:
    """`age (9 of 60 rows), income (10 of 60 rows)` for the named columns of `version` that hold missing
    values, from the recorded schema (no file read); None when none does."""
    counts = missing_counts(version.schema, dict.fromkeys(n for n in names if n))
    if not counts:
        return None
    shown = [f"{name} ({count} of {version.num_rows} rows)" for name, count in list(counts.items())[:20]]
    return ", ".join(shown) + (f" and {len(counts) - 20} more column(s)" if len(counts) > 20 else "")


def description(spec: dict, out: dict) -> None:
    """Copy the optional `description` (a string) from `spec` into `out`."""
    if spec.get("description") is not None:
        if not isinstance(spec["description"], str):
            raise error("spec.description", "must be a string.")
        out["description"] = spec["description"]


def family(task: str) -> str:
    """ "regression" or "classification": tasks whose models and data sets can meet."""
    return "regression" if task == Task.REGRESSION else "classification"


def as_uuid(value: str):
    """`value` as a UUID, or None when it is not one."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError):
        return None


def parsed_time(text: str):
    """An ISO 8601 time, or None when it is malformed or impossible."""
    try:
        return parse_datetime(text)
    except ValueError:  # well-formed but impossible, such as February 30th
        return None


def check_common(*, kind, priority, resources, max_retries, timeout_s) -> dict:
    if kind not in JobKind.values:
        raise error("kind", f"unknown job kind '{kind}'; use one of {', '.join(JobKind.values)}.")
    if isinstance(priority, bool) or not isinstance(priority, int) or not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise error("priority", f"must be an integer from {-MAX_PRIORITY} to {MAX_PRIORITY}.")
    if not isinstance(resources, dict):
        raise error("resources", 'must be an object like {"pool": "cpu", "gpus": 0}.')
    unknown = sorted(set(resources) - {"pool", "gpus", "processes"})
    if unknown:
        raise error(f"resources.{unknown[0]}", "unknown resource; known: pool, gpus, processes.")
    gpus = resources.get("gpus", 0)
    if isinstance(gpus, bool) or not isinstance(gpus, int) or not 0 <= gpus <= 16:
        raise error("resources.gpus", "must be an integer from 0 to 16.")
    processes = resources.get("processes", 1)
    if isinstance(processes, bool) or not isinstance(processes, int) or not 1 <= processes <= MAX_PROCESSES:
        raise error("resources.processes", f"must be an integer from 1 to {MAX_PROCESSES}.")
    if processes > 1 and gpus:
        raise error("resources.processes", "several processes run on the CPU; on GPUs, gpus gives one process each.")
    if processes > 1 and kind not in kinds.DISTRIBUTED:
        raise error(
            "resources.processes",
            f"a {kind} job runs in one process; only {' and '.join(kinds.DISTRIBUTED)} jobs run in several.",
        )

    pool = resources.get("pool", "gpu" if gpus else "cpu")
    if not isinstance(pool, str) or not admission.is_known_pool(pool):
        known = sorted({*settings.ECO_POOLS, *ResourcePool.objects.values_list("name", flat=True)})
        raise error("resources.pool", f"unknown pool '{pool}'; pools: {', '.join(known)}.")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or not 0 <= max_retries <= MAX_RETRIES:
        raise error("max_retries", f"must be an integer from 0 to {MAX_RETRIES}.")
    if timeout_s is not None and (
        isinstance(timeout_s, bool) or not isinstance(timeout_s, int) or not 1 <= timeout_s <= MAX_TIMEOUT_S
    ):
        raise error("timeout_s", f"must be a whole number of seconds from 1 to {MAX_TIMEOUT_S}, or null.")
    return {"pool": pool, "gpus": gpus, **({"processes": processes} if processes > 1 else {})}


def check_spec(*, user: User, team: Team, kind: str, spec) -> dict:
    """The spec with defaults filled in and ids as strings, or a ValidationError naming the field. The kind's
    own check (in its module under jobs_app/kinds/) does the rest."""
    if not isinstance(spec, dict):
        raise error("spec", "must be a JSON object.")
    if problem := unsafe_text(spec, "spec"):
        raise error("spec", f"{problem}.")
    module = kinds.get(kind)
    unknown_keys(spec, set(module.SPEC_SCHEMA["properties"]), kind)  # the form's fields are the spec's fields
    return module.check(user=user, team=team, spec=spec)


# --- a job's parameters, flat, for the runs table ----------------------------------------------------------


def flat_params(spec) -> dict[str, str | int | float | bool]:
    """The spec's scalar leaves by dot path, in path order: {"hyperparameters.lr": 0.01, "architecture": "mlp"}.
    Left out: nulls (an unset option), lists and empty objects (no single cell holds them), ids of other
    objects (any UUID string: the dataset version, a model given by id), which say nothing comparable, and a
    tracking run's `environment`."""
    out: dict[str, str | int | float | bool] = {}

    def walk(value, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, bool | int | float) or (isinstance(value, str) and not _is_uuid(value)):
            out[path] = value

    if isinstance(spec, dict):
        # a tracking run's environment (git state, package versions) says where it ran, not how: not a param
        walk({k: v for k, v in spec.items() if k != "environment"}, "")
    return dict(sorted(out.items()))


def _is_uuid(text: str) -> bool:
    if len(text) not in (32, 36):
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
