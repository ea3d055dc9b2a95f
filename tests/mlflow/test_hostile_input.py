"""Odd and hostile input to MLflow's endpoints answers a 4xx in MLflow's format, never a 500 (MLflow's client
would retry a 5xx for minutes, replaying POSTs), and writes nothing; and histories with several points at one
step survive Eco's own readers and writers."""

import json

import numpy as np
import pytest
from rest_framework.test import APIClient

from jobs_app import metrics
from jobs_app.models import Job
from jobs_app.services import experiments as services
from tests.factories import JobFactory, MembershipFactory, TeamFactory, UserFactory

M = "/api/2.0/mlflow"


@pytest.fixture
def world(db):
    team = TeamFactory(slug="alpha")
    user = UserFactory(username="ada")
    MembershipFactory(team=team, user=user, role="maintainer")
    experiment = services.create_experiment(actor=user, team=team, name="exp")
    run = services.start_run(actor=user, experiment=experiment, name="r")
    client = APIClient()
    client.force_authenticate(user)
    return {"team": team, "user": user, "experiment": experiment, "run": run, "client": client}


def post(world, path, body):
    """POST a JSON body; a string is sent as it is (to send numbers such as 1e400 that json.dumps cannot)."""
    text = body if isinstance(body, str) else json.dumps(body)
    return world["client"].post(f"{M}/{path}", text, content_type="application/json")


def refused(answer, code="INVALID_PARAMETER_VALUE"):
    assert answer.status_code < 500, answer.content
    body = answer.json()
    assert body["error_code"] == code, body
    return body["message"]


def test_odd_values_are_400s_not_500s(world):
    e, r = str(world["experiment"].pk), world["run"].pk.hex
    search = {"experiment_ids": [e]}
    cases = [
        post(world, "runs/search", {**search, "filter": "attributes.run_id = 5"}),
        post(world, "runs/search", {**search, "filter": "attributes.start_time > 1e20"}),
        post(world, "runs/search", {**search, "filter": "params.a = 'x\x00'"}),
        post(world, "runs/search", '{"experiment_ids": ["E"], "max_results": 1e400}'.replace("E", e)),
        post(world, "runs/search", {**search, "page_token": "eyJvZmZzZXQiOiAxZTIzfQ=="}),  # {"offset": 1e23}
        post(world, "experiments/search", {"filter": "experiment_id = 5"}),
        post(world, "experiments/search", {"filter": "creation_time > 1e400"}),
        post(world, "runs/log-metric", '{"run_id": "R", "key": "a", "value": 1, "timestamp": 1e400}'.replace("R", r)),
        post(world, "runs/log-metric", {"run_id": r, "key": "a", "value": int("1" + "0" * 400), "timestamp": 1}),
        post(world, "runs/log-metric", {"run_id": r, "key": "a", "value": 1, "timestamp": 1.7e12, "step": 1.7}),
        post(world, "runs/set-tag", {"run_id": r, "key": "k", "value": "x\x00y"}),
        post(world, "runs/log-parameter", {"run_id": r, "key": "k\x00", "value": "1"}),
        post(world, "experiments/set-experiment-tag", {"experiment_id": e, "key": "k", "value": "\x00"}),
        post(
            world,
            "runs/log-inputs",
            {
                "run_id": r,
                "datasets": [
                    {
                        "dataset": {
                            "name": "d",
                            "digest": "1",
                            "source_type": "local",
                            "source": "{}",
                            "schema": {"not": "a string"},
                        }
                    }
                ],
            },
        ),
    ]
    for answer in cases:
        refused(answer)
    assert refused(world["client"].get(f"{M}/experiments/get", {"experiment_id": "²"}), "RESOURCE_DOES_NOT_EXIST")
    run = Job.objects.get(pk=world["run"].pk)
    assert run.tags == {} and "params" not in run.spec and "inputs" not in run.spec
    assert metrics.keys(run.pk) == []


def test_a_worker_job_is_not_deleted_as_a_run(world):
    job = JobFactory(team=world["team"], kind="train", status="running", created_by=world["user"])
    message = refused(post(world, "runs/delete", {"run_id": job.pk.hex}))
    assert "cancel" in message
    assert Job.objects.get(pk=job.pk).deleted_at is None


def test_a_run_name_may_hold_a_slash_and_a_deleted_experiment_hides_its_runs(world):
    answer = post(world, "runs/create", {"experiment_id": str(world["experiment"].pk), "run_name": "sweep/lr=0.1"})
    assert answer.status_code == 200 and answer.json()["run"]["info"]["run_name"] == "sweep/lr=0.1"
    e = str(world["experiment"].pk)
    assert len(post(world, "runs/search", {"experiment_ids": [e]}).json()["runs"]) == 2
    assert post(world, "experiments/delete", {"experiment_id": e}).status_code == 200
    assert post(world, "runs/search", {"experiment_ids": [e]}).json() == {"runs": []}
    deleted = post(world, "runs/search", {"experiment_ids": [e], "run_view_type": "DELETED_ONLY"}).json()
    assert len(deleted["runs"]) == 2


def test_incremental_reads_never_skip_points_at_one_step(world):
    """Eco's own readers (the live chart, the client's paging) read `after_step`: a page never ends inside a step."""
    job = world["run"]
    points = [("loss", 5, float(v), 1_700_000_000.0 + v) for v in range(10)] + [("loss", 6, 0.5, 1_700_000_100.0)]
    services.log_history(actor=world["user"], job=job, points=points)
    got, after = [], -1
    while True:
        page = metrics.series(job.pk, "loss", after_step=after, max_points=4)
        got += page["points"]
        if not page["truncated"]:
            break
        after = page["points"][-1][0]
    assert got == [[5, float(v)] for v in range(10)] + [[6, 0.5]]


def test_an_eco_write_keeps_a_history_at_other_steps(world):
    job = world["run"]
    services.log_history(
        actor=world["user"], job=job, points=[("loss", 5, float(v), 1_700_000_000.0 + v) for v in range(3)]
    )
    metrics.ingest(job.pk, [("loss", 3, 9.0)])  # Eco's own write, into the same chunk
    metrics.ingest(job.pk, [("loss", 5, 7.0)])  # and one at the history's step: it replaces that step
    assert [(s, v) for _, s, v, _ in metrics.stored_points(job.pk, "loss")] == [(3, 9.0), (5, 7.0)]
    services.log_history(
        actor=world["user"],
        job=job,
        points=[("loss", 70, -100.0, 1_700_000_001.0), ("loss", 70, 100.0, 1_700_000_002.0)],
    )
    metrics.ingest(job.pk, [("loss", 3, 8.0)])
    assert [(s, v) for _, s, v, _ in metrics.stored_points(job.pk, "loss")] == [
        (3, 8.0),
        (5, 7.0),
        (70, -100.0),
        (70, 100.0),
    ]


def test_a_downsampled_history_keeps_both_extremes_of_a_step(world):
    job = world["run"]
    points = [("loss", s, 0.0, 1_700_000_000.0 + s) for s in range(0, 6400)]
    points += [("loss", 700, -100.0, 1_700_000_700.5), ("loss", 700, 100.0, 1_700_000_700.7)]
    services.log_history(actor=world["user"], job=job, points=points)
    found = metrics.series(job.pk, "loss", max_points=50)
    assert found["downsampled"]
    values = dict(zip(map(tuple, found["points"]), found["times"], strict=True))
    assert values[(700, -100.0)] == pytest.approx(1_700_000_700.5)
    assert values[(700, 100.0)] == pytest.approx(1_700_000_700.7)
    assert np.isfinite(found["times"]).all()
