"""The tracking client (`eco.start_run`) against a real server: gunicorn as `make run` serves it, on PostgreSQL,
that the tests stop and start again while a real PyTorch loop keeps logging. Every point must arrive exactly
once, with the client's timestamps; a run started while the server is down is spooled and sent later by
`eco sync`."""

import json
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
import torch

import eco
from eco.client import EcoError
from jobs_app import metrics
from jobs_app.models import Job, JobArtifact

pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(stack):
    port = _free_port()
    process = stack.server(port)
    process.start()
    process.url = f"http://127.0.0.1:{port}"
    yield process
    process.stop()


@pytest.fixture
def token(world):
    from accounts_app.services import issue_token

    return issue_token(user=world.users["member"], name="tracking")[1]


@pytest.fixture
def spool(tmp_path, monkeypatch):
    monkeypatch.setenv("ECO_SPOOL_DIR", str(tmp_path / "spool"))
    return tmp_path / "spool"


def _iris_loop(run, steps: int, pause_s: float = 0.0, at_step=None):
    """A real PyTorch training loop (an MLP on iris) that logs loss and accuracy every step; calls `at_step(i)`."""
    import torch
    from sklearn.datasets import load_iris

    torch.manual_seed(0)
    x, y = load_iris(return_X_y=True)
    x = torch.tensor((x - x.mean(0)) / x.std(0), dtype=torch.float32)
    y = torch.tensor(y)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    logged = {}
    for step in range(steps):
        opt.zero_grad()
        out = net(x)
        loss = torch.nn.functional.cross_entropy(out, y)
        loss.backward()
        opt.step()
        accuracy = (out.argmax(1) == y).float().mean()
        run.log_metrics({"loss": loss, "accuracy": accuracy}, step=step)  # tensors, as scripts pass them
        logged[step] = (float(loss), float(accuracy))
        if at_step:
            at_step(step)
        if pause_s:
            time.sleep(pause_s)
    return net, logged


def _serving_spec() -> dict:
    from sklearn.datasets import load_iris

    bunch = load_iris()
    return {
        "task": "classification",
        "preprocessing": {
            "kind": "tabular",
            "feature_names": list(bunch.feature_names),
            "classes": list(bunch.target_names),
            "input_mean": bunch.data.mean(0).tolist(),
            "input_std": bunch.data.std(0).tolist(),
        },
    }


def _series(run_id, key) -> dict[int, tuple[float, float]]:
    rows = [p[1:] for p in metrics.stored_points(run_id, key)]
    return {step: (value, when.timestamp()) for step, value, when in rows}


def test_a_tracked_pytorch_loop_lands_in_the_registry(world, server, token, spool, iris_version, tmp_path):
    started = time.time()
    with eco.start_run(
        team="alpha",
        model="iris-mlp",
        dataset_version=str(iris_version.pk),
        params={"lr": 0.1, "hidden": 16},
        url=server.url,
        token=token,
        flush_interval_s=0.2,
    ) as run:
        net, logged = _iris_loop(run, 300)
        run.log_params({"optimizer": "sgd"})
        version = run.log_model(net, spec=_serving_spec(), example_input=torch.randn(8, 4))
        run.log_text("# notes\nconverged", "notes.md")
        (tmp_path / "config.json").write_text('{"layers": [16]}')
        run.log_artifact(tmp_path / "config.json", "config/model.json")
    job = Job.objects.get(pk=run.id)
    assert job.kind == "tracking" and job.status == "succeeded" and job.created_by == world.users["member"]
    assert job.spec["params"] == {"lr": 0.1, "hidden": 16, "optimizer": "sgd"}
    assert job.spec["dataset_version"] == str(iris_version.pk) and job.spec["model_name"] == "iris-mlp"
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    environment = job.spec["environment"]
    assert environment["git"]["commit"] == head and isinstance(environment["git"]["dirty"], bool)
    assert environment["packages"]["torch"].startswith("2.") and environment["python"].startswith("3.")
    for key, index in (("loss", 0), ("accuracy", 1)):
        stored = _series(run.id, key)
        assert sorted(stored) == list(range(300))
        assert all(stored[s][0] == pytest.approx(logged[s][index]) for s in stored)
        # the client's timestamps, not the server's arrival times
        assert all(started - 1 < stored[s][1] < time.time() + 1 for s in stored)
    assert [a.path for a in JobArtifact.objects.filter(job=job)] == ["config/model.json", "notes.md"]
    # the model it logged: exported to ONNX on the client, registered with the run as its lineage
    assert version["format"] == "onnx" and version["job"] == run.id
    assert job.outputs["model_version"] == version["id"]
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as http:
        notes = http.get(f"{server.url}/api/v1/jobs/{run.id}/artifacts/notes.md")
    assert notes.status_code == 200 and notes.text == "# notes\nconverged"
    assert not (spool / run.id).exists()  # everything acknowledged: the spool is gone


def test_a_server_restarted_mid_run_loses_no_point_and_stores_none_twice(world, server, token, spool, capfd):
    steps, restarted = 1500, {}

    def outage(step):
        if step == 300:
            server.stop()  # the server goes away mid-run, with points in flight
            restarted["down_at"] = time.time()
        if step == 900:
            server.start()
            restarted["up_at"] = time.time()

    with eco.start_run(team="alpha", url=server.url, token=token, flush_interval_s=0.05, max_batch=200) as run:
        _, logged = _iris_loop(run, steps, pause_s=0.003, at_step=outage)
    assert restarted["up_at"] - restarted["down_at"] > 1.0
    assert "unreachable" in capfd.readouterr().err  # the client did see the outage
    job = Job.objects.get(pk=run.id)
    assert job.status == "succeeded"
    for key, index in (("loss", 0), ("accuracy", 1)):
        stored = _series(run.id, key)
        assert sorted(stored) == list(range(steps))  # every step, once (the primary key is job, key, step)
        assert all(stored[s][0] == pytest.approx(logged[s][index]) for s in stored)
    # no batch was written twice: each write of a batch id happened once (a resend answers `duplicate`)
    assert len(metrics.stored_points(job.pk)) == 2 * steps
    assert not (spool / run.id).exists()


def test_a_run_started_while_the_server_is_down_is_spooled_and_sent_by_eco_sync(world, server, token, spool, capfd):
    server.stop()
    run = eco.start_run(team="alpha", model="offline-model", url=server.url, token=token, flush_timeout_s=0.5)
    for step in range(50):
        run.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
    run.log_params({"batch_size": 32})
    run.finish()
    err = capfd.readouterr().err
    assert "unreachable" in err and f"eco sync {spool / run.id}" in err
    assert not Job.objects.filter(pk=run.id).exists()  # nothing reached the server
    assert (spool / run.id / "events.jsonl").exists()

    env = {"ECO_TOKEN": token, "ECO_CONFIG": str(spool.parent / "none.json"), "PATH": "/usr/bin:/bin"}
    sync = [sys.executable, "-m", "eco.cli", "sync", str(spool), "--json"]
    still_down = subprocess.run(sync, capture_output=True, text=True, env=env)
    assert still_down.returncode == 1 and json.loads(still_down.stdout)[0]["status"] == "offline"
    assert (spool / run.id / "events.jsonl").exists()  # kept for the next try

    server.start()
    done = subprocess.run(sync, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"run": run.id, "sent": 4, "left": 0, "status": "synced"}]
    job = Job.objects.get(pk=run.id)
    assert job.status == "succeeded" and job.spec["params"] == {"batch_size": 32}
    assert job.spec["model_name"] == "offline-model"
    assert sorted(_series(run.id, "loss")) == list(range(50))
    assert not (spool / run.id).exists()


def test_a_refused_run_fails_at_the_start_and_leaves_no_spool(world, server, token, spool):
    with pytest.raises(EcoError) as refused:
        eco.start_run(team="no-such-team", url=server.url, token=token)
    assert refused.value.status == 400 and "team" in str(refused.value.body)
    assert not spool.exists() or not any(spool.iterdir())


def test_non_finite_values_are_skipped_and_system_metrics_sampled_on_request(world, server, token, spool, capfd):
    with eco.start_run(
        team="alpha", url=server.url, token=token, system_metrics=True, system_metrics_interval_s=0.1
    ) as run:
        run.log_metrics({"loss": float("nan"), "lr": np.float32(0.5)}, step=0)
        run.log_metrics({"loss": 0.25})  # no step: the run's own counter
        time.sleep(0.5)
    assert "'loss' got nan at step 0; only finite numbers are stored" in capfd.readouterr().err
    assert _series(run.id, "lr")[0][0] == 0.5
    assert list(_series(run.id, "loss")) == [0]  # the first call without a step is step 0
    memory = _series(run.id, "system/memory_usage_megabytes")
    assert len(memory) >= 2 and all(value > 0 for value, _ in memory.values())
    assert _series(run.id, "system/cpu_utilization_percentage")
    # off by default for tracking runs
    with eco.start_run(team="alpha", url=server.url, token=token) as quiet:
        quiet.log_metric("loss", 1.0, step=0)
        time.sleep(0.3)
    assert not [p for p in metrics.stored_points(quiet.id) if p[0].startswith("system/")]
