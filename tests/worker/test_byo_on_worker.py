"""Models you bring, over HTTP with a real worker: a torch MLP exported by the client (eco.byo.log_model) is
registered as an ONNX version of a tracking run, evaluated by an evaluate job on a pinned dataset version,
promoted through the gate and served; safetensors weights trained outside Eco are uploaded with their Eco spec
and retrained by a trigger."""

import time

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from torch import nn

from accounts_app.services import issue_token
from eco.byo import log_model, register_model_file
from eco.client import Client, EcoError
from jobs_app.models import RunStatus, TriggerRun
from ml.artifacts import save_weights
from ml.pipeline import train
from ml.train import NullReporter
from tests.helpers import builtin_version, iris_columns, wait_finished

pytestmark = pytest.mark.django_db(transaction=True)

FEATURES = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
CLASSES = ["setosa", "versicolor", "virginica"]


def _client(live_server, user) -> Client:
    _, token = issue_token(user=user, name="byo")
    return Client(live_server.url, token)


def _iris_mlp():
    """A small MLP trained here on standardised iris (about a second), and its serving spec."""
    bunch = load_iris()
    mean, std = bunch.data.mean(axis=0), bunch.data.std(axis=0)
    inputs = torch.tensor((bunch.data - mean) / std, dtype=torch.float32)
    targets = torch.tensor(bunch.target)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(150):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(inputs), targets).backward()
        optimizer.step()
    spec = {
        "task": "classification",
        "target": "target",
        "preprocessing": {
            "kind": "tabular",
            "feature_names": FEATURES,
            "classes": CLASSES,
            "input_mean": mean.tolist(),
            "input_std": std.tolist(),
        },
    }
    return net.eval(), inputs, spec


def _evaluate(client: Client, version: str, dataset_version: str) -> dict:
    job = client._call(
        "POST",
        "jobs/",
        json={
            "team": "alpha",
            "kind": "evaluate",
            "spec": {"model_version": version, "dataset_version": dataset_version, "split": "all"},
        },
    )
    finished = wait_finished(job["id"], timeout=120)
    assert finished.status == "succeeded", finished.error
    return finished.outputs


def test_a_torch_module_brought_as_onnx_is_gated_promoted_and_served(world, worker, live_server):
    client = _client(live_server, world.users["maintainer"])
    iris = builtin_version(world.client("maintainer"), name="iris", builtin="iris")
    net, inputs, spec = _iris_mlp()
    run = client._call("POST", "jobs/", json={"team": "alpha", "kind": "tracking", "spec": {"model": "iris-byo"}})

    version = log_model(
        client, run=run["id"], model="iris-byo", team="alpha", artifact=net, spec=spec, example_input=inputs[:5]
    )
    assert (
        version["format"] == "onnx"
        and version["job"] == run["id"]
        and version["num_parameters"] == 4 * 16 + 16 + 16 * 3 + 3
    )
    model = version["model"]
    assert client.model(model)["task"] == "classification"  # made by log_model from the spec's task

    client.set_gate(model, dataset_version=iris, metric="accuracy")
    with pytest.raises(EcoError) as refused:  # not evaluated on the pinned set yet
        client.set_alias(model, "production", version["id"])
    assert refused.value.status == 409

    outputs = _evaluate(client, version["id"], iris)
    with torch.inference_mode():
        expected_accuracy = float((net(inputs).argmax(1).numpy() == load_iris().target).mean())
    assert outputs["accuracy"] == pytest.approx(expected_accuracy, abs=1e-9)
    evaluations = client.evaluations(model_version=version["id"])
    assert [e["dataset_version"] for e in evaluations] == [iris]

    assert client.set_alias(model, "production", version["id"])["version"] == version["id"]
    rows = load_iris().data[[0, 75, 149]]
    answer = client.predict(model, [dict(zip(FEATURES, r.tolist(), strict=True)) for r in rows], alias="production")
    assert answer["runtime"] == "onnxruntime" and answer["model_version"] == version["id"]
    mean, std = (np.asarray(spec["preprocessing"][k]) for k in ("input_mean", "input_std"))
    with torch.inference_mode():
        wanted = net(torch.tensor((rows - mean) / std, dtype=torch.float32)).argmax(1).tolist()
    assert [p["label"] for p in answer["predictions"]] == [CLASSES[i] for i in wanted]
    assert client.feedback(answer["predictions"][1]["id"], "versicolor")["feedback"] == "versicolor"
    client.close()


def test_uploaded_safetensors_with_an_eco_spec_are_retrained_by_a_trigger(world, worker, live_server, tmp_path):
    client = _client(live_server, world.users["maintainer"])
    iris = builtin_version(world.client("maintainer"), name="iris", builtin="iris")
    outcome = train(
        iris_columns(),
        task="classification",
        target="target",
        architecture="mlp",
        hyperparameters={"epochs": 20, "seed": 0},
        reporter=NullReporter(),
    )
    path = tmp_path / "weights.safetensors"
    save_weights(outcome.model, path)
    version = register_model_file(
        client,
        model="iris-laptop",
        team="alpha",
        path=path,
        spec=outcome.spec,
        metrics={"accuracy": outcome.metrics["accuracy"]},
    )
    assert version["format"] == "safetensors" and version["job"] is None
    model = version["model"]
    # the runs retrain on iris itself (the base), which is also the pinned set: the gate allows that overlap
    client.set_gate(model, dataset_version=iris, metric="accuracy", min_gain=-1.0, max_overlap=150)
    _evaluate(client, version["id"], iris)
    client.set_alias(model, "production", version["id"])
    answer = client.predict(model, [[5.1, 3.5, 1.4, 0.2]] * 3, alias="production")
    for prediction in answer["predictions"]:
        client.feedback(prediction["id"], "setosa")

    trigger = client.create_trigger(
        team="alpha",
        model=model,
        base_dataset_version=iris,
        min_feedback=1,
        train={"architecture": "mlp", "hyperparameters": {"epochs": 3}},
    )
    fired = client.fire_trigger(trigger["id"])
    deadline = time.monotonic() + 180
    while (run := TriggerRun.objects.get(pk=fired["id"])).status == RunStatus.RUNNING:
        assert time.monotonic() < deadline, f"the retrain run is still at {run.step}"
        time.sleep(0.2)
    assert run.status == RunStatus.PROMOTED, run.error
    retrained = client.model_version(str(run.model_version_id))
    assert retrained["version"] == 2 and retrained["format"] == "safetensors" and retrained["job"]
    assert client.model(model)["aliases"]["production"] == retrained["id"]
    served = client.predict(model, [[5.1, 3.5, 1.4, 0.2]], alias="production")
    assert served["model_version"] == retrained["id"] and np.isfinite(served["latency_ms"])
    client.close()
