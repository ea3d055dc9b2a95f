"""What a job submission must hold, checked before anything is queued. Every problem is a ValidationError
keyed by the field it is about (`spec.architecture`, `spec.hyperparameters`, `resources.pool`…), so the
API answers 400 naming it. Ids in a spec must belong to the job's team; any other id reads as not found."""

from __future__ import annotations

import math
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts_app.models import Team, User
from config.jsonsafe import unsafe_text
from datasets_app import processing
from datasets_app import selectors as dataset_selectors
from datasets_app.formats import is_numeric
from datasets_app.models import DatasetVersion, Task
from jobs_app.models import JobKind
from ml import recipes
from ml.architectures import ARCHITECTURES, INPUT_KIND, SpecError, tensor_shapes
from ml.data import DataError
from ml.pipeline import split_config
from ml.train import HyperparameterError, hyperparameters
from models_app import selectors as model_selectors
from models_app.models import ModelVersion, RegisteredModel, Split

MAX_PRIORITY = 10
MAX_RETRIES = 10
MAX_TIMEOUT_S = 7 * 24 * 3600
MODEL_NAME_MAX = 200
_SMALLEST_DATA = {
    "mlp": {"in_features": 1, "num_outputs": 2},
    "cnn": {"in_channels": 1, "num_outputs": 2},
    "textcnn": {"vocab_size": 16, "num_outputs": 2},
    "transformer": {"vocab_size": 16, "num_outputs": 2},
}
TRAIN_KEYS = {
    "dataset_version",
    "model",
    "architecture",
    "hyperparameters",
    "options",
    "split",
    "image_shape",
    "text_column",
    "description",
}
EVALUATE_KEYS = {"model_version", "dataset_version", "split", "description"}
PROCESS_KEYS = {"dataset_version", "steps", "description"}
EXPORT_KEYS = {"model_version", "format", "dataset_version", "split", "description"}
QUANTIZE_KEYS = {"model_version", "dtype", "dataset_version", "split", "description"}
SNAPSHOT_KEYS = {"dataset_version", "model", "until", "description"}
EXPORT_FORMATS = ("onnx", "torchscript")
QUANTIZE_DTYPES = ("int8",)


def _error(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def _unknown_keys(spec: dict, allowed: set[str], kind: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise _error(f"spec.{unknown[0]}", f"unknown field for a {kind} job; known: {', '.join(sorted(allowed))}")


def _dataset_version(user: User, team: Team, value, field: str = "spec.dataset_version") -> DatasetVersion:
    if value in (None, ""):
        raise _error(field, "This field is required.")
    try:
        version = dataset_selectors.versions_for_user(user=user).select_related("dataset", "blob").get(pk=str(value))
    except (DatasetVersion.DoesNotExist, ValidationError, ValueError):
        raise _error(field, f"Dataset version {value} does not exist.") from None
    if version.dataset.team_id != team.pk:
        raise _error(field, f"Dataset version {value} does not exist in team '{team.slug}'.")
    return version


def _model_version(user: User, team: Team, value, field: str = "spec.model_version") -> ModelVersion:
    if value in (None, ""):
        raise _error(field, "This field is required.")
    try:
        version = model_selectors.versions_for_user(user=user).get(pk=str(value))
    except (ModelVersion.DoesNotExist, ValidationError, ValueError):
        raise _error(field, f"Model version {value} does not exist.") from None
    if version.model.team_id != team.pk:
        raise _error(field, f"Model version {value} does not exist in team '{team.slug}'.")
    return version


def _description(spec: dict, out: dict) -> None:
    if spec.get("description") is not None:
        if not isinstance(spec["description"], str):
            raise _error("spec.description", "must be a string.")
        out["description"] = spec["description"]


def check_common(*, kind, priority, resources, max_retries, timeout_s) -> dict:
    if kind not in JobKind.values:
        raise _error("kind", f"unknown job kind '{kind}'; use one of {', '.join(JobKind.values)}.")
    if isinstance(priority, bool) or not isinstance(priority, int) or not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise _error("priority", f"must be an integer from {-MAX_PRIORITY} to {MAX_PRIORITY}.")
    if not isinstance(resources, dict):
        raise _error("resources", 'must be an object like {"pool": "cpu", "gpus": 0}.')
    unknown = sorted(set(resources) - {"pool", "gpus"})
    if unknown:
        raise _error(f"resources.{unknown[0]}", "unknown resource; known: pool, gpus.")
    gpus = resources.get("gpus", 0)
    if isinstance(gpus, bool) or not isinstance(gpus, int) or not 0 <= gpus <= 16:
        raise _error("resources.gpus", "must be an integer from 0 to 16.")
    pool = resources.get("pool", "gpu" if gpus else "cpu")
    if pool not in settings.ECO_POOLS:
        raise _error("resources.pool", f"unknown pool '{pool}'; pools: {', '.join(settings.ECO_POOLS)}.")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or not 0 <= max_retries <= MAX_RETRIES:
        raise _error("max_retries", f"must be an integer from 0 to {MAX_RETRIES}.")
    if timeout_s is not None and (
        isinstance(timeout_s, bool) or not isinstance(timeout_s, int) or not 1 <= timeout_s <= MAX_TIMEOUT_S
    ):
        raise _error("timeout_s", f"must be a whole number of seconds from 1 to {MAX_TIMEOUT_S}, or null.")
    return {"pool": pool, "gpus": gpus}


def check_spec(*, user: User, team: Team, kind: str, spec) -> dict:
    """The spec with defaults filled in and ids as strings, or a ValidationError naming the field."""
    if not isinstance(spec, dict):
        raise _error("spec", "must be a JSON object.")
    if problem := unsafe_text(spec, "spec"):
        raise _error("spec", f"{problem}.")
    checks = {
        JobKind.TRAIN: _train,
        JobKind.EVALUATE: _evaluate,
        JobKind.PROCESS: _process,
        JobKind.EXPORT: _export,
        JobKind.QUANTIZE: _quantize,
        JobKind.SNAPSHOT: _snapshot,
    }
    return checks[kind](user, team, spec)


# --- train ---------------------------------------------------------------------------------------------


def _train(user: User, team: Team, spec: dict) -> dict:
    _unknown_keys(spec, TRAIN_KEYS, "train")
    version = _dataset_version(user, team, spec.get("dataset_version"))
    task = version.dataset.task
    out: dict = {"dataset_version": str(version.pk)}
    out.update(_model_field(team, spec.get("model"), task))

    architecture = spec.get("architecture") or recipes.recommended_architecture(task)
    if architecture not in ARCHITECTURES:
        raise _error(
            "spec.architecture", f"unknown architecture {architecture!r}; use one of {', '.join(ARCHITECTURES)}."
        )
    if problem := recipes.fits_task(architecture, task):
        raise _error("spec.architecture", f"{problem} (dataset '{version.dataset.name}' is {task})")
    out["architecture"] = architecture
    _check_columns_fit(version, architecture, spec)

    given = spec.get("hyperparameters") or {}
    if not isinstance(given, dict):
        raise _error("spec.hyperparameters", 'must be an object such as {"epochs": 10, "lr": 0.001}.')
    try:
        split = split_config(spec.get("split"))
    except DataError as exc:
        raise exc.prefixed("spec.split") from None
    train_rows = max(1, int(version.num_rows * (1 - split["test"] - split["validation"])))
    try:
        hyperparameters({**recipes.default_hyperparameters(architecture, train_rows, task), **given})
    except HyperparameterError as exc:
        raise exc.prefixed("spec.hyperparameters") from None
    out["hyperparameters"] = given
    out["split"] = split

    options = spec.get("options") or {}
    if not isinstance(options, dict):
        raise _error("spec.options", 'must be an object of architecture settings such as {"hidden": [128]}.')
    try:
        recipes.check_options(architecture, options)
        # values too: build the network's shapes with the smallest data it could meet
        tensor_shapes(
            {
                "architecture": architecture,
                **recipes.ARCHITECTURE_DEFAULTS[architecture],
                **options,
                **_SMALLEST_DATA[architecture],
            }
        )
    except SpecError as exc:
        raise exc.prefixed("spec.options") from None
    out["options"] = options
    for key in ("image_shape", "text_column", "description"):
        if spec.get(key) is not None:
            out[key] = spec[key]
    if "image_shape" in out and not (
        isinstance(out["image_shape"], list)
        and len(out["image_shape"]) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 for v in out["image_shape"])
    ):
        raise _error("spec.image_shape", "must be [height, width] in pixels.")
    if "description" in out and not isinstance(out["description"], str):
        raise _error("spec.description", "must be a string.")
    if "text_column" in out and (not isinstance(out["text_column"], str) or INPUT_KIND[architecture] != "text"):
        raise _error("spec.text_column", "names the text column of a text-classification data set (a string).")
    return out


def _model_field(team: Team, value, task: str) -> dict:
    """`model` is an existing model's id, or the name of a new (or existing) model of the team."""
    if value in (None, ""):
        raise _error("spec.model", "This field is required: a model id, or a name for a new model.")
    if not isinstance(value, str):
        raise _error("spec.model", "must be a model id or a model name.")
    model = RegisteredModel.objects.filter(team=team, pk=_as_uuid(value)).first() if _as_uuid(value) else None
    if model is None and _as_uuid(value):
        raise _error("spec.model", f"Model {value} does not exist in team '{team.slug}'.")
    if model is None:
        if len(value) > MODEL_NAME_MAX or not value.strip():
            raise _error("spec.model", f"a model name must be 1 to {MODEL_NAME_MAX} characters.")
        model = RegisteredModel.objects.filter(team=team, name=value).first()
        if model is None:
            return {"model": None, "model_name": value}
    if model.task != task:
        raise _error("spec.model", f"model '{model.name}' is a {model.task} model; the dataset is {task}.")
    return {"model": str(model.pk), "model_name": model.name}


def _as_uuid(value: str):
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError):
        return None


def _feature_columns(version: DatasetVersion) -> list[dict]:
    return [c for c in version.schema.get("columns", []) if c["name"] != version.target]


def _check_columns_fit(version: DatasetVersion, architecture: str, spec: dict) -> None:
    """The data set's columns can feed the architecture (checked from the recorded schema, no file read)."""
    features = _feature_columns(version)
    kind = INPUT_KIND[architecture]
    if kind == "text":
        texts = [c["name"] for c in features if c["dtype"] == "string"]
        wanted = spec.get("text_column")
        if wanted is not None and wanted not in texts:
            raise _error(
                "spec.text_column", f"no text column named {wanted!r}; text columns: {', '.join(texts) or 'none'}."
            )
        if wanted is None and len(texts) != 1:
            raise _error(
                "spec.text_column", f"name the text column: found {len(texts)} ({', '.join(texts) or 'none'})."
            )
        return
    if version.format == "npz":
        return
    bad = [c["name"] for c in features if not is_numeric(c["dtype"])]
    if bad:
        raise _error(
            "spec.architecture",
            f"{architecture} needs numeric feature columns; not numeric: {', '.join(bad[:10])} "
            "(process the data set first, or pick a text architecture).",
        )
    shape = spec.get("image_shape")
    if kind == "image" and isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) for v in shape):
        if shape[0] * shape[1] != len(features):
            raise _error(
                "spec.image_shape",
                f"{shape[0]}x{shape[1]} images need {shape[0] * shape[1]} pixel columns; "
                f"the data set has {len(features)}.",
            )
    if kind == "image" and shape is None:
        side = math.isqrt(len(features))
        if side * side != len(features):
            raise _error(
                "spec.image_shape",
                f"the data set has {len(features)} pixel columns, not a square number; give image_shape [h, w].",
            )


# --- evaluate ------------------------------------------------------------------------------------------


def _evaluate(user: User, team: Team, spec: dict) -> dict:
    _unknown_keys(spec, EVALUATE_KEYS, "evaluate")
    model_version = _model_version(user, team, spec.get("model_version"))
    version = _dataset_version(user, team, spec.get("dataset_version"))
    split = spec.get("split", Split.TEST)
    if split not in Split.values:
        raise _error("spec.split", f"must be one of {', '.join(Split.values)}; got {split!r}.")
    model_task, data_task = model_version.model.task, version.dataset.task
    if _family(model_task) != _family(data_task):
        raise _error("spec.dataset_version", f"the model is a {model_task} model; this data set is {data_task}.")
    names = {c["name"] for c in version.schema.get("columns", [])}
    target = model_version.spec.get("target") or version.target
    needed = [target, *(model_version.spec.get("preprocessing", {}).get("feature_names") or [])]
    if text := model_version.spec.get("preprocessing", {}).get("text_column"):
        needed.append(text)
    missing = [n for n in needed if n not in names] if version.format != "npz" else []
    if missing:
        raise _error("spec.dataset_version", f"the data set lacks columns the model needs: {', '.join(missing[:10])}.")
    absent = [k for k in ("task", "target", "preprocessing") if k not in model_version.spec]
    if absent:
        raise _error(
            "spec.model_version",
            f"this version's spec has no {', '.join(absent)}: only versions trained by Eco jobs know how to encode "
            "raw data for evaluation.",
        )
    out = {"model_version": str(model_version.pk), "dataset_version": str(version.pk), "split": split}
    _description(spec, out)
    return out


def _family(task: str) -> str:
    return "regression" if task == Task.REGRESSION else "classification"


# --- process -------------------------------------------------------------------------------------------


def _process(user: User, team: Team, spec: dict) -> dict:
    _unknown_keys(spec, PROCESS_KEYS, "process")
    version = _dataset_version(user, team, spec.get("dataset_version"))
    if version.format not in processing.PROCESSABLE_FORMATS:
        raise _error(
            "spec.dataset_version",
            f"{version.format} versions cannot be processed; use {' or '.join(processing.PROCESSABLE_FORMATS)}.",
        )
    try:
        steps = processing.check_steps(spec.get("steps"), columns=version.schema["columns"], target=version.target)
    except processing.StepError as exc:
        raise exc.prefixed("spec") from None
    out = {"dataset_version": str(version.pk), "steps": steps}
    _description(spec, out)
    return out


# --- export, quantize ----------------------------------------------------------------------------------


def _optimize_common(user: User, team: Team, spec: dict, kind: str) -> tuple[dict, ModelVersion]:
    """The source version and the data its parity, accuracy and latency are measured on: `dataset_version`
    when given, else the data set the source was trained on; `split` defaults to test."""
    source = _model_version(user, team, spec.get("model_version"))
    absent = [k for k in ("task", "target", "preprocessing") if k not in source.spec]
    if absent:
        raise _error(
            "spec.model_version",
            f"{kind} needs a version trained by an Eco job (its spec has no {', '.join(absent)}), to measure "
            "the new version against the source on real data.",
        )
    if spec.get("dataset_version") not in (None, ""):
        data = _dataset_version(user, team, spec["dataset_version"])
    else:
        link = source.dataset_links.first()
        if link is None:
            raise _error("spec.dataset_version", "the source version names no training data; give a dataset_version.")
        data = DatasetVersion.objects.select_related("dataset").get(pk=link.dataset_version_id)
    split = spec.get("split", Split.TEST)
    if split not in Split.values:
        raise _error("spec.split", f"must be one of {', '.join(Split.values)}; got {split!r}.")
    out = {"model_version": str(source.pk), "dataset_version": str(data.pk), "split": split}
    _description(spec, out)
    return out, source


def _export(user: User, team: Team, spec: dict) -> dict:
    _unknown_keys(spec, EXPORT_KEYS, "export")
    out, source = _optimize_common(user, team, spec, "export")
    fmt = spec.get("format")
    if fmt not in EXPORT_FORMATS:
        raise _error("spec.format", f"must be one of {', '.join(EXPORT_FORMATS)}; got {fmt!r}.")
    if source.format != "safetensors":
        raise _error(
            "spec.model_version", f"v{source.version} is already a {source.format} version; export its parent."
        )
    return {**out, "format": fmt}


def _quantize(user: User, team: Team, spec: dict) -> dict:
    _unknown_keys(spec, QUANTIZE_KEYS, "quantize")
    out, source = _optimize_common(user, team, spec, "quantize")
    dtype = spec.get("dtype", "int8")
    if dtype not in QUANTIZE_DTYPES:
        raise _error("spec.dtype", f"must be one of {', '.join(QUANTIZE_DTYPES)}; got {dtype!r}.")
    if source.format == "torchscript" or source.params.get("optimization") == "quantize":
        raise _error(
            "spec.model_version", f"v{source.version} cannot be quantized; quantize a safetensors or fp32 ONNX version."
        )
    return {**out, "dtype": dtype}


# --- snapshot ------------------------------------------------------------------------------------------


def _snapshot(user: User, team: Team, spec: dict) -> dict:
    """Base dataset version + every labelled prediction of `model` up to `until` (default: now)."""
    _unknown_keys(spec, SNAPSHOT_KEYS, "snapshot")
    version = _dataset_version(user, team, spec.get("dataset_version"))
    if version.format not in processing.PROCESSABLE_FORMATS:
        raise _error(
            "spec.dataset_version",
            f"a snapshot needs a {' or '.join(processing.PROCESSABLE_FORMATS)} base; this one is {version.format}.",
        )
    value = spec.get("model")
    model = RegisteredModel.objects.filter(team=team, pk=_as_uuid(value)).first() if isinstance(value, str) else None
    if model is None:
        raise _error("spec.model", f"Model {value} does not exist in team '{team.slug}'.")
    if _family(model.task) != _family(version.dataset.task):
        raise _error("spec.model", f"the model is a {model.task} model; the base data set is {version.dataset.task}.")
    until = spec.get("until")
    if until is None:
        until = timezone.now().isoformat()
    elif not isinstance(until, str) or _parsed_time(until) is None:
        raise _error("spec.until", "must be an ISO 8601 time such as 2026-11-29T12:00:00Z.")
    out = {"dataset_version": str(version.pk), "model": str(model.pk), "until": until}
    _description(spec, out)
    return out


def _parsed_time(text: str):
    try:
        return parse_datetime(text)
    except ValueError:  # well-formed but impossible, such as February 30th
        return None
