"""Serving through POST /models/{id}/predict/: by alias or version, rows as lists or objects, the per-process
cache, the prediction log, and a clear 400 for every malformed request."""

import numpy as np
import pytest

from ml import inference
from models_app import serving
from models_app.models import PredictionLog
from models_app.services import set_alias
from tests.helpers import register_outcome, register_trained

FEATURES = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
SETOSA = [5.1, 3.5, 1.4, 0.2]
VIRGINICA = [7.7, 3.0, 6.1, 2.3]
SETOSA_ROW = dict(zip(FEATURES, SETOSA, strict=True))


def _predict(client, model, **body):
    return client.post(f"/api/v1/models/{model.pk}/predict/", body, format="json")


def test_predict_by_alias_answers_labels_scores_and_logs_each_prediction(world, model, trained):
    viewer = world.client("viewer")  # any role may predict
    row = dict(zip(FEATURES, VIRGINICA, strict=True))
    response = _predict(viewer, model, alias="production", inputs=[SETOSA, {**row, "target": "ignored"}])
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["model_version"] == str(trained.pk) and body["version"] == 1 and body["runtime"] == "torch"
    labels = [p["label"] for p in body["predictions"]]
    assert labels == ["setosa", "virginica"]
    for prediction in body["predictions"]:
        assert set(prediction["scores"]) == {"setosa", "versicolor", "virginica"}
        assert sum(prediction["scores"].values()) == pytest.approx(1.0, abs=1e-4)
        assert prediction["scores"][prediction["label"]] == max(prediction["scores"].values())

    logged = {str(p.pk): p for p in PredictionLog.objects.all()}
    assert set(logged) == {p["id"] for p in body["predictions"]}
    first = logged[body["predictions"][0]["id"]]
    assert first.input == dict(zip(FEATURES, SETOSA, strict=True))  # stored as dataset columns
    assert first.output["label"] == "setosa" and first.alias == "production" and first.runtime == "torch"
    assert first.model_version_id == trained.pk and first.batch_size == 2 and first.latency_ms > 0
    assert first.created_by == world.users["viewer"] and first.team == world.alpha


def test_predict_by_version_number_or_id(world, model, trained):
    client = world.client("member")
    for version in (1, str(trained.pk)):
        response = _predict(client, model, version=version, inputs=[SETOSA])
        assert response.status_code == 200, response.json()
        assert response.json()["model_version"] == str(trained.pk) and response.json()["alias"] is None


def test_a_version_loads_once_and_an_alias_move_takes_effect_at_once(world, model, iris_version, trained):
    client = world.client("member")
    _predict(client, model, alias="production", inputs=[SETOSA])
    loaded = serving.cache.get(str(trained.pk))
    _predict(client, model, alias="production", inputs=[SETOSA])
    assert serving.cache.get(str(trained.pk)) is loaded  # the same runtime object: not loaded again

    v2 = register_trained(actor=world.users["member"], model=model, dataset_version=iris_version, seed=1)
    set_alias(actor=world.users["member"], model=model, alias="production", version=v2)
    response = _predict(client, model, alias="production", inputs=[SETOSA])
    assert response.json()["model_version"] == str(v2.pk) and response.json()["version"] == 2


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"alias": "production"}, "inputs", "non-empty list"),
        ({"alias": "production", "inputs": []}, "inputs", "non-empty list"),
        ({"alias": "production", "inputs": "1,2,3,4"}, "inputs", "non-empty list"),
        ({"alias": "production", "inputs": [[1, 2, 3]]}, "inputs[0]", "expected 4 feature values, got 3"),
        (
            {"alias": "production", "inputs": [SETOSA, [1, 2, "x", 4]]},
            "inputs[1]",
            "'petal_length_cm' must be a finite number",
        ),
        ({"alias": "production", "inputs": [[1, 2, True, 4]]}, "inputs[0]", "finite number"),
        ({"alias": "production", "inputs": ["a flower"]}, "inputs[0]", "a row is a list of 4 numbers"),
        ({"alias": "production", "inputs": [{"sepal_length_cm": 5}]}, "inputs[0]", "missing feature(s) sepal_width_cm"),
        (
            {"alias": "production", "inputs": [{**dict(zip(FEATURES, SETOSA, strict=True)), "colour": 1}]},
            "inputs[0]",
            "unknown feature(s) colour",
        ),
        ({"inputs": [SETOSA]}, "alias", "exactly one of 'alias' or 'version'"),
        ({"alias": "production", "version": 1, "inputs": [SETOSA]}, "alias", "exactly one"),
        ({"alias": 7, "inputs": [SETOSA]}, "alias", "must be an alias name"),
        ({"version": "v1", "inputs": [SETOSA]}, "version", "version id or version number"),
        ({"version": 0, "inputs": [SETOSA]}, "version", "version id or version number"),
        ({"alias": "production", "inputs": [SETOSA], "runtime": "tensorrt"}, "runtime", "auto, torch, onnxruntime"),
        ({"alias": "production", "inputs": [SETOSA], "runtime": "onnxruntime"}, "runtime", "no ONNX export"),
        ({"alias": "production", "inputs": [SETOSA], "temperature": 2}, "temperature", "Unknown field"),
    ],
)
def test_malformed_predict_requests_are_400_naming_the_problem(world, model, trained, body, field, words):
    response = _predict(world.client("member"), model, **body)
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert words in " ".join(response.json()["errors"][field])
    assert not PredictionLog.objects.exists()


def test_too_many_inputs_and_non_object_bodies_are_400(world, model, trained, settings):
    settings.ECO_MAX_PREDICT_BATCH = 3
    client = world.client("member")
    response = _predict(client, model, alias="production", inputs=[SETOSA] * 4)
    assert response.status_code == 400 and "at most 3" in response.json()["detail"]
    response = client.post(f"/api/v1/models/{model.pk}/predict/", [SETOSA], format="json")
    assert response.status_code == 400 and "JSON object" in response.json()["detail"]


def test_unknown_alias_or_version_is_404_naming_it_and_other_teams_models_are_404(world, model, trained):
    client = world.client("member")
    response = _predict(client, model, alias="staging", inputs=[SETOSA])
    assert response.status_code == 404 and "no alias 'staging'" in response.json()["detail"]
    response = _predict(client, model, version=9, inputs=[SETOSA])
    assert response.status_code == 404 and "no version 9" in response.json()["detail"]
    outsider = _predict(world.client("outsider"), model, alias="production", inputs=[SETOSA])
    assert outsider.status_code == 404 and "flower" not in outsider.json()["detail"]
    missing = world.client("member").post(
        "/api/v1/models/00000000-0000-0000-0000-000000000000/predict/",
        {"alias": "production", "inputs": [SETOSA]},
        format="json",
    )
    assert missing.status_code == 404


def test_an_uploaded_version_without_preprocessing_is_refused_with_a_reason(world, model, model_version):
    response = _predict(world.client("member"), model, version=str(model_version.pk), inputs=[SETOSA])
    assert response.status_code == 400 and "uploaded, not trained by an Eco job" in response.json()["detail"]


def test_odd_values_are_400_not_500(world, model, trained):
    client = world.client("member")
    huge = _predict(client, model, alias="production", inputs=[[1, 2, 3, 10**400]])
    assert huge.status_code == 400 and "infinity" in huge.json()["detail"]  # the parser refuses it (a double)
    nan = client.post(
        f"/api/v1/models/{model.pk}/predict/",
        b'{"alias": "production", "inputs": [[NaN, 1, 2, 3]]}',
        content_type="application/json",
    )
    assert nan.status_code == 400 and "JSON parse error" in nan.json()["detail"]
    nul = _predict(client, model, alias="prod\x00", inputs=[SETOSA])
    assert nul.status_code == 400 and "alias" in nul.json()["errors"]


@pytest.mark.parametrize(
    "row, field, words",
    [
        ([5.1, 3.5, 1.4, 1e308], "inputs[1]", "'petal_width_cm' is 1e+308, outside the float32 range (±3.4e38)"),
        ({**SETOSA_ROW, "sepal_width_cm": -1e39}, "inputs[1]", "'sepal_width_cm' is -1e+39, outside"),
        (
            [10**39, 3.5, 1.4, 0.2],
            "inputs[1]",
            "'sepal_length_cm' is 1e+39, outside the float32 range",
        ),  # a huge integer
        ([5.1, 3e38, 1.4, 0.2], "inputs[1]", "'sepal_width_cm' is 3e+38; standardized"),  # fits float32; scaled, not
    ],
)
def test_values_a_float32_model_cannot_take_are_400_naming_the_input(world, model, trained, row, field, words):
    response = _predict(world.client("member"), model, alias="production", inputs=[SETOSA, row])
    assert response.status_code == 400, response.json()
    assert words in " ".join(response.json()["errors"][field]), response.json()
    assert not PredictionLog.objects.exists()


@pytest.fixture
def overflowing(world, model, trained, tmp_path):
    """Versions of a network whose outputs overflow float32 for large but valid inputs, one per runtime: its
    last layer is `trained`'s scaled by 1e30 (real weights: ordinary inputs give finite logits of ~1e30, so the
    ONNX export's parity check passes), as safetensors (torch), its ONNX export and an int8 quantization
    (ONNX Runtime). Returns {runtime: version number}."""
    import torch
    from django.core.files import File

    from datasets_app import blobs
    from ml.artifacts import load_model, save_weights
    from ml.optimize import export_onnx, quantize_int8
    from models_app.services import register_version

    with blobs.local_copy(trained.blob) as path:
        network = load_model(trained.spec, path)
    with torch.no_grad():
        [*_, last] = (m for m in network.modules() if isinstance(m, torch.nn.Linear))
        last.weight.mul_(1e30)
    files = {"torch": tmp_path / "w.safetensors", "onnx": tmp_path / "a.onnx", "int8": tmp_path / "q.onnx"}
    save_weights(network, files["torch"])
    export_onnx(network, trained.spec, files["onnx"])
    quantize_int8(files["onnx"], files["int8"])
    versions, source = {}, None
    for name, path in files.items():  # the ONNX files as an export and a quantize job register them
        with open(path, "rb") as fh:
            version = register_version(
                actor=world.users["member"],
                model=model,
                weights_path=path,
                weights=File(fh, name=path.name),
                spec=trained.spec,
                from_job=source is not None,
                parent=source,
                fmt="safetensors" if source is None else "onnx",
            )
        source = source or version
        versions[name] = version.version
    return versions


HUGE = [1e10, 1e10, 1e10, 1e10]  # within float32, standardized too; the scaled last layer overflows on it


@pytest.mark.parametrize("runtime", ["torch", "onnx", "int8"])
def test_a_model_whose_output_is_not_finite_answers_400_never_a_label(world, model, overflowing, runtime):
    client = world.client("member")
    fine = _predict(client, model, version=overflowing[runtime], inputs=[SETOSA])
    assert fine.status_code == 200 and fine.json()["runtime"] == ("torch" if runtime == "torch" else "onnxruntime")
    served = serving.cache.get(fine.json()["model_version"])
    outputs = served.runtime.run(inference.encode(served.spec, [HUGE])[0])
    assert not np.isfinite(outputs).all()  # the premise: this runtime's outputs overflow for this input

    response = _predict(client, model, version=overflowing[runtime], inputs=[SETOSA, VIRGINICA, HUGE, HUGE])
    assert response.status_code == 400, response.json()
    [message] = response.json()["errors"]["inputs[2]"]
    assert "the model's output is not finite for this input" in message and "(2 inputs of 4 in all)" in message
    assert PredictionLog.objects.count() == 1  # the first request's


def _register_imputing(world, model, dataset_version, strategy: str):
    """flower-clf trained by the real pipeline on iris with holes in two features, with options.impute."""

    from ml.pipeline import train
    from ml.train import NullReporter
    from tests.helpers import iris_columns

    columns = iris_columns()
    columns[FEATURES[0]][::7] = float("nan")
    columns[FEATURES[2]][3::11] = float("nan")
    outcome = train(
        columns,
        task="classification",
        target="target",
        architecture="mlp",
        options={"impute": strategy},
        hyperparameters={"epochs": 30},
        reporter=NullReporter(),
    )
    return register_outcome(
        actor=world.users["member"],
        model=model,
        outcome=outcome,
        dataset_version=dataset_version,
        params={"options": {"impute": strategy}},
    )


def test_a_null_feature_is_filled_with_the_learnt_value_and_logged_as_missing(world, model, iris_version):
    version = _register_imputing(world, model, iris_version, "median")
    median = version.spec["preprocessing"]["impute"]["values"][FEATURES[0]]
    client = world.client("member")
    with_null = dict(zip(FEATURES, VIRGINICA, strict=True)) | {FEATURES[0]: None}
    filled = dict(zip(FEATURES, VIRGINICA, strict=True)) | {FEATURES[0]: median}
    response = _predict(client, model, version=1, inputs=[with_null, [None, *VIRGINICA[1:]], filled])
    assert response.status_code == 200, response.json()
    predictions = response.json()["predictions"]
    assert predictions[0]["scores"] == predictions[1]["scores"] == predictions[2]["scores"]
    logged = PredictionLog.objects.get(pk=predictions[0]["id"])
    assert logged.input[FEATURES[0]] is None and logged.input[FEATURES[1]] == VIRGINICA[1]


def test_a_null_feature_for_a_drop_rows_model_is_400_naming_input_and_feature(world, model, iris_version, trained):
    _register_imputing(world, model, iris_version, "drop_rows")
    client = world.client("member")
    row = dict(zip(FEATURES, SETOSA, strict=True)) | {FEATURES[2]: None}
    response = _predict(client, model, version=2, inputs=[SETOSA, row])
    assert response.status_code == 400, response.json()
    assert response.json()["errors"]["inputs[1]"] == [
        f"'{FEATURES[2]}' is missing; this model was trained with impute drop_rows, which cannot fill it"
    ]
    response = _predict(client, model, version=1, inputs=[[None, *SETOSA[1:]]])  # no imputer at all
    assert response.status_code == 400
    assert "'sepal_length_cm' is missing; this model was trained without options.impute" in response.json()["detail"]
    assert not PredictionLog.objects.exists()
