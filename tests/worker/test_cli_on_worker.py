"""The `eco` CLI driving a real worker through a real HTTP server: process, train (waiting on the log),
evaluate and the leaderboard, as a user would type them."""

import json
import subprocess
import sys
import time

import pytest

from tests.cli.runner import eco_runner
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "correct horse battery staple"


def _lab_with_iris(live_server, tmp_path, role: str):
    """ada, with `role` in team lab, logged in through the CLI; returns the runner and the id of an iris
    version of the data set lab/flowers."""
    MembershipFactory(team=TeamFactory(slug="lab"), user=UserFactory(username="ada"), role=role)
    eco = eco_runner(live_server.url, tmp_path, timeout=180)
    eco("login", "--username", "ada", "--password", PASSWORD)
    dataset = eco("datasets", "create", "lab", "flowers", "--task", "classification")
    return eco, eco("datasets", "builtin", dataset["id"], "iris")["id"]


def test_train_and_evaluate_from_the_command_line(live_server, tmp_path, worker):
    eco, version = _lab_with_iris(live_server, tmp_path, "member")

    steps = json.dumps({"dataset_version": version, "steps": [{"op": "dedupe"}]})
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
    eco, version = _lab_with_iris(live_server, tmp_path, "maintainer")
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


def _in_a_terminal(eco, *args, timeout: float = 180) -> tuple[int, str]:
    """Runs `eco ARGS` with its stdout and stderr on a pseudo-terminal (as in a person's shell); returns the exit
    code and everything it drew."""
    import os
    import pty
    import select

    leader, follower = pty.openpty()
    env = {**eco.env, "TERM": "xterm", "COLUMNS": "100"}
    process = subprocess.Popen(
        [sys.executable, "-m", "eco.cli", *args], stdin=follower, stdout=follower, stderr=follower, env=env, cwd=eco.dir
    )
    os.close(follower)
    drawn, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the command ended and closed its side
            break
        if not chunk:
            break
        drawn.append(chunk)
    os.close(leader)
    return process.wait(timeout=30), b"".join(drawn).decode(errors="replace")


def test_following_a_job_live_in_a_terminal_and_in_plain_lines_in_a_pipe(live_server, tmp_path, worker):
    eco, version = _lab_with_iris(live_server, tmp_path, "member")

    # a terminal: the live display (a progress bar, the status, each metric's latest value), the log streamed
    # above it, then the finished job
    code, drawn = _in_a_terminal(
        eco, "train", "lab", version, "iris-mlp", "--hyperparameters", '{"epochs": 60}', "--wait"
    )
    assert code == 0, drawn
    assert "━" in drawn and "succeeded" in drawn and "100%" in drawn  # the bar, filled
    assert "epoch=60" in drawn  # a log line
    assert any(line.split()[:1] == ["loss"] for line in drawn.splitlines())  # the metrics table's row
    assert "outputs" in drawn  # the finished job's table
    job = eco("jobs", "list", "--team", "lab", "--kind", "train")[0]
    assert job["status"] == "succeeded"

    # a pipe: plain lines, no bar; --json would print only the job
    piped = eco("jobs", "logs", job["id"], "-f", table=True)
    assert "━" not in piped and "epoch=60" in piped
    assert "[succeeded] 100% " in piped and " loss=" in piped
    page = eco("jobs", "logs", job["id"])  # without -f: one page of lines, as JSON
    assert page["status"] == "succeeded" and any("epoch=60" in line["line"] for line in page["results"])

    # a job that fails: exit 1 in a pipe too, its status last, the job's error on stderr
    spec = json.dumps({"dataset_version": version, "model": "y", "hyperparameters": {"epochs": 500}})
    doomed = eco("jobs", "submit", "lab", "train", "--spec", spec, "--timeout", "1")
    argv = [sys.executable, "-m", "eco.cli", "jobs", "logs", doomed["id"], "-f"]
    failed = subprocess.run(argv, env=eco.env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert failed.returncode == 1 and "[failed]" in failed.stdout and "━" not in failed.stdout
    assert f"eco: job {doomed['id']} failed" in failed.stderr
    waited = eco("jobs", "wait", doomed["id"], ok=False)  # --json: the final job only
    assert waited.returncode == 1 and json.loads(waited.stdout)["status"] == "failed" and "timed out" in waited.stderr

    # predict by the model's name, inputs from a file
    (tmp_path / "rows.json").write_text("[[5.1, 3.5, 1.4, 0.2], [7.7, 3.0, 6.1, 2.3]]")
    answer = eco("models", "predict", "iris-mlp", "--version", "1", "--input", "@rows.json")
    assert [p["label"] for p in answer["predictions"]] == ["setosa", "virginica"]
    table = eco("models", "predict", "iris-mlp", "--version", "v1", "--input", "@rows.json", table=True)
    assert "setosa" in table and "virginica" in table and "2 rows" in table
