"""ml.mlflow_models: an MLflow model folder's MLmodel file, and the Eco serving spec an ONNX model's signature gives."""

import json

import pytest

from ml.errors import UserError
from ml.inference import check_serving_spec
from ml.mlflow_models import NotServable, flavors, onnx_file, read_mlmodel, serving_spec


def mlmodel(inputs=None, outputs=None, metadata=None, flavor="onnx") -> dict:
    text = {"flavors": {flavor: {"data": "model.onnx"}, "python_function": {"loader_module": "mlflow.onnx"}}}
    if inputs is not None:
        text["signature"] = {"inputs": json.dumps(inputs), "outputs": json.dumps(outputs) if outputs else None}
    if metadata is not None:
        text["metadata"] = metadata
    return text


COLUMNS = [{"type": "double", "name": "a"}, {"type": "float", "name": "b"}]


def tensor(*shape, dtype="float32"):
    return [{"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": list(shape)}}]


def test_column_inputs_are_the_features_and_the_output_width_the_task():
    spec = serving_spec(mlmodel(COLUMNS, tensor(-1, 3)), task=None)
    assert spec == {
        "task": "classification",
        "preprocessing": {"kind": "tabular", "feature_names": ["a", "b"], "classes": ["0", "1", "2"]},
    }
    assert check_serving_spec(spec)["preprocessing"]["classes"] == ["0", "1", "2"]
    assert serving_spec(mlmodel(COLUMNS, tensor(-1, 1)), task=None)["task"] == "regression"
    assert serving_spec(mlmodel(COLUMNS, tensor(-1)), task=None)["task"] == "regression"


def test_a_tensor_input_gets_numbered_features_and_metadata_completes_the_spec():
    spec = serving_spec(
        mlmodel(
            tensor(-1, 3), None, {"eco": {"task": "classification", "classes": ["x", "y"], "outputs": "probabilities"}}
        ),
        task=None,
    )
    assert spec["preprocessing"]["feature_names"] == ["x0", "x1", "x2"] and spec["outputs"] == "probabilities"
    assert spec["preprocessing"]["classes"] == ["x", "y"]
    # the registered model's task is used when the metadata names none
    assert serving_spec(mlmodel(COLUMNS, None), task="regression")["task"] == "regression"


@pytest.mark.parametrize(
    ("model", "task", "message"),
    [
        (mlmodel(COLUMNS, tensor(-1, 3), flavor="sklearn"), None, "Eco serves ONNX models"),
        (mlmodel(), None, "without a signature"),
        (mlmodel([{"type": "string", "name": "text"}], tensor(-1, 2)), None, "text (string)"),
        (mlmodel(tensor(-1, 1, 28, 28), tensor(-1, 10)), None, "shape (batch, features)"),
        (mlmodel(tensor(-1, 4, dtype="int64"), tensor(-1, 2)), None, "float input"),
        (mlmodel(tensor(-1, 4) * 2, tensor(-1, 2)), None, "one input tensor"),
        (mlmodel(COLUMNS, None), None, "eco.task"),
        (mlmodel(COLUMNS, None), "classification", "eco.classes"),
        (mlmodel(COLUMNS, tensor(-1, 2), {"eco": {"bogus": 1}}), None, "unknown key(s) in metadata eco: bogus"),
        (mlmodel(tensor(-1, 3), tensor(-1, 2), {"eco": {"feature_names": ["a"]}}), None, "3 values"),
        (mlmodel(COLUMNS, tensor(-1, 2), {"eco": {1: "x", None: "y"}}), None, "unknown key(s) in metadata eco: 1"),
        (mlmodel([{"type": ["double"], "name": "a"}], tensor(-1, 2)), None, "needs a type"),
        (mlmodel([{"type": "tensor", "tensor-spec": "x"}], tensor(-1, 2)), None, "has no shape"),
        ({"flavors": {"onnx": {"data": "m.onnx"}}, "signature": {"inputs": [{"type": "double"}]}}, None, "JSON text"),
    ],
)
def test_what_eco_cannot_serve_is_named(model, task, message):
    with pytest.raises(NotServable) as refused:
        serving_spec(model, task=task)
    assert message in str(refused.value)


def test_the_mlmodel_file_is_read_safely():
    parsed = read_mlmodel(b"flavors:\n  onnx: {data: model.onnx}\n  python_function: {}\n")
    assert flavors(parsed) == ["onnx"] and onnx_file(parsed) == "model.onnx"
    for bad in (b"- a list\n", b"flavors: {}\n", b"\xff\xfe", b"a: [unclosed", b"!!python/object:os.system x"):
        with pytest.raises(UserError):
            read_mlmodel(bad)
    with pytest.raises(UserError, match="bytes; at most"):
        read_mlmodel(b"#" * (2 << 20))


def test_yaml_aliases_are_refused_before_they_expand():
    bomb = b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nflavors: {onnx: *b}\n"
    with pytest.raises(UserError, match="alias"):
        read_mlmodel(bomb)
