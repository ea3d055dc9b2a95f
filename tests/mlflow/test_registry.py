"""MLflow's model registry through MLflow's own client against a live Eco server: `log_model` (MLflow 3's logged
models), `register_model`, registered models and versions, aliases through Eco's promotion gate, and an ONNX
model logged with `mlflow.onnx.log_model` served by Eco's predict endpoint. One registry: every object is Eco's,
read back through Eco's own API."""

import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from rest_framework.test import APIClient

from accounts_app.models import AuditEvent, Membership
from datasets_app.blobs import open_blob
from jobs_app.models import Job, LoggedModel
from models_app import services as model_services
from models_app.models import ModelAlias, ModelVersion, RegisteredModel
from tests.factories import MembershipFactory, UserFactory
from tests.helpers import iris_columns
from tests.mlflow.conftest import use_token

FEATURES = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]


def iris_net():
    """A small PyTorch classifier trained on iris: (net, x float32 (150, 4), y class indices, class names)."""
    columns = iris_columns()
    x = np.stack([columns[f] for f in FEATURES], axis=1).astype(np.float32)
    classes = sorted({str(t) for t in columns["target"]})
    y = np.array([classes.index(t) for t in columns["target"]])
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    features, targets = torch.from_numpy((x - x.mean(0)) / x.std(0)), torch.from_numpy(y)
    for _ in range(150):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(features), targets).backward()
        optimizer.step()
    net.eval()
    mean, std = torch.from_numpy(x.mean(0)), torch.from_numpy(x.std(0))
    return torch.nn.Sequential(Standardize(mean, std), net), x, y, classes


class Standardize(torch.nn.Module):
    """(x - mean) / std inside the graph, so the served model takes raw centimetres."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, value):
        return (value - self.mean) / self.std


def onnx_of(net, tmp_path):
    import onnx

    path = tmp_path / "iris.onnx"
    torch.onnx.export(
        net,
        (torch.zeros(2, 4),),
        str(path),
        dynamo=False,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
    )
    return onnx.load(str(path))


def eco_client(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_an_onnx_model_logged_through_mlflow_is_served_by_eco(mlflow_env, ada, monkeypatch, tmp_path):
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    token = use_token(monkeypatch, ada)
    net, x, y, classes = iris_net()
    logits = net(torch.from_numpy(x)).detach().numpy()
    mlflow.set_experiment("iris")
    with mlflow.start_run() as run:
        mlflow.log_metric("train_acc", float((logits.argmax(1) == y).mean()))
        info = mlflow.onnx.log_model(
            onnx_of(net, tmp_path),
            name="model",
            signature=infer_signature(pd.DataFrame(x, columns=FEATURES), logits),
            registered_model_name="iris-onnx",
            metadata={"eco": {"classes": classes}},
        )
    assert str(info.registered_model_version) == "1"

    # one registry: the model version is Eco's, of format onnx, with the signature's inputs as its features
    model = RegisteredModel.objects.get(name="iris-onnx")
    assert model.task == "classification"  # given by the signature's (batch, 3) output
    version = ModelVersion.objects.get(model=model, version=1)
    assert version.format == "onnx" and version.source == info.model_uri
    assert version.spec["preprocessing"]["feature_names"] == FEATURES
    assert version.spec["preprocessing"]["classes"] == classes
    assert {"MLmodel", "requirements.txt"} <= set(version.files.values_list("name", flat=True))
    api = eco_client(token)
    eco_version = api.get(f"/api/v1/model-versions/{version.pk}/").json()
    assert uuid.UUID(eco_version["job"]).hex == run.info.run_id  # lineage: the run made it

    # Eco serves it: the same predictions as the network, by feature name
    rows = [dict(zip(FEATURES, row, strict=True)) for row in x[::10].tolist()]
    answer = api.post(f"/api/v1/models/{model.pk}/predict/", {"version": 1, "inputs": rows}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["runtime"] == "onnxruntime"
    assert [p["label"] for p in answer.json()["predictions"]] == [classes[i] for i in logits[::10].argmax(1)]

    # and MLflow reads it back: the logged model, the registered version, its files
    client = mlflow.MlflowClient()
    logged = client.get_logged_model(info.model_id)
    assert logged.status == "READY" and logged.source_run_id == run.info.run_id and logged.name == "model"
    got = client.get_model_version("iris-onnx", "1")
    assert got.name == "alpha/iris-onnx" and got.run_id == run.info.run_id
    assert got.tags["eco.serving"] == "onnx (served)"
    local = mlflow.artifacts.download_artifacts("models:/iris-onnx/1", dst_path=str(tmp_path / "down"))
    import onnxruntime

    session = onnxruntime.InferenceSession(f"{local}/model.onnx")
    assert np.allclose(session.run(None, {"input": x[:3]})[0], logits[:3], atol=1e-4)
    # and MLflow's own loader takes it by an alias, as a serving script would
    client.set_registered_model_alias("iris-onnx", "champion", "1")
    loaded = mlflow.pyfunc.load_model("models:/iris-onnx@champion")
    predicted = loaded.predict(pd.DataFrame(x[:3], columns=FEATURES))
    # (MLflow's ONNX pyfunc gives a (batch, K) output as one column of batch * K values)
    assert np.allclose(predicted["logits"].to_numpy(), logits[:3].ravel(), atol=1e-4)


def test_a_pickled_flavour_is_stored_never_loaded(mlflow_env, ada, monkeypatch, tmp_path):
    import mlflow
    from sklearn.linear_model import LogisticRegression

    token = use_token(monkeypatch, ada)
    columns = iris_columns()
    x = np.stack([columns[f] for f in FEATURES], axis=1)
    mlflow.set_experiment("iris")
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            LogisticRegression(max_iter=200).fit(x, columns["target"]), name="sk", serialization_format="cloudpickle"
        )
    # registered afterwards from the run, as `mlflow.register_model("runs:/<run>/sk", ...)` does
    registered = mlflow.register_model(f"runs:/{run.info.run_id}/sk", "iris-sk")
    assert registered.version == "1" and registered.name == "alpha/iris-sk"

    model = RegisteredModel.objects.get(name="iris-sk")
    assert model.task == ""  # MLflow names no task, and Eco never loads a pickle to find one
    version = ModelVersion.objects.get(model=model)
    assert version.format == "mlflow" and version.spec["mlflow"]["flavors"] == ["sklearn"]
    assert "Eco serves ONNX models" in version.spec["mlflow"]["reason"]
    assert "model.pkl" in set(version.files.values_list("name", flat=True))
    client = mlflow.MlflowClient()
    assert client.get_model_version("iris-sk", "1").tags["eco.serving"].startswith("not served: ")

    answer = eco_client(token).post(
        f"/api/v1/models/{model.pk}/predict/", {"version": 1, "inputs": [[1, 2, 3, 4]]}, format="json"
    )
    assert answer.status_code == 400 and "never loads" in answer.json()["detail"]

    # the files come back through MLflow unchanged
    local = Path(mlflow.artifacts.download_artifacts("models:/iris-sk/1", dst_path=str(tmp_path / "down")))
    assert {"MLmodel", "model.pkl"} <= {p.name for p in local.iterdir()}
    with open_blob(version.blob) as stored:  # the version's own blob is its MLmodel file
        assert (local / "MLmodel").read_bytes() == stored.read()


def test_registered_models_and_versions_through_the_client(mlflow_env, ada, monkeypatch, tmp_path):
    import mlflow
    from mlflow.exceptions import MlflowException

    use_token(monkeypatch, ada)
    client = mlflow.MlflowClient()
    created = client.create_registered_model("churn", tags={"owner": "ada"}, description="first")
    assert created.name == "alpha/churn" and created.tags["owner"] == "ada"
    with pytest.raises(MlflowException) as taken:
        client.create_registered_model("churn")
    assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"

    mlflow.set_experiment("churn")
    for _ in range(2):
        with mlflow.start_run():
            mlflow.sklearn.log_model(_tiny_sklearn(), name="m", serialization_format="cloudpickle")
    runs = client.search_runs([mlflow.get_experiment_by_name("churn").experiment_id])
    for run in reversed(runs):
        client.create_model_version("churn", f"runs:/{run.info.run_id}/m", run_id=run.info.run_id)
    assert [v.version for v in client.search_model_versions("name = 'churn'")] == ["2", "1"]
    assert client.search_model_versions(f"run_id = '{runs[0].info.run_id}'")[0].version == "2"

    client.update_registered_model("churn", description="second")
    client.set_registered_model_tag("churn", "area", "retention")
    client.update_model_version("churn", "1", description="baseline")
    client.set_model_version_tag("churn", "1", "checked", "yes")
    model = client.get_registered_model("churn")
    assert model.description == "second" and model.tags["area"] == "retention"
    assert [v.version for v in model.latest_versions] == ["2"]
    first = client.get_model_version("churn", "1")
    assert first.description == "baseline" and first.tags["checked"] == "yes"
    assert [m.name for m in client.search_registered_models("name LIKE 'ch%'")] == ["alpha/churn"]
    assert client.search_registered_models("name = 'nothing'") == []

    # an alias no gate protects moves freely; MLflow's delete archives the version (Eco keeps every version)
    client.set_registered_model_alias("churn", "staging", "1")
    assert client.get_model_version_by_alias("churn", "staging").version == "1"
    assert ModelAlias.objects.get(alias="staging").version.version == 1
    client.delete_registered_model_alias("churn", "staging")
    with pytest.raises(MlflowException) as member:
        client.delete_model_version("churn", "1")
    assert member.value.error_code == "PERMISSION_DENIED"  # as in Eco's API: archiving takes a maintainer
    Membership.objects.filter(user=ada).update(role="maintainer")
    client.delete_model_version("churn", "1")
    assert client.get_model_version("churn", "1").current_stage == "Archived"
    assert ModelVersion.objects.get(model__name="churn", version=1).status == "archived"

    client.rename_registered_model("churn", "churn-v2")
    assert RegisteredModel.objects.filter(name="churn-v2").exists()
    with pytest.raises(MlflowException) as gone:
        client.get_registered_model("churn")
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert AuditEvent.objects.filter(action="model.tags").count() == 3


def _tiny_sklearn():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit([[0.0], [1.0]], [0, 1])


def test_an_alias_move_through_mlflow_passes_eco_s_gate_or_is_refused(mlflow_env, ada, monkeypatch, tmp_path):
    import mlflow
    import pandas as pd
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature

    from datasets_app.services import create_dataset, create_version_from_builtin

    use_token(monkeypatch, ada)
    net, x, y, classes = iris_net()
    logits = net(torch.from_numpy(x)).detach().numpy()
    mlflow.set_experiment("gated")
    with mlflow.start_run():
        mlflow.onnx.log_model(
            onnx_of(net, tmp_path),
            name="model",
            signature=infer_signature(pd.DataFrame(x, columns=FEATURES), logits),
            registered_model_name="gated",
            metadata={"eco": {"classes": classes}},
        )
    model = RegisteredModel.objects.get(name="gated")
    version = model.versions.get()
    dataset = create_dataset(actor=ada, team=model.team, name="iris-holdout", task="classification")
    pinned = create_version_from_builtin(actor=ada, dataset=dataset, name="iris")
    model_services.set_gate(actor=ada, model=model, dataset_version=pinned)

    client = mlflow.MlflowClient()
    with pytest.raises(MlflowException) as refused:
        client.set_registered_model_alias("gated", "production", "1")
    assert refused.value.error_code == "RESOURCE_CONFLICT"
    assert "did not pass the promotion gate for 'production'" in refused.value.message
    assert "v1 has no accuracy on the pinned set" in refused.value.message  # the gate's own check, by name
    assert not ModelAlias.objects.filter(model=model).exists()  # nothing moved

    # the version's evaluation on the pinned set: the served model's predictions, scored
    accuracy = float((logits.argmax(1) == y).mean())
    model_services.record_evaluation(
        actor=ada,
        model_version=version,
        dataset_version=pinned,
        split="all",
        metrics={"accuracy": accuracy},
        num_rows=len(y),
    )
    client.set_registered_model_alias("gated", "production", "1")
    assert ModelAlias.objects.get(model=model, alias="production").version == version
    assert AuditEvent.objects.filter(action="alias.set", team=model.team).exists()


def test_outsiders_and_viewers_get_mlflow_errors_and_change_nothing(mlflow_env, ada, monkeypatch):
    import mlflow
    from mlflow.exceptions import MlflowException

    use_token(monkeypatch, ada)
    client = mlflow.MlflowClient()
    client.create_registered_model("private")
    viewer, outsider = UserFactory(username="vic"), UserFactory(username="otto")
    MembershipFactory(team=RegisteredModel.objects.get(name="private").team, user=viewer, role="viewer")
    before = list(RegisteredModel.objects.values_list("name", "description", "tags"))

    use_token(monkeypatch, viewer)
    assert client.get_registered_model("private").name == "alpha/private"  # a viewer reads
    with pytest.raises(MlflowException) as denied:
        client.update_registered_model("private", description="mine")
    assert denied.value.error_code == "PERMISSION_DENIED"

    use_token(monkeypatch, outsider)
    for call in (
        lambda: client.get_registered_model("alpha/private"),
        lambda: client.update_registered_model("alpha/private", description="mine"),
        lambda: client.delete_registered_model("alpha/private"),
    ):
        with pytest.raises(MlflowException) as hidden:
            call()
        assert hidden.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_registered_models() == []
    assert list(RegisteredModel.objects.values_list("name", "description", "tags")) == before
    assert not LoggedModel.objects.exists() and not Job.objects.exists()
