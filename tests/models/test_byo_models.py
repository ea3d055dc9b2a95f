"""Models you bring, through the API without a worker: an ONNX graph with its serving spec is checked on
upload (refusals store nothing), served by predict on ONNX Runtime, logged, labelled by feedback, given a run's
lineage, and kept from retrain triggers (it has no architecture spec). Gates with a real evaluate job on a real
worker: tests/worker/test_byo_on_worker.py."""

import io
import json
import pickle
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from datasets_app.models import Blob
from models_app.models import ModelVersion, PredictionLog
from tests.helpers import safetensors_file

FEATURES = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
CLASSES = ["setosa", "versicolor", "virginica"]


@pytest.fixture(scope="module")
def iris_fit():
    """A logistic regression on standardised iris: its weights become a one-Gemm ONNX graph."""
    bunch = load_iris()
    mean, std = bunch.data.mean(axis=0), bunch.data.std(axis=0)
    fit = LogisticRegression(max_iter=500).fit((bunch.data - mean) / std, bunch.target)
    return {"mean": mean, "std": std, "coef": fit.coef_, "bias": fit.intercept_, "fit": fit, "data": bunch.data}


def spec(iris_fit=None, **changes) -> dict:
    preprocessing = {"kind": "tabular", "feature_names": FEATURES, "classes": CLASSES}
    if iris_fit is not None:
        preprocessing.update(input_mean=iris_fit["mean"].tolist(), input_std=iris_fit["std"].tolist())
    out = {"task": "classification", "target": "target", "preprocessing": preprocessing}
    out.update(changes)
    return out


def graph(
    weight: np.ndarray,
    bias: np.ndarray,
    *,
    batch="batch",
    softmax: bool = False,
    extra_node=None,
    input_type=TensorProto.FLOAT,
) -> io.BytesIO:
    """An ONNX file: output = input @ weight.T + bias (a Gemm), optionally followed by Softmax or another node."""
    width, features = weight.shape
    nodes = [helper.make_node("Gemm", ["input", "W", "B"], ["logits" if softmax or extra_node else "output"], transB=1)]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["output"], axis=1))
    if extra_node is not None:
        nodes.append(extra_node)
    model = helper.make_model(
        helper.make_graph(
            nodes,
            "byo",
            [helper.make_tensor_value_info("input", input_type, [batch, features])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", width])],
            initializer=[
                numpy_helper.from_array(weight.astype(np.float32), "W"),
                numpy_helper.from_array(bias.astype(np.float32), "B"),
            ],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    fh = io.BytesIO(model.SerializeToString())
    fh.name = "model.onnx"
    return fh


def iris_graph(iris_fit, **kwargs) -> io.BytesIO:
    return graph(iris_fit["coef"], iris_fit["bias"], **kwargs)


def upload(client, model, weights, body, **fields):
    payload = {"weights": weights, "spec": json.dumps(body), "format": "onnx", **fields}
    return client.post(f"/api/v1/models/{model.pk}/versions/", payload, format="multipart")


def test_a_brought_onnx_graph_is_registered_promoted_and_served(world, model, iris_fit):
    member = world.client("member")
    response = upload(member, model, iris_graph(iris_fit), spec(iris_fit), description="sklearn, exported by hand")
    assert response.status_code == 201, response.json()
    version = response.json()
    assert version["format"] == "onnx" and version["version"] == 1 and version["job"] is None
    assert version["num_parameters"] == 15
    assert version["tensors"] == {
        "input": {"dtype": "FLOAT", "shape": ["batch", 4]},
        "output": {"dtype": "FLOAT", "shape": ["batch", 3]},
    }
    assert version["spec"]["preprocessing"]["input_mean"] == pytest.approx(iris_fit["mean"].tolist())
    moved = member.post(f"/api/v1/models/{model.pk}/aliases/", {"alias": "production", "version": version["id"]})
    assert moved.status_code == 200, moved.json()

    rows = iris_fit["data"][::10]
    answer = member.post(
        f"/api/v1/models/{model.pk}/predict/",
        {
            "alias": "production",
            "inputs": [rows[0].tolist(), dict(zip(FEATURES, rows[1].tolist(), strict=True))]
            + [r.tolist() for r in rows[2:]],
        },
        format="json",
    )
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["runtime"] == "onnxruntime" and body["model_version"] == version["id"]
    expected = iris_fit["fit"].predict((rows - iris_fit["mean"]) / iris_fit["std"])
    assert [p["label"] for p in body["predictions"]] == [CLASSES[i] for i in expected]
    probabilities = iris_fit["fit"].predict_proba((rows[:1] - iris_fit["mean"]) / iris_fit["std"])[0]
    assert list(body["predictions"][0]["scores"].values()) == pytest.approx(probabilities.tolist(), abs=1e-5)

    logged = PredictionLog.objects.get(pk=body["predictions"][1]["id"])
    assert logged.runtime == "onnxruntime" and logged.input == dict(zip(FEATURES, rows[1].tolist(), strict=True))
    feedback = member.post(f"/api/v1/predictions/{logged.pk}/feedback/", {"label": "versicolor"}, format="json")
    assert feedback.status_code == 200, feedback.json()
    logged.refresh_from_db()
    assert logged.feedback == "versicolor"
    wrong = member.post(f"/api/v1/predictions/{logged.pk}/feedback/", {"label": "rose"}, format="json")
    assert wrong.status_code == 400 and "not one of the model's classes" in wrong.json()["detail"]
    bad_input = member.post(f"/api/v1/models/{model.pk}/predict/", {"version": 1, "inputs": [[1, 2]]}, format="json")
    assert bad_input.status_code == 400 and "expected 4 feature values" in bad_input.json()["detail"]
    torch_only = member.post(
        f"/api/v1/models/{model.pk}/predict/",
        {"version": 1, "inputs": [rows[0].tolist()], "runtime": "torch"},
        format="json",
    )
    assert torch_only.status_code == 400 and "onnx version" in torch_only.json()["detail"]


def test_a_graph_that_gives_probabilities_is_served_as_it_says(world, model, iris_fit):
    member = world.client("member")
    response = upload(member, model, iris_graph(iris_fit, softmax=True), spec(iris_fit, outputs="probabilities"))
    assert response.status_code == 201, response.json()
    row = iris_fit["data"][60]
    answer = member.post(f"/api/v1/models/{model.pk}/predict/", {"version": 1, "inputs": [row.tolist()]}, format="json")
    expected = iris_fit["fit"].predict_proba(((row - iris_fit["mean"]) / iris_fit["std"])[None])[0]
    # without `outputs: probabilities`, softmax would be applied to probabilities and flatten them
    assert list(answer.json()["predictions"][0]["scores"].values()) == pytest.approx(expected.tolist(), abs=1e-5)


def test_a_regression_graph_and_a_spec_task_that_is_not_the_models(world, iris_fit):
    from models_app.services import create_model

    member = world.client("member")
    regressor = create_model(actor=world.users["member"], team=world.alpha, name="petal", task="regression")
    body = {
        "task": "regression",
        "target": "petal_width_cm",
        "preprocessing": {"kind": "tabular", "feature_names": FEATURES[:3]},
    }
    weights = graph(np.array([[0.1, -0.2, 0.4]]), np.array([0.3]))
    response = upload(member, regressor, weights, body)
    assert response.status_code == 201, response.json()
    answer = member.post(
        f"/api/v1/models/{regressor.pk}/predict/", {"version": 1, "inputs": [[1, 1, 1]]}, format="json"
    )
    assert answer.json()["predictions"][0]["label"] == pytest.approx(0.1 - 0.2 + 0.4 + 0.3, abs=1e-6)
    wrong = upload(member, regressor, iris_graph(iris_fit), spec(iris_fit))
    assert wrong.status_code == 400 and "is a regression model" in " ".join(wrong.json()["errors"]["spec.task"])


def torchscript_file(_fit=None) -> io.BytesIO:
    import warnings

    import torch

    fh = io.BytesIO()
    with warnings.catch_warnings():  # torch.jit is deprecated; the file is what a user may still send
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(torch.nn.Linear(4, 3)), fh)
    fh.seek(0)
    fh.name = "model.onnx"  # the name lies; the content decides
    return fh


def torch_save_file(_fit=None) -> io.BytesIO:
    import torch

    fh = io.BytesIO()
    torch.save(torch.nn.Linear(4, 3).state_dict(), fh)
    fh.seek(0)
    fh.name = "model.onnx"
    return fh


def pickle_file(_fit=None) -> io.BytesIO:
    fh = io.BytesIO(pickle.dumps({"coef": [[1.0] * 4] * 3}, protocol=4))  # what joblib.dump writes, uncompressed
    fh.name = "model.joblib"
    return fh


def garbage_file(_fit=None) -> io.BytesIO:
    fh = io.BytesIO(bytes(range(256)) * 8)
    fh.name = "model.onnx"
    return fh


def external_data_graph(iris_fit) -> io.BytesIO:
    """A graph whose weight points at a file beside it: a server must never open such a path."""
    model = onnx.load_from_string(iris_graph(iris_fit).getvalue())
    weight = model.graph.initializer[0]
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value="../../etc/passwd")
    fh = io.BytesIO(model.SerializeToString())
    fh.name = "model.onnx"
    return fh


def custom_op_graph(iris_fit) -> io.BytesIO:
    node = helper.make_node("FancyActivation", ["logits"], ["output"], domain="com.example", name="fancy")
    return iris_graph(iris_fit, extra_node=node)


REFUSALS = [
    (torchscript_file, {}, "weights", "TorchScript archive"),
    (torch_save_file, {}, "weights", "pickled PyTorch file"),
    (pickle_file, {}, "weights", "this is a pickle"),
    (garbage_file, {}, "weights", "not an ONNX file"),
    (lambda fit: safetensors_file(), {}, "weights", "is a safetensors file, not onnx"),
    (custom_op_graph, {}, "weights", "FancyActivation of domain 'com.example'"),
    (external_data_graph, {}, "weights", "keeps its data in an external file"),
    (lambda fit: graph(np.ones((3, 5)), np.zeros(3)), {}, "weights", "has 5 on axis 1"),
    (lambda fit: graph(np.ones((3, 4)), np.zeros(3), batch=1), {}, "weights", "fixed batch size of 1"),
    (lambda fit: graph(np.ones((3, 4)), np.zeros(3), input_type=TensorProto.INT64), {}, "weights", "must take floats"),
    (lambda fit: graph(np.ones((2, 4)), np.zeros(2)), {}, "weights", "gives 2 values per input, but the spec names 3"),
    (iris_graph, {"format": "torchscript"}, "format", "run code when loaded"),
    (iris_graph, {"spec": {"architecture": "mlp", "in_features": 4}}, "spec.architecture", "not an architecture"),
    (
        iris_graph,
        {"spec": {"task": "classification", "preprocessing": {"kind": "tabular", "feature_names": FEATURES}}},
        "spec.preprocessing.classes",
        "must be a list of strings",
    ),
    (
        iris_graph,
        {
            "spec": spec(
                preprocessing={
                    "kind": "tabular",
                    "feature_names": FEATURES,
                    "classes": CLASSES,
                    "input_std": [1, 1, 0, 1],
                }
            )
        },
        "spec.preprocessing.input_std",
        "above 0",
    ),
    (
        iris_graph,
        {
            "spec": spec(
                preprocessing={"kind": "text", "text_column": "t", "vocab": ["a"], "max_len": 4, "classes": CLASSES}
            )
        },
        "spec.preprocessing.kind",
        "a text input serves text-classification",
    ),
]


@pytest.mark.parametrize(
    ("weights", "fields", "field", "needle"),
    REFUSALS,
    ids=[
        "torchscript",
        "torch-save",
        "pickle",
        "garbage",
        "safetensors-as-onnx",
        "custom-domain-op",
        "external-data",
        "wrong-input-width",
        "fixed-batch",
        "int-input",
        "class-count",
        "declared-torchscript",
        "architecture-spec",
        "no-classes",
        "zero-std",
        "text-kind-for-tabular-task",
    ],
)
def test_what_is_not_a_servable_onnx_graph_is_refused_and_nothing_is_stored(
    world, model, iris_fit, media_root, weights, fields, field, needle
):
    fields = dict(fields)
    body = fields.pop("spec", spec(iris_fit))
    response = upload(world.client("member"), model, weights(iris_fit), body, **fields)
    assert response.status_code == 400, response.json()
    assert needle in " ".join(response.json()["errors"][field]), response.json()
    assert ModelVersion.objects.count() == 0 and Blob.objects.count() == 0
    assert [p for p in Path(media_root).rglob("*") if p.is_file()] == []


def _tracking_run(client, team: str = "alpha") -> str:
    response = client.post("/api/v1/jobs/", {"team": team, "kind": "tracking", "spec": {}}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_a_version_names_the_tracking_run_that_made_it(world, model, iris_fit, media_root):
    member, maintainer = world.client("member"), world.client("maintainer")
    run = _tracking_run(member)
    response = upload(member, model, iris_graph(iris_fit), spec(iris_fit), job=run)
    assert response.status_code == 201, response.json()
    assert response.json()["job"] == run
    assert member.get(f"/api/v1/jobs/{run}/").json()["outputs"]["model_version"] == response.json()["id"]

    again = upload(member, model, iris_graph(iris_fit, softmax=True), spec(iris_fit, outputs="probabilities"), job=run)
    assert again.status_code == 400 and "already recorded model version" in again.json()["errors"]["job"][0]
    others = upload(maintainer, model, iris_graph(iris_fit, softmax=True), spec(iris_fit), job=_tracking_run(member))
    assert others.status_code == 400 and "Only the user who started the run" in others.json()["errors"]["job"][0]
    beta_run = _tracking_run(world.client("outsider"), "beta")
    foreign = upload(member, model, iris_graph(iris_fit, softmax=True), spec(iris_fit), job=beta_run)
    assert foreign.status_code == 400 and "No tracking run" in foreign.json()["errors"]["job"][0]
    assert ModelVersion.objects.count() == 1 and Blob.objects.count() == 1  # the refused ones left nothing


def test_a_model_of_brought_onnx_graphs_only_cannot_be_retrained(world, model, iris_version, iris_fit):
    from models_app.services import set_gate

    maintainer = world.client("maintainer")
    set_gate(actor=world.users["maintainer"], model=model, dataset_version=iris_version)
    body = {
        "team": "alpha",
        "model": str(model.pk),
        "base_dataset_version": str(iris_version.pk),
        "min_feedback": 1,
        "train": {"architecture": "mlp", "hyperparameters": {"epochs": 2}},
    }
    made = maintainer.post("/api/v1/triggers/", body, format="json")  # no versions yet: its first run trains one
    assert made.status_code == 201, made.json()
    assert upload(maintainer, model, iris_graph(iris_fit), spec(iris_fit)).status_code == 201
    refused = maintainer.post("/api/v1/triggers/", {**body, "name": "second"}, format="json")
    assert refused.status_code == 400
    assert "retraining needs an Eco architecture spec" in refused.json()["errors"]["model"][0]
    fired = maintainer.post(f"/api/v1/triggers/{made.json()['id']}/fire/")
    assert fired.status_code == 409 and "retraining needs an Eco architecture spec" in fired.json()["detail"]


def _cast_then_gemm(input_type, shape, weight: np.ndarray, bias: np.ndarray, flatten: bool = False) -> io.BytesIO:
    """float(input) (flattened) @ weight.T + bias: enough to tell which inputs a text or image graph was fed."""
    nodes = [helper.make_node("Cast", ["input"], ["as_float"], to=TensorProto.FLOAT)]
    if flatten:
        nodes.append(helper.make_node("Flatten", ["as_float"], ["flat"], axis=1))
    nodes.append(helper.make_node("Gemm", ["flat" if flatten else "as_float", "W", "B"], ["output"], transB=1))
    model = helper.make_model(
        helper.make_graph(
            nodes,
            "byo",
            [helper.make_tensor_value_info("input", input_type, shape)],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", weight.shape[0]])],
            initializer=[
                numpy_helper.from_array(weight.astype(np.float32), "W"),
                numpy_helper.from_array(bias.astype(np.float32), "B"),
            ],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    fh = io.BytesIO(model.SerializeToString())
    fh.name = "model.onnx"
    return fh


def test_text_and_image_graphs_are_fed_by_eco_preprocessing(world):
    from models_app.services import create_model

    member, actor = world.client("member"), world.users["member"]
    reviews = create_model(actor=actor, team=world.alpha, name="reviews", task="text-classification")
    # token ids (N, 3); "good" is id 2 and "bad" id 3 (vocab[i] is i + 2): the first id decides
    text = _cast_then_gemm(
        TensorProto.INT64, ["batch", 3], np.array([[-1.0, 0, 0], [1.0, 0, 0]]), np.array([2.5, -2.5])
    )
    body = {
        "task": "text-classification",
        "preprocessing": {
            "kind": "text",
            "text_column": "review",
            "vocab": ["good", "bad"],
            "max_len": 3,
            "classes": ["pos", "neg"],
        },
    }
    assert upload(member, reviews, text, body).status_code == 201
    inputs = ["Good film", {"review": "BAD, bad film"}]
    answer = member.post(f"/api/v1/models/{reviews.pk}/predict/", {"version": 1, "inputs": inputs}, format="json")
    assert [p["label"] for p in answer.json()["predictions"]] == ["pos", "neg"]
    wide = _cast_then_gemm(TensorProto.INT64, ["batch", 4], np.ones((2, 4)), np.zeros(2))
    refused = upload(member, reviews, wide, body)
    assert refused.status_code == 400 and "has 4 on axis 1" in refused.json()["errors"]["weights"][0]

    digits = create_model(actor=actor, team=world.alpha, name="tiny-digits", task="image-classification")
    # a 2x2 image, standardised by mean 1 and std 2: the top-left pixel's sign decides
    image = _cast_then_gemm(
        TensorProto.FLOAT, ["batch", 1, 2, 2], np.array([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]]), np.zeros(2), flatten=True
    )
    body = {
        "task": "image-classification",
        "preprocessing": {
            "kind": "image",
            "image_shape": [2, 2],
            "input_mean": 1.0,
            "input_std": 2.0,
            "feature_names": ["p00", "p01", "p10", "p11"],
            "classes": ["bright", "dark"],
        },
    }
    assert upload(member, digits, image, body).status_code == 201
    inputs = [[[3, 0], [0, 0]], [0, 5, 5, 5]]  # a nested image and a flat one
    answer = member.post(f"/api/v1/models/{digits.pk}/predict/", {"version": 1, "inputs": inputs}, format="json")
    assert [p["label"] for p in answer.json()["predictions"]] == ["bright", "dark"]
