"""Bad input to MLflow's registry endpoints: a 4xx in MLflow's format naming the problem, never a 5xx (MLflow's
client would retry a 5xx for minutes), and nothing written."""

import hashlib
import io
import json

import pytest
import yaml
from django.core.files import File
from rest_framework.test import APIClient

from jobs_app.models import JobArtifact
from jobs_app.services import experiments as services
from jobs_app.services import tracking
from models_app.models import ModelAlias, ModelVersion, RegisteredModel
from tests.factories import MembershipFactory, TeamFactory, UserFactory

M = "/api/2.0/mlflow"


def log_file(user, job, path: str, data: bytes) -> None:
    tracking.log_artifact(
        actor=user,
        job=job,
        path=path,
        content=File(io.BytesIO(data), name=path.rsplit("/", 1)[-1]),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )


@pytest.fixture
def setup(db, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    alpha, beta = TeamFactory(slug="alpha"), TeamFactory(slug="beta")
    ada, bob = UserFactory(username="ada"), UserFactory(username="bob")
    MembershipFactory(team=alpha, user=ada, role="admin")
    MembershipFactory(team=beta, user=bob, role="admin")
    experiment = services.create_experiment(actor=ada, team=alpha, name="exp")
    run = services.start_run(actor=ada, experiment=experiment, name="r")
    log_file(ada, run, "yaml-list/MLmodel", b"- not a mapping\n")
    signature = {
        "inputs": json.dumps([{"type": "double", "name": "a"}]),
        "outputs": json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}]),
    }
    mlmodel = {"flavors": {"onnx": {"data": "model.onnx"}}, "signature": signature}
    log_file(ada, run, "bad-onnx/MLmodel", yaml.safe_dump(mlmodel).encode())
    log_file(ada, run, "bad-onnx/model.onnx", b"not an onnx graph")
    log_file(ada, run, "plain/notes.txt", b"no MLmodel here")
    beta_experiment = services.create_experiment(actor=bob, team=beta, name="theirs")
    beta_run = services.start_run(actor=bob, experiment=beta_experiment, name="theirs")
    log_file(bob, beta_run, "model/MLmodel", b"flavors:\n  sklearn: {}\n")
    client = APIClient()
    client.force_authenticate(ada)
    assert client.post(f"{M}/registered-models/create", {"name": "m"}, format="json").status_code == 200
    return {"client": client, "run": run.pk.hex, "beta_run": beta_run.pk.hex}


def state() -> tuple:
    return (
        list(RegisteredModel.all_objects.values_list("name", "task", "description", "tags", "deleted_at")),
        list(ModelVersion.objects.values_list("version", "status", "description", "tags")),
        list(ModelAlias.objects.values_list("alias", "version_id")),
        JobArtifact.objects.count(),
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "words"),
    [
        ("GET", "model-versions/get", {"name": "m", "version": "abc"}, 400, "INVALID_PARAMETER_VALUE", "integer"),
        ("GET", "model-versions/get", {"name": "m", "version": "7"}, 404, "RESOURCE_DOES_NOT_EXIST", "version=7"),
        ("GET", "registered-models/get", {}, 400, "INVALID_PARAMETER_VALUE", "'name'"),
        ("GET", "registered-models/get", {"name": "beta/x"}, 404, "RESOURCE_DOES_NOT_EXIST", "not one of your"),
        ("POST", "registered-models/create", {"name": 7}, 400, "INVALID_PARAMETER_VALUE", "string"),
        (
            "POST",
            "registered-models/create",
            {"name": "x", "tags": [{"key": "eco.task", "value": "poetry"}]},
            400,
            "INVALID_PARAMETER_VALUE",
            "eco.task",
        ),
        ("POST", "registered-models/create", {"name": "x\u0000y"}, 400, "INVALID_PARAMETER_VALUE", ""),
        (
            "POST",
            "model-versions/create",
            {"name": "m", "source": "s3://bucket/model"},
            400,
            "INVALID_PARAMETER_VALUE",
            "models:/m-",
        ),
        ("POST", "model-versions/create", {"name": "m", "source": "models:/m-zzz"}, 404, "RESOURCE_DOES_NOT_EXIST", ""),
        (
            "POST",
            "model-versions/create",
            {"name": "m", "source": "runs:/{beta_run}/model"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "",
        ),
        (
            "POST",
            "model-versions/create",
            {"name": "m", "source": "runs:/{run}/plain"},
            400,
            "INVALID_PARAMETER_VALUE",
            "no MLmodel",
        ),
        (
            "POST",
            "model-versions/create",
            {"name": "m", "source": "runs:/{run}/nothing"},
            400,
            "INVALID_PARAMETER_VALUE",
            "holds no files",
        ),
        (
            "POST",
            "model-versions/create",
            {"name": "m", "source": "runs:/{run}/yaml-list"},
            400,
            "INVALID_PARAMETER_VALUE",
            "names no flavors",
        ),
        ("POST", "model-versions/create", {"name": "m", "source": ["runs:/x"]}, 400, "INVALID_PARAMETER_VALUE", ""),
        (
            "POST",
            "registered-models/alias",
            {"name": "m", "alias": "Champion", "version": "1"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "",
        ),
        (
            "POST",
            "model-versions/transition-stage",
            {"name": "m", "version": "1", "stage": "Production"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "",
        ),
        (
            "POST",
            "registered-models/set-tag",
            {"name": "m", "key": "eco.task", "value": "regression"},
            400,
            "INVALID_PARAMETER_VALUE",
            "when the model is created",
        ),
    ],
)
def test_bad_input_is_a_named_4xx_and_writes_nothing(setup, method, path, body, status, code, words):
    body = {k: v.format(**setup) if isinstance(v, str) else v for k, v in body.items()}
    before = state()
    client = setup["client"]
    if method == "GET":
        answer = client.get(f"{M}/{path}", body)
    else:
        answer = client.generic(method, f"{M}/{path}", data=json.dumps(body), content_type="application/json")
    assert answer.status_code == status, answer.json()
    assert answer.json()["error_code"] == code and words in answer.json()["message"]
    assert state() == before


def test_an_onnx_graph_eco_cannot_run_is_stored_opaque_with_the_reason(setup):
    client = setup["client"]
    answer = client.post(
        f"{M}/model-versions/create", {"name": "m", "source": f"runs:/{setup['run']}/bad-onnx"}, format="json"
    )
    assert answer.status_code == 200, answer.json()
    version = ModelVersion.objects.get()
    assert version.format == "mlflow" and "not an ONNX file" in version.spec["mlflow"]["reason"]
    assert RegisteredModel.objects.get(name="m").task == ""  # the failed attempt's task is not kept
    tags = {t["key"]: t["value"] for t in answer.json()["model_version"]["tags"]}
    assert tags["eco.serving"].startswith("not served: ") and "ONNX" in tags["eco.serving"]
    # and an alias that is not Eco's shape is refused by name once the version exists
    refused = client.post(
        f"{M}/registered-models/alias", {"name": "m", "alias": "Champion", "version": "1"}, format="json"
    )
    assert refused.status_code == 400 and "alias" in refused.json()["message"]
    stage = client.post(
        f"{M}/model-versions/transition-stage", {"name": "m", "version": "1", "stage": "Production"}, format="json"
    )
    assert stage.status_code == 400 and "alias" in stage.json()["message"]
    assert not ModelAlias.objects.exists()


def test_a_logged_model_still_uploading_is_not_registered(setup):
    from jobs_app.models import Job

    run = Job.objects.get(pk=setup["run"])
    logged = services.create_logged_model(actor=run.created_by, job=run, name="half")
    log_file(run.created_by, run, f"{logged.artifact_prefix}/MLmodel", b"flavors:\n  sklearn: {}\n")
    before = state()
    answer = setup["client"].post(
        f"{M}/model-versions/create", {"name": "m", "source": f"models:/m-{logged.pk.hex}"}, format="json"
    )
    assert answer.status_code == 400 and "pending, not ready" in answer.json()["message"]
    assert state() == before
    services.update_logged_model(actor=run.created_by, logged_model=logged, status="ready")
    ok = setup["client"].post(
        f"{M}/model-versions/create", {"name": "m", "source": f"models:/m-{logged.pk.hex}"}, format="json"
    )
    assert ok.status_code == 200 and ok.json()["model_version"]["source"] == f"models:/m-{logged.pk.hex}"
