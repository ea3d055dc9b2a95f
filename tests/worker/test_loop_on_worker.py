"""The whole loop through the API with a real worker and the reaper process (which checks retrain triggers):
data -> train -> gate (refused, forced by an admin, refused to a member) -> evaluate -> promote -> serve ->
feedback -> retrain run (snapshot -> train -> evaluate -> promote) -> the new version serves -> export and
quantize. Prediction logs are written by the background writer, as in production."""

import time

import numpy as np
import pytest
from sklearn.datasets import load_digits

from accounts_app.models import AuditEvent
from datasets_app.models import DatasetVersion
from models_app.models import PredictionLog
from tests.helpers import builtin_version, submit, wait_finished

pytestmark = pytest.mark.django_db(transaction=True)

CARD = "# Digits\n\n## Intended use\nReading hand-written digits in the demo.\n"


@pytest.fixture(autouse=True)
def _background_log(settings):
    settings.ECO_PREDICTION_LOG = "background"
    settings.ECO_PREDICTION_LOG_FLUSH_S = 0.05
    yield
    from models_app.prediction_log import writer

    writer.shutdown()


def _succeeded(job: dict) -> dict:
    finished = wait_finished(job["id"], timeout=120)
    assert finished.status == "succeeded", finished.error
    return finished.outputs


def _wait(predicate, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


def _split_digits(client, base: str) -> tuple[str, str]:
    """A train set and a disjoint hold-out set (the gate's pinned set) from one digits version."""
    train = submit(client, "process", {"dataset_version": base, "steps": [{"op": "sample", "fraction": 0.8}]})
    holdout = submit(
        client, "process", {"dataset_version": base, "steps": [{"op": "sample", "fraction": 0.8, "complement": True}]}
    )
    return _succeeded(train)["dataset_version"], _succeeded(holdout)["dataset_version"]


def test_the_whole_loop_through_the_api(world, worker, stack):
    member, maintainer, admin = world.client("member"), world.client("maintainer"), world.client("admin")
    base = builtin_version(member, name="digits", builtin="digits")
    train_set, holdout = _split_digits(member, base)
    rows = {DatasetVersion.objects.get(pk=v).num_rows for v in (train_set, holdout)}
    assert rows == {1438, 359}

    # v1: a weak first model (one epoch)
    spec = {"dataset_version": train_set, "model": "digits", "architecture": "cnn", "hyperparameters": {"epochs": 1}}
    v1 = _succeeded(submit(member, "train", spec))
    model_id = v1["model"]

    # the gate: accuracy on the hold-out set, a model card with an "Intended use" section; the feedback below
    # labels served images drawn from all of digits, some of them hold-out images that the retrain then trains
    # on: the gate's leakage check would refuse that, so it allows up to those 24 rows here
    gate = {"dataset_version": holdout, "required_card_fields": ["Intended use"], "min_gain": 0.0, "max_overlap": 24}
    assert member.put(f"/api/v1/models/{model_id}/gate/", gate, format="json").status_code == 403
    response = maintainer.put(f"/api/v1/models/{model_id}/gate/", gate, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() | {"metric": "accuracy", "direction": "maximize", "split": "all"} == response.json()
    assert response.json()["aliases"] == ["production"]

    # refused: no card section, no evaluation on the pinned set
    promote = {"alias": "production", "version": v1["model_version"]}
    refused = member.post(f"/api/v1/models/{model_id}/aliases/", promote, format="json")
    assert refused.status_code == 409
    assert {c["check"] for c in refused.json()["checks"]} == {"model_card", "evaluation"}
    assert "Intended use" in refused.json()["detail"]
    # a member may not force; an admin may, and the force is audited with the failed checks
    forced = {**promote, "force": True, "reason": "first version; evaluation follows"}
    assert member.post(f"/api/v1/models/{model_id}/aliases/", forced, format="json").status_code == 403
    response = admin.post(f"/api/v1/models/{model_id}/aliases/", forced, format="json")
    assert response.status_code == 200, response.json()
    event = AuditEvent.objects.get(action="alias.force")
    assert event.actor == world.users["admin"] and event.data["reason"].startswith("first version")
    assert {c["check"] for c in event.data["failed_checks"]} == {"model_card", "evaluation"}

    # the baseline gets its evaluation on the pinned set; the card its section
    _succeeded(
        submit(member, "evaluate", {"model_version": v1["model_version"], "dataset_version": holdout, "split": "all"})
    )
    assert member.patch(f"/api/v1/models/{model_id}/", {"card": CARD}, format="json").status_code == 200

    # serve: by alias, images as 8x8 lists
    digits = load_digits()
    pick = np.random.default_rng(7).choice(len(digits.target), size=24, replace=False)
    images = [digits.images[i].tolist() for i in pick]
    answer = member.post(
        f"/api/v1/models/{model_id}/predict/", {"alias": "production", "inputs": images}, format="json"
    )
    assert answer.status_code == 200, answer.json()
    served = answer.json()
    assert served["model_version"] == v1["model_version"] and served["runtime"] == "torch"
    assert len(served["predictions"]) == 24 and set(served["predictions"][0]["scores"]) == {str(d) for d in range(10)}

    # a retrain trigger: 20 labelled predictions start a run with a stronger recipe
    trigger = {
        "team": "alpha",
        "model": model_id,
        "base_dataset_version": train_set,
        "min_feedback": 20,
        "train": {"architecture": "cnn", "hyperparameters": {"epochs": 6}},
        "promote_if": {"alias": "production"},
    }
    assert member.post("/api/v1/triggers/", trigger, format="json").status_code == 403
    response = maintainer.post("/api/v1/triggers/", trigger, format="json")
    assert response.status_code == 201, response.json()
    trigger_id = response.json()["id"]

    # feedback: the true label of each prediction, once the background writer has logged it
    ids = [p["id"] for p in served["predictions"]]
    _wait(lambda: PredictionLog.objects.filter(pk__in=ids).count() == 24, "the prediction log")
    outsider = world.client("outsider")
    assert outsider.post(f"/api/v1/predictions/{ids[0]}/feedback/", {"label": "3"}, format="json").status_code == 404
    for prediction_id, i in zip(ids, pick, strict=True):
        response = member.post(
            f"/api/v1/predictions/{prediction_id}/feedback/", {"label": int(digits.target[i])}, format="json"
        )
        assert response.status_code == 200, response.json()
    assert response.json()["feedback"] == str(digits.target[pick[-1]])

    # the reaper process notices the feedback and starts a run; the run walks the chain by itself
    reaper = stack.reaper(every=0.3)
    try:
        run = _wait(lambda: member.get(f"/api/v1/triggers/{trigger_id}/runs/").json()["results"], "a run")[0]
        run = _wait(
            lambda: (r := member.get(f"/api/v1/trigger-runs/{run['id']}/").json())["status"] != "running" and r,
            "the run to end",
            timeout=180,
        )
    finally:
        reaper.stop()
    assert run["status"] == "promoted", run
    assert run["feedback_count"] == 24
    assert [j["kind"] for j in run["jobs"]] == ["snapshot", "train", "evaluate"]
    assert {j["status"] for j in run["jobs"]} == {"succeeded"}
    snapshot = member.get(f"/api/v1/dataset-versions/{run['dataset_version']}/").json()
    assert snapshot["source"] == "feedback" and snapshot["num_rows"] == 1438 + 24
    assert [p["id"] if isinstance(p, dict) else p for p in snapshot["parents"]] == [train_set]

    # the alias moved at once: the same request now answers with the retrained version
    again = member.post(
        f"/api/v1/models/{model_id}/predict/", {"alias": "production", "inputs": images[:1]}, format="json"
    )
    assert again.json()["model_version"] == run["model_version"] != v1["model_version"]

    # optimize: an ONNX export (then the version serves on ONNX Runtime) and a dynamic int8 quantization
    exported = _succeeded(submit(member, "export", {"model_version": run["model_version"], "format": "onnx"}))
    onnx_version = member.get(f"/api/v1/model-versions/{exported['model_version']}/").json()
    assert onnx_version["parent"] == run["model_version"] and onnx_version["format"] == "onnx"
    assert onnx_version["params"]["parity_max_abs_diff"] < 1e-3
    assert onnx_version["params"]["parity_max_rel_diff"] <= 1e-4  # logits: over a scale of at least 1
    assert {"batch_1", "batch_64"} <= set(onnx_version["params"]["latency_ms"])
    again = member.post(f"/api/v1/models/{model_id}/predict/", {"alias": "production", "inputs": images}, format="json")
    assert again.json()["runtime"] == "onnxruntime" and again.json()["model_version"] == run["model_version"]
    labels = [p["label"] for p in again.json()["predictions"]]
    assert np.mean([label == str(digits.target[i]) for label, i in zip(labels, pick, strict=True)]) >= 0.8

    quantized = _succeeded(submit(member, "quantize", {"model_version": run["model_version"], "dtype": "int8"}))
    int8 = member.get(f"/api/v1/model-versions/{quantized['model_version']}/").json()
    assert int8["parent"] == run["model_version"] and int8["params"]["dtype"] == "int8"
    assert int8["size_bytes"] * 2 < onnx_version["size_bytes"]
    assert abs(int8["params"]["score_change"]) < 0.05
    assert 0 < int8["params"]["parity_max_rel_diff"] < 0.5
