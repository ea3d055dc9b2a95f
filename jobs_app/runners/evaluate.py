"""evaluate: a model version on one split of a dataset version -> an Evaluation (a leaderboard row)."""

from __future__ import annotations

from datasets_app import blobs
from datasets_app.models import DatasetVersion
from jobs_app import services
from jobs_app.models import Job
from jobs_app.runners.reporter import RegistryReporter
from ml import pipeline
from ml.artifacts import load_model
from ml.data import read_columns
from ml.train import Stopped
from models_app import services as model_services
from models_app.models import ModelVersion


def run(job: Job, reporter: RegistryReporter) -> None:
    spec = job.spec
    model_version = ModelVersion.objects.select_related("blob", "model").get(pk=spec["model_version"])
    version = DatasetVersion.objects.select_related("dataset", "blob").get(pk=spec["dataset_version"])
    with blobs.local_copy(model_version.blob) as path:
        model = load_model(model_version.spec, path)
    with blobs.local_copy(version.blob) as path:
        columns = read_columns(path, version.format)
    reporter.set_progress(0.3)
    if reporter.should_stop():
        raise Stopped("stopped before evaluating")
    # the split the version was trained with, so "test" means the rows it never saw
    trained_split = model_version.params.get("split") or {}
    split_config = {k: v for k, v in trained_split.items() if k in pipeline.SPLIT_DEFAULTS}
    metrics = pipeline.evaluate(model, model_version.spec, columns, split=spec["split"], split_config=split_config)
    num_rows = metrics.pop("num_rows")
    reporter.log(
        f"{model_version} on {version} ({spec['split']}, {num_rows} rows): "
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
            job=locked,
        )
        return {"evaluation": str(evaluation.pk), evaluation.metric: evaluation.score}

    services.complete(job_id=job.pk, task_id=reporter.task_id, register=register)
