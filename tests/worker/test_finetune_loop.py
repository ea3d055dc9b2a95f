"""The rest of the loop for a fine-tuned checkpoint, through the API with a real worker and the reaper: a tiny
BERT fine-tuned on reviews is evaluated on the same fixed split, passes the gate, serves raw texts (the
tokenizer runs in the server), takes feedback, and a retrain trigger fine-tunes again from the same base;
the version exports to ONNX (dynamic batch and sequence axes, parity checked) and quantizes to int8."""

import numpy as np
import pytest

from models_app.models import ModelVersion, PredictionLog
from tests.helpers import review_texts, submit, wait_finished
from tests.worker.test_finetune_job import HYPER, setup, spec  # noqa: F401 - setup is a fixture
from tests.worker.test_loop_on_worker import _wait

pytestmark = pytest.mark.django_db(transaction=True)


def _succeeded(job: dict) -> dict:
    finished = wait_finished(job["id"], timeout=180)
    assert finished.status == "succeeded", finished.error
    return finished.outputs


def test_finetuned_checkpoint_evaluates_serves_retrains_exports_and_quantizes(setup, world, worker, stack):  # noqa: F811
    member, maintainer = setup["client"], world.client("maintainer")
    data = setup["data"]["id"]
    tuned = _succeeded(submit(member, "finetune", spec(setup)))
    model_id, version_id = tuned["model"], tuned["model_version"]
    version = member.get(f"/api/v1/model-versions/{version_id}/").json()

    # evaluate: the same metrics as other text models, on the same fixed test split the fine-tune held out
    evaluated = _succeeded(submit(member, "evaluate", {"model_version": version_id, "dataset_version": data}))
    evaluation = member.get(f"/api/v1/evaluations/?model_version={version_id}").json()["results"][0]
    assert evaluation["num_rows"] == version["params"]["split"]["test_rows"] == 40
    assert evaluation["metrics"]["accuracy"] == pytest.approx(version["metrics"]["accuracy"])
    assert set(evaluation["metrics"]) >= {"f1_macro", "log_loss", "confusion_matrix"} and evaluated

    # the gate on the test split: passes, and production moves. It pins the data set the retrain below trains
    # on (with the feedback added), so it allows that overlap, which its leakage check would otherwise refuse
    gate = {"dataset_version": data, "split": "test", "min_gain": 0.0, "max_overlap": 200}
    assert maintainer.put(f"/api/v1/models/{model_id}/gate/", gate, format="json").status_code == 200
    promoted = member.post(
        f"/api/v1/models/{model_id}/aliases/", {"alias": "production", "version": version_id}, format="json"
    )
    assert promoted.status_code == 200, promoted.json()

    # serving raw texts; the answer's classes are the data set's labels
    texts, labels = review_texts(12, seed=5)
    answer = member.post(f"/api/v1/models/{model_id}/predict/", {"alias": "production", "inputs": texts}, format="json")
    assert answer.status_code == 200, answer.json()
    served = answer.json()
    assert served["model_version"] == version_id and served["runtime"] == "torch"
    assert set(served["predictions"][0]["scores"]) == {"neg", "pos"}
    assert np.mean([p["label"] == lab for p, lab in zip(served["predictions"], labels, strict=True)]) >= 0.8
    bad = member.post(f"/api/v1/models/{model_id}/predict/", {"alias": "production", "inputs": [3]}, format="json")
    assert bad.status_code == 400 and "inputs[0]" in bad.json()["errors"]

    # feedback on the logged predictions, then a trigger that fine-tunes again from the same base
    ids = [p["id"] for p in served["predictions"]]
    _wait(lambda: PredictionLog.objects.filter(pk__in=ids).count() == 12, "the prediction log")
    logged = PredictionLog.objects.get(pk=ids[0])
    assert logged.input == {"text": texts[0]}
    trigger = {
        "team": "alpha",
        "model": model_id,
        "base_dataset_version": data,
        "min_feedback": 12,
        "train": {"base_version": setup["base"]["id"], "max_length": 32, "hyperparameters": HYPER},
        "promote_if": {"alias": "production"},
    }
    response = maintainer.post("/api/v1/triggers/", trigger, format="json")
    assert response.status_code == 201, response.json()
    for prediction_id, label in zip(ids, labels, strict=True):
        assert (
            member.post(f"/api/v1/predictions/{prediction_id}/feedback/", {"label": label}, format="json").status_code
            == 200
        )
    reaper = stack.reaper(every=0.3)
    try:
        run = _wait(lambda: member.get(f"/api/v1/triggers/{response.json()['id']}/runs/").json()["results"], "a run")[0]
        run = _wait(
            lambda: (r := member.get(f"/api/v1/trigger-runs/{run['id']}/").json())["status"] != "running" and r,
            "the run to end",
            timeout=240,
        )
    finally:
        reaper.stop()
    assert [j["kind"] for j in run["jobs"]] == ["snapshot", "finetune", "evaluate"], run
    assert run["status"] == "promoted", (run["error"], run.get("checks"))
    retrained = ModelVersion.objects.get(pk=run["model_version"])
    assert str(retrained.parent_id) == setup["base"]["id"] and retrained.spec["base_version"] == setup["base"]["id"]
    assert (
        retrained.params["split"]["train_rows"]
        + retrained.params["split"]["validation_rows"]
        + retrained.params["split"]["test_rows"]
        == 212
    )  # the 200 rows and the 12 labelled predictions

    # ONNX export with dynamic axes (parity checked on the test rows), then the alias serves on ONNX Runtime
    exported = _succeeded(submit(member, "export", {"model_version": version_id, "format": "onnx"}))
    onnx_version = member.get(f"/api/v1/model-versions/{exported['model_version']}/").json()
    assert onnx_version["format"] == "onnx" and onnx_version["parent"] == version_id
    assert onnx_version["params"]["parity_max_rel_diff"] <= 1e-4
    assert {f["name"] for f in onnx_version["files"]} >= {"tokenizer.json", "tokenizer_config.json", "config.json"}
    assert "model.safetensors" not in {f["name"] for f in onnx_version["files"]}
    on_onnx = member.post(
        f"/api/v1/models/{model_id}/predict/",
        {"version": version["version"], "inputs": texts, "runtime": "onnxruntime"},
        format="json",
    )
    assert on_onnx.status_code == 200, on_onnx.json()
    assert on_onnx.json()["runtime"] == "onnxruntime"
    assert [p["label"] for p in on_onnx.json()["predictions"]] == [p["label"] for p in served["predictions"]]

    # dynamic int8: smaller than the fp32 graph (this tiny network's graph outweighs its 0.1 MB of weights, so
    # the safetensors source is no fair measure; benchmarks/finetune.py measures MiniLM's), and its accuracy
    # within 0.02 of the source's
    quantized = _succeeded(submit(member, "quantize", {"model_version": version_id, "dtype": "int8"}))
    int8 = member.get(f"/api/v1/model-versions/{quantized['model_version']}/").json()
    assert int8["params"]["size_bytes"] < onnx_version["params"]["size_bytes"]
    assert int8["params"]["score_change"] >= -0.02, int8["params"]
    int8_answer = member.post(
        f"/api/v1/models/{model_id}/predict/", {"version": int8["version"], "inputs": texts[:2]}, format="json"
    )
    assert int8_answer.status_code == 200 and int8_answer.json()["runtime"] == "onnxruntime"
