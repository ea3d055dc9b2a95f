"""The `eco` CLI driving a real worker through a real HTTP server: process, train (waiting on the log),
evaluate and the leaderboard, as a user would type them."""

import json
import time

import pytest

from tests.cli.runner import eco_runner
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "correct horse battery staple"


def test_train_and_evaluate_from_the_command_line(live_server, tmp_path, worker):
    team = TeamFactory(slug="lab")
    MembershipFactory(team=team, user=UserFactory(username="ada"), role="member")
    eco = eco_runner(live_server.url, tmp_path, timeout=180)

    eco("login", "--username", "ada", "--password", PASSWORD)
    dataset = eco("datasets", "create", "lab", "flowers", "--task", "classification")
    version = eco("datasets", "builtin", dataset["id"], "iris")

    steps = json.dumps({"dataset_version": version["id"], "steps": [{"op": "dedupe"}]})
    processed = eco("jobs", "submit", "lab", "process", "--spec", steps, "--wait")
    assert processed["status"] == "succeeded" and processed["outputs"]["num_rows"] == 149
    child = processed["outputs"]["dataset_version"]

    job = eco("train", "lab", child, "iris-mlp", "--hyperparameters", '{"epochs": 30, "lr": 0.01}', "--wait")
    log = eco.stderr
    assert job["status"] == "succeeded"
    assert "epoch=30" in log and "succeeded" in log  # the log streamed while it ran
    keys = eco("jobs", "metrics", job["id"])
    assert "loss" in {k["key"] for k in keys}
    series = eco("jobs", "metrics", job["id"], "--key", "loss", "--max-points", "10")
    assert 0 < len(series["points"]) <= 10

    spec = json.dumps({"model_version": job["outputs"]["model_version"], "dataset_version": child})
    evaluated = eco("jobs", "submit", "lab", "evaluate", "--spec", spec, "--wait")
    board = eco("evaluations", "--dataset-version", child)
    assert [row["id"] for row in board] == [evaluated["outputs"]["evaluation"]]
    assert board[0]["score"] == evaluated["outputs"]["accuracy"]

    bad = eco("train", "lab", child, "x", "--architecture", "textcnn", ok=False)
    assert bad.returncode == 1 and "spec.architecture" in bad.stderr
    listed = eco("jobs", "list", "--team", "lab", "--kind", "train")
    assert [j["id"] for j in listed] == [job["id"]]
    failing = eco(
        "jobs", "submit", "lab", "train", "--spec",
        json.dumps({"dataset_version": child, "model": "y", "hyperparameters": {"epochs": 500}}),
        "--timeout", "1", "--wait", ok=False,
    )  # fmt: skip
    assert failing.returncode == 1 and "timed out" in failing.stderr


def test_gate_predict_feedback_and_retrain_from_the_command_line(live_server, tmp_path, worker):
    team = TeamFactory(slug="lab")
    MembershipFactory(team=team, user=UserFactory(username="ada"), role="maintainer")
    eco = eco_runner(live_server.url, tmp_path, timeout=180)
    eco("login", "--username", "ada", "--password", PASSWORD)
    dataset = eco("datasets", "create", "lab", "flowers", "--task", "classification")
    version = eco("datasets", "builtin", dataset["id"], "iris")["id"]
    job = eco("train", "lab", version, "iris-mlp", "--hyperparameters", '{"epochs": 20}', "--wait")
    model, first = job["outputs"]["model"], job["outputs"]["model_version"]

    # the test gates on the rows it trained on (iris has 150, 149 distinct): the leakage check must allow them
    gate = eco("gate", "set", model, version, "--card-field", "Intended use", "--max-overlap", "150")
    assert gate["aliases"] == ["production"] and gate["required_card_fields"] == ["Intended use"]
    assert gate["max_overlap"] == 150
    refused = eco("alias", "set", model, "production", first, ok=False)
    # 409: exit code 4, a conflict
    assert refused.returncode == 4 and '"model_card"' in refused.stderr and '"evaluation"' in refused.stderr
    forced = eco("alias", "set", model, "production", first, "--force", ok=False)
    assert forced.returncode == 1 and "admin" in forced.stderr  # a maintainer may not force

    spec = json.dumps({"model_version": first, "dataset_version": version, "split": "all"})
    eco("jobs", "submit", "lab", "evaluate", "--spec", spec, "--wait")
    eco("alias", "set", model, "production", first, ok=False)  # still no card
    from models_app.models import RegisteredModel

    RegisteredModel.objects.filter(pk=model).update(card="## Intended use\nIris.")
    assert eco("alias", "set", model, "production", first)["version"] == first

    answer = eco("predict", model, "[[5.1, 3.5, 1.4, 0.2], [7.7, 3.0, 6.1, 2.3]]")
    assert [p["label"] for p in answer["predictions"]] == ["setosa", "virginica"]
    bad = eco("predict", model, "[[1, 2]]", ok=False)
    assert bad.returncode == 1 and "inputs[0]" in bad.stderr
    labelled = eco("feedback", answer["predictions"][0]["id"], "setosa")
    assert labelled["feedback"] == "setosa"

    trigger = eco(
        "triggers",
        "create",
        "lab",
        model,
        version,
        "--min-feedback",
        "5",
        "--train",
        '{"hyperparameters": {"epochs": 20}}',
    )
    assert eco("triggers", "list", "--team", "lab")[0]["id"] == trigger["id"]
    run = eco("triggers", "fire", trigger["id"])
    assert run["status"] == "running" and run["feedback_count"] == 1
    assert eco("triggers", "runs", trigger["id"])[0]["id"] == run["id"]

    exported = eco(
        "jobs", "submit", "lab", "export", "--spec", json.dumps({"model_version": first, "format": "onnx"}), "--wait"
    )
    assert exported["status"] == "succeeded"
    assert eco("predict", model, "[[5.1, 3.5, 1.4, 0.2]]", "--version", "1")["runtime"] == "onnxruntime"
    # the run goes on by itself on the worker; let it end before the test's data is flushed
    from jobs_app.models import TriggerRun

    deadline = time.monotonic() + 120
    while TriggerRun.objects.get(pk=run["id"]).status == "running":
        assert time.monotonic() < deadline, "the retrain run did not end"
        time.sleep(0.2)
    assert eco("triggers", "runs", trigger["id"])[0]["status"] in ("promoted", "not_promoted")
