"""Provenance lives in jobs_app: a job's dataset versions, model versions and evaluations are rows of
JobOutput, not foreign keys in the lower apps; the API's `job` fields read it; the migration moves the links
both ways."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from jobs_app import selectors, services
from jobs_app.models import Job, JobOutput, OutputKind
from models_app.models import Evaluation, ModelVersion

# the migrations that move the links (renumbered at merge: keep these names in step)
JOBS_COPY = ("jobs_app", "0006_job_output")
LOWER_REMOVALS = [("datasets_app", "0004_remove_datasetversion_job"), ("models_app", "0005_remove_job_links")]
BEFORE = [
    ("jobs_app", "0005_triggers_snapshot_jobs"),
    ("datasets_app", "0002_datasetversion_job"),
    ("models_app", "0003_gates_predictions"),
]


def _made(world, iris_version, model_version):
    jobs = {kind: Job.objects.create(team=world.alpha, kind=kind, spec={}) for kind in ("process", "train", "evaluate")}
    evaluation = Evaluation.objects.create(
        model_version=model_version, dataset_version=iris_version, metric="accuracy", score=0.9
    )
    services.record_output(job=jobs["process"], kind=OutputKind.DATASET_VERSION, object_id=iris_version.pk)
    services.record_output(job=jobs["train"], kind=OutputKind.MODEL_VERSION, object_id=model_version.pk)
    services.record_output(job=jobs["evaluate"], kind=OutputKind.EVALUATION, object_id=evaluation.pk)
    return jobs, evaluation


def test_the_api_job_fields_read_the_provenance_table(world, iris_version, model_version):
    jobs, evaluation = _made(world, iris_version, model_version)
    client = world.client("viewer")
    body = client.get(f"/api/v1/model-versions/{model_version.pk}/").json()
    assert body["job"] == str(jobs["train"].pk)
    listed = client.get(f"/api/v1/evaluations/?model_version={model_version.pk}").json()["results"]
    assert [e["job"] for e in listed] == [str(jobs["evaluate"].pk)]
    assert selectors.job_id_of(kind=OutputKind.DATASET_VERSION, object_id=iris_version.pk) == str(jobs["process"].pk)
    assert selectors.outputs_of(job=jobs["train"]) == {"model_version": str(model_version.pk)}
    assert not any(f.name == "job" for f in ModelVersion._meta.get_fields())


def test_a_version_no_job_made_has_no_job(world, model_version):
    assert world.client("viewer").get(f"/api/v1/model-versions/{model_version.pk}/").json()["job"] is None


def test_an_object_comes_from_one_job_only(world, model_version):
    from django.db import IntegrityError, transaction

    first, second = (Job.objects.create(team=world.alpha, kind="train", spec={}) for _ in range(2))
    services.record_output(job=first, kind=OutputKind.MODEL_VERSION, object_id=model_version.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        services.record_output(job=second, kind=OutputKind.MODEL_VERSION, object_id=model_version.pk)


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_the_links_both_ways(world, iris_version, model_version):
    jobs, evaluation = _made(world, iris_version, model_version)
    expected = {
        ("datasets_app", "DatasetVersion", iris_version.pk): jobs["process"].pk,
        ("models_app", "ModelVersion", model_version.pk): jobs["train"].pk,
        ("models_app", "Evaluation", evaluation.pk): jobs["evaluate"].pk,
    }
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)  # back: the foreign keys again, filled from JobOutput
    old = executor.loader.project_state(BEFORE).apps
    for (app, model, pk), job_id in expected.items():
        assert old.get_model(app, model).objects.get(pk=pk).job_id == job_id
    assert "jobs_app_joboutput" not in connection.introspection.table_names()

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # forward: the links copied into JobOutput
    copied = {(o.kind, o.object_id): o.job_id for o in JobOutput.objects.all()}
    assert copied == {
        ("dataset_version", iris_version.pk): jobs["process"].pk,
        ("model_version", model_version.pk): jobs["train"].pk,
        ("evaluation", evaluation.pk): jobs["evaluate"].pk,
    }
