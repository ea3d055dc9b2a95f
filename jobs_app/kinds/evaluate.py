"""evaluate: a model version on one split of a dataset version -> an Evaluation (a leaderboard row).
Any version runs: safetensors on torch, ONNX exports (fp32 or int8) and brought ONNX graphs on ONNX Runtime,
TorchScript. A brought graph's data is encoded by its serving spec (`ml.inference.pipeline_spec`)."""

from __future__ import annotations

from accounts_app.models import Team, User
from datasets_app import blobs
from datasets_app.models import DatasetVersion
from jobs_app import services, specs
from jobs_app.kinds import SCHEMA_DIALECT
from jobs_app.models import Job, OutputKind
from jobs_app.runners.reporter import RegistryReporter
from ml import formats, impute, inference, pipeline
from ml.data import Arrays
from ml.evaluate import metrics_from_outputs
from ml.train import Stopped
from models_app import checkpoints
from models_app import services as model_services
from models_app.models import ModelVersion, Split

DESCRIPTION = "Evaluate a model version on one split of a dataset version; records an evaluation."
# The metrics of ml/evaluate.py, and which way is better (jobs_app.metrics.direction)
METRIC_DIRECTIONS = {
    "accuracy": "max",
    "precision_macro": "max",
    "recall_macro": "max",
    "f1_macro": "max",
    "log_loss": "min",
    "mae": "min",
    "rmse": "min",
    "r2": "max",
}
SPEC_SCHEMA = {
    "$schema": SCHEMA_DIALECT,
    "title": "evaluate job spec",
    "type": "object",
    "required": ["model_version", "dataset_version"],
    "additionalProperties": False,
    "properties": {
        "model_version": {
            "type": "string",
            "format": "uuid",
            "description": "A version trained by an Eco job, or brought with a serving spec.",
        },
        "dataset_version": {"type": "string", "format": "uuid", "description": "Data with the model's columns."},
        "split": {"enum": Split.values, "default": Split.TEST, "description": "The rows of the model's own split."},
        "description": {"type": ["string", "null"]},
    },
}


def trained_split(model_version: ModelVersion) -> dict:
    """The split settings the version (or the version it was derived from) was trained with, so "test"
    means the rows it never saw."""
    params = model_version.params
    if "split" not in params and model_version.parent_id:
        params = ModelVersion.objects.only("params").get(pk=model_version.parent_id).params
    return {k: v for k, v in (params.get("split") or {}).items() if k in pipeline.SPLIT_DEFAULTS}


def encoded_data(model_version: ModelVersion, version: DatasetVersion, split: str) -> Arrays:
    with blobs.local_copy(version.blob) as path:
        columns = formats.arrays(path, version.format, version.schema)
    spec = inference.pipeline_spec(model_version.spec, target=version.target)
    return pipeline.encoded_split(spec, columns, split=split, split_config=trained_split(model_version))


def run(job: Job, reporter: RegistryReporter) -> None:
    spec = job.spec
    model_version = ModelVersion.objects.select_related("blob", "model").get(pk=spec["model_version"])
    version = DatasetVersion.objects.select_related("dataset", "blob").get(pk=spec["dataset_version"])
    runtime = checkpoints.runtime_of(model_version)
    arrays = encoded_data(model_version, version, spec["split"])
    reporter.set_progress(0.3)
    if reporter.should_stop():
        raise Stopped("stopped before evaluating")
    metrics = metrics_from_outputs(
        inference.run_batched(runtime, arrays.inputs),
        arrays.targets,
        model_version.spec["task"],
        classes=arrays.preprocessing.get("classes"),
    )
    num_rows = len(arrays)
    reporter.log(
        f"{model_version} on {version} ({spec['split']}, {num_rows} rows, {runtime.name}): "
        + " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float))
    )
    reporter.close()

    def register(locked: Job) -> dict:
        evaluation = model_services.record_evaluation(
            actor=locked.created_by,
            model_version=model_version,
            dataset_version=version,
            split=spec["split"],
            metrics=metrics,
            num_rows=num_rows,
        )
        services.record_output(job=locked, kind=OutputKind.EVALUATION, object_id=evaluation.pk)
        return {"evaluation": str(evaluation.pk), evaluation.metric: evaluation.score}

    services.complete(job_id=job.pk, task_id=reporter.task_id, register=register)


# --- the spec ------------------------------------------------------------------------------------------


def check(*, user: User, team: Team, spec: dict) -> dict:
    """The evaluate spec with its split filled in (ValidationError naming the field otherwise)."""
    model_version = specs.model_version(user, team, spec.get("model_version"))
    version = specs.dataset_version(user, team, spec.get("dataset_version"))
    split = spec.get("split", Split.TEST)
    if split not in Split.values:
        raise specs.error("spec.split", f"must be one of {', '.join(Split.values)}; got {split!r}.")
    model_task, data_task = model_version.model.task, version.dataset.task
    if specs.family(model_task) != specs.family(data_task):
        raise specs.error("spec.dataset_version", f"the model is a {model_task} model; this data set is {data_task}.")
    names = {c["name"] for c in version.schema.get("columns", [])}
    target = model_version.spec.get("target") or version.target
    needed = [n for n in (target, *(model_version.spec.get("preprocessing", {}).get("feature_names") or [])) if n]
    if text := model_version.spec.get("preprocessing", {}).get("text_column"):
        needed.append(text)
    missing = [n for n in needed if n not in names] if version.format != "npz" else []
    if missing:
        raise specs.error(
            "spec.dataset_version", f"the data set lacks columns the model needs: {', '.join(missing[:10])}."
        )
    absent = [k for k in ("task", "preprocessing") if k not in model_version.spec]
    if not target:
        absent.insert(1, "target")
    if absent:
        raise specs.error(
            "spec.model_version",
            f"this version's spec has no {', '.join(absent)}: only versions trained by Eco jobs, or brought with a "
            "serving spec, know how to encode raw data for evaluation.",
        )
    has_imputer = "impute" in (model_version.spec["preprocessing"] or {})  # see ml.impute
    if not has_imputer and (found := specs.missing_values(version, needed)):
        raise specs.error(
            "spec.dataset_version",
            f"missing values in {found}; this model has no imputer: train one with options.impute "
            f"({impute.CHOICES_TEXT}), or run a process job with fillna or dropna first.",
        )
    out = {"model_version": str(model_version.pk), "dataset_version": str(version.pk), "split": split}
    specs.description(spec, out)
    return out
