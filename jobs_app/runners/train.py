"""train: a dataset version -> a new ModelVersion with metrics, params, weights and lineage."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File

from accounts_app.names import named
from datasets_app import blobs
from datasets_app.models import DatasetVersion
from jobs_app import services
from jobs_app.models import Job
from jobs_app.runners.reporter import RegistryReporter
from ml import pipeline
from ml.artifacts import save_weights
from ml.data import DataError, read_columns
from models_app import services as model_services
from models_app.models import RegisteredModel


def run(job: Job, reporter: RegistryReporter) -> None:
    spec = job.spec
    version = DatasetVersion.objects.select_related("dataset", "blob").get(pk=spec["dataset_version"])
    with blobs.local_copy(version.blob) as path:
        columns = read_columns(path, version.format)
    device = "cuda" if job.resources.get("gpus") else "cpu"
    import torch

    reporter.log(f"device {device}, {torch.get_num_threads()} CPU thread(s)")
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
    )
    fit = outcome.fit
    reporter.log(
        f"trained {fit.epochs_run} epoch(s) in {fit.train_seconds:.2f} s"
        + (f", resumed after epoch {fit.resumed_from_epoch + 1}" if fit.resumed_from_epoch is not None else "")
    )
    params = {
        "architecture": spec["architecture"],
        "hyperparameters": outcome.hyperparameters,
        "options": spec.get("options") or {},
        "split": outcome.split,
        "device": device,
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
                    job=locked,
                )
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
