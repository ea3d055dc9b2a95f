"""train: a dataset version -> a new ModelVersion with metrics, params, weights and lineage.

The spec: `{dataset_version, model (id or new name), architecture, hyperparameters, options, split,
image_shape, text_column, description}`; see SPEC_SCHEMA."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File

from accounts_app.models import Team, User
from accounts_app.names import named
from datasets_app import blobs
from datasets_app.models import DatasetVersion
from jobs_app import services, specs
from jobs_app.kinds import SCHEMA_DIALECT
from jobs_app.models import Job, OutputKind
from jobs_app.runners.reporter import RegistryReporter
from ml import formats, impute, pipeline, recipes
from ml.architectures import IMAGE, REGISTRY, TEXT, SpecError, tensor_shapes
from ml.artifacts import save_weights
from ml.data import DataError
from ml.formats import is_numeric
from ml.pipeline import SPLIT_DEFAULTS, split_config
from ml.train import DEFAULTS as HYPERPARAMETER_DEFAULTS
from ml.train import INTEGER, LIMITS, HyperparameterError, hyperparameters
from models_app import leakage
from models_app import services as model_services
from models_app.models import GatePolicy, RegisteredModel

DESCRIPTION = "Train a network on a dataset version; registers a new version of the model."
# What the train loop logs (ml/train.py: loss, lr and samples/s per step; per epoch train_loss and the
# validation metrics of ml/evaluate.py as val_*), and which way is better (jobs_app.metrics.direction;
# lr has no better way and takes the default)
METRIC_DIRECTIONS = {
    "loss": "min",
    "train_loss": "min",
    "samples_per_s": "max",
    "epoch": "max",
    "val_accuracy": "max",
    "val_precision_macro": "max",
    "val_recall_macro": "max",
    "val_f1_macro": "max",
    "val_log_loss": "min",
    "val_mae": "min",
    "val_rmse": "min",
    "val_r2": "max",
}
IMPUTE_SCHEMA = {
    "enum": [*impute.STRATEGIES, None],
    "default": None,
    "description": "Missing values in the used columns (the target and the features the architecture reads): "
    "mean, median or most_frequent fill each feature with that statistic of the train rows (text columns: "
    "most_frequent only), stored with the model and used again in evaluation and serving; drop_rows drops "
    "the rows with a missing value before the split. A missing target is never filled: with any strategy, "
    "those rows are dropped. Without it, a data set with missing values in its used columns is refused.",
}
SPEC_SCHEMA = {
    "$schema": SCHEMA_DIALECT,
    "title": "train job spec",
    "type": "object",
    "required": ["dataset_version", "model"],
    "additionalProperties": False,
    "properties": {
        "dataset_version": {"type": "string", "format": "uuid", "description": "The data to train on."},
        "model": {
            "type": "string",
            "minLength": 1,
            "maxLength": specs.MODEL_NAME_MAX,
            "description": "A model id of the team, or a name: the model is created on first use.",
        },
        "architecture": {
            "enum": [*REGISTRY, None],
            "description": "Default: the data set's task recommends one (cnn for images, textcnn for texts, "
            "mlp for tables).",
        },
        "hyperparameters": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "description": "Each value overrides the recipe's, which depends on the architecture and data size.",
            "properties": {
                key: {
                    "type": "integer" if key in INTEGER else "number",
                    "minimum": LIMITS[key][0],
                    "maximum": LIMITS[key][1],
                    "default": default,
                }
                for key, default in HYPERPARAMETER_DEFAULTS.items()
            },
        },
        "options": {
            "type": ["object", "null"],
            "description": "Architecture settings (the layer sizes, dropout...): see allOf for each architecture; "
            "and for every architecture `impute`, how to treat missing values in the used columns.",
        },
        "split": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "seed": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": SPLIT_DEFAULTS["seed"]},
                "validation": {
                    "type": "number",
                    "minimum": 0,
                    "exclusiveMaximum": 1,
                    "default": SPLIT_DEFAULTS["validation"],
                },
                "test": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "exclusiveMaximum": 1,
                    "default": SPLIT_DEFAULTS["test"],
                },
                "stratify": {"type": "boolean", "default": SPLIT_DEFAULTS["stratify"]},
            },
        },
        "image_shape": {
            "type": ["array", "null"],
            "items": {"type": "integer", "minimum": 1, "maximum": 4096},
            "minItems": 2,
            "maxItems": 2,
            "description": "[height, width] of the images stored as pixel columns; default: a square.",
        },
        "text_column": {"type": ["string", "null"], "description": "The text column of a text data set."},
        "description": {"type": ["string", "null"]},
    },
    # the options an architecture takes, each with the recipe's value as its default
    "allOf": [
        {
            "if": {"properties": {"architecture": {"const": name}}, "required": ["architecture"]},
            "then": {
                "properties": {
                    "options": {
                        "type": ["object", "null"],
                        "additionalProperties": False,
                        "properties": {
                            **{key: {"default": value} for key, value in entry.defaults.items()},
                            impute.OPTION: IMPUTE_SCHEMA,
                        },
                    }
                }
            },
        }
        for name, entry in REGISTRY.items()
    ],
}


def run(job: Job, reporter: RegistryReporter) -> None:
    spec = job.spec
    version = DatasetVersion.objects.select_related("dataset", "blob").get(pk=spec["dataset_version"])
    with blobs.local_copy(version.blob) as path:
        columns = formats.arrays(path, version.format, version.schema)
    device = "cuda" if job.resources.get("gpus") else "cpu"
    import torch

    reporter.log(f"device {device}, {torch.get_num_threads()} CPU thread(s)")
    # resources.processes on the CPU, resources.gpus on GPUs: one process each (jobs_app.specs allows one of them)
    world = max(job.resources.get("processes", 1), job.resources.get("gpus", 0))
    if world > 1:
        reporter.log(
            f"{world} processes with DistributedDataParallel ({'NCCL' if device == 'cuda' else 'gloo'}); "
            f"batch_size is per process: a step takes {world} x batch_size rows"
        )
    outcome = pipeline.train(
        columns,
        task=version.dataset.task,
        target=version.target,
        architecture=spec["architecture"],
        hyperparameters=spec.get("hyperparameters"),
        options=spec.get("options"),
        split=spec.get("split"),
        reporter=reporter,
        device=device,
        image_shape=spec.get("image_shape"),
        text_column=spec.get("text_column"),
        step_delay_s=settings.ECO_TRAIN_STEP_DELAY_S,  # 0 but in browser tests (ml/ takes a number, no settings)
        processes=world,
        tmp_dir=settings.FILE_UPLOAD_TEMP_DIR,
    )
    fit = outcome.fit
    reporter.log(
        f"trained {fit.epochs_run} epoch(s); {fit.train_seconds:.2f} s of training over all attempts"
        + (f", resumed after epoch {fit.resumed_from_epoch + 1}" if fit.resumed_from_epoch is not None else "")
    )
    params = {
        "architecture": spec["architecture"],
        "hyperparameters": outcome.hyperparameters,
        "options": spec.get("options") or {},
        "split": outcome.split,
        "device": device,
        "processes": world,
        "epochs_run": fit.epochs_run,
        "resumed_from_epoch": fit.resumed_from_epoch,
        "train_seconds": round(fit.train_seconds, 4),
    }
    with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        weights = Path(tmp) / "weights.safetensors"
        save_weights(outcome.model, weights)

        def register(locked: Job) -> dict:
            model = _model_for(locked, version)
            with open(weights, "rb") as fh:
                model_version = model_services.register_version(
                    actor=locked.created_by,
                    model=model,
                    weights_path=weights,
                    weights=File(fh, name="weights.safetensors"),
                    spec=outcome.spec,
                    metrics=outcome.metrics,
                    params=params,
                    dataset_versions=[version],
                    description=spec.get("description", ""),
                    from_job=True,
                )
                services.record_output(job=locked, kind=OutputKind.MODEL_VERSION, object_id=model_version.pk)
            return {
                "model": str(model.pk),
                "model_version": str(model_version.pk),
                "version": model_version.version,
                "train_seconds": params["train_seconds"],
            }

        reporter.close()  # the last metrics and log lines land before the job reads as succeeded
        services.complete(job_id=job.pk, task_id=reporter.task_id, register=register)


def _model_for(job: Job, version: DatasetVersion) -> RegisteredModel:
    """The model named by the spec: by id, else by name (created on first use, with the data set's task)."""
    spec = job.spec
    if spec.get("model"):
        return RegisteredModel.objects.get(pk=spec["model"])
    existing = named(RegisteredModel.objects.filter(team=job.team), spec["model_name"]).first()
    if existing is None:
        try:
            return model_services.create_model(
                actor=job.created_by, team=job.team, name=spec["model_name"], task=version.dataset.task
            )
        except ValidationError:  # another job created it a moment ago (create_model used a savepoint)
            existing = named(RegisteredModel.objects.filter(team=job.team), spec["model_name"]).get()
    if existing.task != version.dataset.task:
        raise DataError(
            f"model '{existing.name}' is now a {existing.task} model; the data set is {version.dataset.task}"
        )
    return existing


def warnings(job: Job) -> list[str]:
    """A warning when the training data overlaps the pinned set of the target model's gate (by content, as
    the gate's leakage check counts): a version trained on it may be refused promotion."""
    gate = (
        GatePolicy.objects.filter(model_id=job.spec.get("model"))
        .select_related("dataset_version__dataset", "dataset_version__blob")
        .first()
        if job.spec.get("model")
        else None
    )
    if gate is None:
        return []
    version = DatasetVersion.objects.select_related("dataset", "blob").get(pk=job.spec["dataset_version"])
    warning = leakage.warn(gate=gate, dataset_version=version)
    return [warning] if warning else []


# --- the spec ------------------------------------------------------------------------------------------


def check(*, user: User, team: Team, spec: dict) -> dict:
    """The train spec with defaults filled in (ValidationError naming the field otherwise)."""
    version = specs.dataset_version(user, team, spec.get("dataset_version"))
    task = version.dataset.task
    out: dict = {"dataset_version": str(version.pk)}
    out.update(specs.model_field(team, spec.get("model"), task))

    architecture = spec.get("architecture") or recipes.recommended_architecture(task)
    if not isinstance(architecture, str) or architecture not in REGISTRY:
        raise specs.error(
            "spec.architecture", f"unknown architecture {architecture!r}; use one of {', '.join(REGISTRY)}."
        )
    entry = REGISTRY[architecture]
    if problem := recipes.fits_task(architecture, task):
        raise specs.error("spec.architecture", f"{problem} (dataset '{version.dataset.name}' is {task})")
    out["architecture"] = architecture
    used = _check_columns_fit(version, architecture, spec)

    given = spec.get("hyperparameters") or {}
    if not isinstance(given, dict):
        raise specs.error("spec.hyperparameters", 'must be an object such as {"epochs": 10, "lr": 0.001}.')
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
        raise specs.error("spec.options", 'must be an object of architecture settings such as {"hidden": [128]}.')
    try:
        network_options = recipes.check_options(architecture, options)
        # values too: build the network's shapes with the smallest data it could meet
        tensor_shapes(
            {
                "architecture": architecture,
                **entry.defaults,
                **network_options,
                **entry.smallest_data,
            }
        )
    except SpecError as exc:
        raise exc.prefixed("spec.options") from None
    _check_missing_values(version, used, options.get(impute.OPTION))
    out["options"] = options
    for key in ("image_shape", "text_column", "description"):
        if spec.get(key) is not None:
            out[key] = spec[key]
    if "image_shape" in out and not (
        isinstance(out["image_shape"], list)
        and len(out["image_shape"]) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 for v in out["image_shape"])
    ):
        raise specs.error("spec.image_shape", "must be [height, width] in pixels.")
    if "description" in out and not isinstance(out["description"], str):
        raise specs.error("spec.description", "must be a string.")
    if "text_column" in out and (not isinstance(out["text_column"], str) or entry.input_kind != TEXT):
        raise specs.error("spec.text_column", "names the text column of a text-classification data set (a string).")
    return out


def _feature_columns(version: DatasetVersion) -> list[dict]:
    return [c for c in version.schema.get("columns", []) if c["name"] != version.target]


def _check_missing_values(version: DatasetVersion, used: list[str], strategy: str | None) -> None:
    """Without `options.impute`, the used columns (target and features) hold no missing value; with it, a
    text feature takes most_frequent or drop_rows only (read from the recorded schema, no file read)."""
    if strategy is None:
        if found := specs.missing_values(version, [version.target, *used]):
            raise specs.error(
                "spec.dataset_version",
                f"missing values in {found}; set options.impute to {impute.CHOICES_TEXT}, or run a process job "
                "with fillna or dropna first.",
            )
        return
    if strategy not in impute.TEXT_STRATEGIES:
        texts = set(formats.text_columns(version.schema))
        text = [n for n in used if n in texts]
        if text:
            raise specs.error(
                f"spec.options.{impute.OPTION}",
                f"impute {strategy} cannot fill text column '{text[0]}'; use most_frequent or drop_rows.",
            )


def text_column(version: DatasetVersion, wanted) -> str:
    """The text column a text model reads: `wanted` (from the spec) when it names a string column, else the
    one string feature column (from the recorded schema); ValidationError on `spec.text_column` otherwise."""
    texts = [c["name"] for c in _feature_columns(version) if c["dtype"] == "string"]
    if wanted is not None and wanted not in texts:
        raise specs.error(
            "spec.text_column", f"no text column named {wanted!r}; text columns: {', '.join(texts) or 'none'}."
        )
    if wanted is None and len(texts) != 1:
        raise specs.error(
            "spec.text_column", f"name the text column: found {len(texts)} ({', '.join(texts) or 'none'})."
        )
    return wanted or texts[0]


def _check_columns_fit(version: DatasetVersion, architecture: str, spec: dict) -> list[str]:
    """The data set's columns can feed the architecture (checked from the recorded schema, no file read);
    returns the feature columns it reads (a text model: its text column; any other: every feature column)."""
    features = _feature_columns(version)
    kind = REGISTRY[architecture].input_kind
    if kind == TEXT:
        return [text_column(version, spec.get("text_column"))]
    if version.format == "npz":
        return [c["name"] for c in features]
    bad = [c["name"] for c in features if not is_numeric(c["dtype"])]
    if bad:
        raise specs.error(
            "spec.architecture",
            f"{architecture} needs numeric feature columns; not numeric: {', '.join(bad[:10])} "
            "(process the data set first, or pick a text architecture).",
        )
    shape = spec.get("image_shape")
    if kind == IMAGE and isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) for v in shape):
        if shape[0] * shape[1] != len(features):
            raise specs.error(
                "spec.image_shape",
                f"{shape[0]}x{shape[1]} images need {shape[0] * shape[1]} pixel columns; "
                f"the data set has {len(features)}.",
            )
    if kind == IMAGE and shape is None:
        side = math.isqrt(len(features))
        if side * side != len(features):
            raise specs.error(
                "spec.image_shape",
                f"the data set has {len(features)} pixel columns, not a square number; give image_shape [h, w].",
            )
    return [c["name"] for c in features]
