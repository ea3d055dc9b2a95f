"""The `eco` CLI driving a real worker through a real HTTP server: process, train (waiting on the log),
evaluate and the leaderboard, as a user would type them."""

import json
import os
import subprocess
import sys

import pytest

from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "correct horse battery staple"


def test_train_and_evaluate_from_the_command_line(live_server, tmp_path, worker):
    team = TeamFactory(slug="lab")
    MembershipFactory(team=team, user=UserFactory(username="ada"), role="member")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECO_")}
    env.update(ECO_CONFIG=str(tmp_path / "config.json"), ECO_URL=live_server.url)

    def eco(*args, ok=True):
        result = subprocess.run(
            [sys.executable, "-m", "eco.cli", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
        )
        if ok:
            assert result.returncode == 0, result.stderr
            return json.loads(result.stdout), result.stderr
        return result

    eco("login", "--username", "ada", "--password", PASSWORD)
    dataset, _ = eco("datasets", "create", "lab", "flowers", "--task", "classification")
    version, _ = eco("datasets", "builtin", dataset["id"], "iris")

    steps = json.dumps({"dataset_version": version["id"], "steps": [{"op": "dedupe"}]})
    processed, _ = eco("jobs", "submit", "lab", "process", "--spec", steps, "--wait")
    assert processed["status"] == "succeeded" and processed["outputs"]["num_rows"] == 149
    child = processed["outputs"]["dataset_version"]

    job, log = eco("train", "lab", child, "iris-mlp", "--hyperparameters", '{"epochs": 30, "lr": 0.01}', "--wait")
    assert job["status"] == "succeeded"
    assert "epoch=30" in log and "succeeded" in log  # the log streamed while it ran
    keys, _ = eco("jobs", "metrics", job["id"])
    assert "loss" in {k["key"] for k in keys}
    series, _ = eco("jobs", "metrics", job["id"], "--key", "loss", "--max-points", "10")
    assert 0 < len(series["points"]) <= 10

    spec = json.dumps({"model_version": job["outputs"]["model_version"], "dataset_version": child})
    evaluated, _ = eco("jobs", "submit", "lab", "evaluate", "--spec", spec, "--wait")
    board, _ = eco("evaluations", "--dataset-version", child)
    assert [row["id"] for row in board] == [evaluated["outputs"]["evaluation"]]
    assert board[0]["score"] == evaluated["outputs"]["accuracy"]

    bad = eco("train", "lab", child, "x", "--architecture", "textcnn", ok=False)
    assert bad.returncode == 1 and "spec.architecture" in bad.stderr
    listed, _ = eco("jobs", "list", "--team", "lab", "--kind", "train")
    assert [j["id"] for j in listed] == [job["id"]]
    failing = eco(
        "jobs", "submit", "lab", "train", "--spec",
        json.dumps({"dataset_version": child, "model": "y", "hyperparameters": {"epochs": 500}}),
        "--timeout", "1", "--wait", ok=False,
    )  # fmt: skip
    assert failing.returncode == 1 and "timed out" in failing.stderr
