"""Submitting jobs: every bad spec is a 400 naming its field; roles and team isolation hold; a good job is
queued and sent to its pool's queue only when the transaction commits."""

import uuid
from pathlib import Path

import numpy as np
import pytest

from jobs_app.models import Job
from tests.helpers import csv_file, register_outcome


def _post(client, kind="train", spec=None, **extra):
    return client.post("/api/v1/jobs/", {"team": "alpha", "kind": kind, "spec": spec or {}, **extra}, format="json")


@pytest.fixture
def beta_version(world):
    from datasets_app.services import create_dataset, create_version_from_builtin

    dataset = create_dataset(actor=world.outsider, team=world.beta, name="theirs", task="classification")
    return create_version_from_builtin(actor=world.outsider, dataset=dataset, name="iris")


@pytest.fixture
def text_version(world):
    from datasets_app.services import create_dataset, create_version_from_upload
    from datasets_app.uploads import read_upload  # noqa: F401 (keeps the import path warm)

    dataset = create_dataset(actor=world.users["member"], team=world.alpha, name="reviews", task="text-classification")
    client = world.client("member")
    rows = "text,label\n" + "\n".join(f"{'good' if i % 2 else 'bad'} movie {i},{i % 2}" for i in range(40))
    response = client.post(
        f"/api/v1/datasets/{dataset.pk}/versions/",
        {"file": csv_file(rows, "reviews.csv"), "target": "label"},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    del create_version_from_upload
    return response.json()["id"]


def test_a_valid_train_job_is_queued_and_sent_on_commit(world, iris_version, django_capture_on_commit_callbacks):
    client = world.client("member")
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(
            client,
            spec={"dataset_version": str(iris_version.pk), "model": "new-model", "hyperparameters": {"epochs": 3}},
            priority=5,
            max_retries=2,
            timeout_s=600,
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["team"] == "alpha" and body["created_by"] == "alpha-member"
    assert body["spec"]["architecture"] == "mlp"  # the recommended one for a table
    assert body["spec"]["model"] is None and body["spec"]["model_name"] == "new-model"
    assert body["spec"]["split"] == {"seed": 0, "validation": 0.1, "test": 0.2, "stratify": True}
    assert body["resources"] == {"pool": "cpu", "gpus": 0}
    assert (body["priority"], body["max_retries"], body["timeout_s"]) == (5, 2, 600)
    assert len(callbacks) == 1  # the message to the broker waits for the commit
    job = Job.objects.get(pk=body["id"])
    assert job.task_id and job.pool == "cpu"


def test_no_timeout_is_null(world, iris_version):
    response = _post(world.client("member"), spec=_train(iris_version), timeout_s=None)
    assert response.status_code == 201 and response.json()["timeout_s"] is None


def test_gpu_jobs_go_to_the_gpu_pool(world, iris_version):
    response = _post(
        world.client("member"),
        spec={"dataset_version": str(iris_version.pk), "model": "m"},
        resources={"gpus": 1},
    )
    assert response.status_code == 201, response.json()
    assert response.json()["resources"] == {"pool": "gpu", "gpus": 1}


def _train(iris_version, **changes):
    spec = {"dataset_version": str(iris_version.pk), "model": "m", "architecture": "mlp"}
    spec.update(changes)
    return {k: v for k, v in spec.items() if v is not None}


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"architecture": "resnet"}, "spec.architecture", "unknown architecture"),
        ({"architecture": "textcnn"}, "spec.architecture", "text-classification"),
        ({"architecture": "transformer"}, "spec.architecture", "text-classification"),
        ({"hyperparameters": {"lr": -1}}, "spec.hyperparameters", "'lr'"),
        ({"hyperparameters": {"epochs": 1.5}}, "spec.hyperparameters", "'epochs'"),
        ({"hyperparameters": {"momentum": 0.9}}, "spec.hyperparameters", "momentum"),
        ({"hyperparameters": [1]}, "spec.hyperparameters", "object"),
        ({"options": {"hidden": "big"}}, "spec.options", "hidden"),
        ({"options": {"in_features": 3}}, "spec.options", "in_features"),
        ({"split": {"test": 1.5}}, "spec.split", "test"),
        ({"split": {"folds": 5}}, "spec.split", "folds"),
        ({"dataset_version": None}, "spec.dataset_version", "required"),
        ({"dataset_version": "not-an-id"}, "spec.dataset_version", "does not exist"),
        ({"dataset_version": str(uuid.uuid4())}, "spec.dataset_version", "does not exist"),
        ({"model": None}, "spec.model", "required"),
        ({"model": str(uuid.uuid4())}, "spec.model", "does not exist"),
        ({"model": ""}, "spec.model", "required"),
        ({"epochs": 3}, "spec.epochs", "unknown field"),
        ({"text_column": ["a"]}, "spec.text_column", "text column"),
        ({"architecture": "cnn", "image_shape": [3, 3]}, "spec.image_shape", "need 9 pixel columns"),
        ({"architecture": "cnn", "image_shape": [3]}, "spec.image_shape", "[height, width]"),
    ],
)
def test_bad_train_specs_are_400_naming_the_field(world, iris_version, changes, field, words):
    response = _post(world.client("member"), spec=_train(iris_version, **changes))
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert field in errors, errors
    assert words in " ".join(errors[field])
    assert not Job.objects.exists()


def test_a_dataset_version_of_another_team_is_400_and_not_revealed(world, beta_version):
    response = _post(world.client("member"), spec={"dataset_version": str(beta_version.pk), "model": "m"})
    assert response.status_code == 400
    assert response.json()["errors"]["spec.dataset_version"] == [f"Dataset version {beta_version.pk} does not exist."]


def test_a_model_of_another_team_or_task_is_400(world, iris_version):
    from models_app.services import create_model

    theirs = create_model(actor=world.outsider, team=world.beta, name="theirs", task="classification")
    response = _post(world.client("member"), spec=_train(iris_version, model=str(theirs.pk)))
    assert response.status_code == 400 and "does not exist" in response.json()["errors"]["spec.model"][0]
    create_model(actor=world.users["member"], team=world.alpha, name="prices", task="regression")
    response = _post(world.client("member"), spec=_train(iris_version, model="prices"))
    assert response.status_code == 400 and "regression" in response.json()["errors"]["spec.model"][0]


def test_an_existing_model_named_in_the_spec_is_resolved_to_its_id(world, iris_version, model):
    response = _post(world.client("member"), spec=_train(iris_version, model=model.name))
    assert response.status_code == 201
    assert response.json()["spec"]["model"] == str(model.pk)


def test_text_architectures_need_a_text_dataset(world, text_version):
    response = _post(world.client("member"), spec={"dataset_version": text_version, "model": "t"})
    assert response.status_code == 201, response.json()
    assert response.json()["spec"]["architecture"] == "textcnn"
    response = _post(
        world.client("member"), spec={"dataset_version": text_version, "model": "t", "architecture": "mlp"}
    )
    assert response.status_code == 400 and "spec.architecture" in response.json()["errors"]
    response = _post(
        world.client("member"), spec={"dataset_version": text_version, "model": "t", "text_column": "nope"}
    )
    assert response.status_code == 400 and "spec.text_column" in response.json()["errors"]


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"kind": "sweep"}, "kind"),
        ({"priority": 99}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"resources": {"pool": "tpu"}}, "resources.pool"),
        ({"resources": {"gpus": -1}}, "resources.gpus"),
        ({"resources": {"memory": "8G"}}, "resources.memory"),
        ({"resources": "cpu"}, "resources"),
        ({"max_retries": 100}, "max_retries"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": "soon"}, "timeout_s"),
        ({"team": "beta"}, "team"),
        ({"team": "nope"}, "team"),
    ],
)
def test_bad_job_fields_are_400_naming_the_field(world, iris_version, extra, field):
    body = {"team": "alpha", "kind": "train", "spec": _train(iris_version), **extra}
    response = world.client("member").post("/api/v1/jobs/", body, format="json")
    assert response.status_code in (400, 403), response.json()
    if response.status_code == 400:
        assert field in response.json()["errors"], response.json()
    assert not Job.objects.exists()


def test_nul_characters_in_a_spec_are_400(world, iris_version):
    response = _post(world.client("member"), spec=_train(iris_version, model="bad\u0000name"))
    assert response.status_code == 400 and "NUL" in response.json()["detail"]
    assert not Job.objects.exists()


def test_spec_must_be_an_object(world):
    response = world.client("member").post(
        "/api/v1/jobs/", {"team": "alpha", "kind": "train", "spec": [1]}, format="json"
    )
    assert response.status_code == 400 and "spec" in response.json()["errors"]


@pytest.mark.parametrize(
    "spec_changes, field",
    [
        ({"split": "holdout"}, "spec.split"),
        ({"model_version": str(uuid.uuid4())}, "spec.model_version"),
        ({"model_version": None}, "spec.model_version"),
        ({"dataset_version": str(uuid.uuid4())}, "spec.dataset_version"),
        ({"extra": 1}, "spec.extra"),
    ],
)
def test_bad_evaluate_specs_are_400(world, model_version, iris_version, spec_changes, field):
    spec = {"model_version": str(model_version.pk), "dataset_version": str(iris_version.pk), **spec_changes}
    response = _post(world.client("member"), kind="evaluate", spec={k: v for k, v in spec.items() if v is not None})
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]


def test_evaluating_an_uploaded_version_without_preprocessing_is_400(world, model_version, iris_version):
    spec = {"model_version": str(model_version.pk), "dataset_version": str(iris_version.pk)}
    response = _post(world.client("member"), kind="evaluate", spec=spec)
    assert response.status_code == 400
    assert "trained by Eco jobs" in response.json()["errors"]["spec.model_version"][0]


def test_evaluate_on_a_dataset_of_another_task_is_400(world, model_version):
    from datasets_app.services import create_dataset, create_version_from_builtin

    dataset = create_dataset(actor=world.users["member"], team=world.alpha, name="d", task="regression")
    version = create_version_from_builtin(actor=world.users["member"], dataset=dataset, name="diabetes")
    spec = {"model_version": str(model_version.pk), "dataset_version": str(version.pk)}
    response = _post(world.client("member"), kind="evaluate", spec=spec)
    assert response.status_code == 400 and "regression" in response.json()["errors"]["spec.dataset_version"][0]


@pytest.mark.parametrize(
    "steps, field, words",
    [
        ([], "spec.steps", "non-empty"),
        ([{"op": "shuffle"}], "spec.steps[0].op", "unknown op"),
        (
            [{"op": "dropna"}, {"op": "filter", "column": "nope", "operator": "==", "value": 1}],
            "spec.steps[1].column",
            "nope",
        ),
        ([{"op": "filter", "column": "target", "operator": ">", "value": 1}], "spec.steps[0].operator", "numbers"),
        (
            [{"op": "filter", "column": "petal_length_cm", "operator": "<", "value": "x"}],
            "spec.steps[0].value",
            "number",
        ),
        ([{"op": "standardize", "columns": ["target"]}], "spec.steps[0].columns", "not numeric"),
        ([{"op": "sample", "n": 0}], "spec.steps[0].n", "positive"),
        ([{"op": "sample", "n": 5, "fraction": 0.5}], "spec.steps[0].n", "exactly one"),
        ([{"op": "map_labels", "mapping": {}}], "spec.steps[0].mapping", "non-empty"),
        ([{"op": "dedupe", "keep": "last"}], "spec.steps[0].keep", "dedupe"),
        ([{"op": "fillna"}], "spec.steps[0].value", "exactly one of 'value' or 'strategy'"),
        ([{"op": "fillna", "strategy": "mode"}], "spec.steps[0].strategy", "mean, median, most_frequent"),
        ([{"op": "fillna", "columns": ["target"], "strategy": "mean"}], "spec.steps[0].columns", "needs numbers"),
        ([{"op": "fillna", "columns": ["sepal_length_cm"], "value": "x"}], "spec.steps[0].value", "a number"),
        ([{"op": "cast", "to": "int64"}], "spec.steps[0].columns", "name the columns"),
        ([{"op": "cast", "columns": ["target"], "to": "date"}], "spec.steps[0].to", "int64, float64, string"),
        ([{"op": "cast", "columns": ["target"], "to": "float64", "decimal": ";"}], "spec.steps[0].decimal", "','"),
    ],
)
def test_bad_process_steps_are_400_naming_the_step(world, iris_version, steps, field, words):
    response = _post(
        world.client("member"), kind="process", spec={"dataset_version": str(iris_version.pk), "steps": steps}
    )
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert field in errors, errors
    assert words in errors[field][0]


def test_a_viewer_cannot_submit_and_an_outsider_cannot_see(world, iris_version):
    response = _post(world.client("viewer"), spec=_train(iris_version))
    assert response.status_code == 403
    job = _post(world.client("member"), spec=_train(iris_version)).json()
    outsider = world.client("outsider")
    for path in ("", "metrics/", "logs/", "metrics/?key=loss"):
        assert outsider.get(f"/api/v1/jobs/{job['id']}/{path}").status_code == 404
    assert outsider.post(f"/api/v1/jobs/{job['id']}/cancel/").status_code == 404
    assert outsider.post(f"/api/v1/jobs/{job['id']}/metrics/", {"points": []}, format="json").status_code == 404
    assert outsider.get("/api/v1/jobs/").json()["count"] == 0
    assert world.client("viewer").post(f"/api/v1/jobs/{job['id']}/cancel/").status_code == 403
    assert world.client("viewer").get(f"/api/v1/jobs/{job['id']}/").status_code == 200


def test_job_list_filters(world, iris_version):
    client = world.client("member")
    first = _post(client, spec=_train(iris_version)).json()
    _post(client, kind="process", spec={"dataset_version": str(iris_version.pk), "steps": [{"op": "dropna"}]})
    client.post(f"/api/v1/jobs/{first['id']}/cancel/")
    assert client.get("/api/v1/jobs/").json()["count"] == 2
    assert [j["id"] for j in client.get("/api/v1/jobs/?status=cancelled").json()["results"]] == [first["id"]]
    assert client.get("/api/v1/jobs/?kind=process").json()["count"] == 1
    assert client.get("/api/v1/jobs/?team=alpha&kind=train").json()["count"] == 1
    assert client.get("/api/v1/jobs/?status=done").status_code == 400


def test_cancelling_a_queued_job_is_immediate_and_audited(world, iris_version):
    from accounts_app.models import AuditEvent

    client = world.client("member")
    job = _post(client, spec=_train(iris_version)).json()
    response = client.post(f"/api/v1/jobs/{job['id']}/cancel/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled" and body["finished_at"] and body["cancel_requested"]
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel/").status_code == 409
    assert AuditEvent.objects.filter(action="job.cancel", target_id=job["id"]).exists()
    logs = client.get(f"/api/v1/jobs/{job['id']}/logs/").json()
    assert logs["results"][-1]["line"] == "cancelled before it started"


CASES = Path(__file__).resolve().parents[1] / "data" / "cases"


@pytest.fixture
def holes_version(world):
    """Case 12 uploaded through the API: `age` and `income` have missing cells (empty, NaN, N/A)."""
    client = world.client("member")
    dataset = client.post(
        "/api/v1/datasets/", {"team": "alpha", "name": "segments", "task": "classification"}, format="json"
    ).json()
    content = (CASES / "12_missing_cells_numeric.csv").read_bytes()
    response = client.post(
        f"/api/v1/datasets/{dataset['id']}/versions/",
        {"file": csv_file(content, "segments.csv"), "target": "segment"},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_train_on_missing_values_is_400_naming_each_column_and_its_count(world, holes_version):
    spec = {"dataset_version": holes_version["id"], "model": "seg"}
    response = _post(world.client("member"), spec=spec)
    assert response.status_code == 400, response.json()
    assert response.json()["errors"]["spec.dataset_version"] == [
        "missing values in age (9 of 60 rows), income (10 of 60 rows); set options.impute to mean, median, "
        "most_frequent or drop_rows, or run a process job with fillna or dropna first."
    ]
    assert not Job.objects.exists()
    for strategy in ("mean", "median", "most_frequent", "drop_rows"):
        response = _post(world.client("member"), spec={**spec, "options": {"impute": strategy, "hidden": [16]}})
        assert response.status_code == 201, response.json()
        assert response.json()["spec"]["options"] == {"impute": strategy, "hidden": [16]}


@pytest.mark.parametrize(
    "options, field, words",
    [
        ({"impute": "zero"}, "spec.options.impute", "mean, median, most_frequent or drop_rows; got 'zero'"),
        ({"impute": 1}, "spec.options.impute", "must be one of"),
    ],
)
def test_bad_impute_options_are_400(world, holes_version, options, field, words):
    response = _post(
        world.client("member"), spec={"dataset_version": holes_version["id"], "model": "m", "options": options}
    )
    assert response.status_code == 400, response.json()
    assert words in response.json()["errors"][field][0]


def test_text_columns_refuse_mean_and_median_naming_the_column(world):
    client = world.client("member")
    dataset = client.post(
        "/api/v1/datasets/", {"team": "alpha", "name": "notes", "task": "text-classification"}, format="json"
    ).json()
    rows = "text,label\n" + "\n".join(f"{'' if i % 9 == 0 else f'note {i}'},{i % 2}" for i in range(40))
    version = client.post(
        f"/api/v1/datasets/{dataset['id']}/versions/",
        {"file": csv_file(rows, "notes.csv"), "target": "label"},
        format="multipart",
    ).json()
    spec = {"dataset_version": version["id"], "model": "notes"}
    response = _post(client, spec=spec)
    assert response.status_code == 400
    assert "missing values in text (5 of 40 rows)" in response.json()["errors"]["spec.dataset_version"][0]
    response = _post(client, spec={**spec, "options": {"impute": "mean"}})
    assert response.status_code == 400
    assert response.json()["errors"]["spec.options.impute"] == [
        "impute mean cannot fill text column 'text'; use most_frequent or drop_rows."
    ]
    assert _post(client, spec={**spec, "options": {"impute": "most_frequent"}}).status_code == 201


def _register_on_case_12(world, model, version_id, options):
    """A version trained by the real pipeline on case 12 (no worker), registered as a train job would."""

    from datasets_app.models import DatasetVersion
    from ml import formats
    from ml.pipeline import train
    from ml.train import NullReporter

    path = CASES / "12_missing_cells_numeric.csv"
    version = DatasetVersion.objects.get(pk=version_id)
    columns = formats.arrays(path, "csv", version.schema)
    if not options:  # a model without an imputer, trained on the complete rows
        keep = ~(np.isnan(columns["age"]) | np.isnan(columns["income"]))
        columns = {k: v[keep] for k, v in columns.items()}
    outcome = train(
        columns,
        task="classification",
        target="segment",
        architecture="mlp",
        options=options,
        hyperparameters={"epochs": 1},
        reporter=NullReporter(),
    )
    return register_outcome(actor=world.users["member"], model=model, outcome=outcome, dataset_version=version)


def test_evaluate_on_missing_values_needs_a_model_with_an_imputer(world, model, holes_version):
    plain = _register_on_case_12(world, model, holes_version["id"], None)
    imputing = _register_on_case_12(world, model, holes_version["id"], {"impute": "median"})
    client = world.client("member")
    spec = {"model_version": str(plain.pk), "dataset_version": holes_version["id"]}
    response = _post(client, kind="evaluate", spec=spec)
    assert response.status_code == 400, response.json()
    message = response.json()["errors"]["spec.dataset_version"][0]
    assert message.startswith("missing values in age (9 of 60 rows), income (10 of 60 rows); this model has no imputer")
    response = _post(client, kind="evaluate", spec={**spec, "model_version": str(imputing.pk)})
    assert response.status_code == 201, response.json()
