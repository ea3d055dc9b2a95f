"""The prediction log under the production server: gunicorn answers without writing (the rows, and each
request's ServingRequest row, wait in the background writers), and a clean shutdown (SIGTERM) writes every
pending row before the worker exits."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from models_app.models import PredictionLog, ServingRequest
from tests.helpers import client_for

pytestmark = pytest.mark.django_db(transaction=True)
SETOSA = [5.1, 3.5, 1.4, 0.2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_clean_shutdown_writes_every_pending_prediction(world, model, trained, stack):
    from accounts_app.services import issue_token

    _, token = issue_token(user=world.users["viewer"], name="serving")
    port = _free_port()
    env = {
        **stack.env,
        "ECO_PREDICTION_LOG": "background",
        "ECO_PREDICTION_LOG_FLUSH_S": "600",  # nothing is written before the shutdown
        "MEDIA_ROOT": settings.MEDIA_ROOT,
    }
    argv = [str(Path(sys.executable).with_name("gunicorn")), "-c", "config/gunicorn.py", "config.wsgi"]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--log-level", "warning"]
    server = subprocess.Popen(argv, cwd=settings.BASE_DIR, env=env, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/api/v1/models/{model.pk}/predict/"
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(headers=headers, timeout=30) as client:
            for _ in range(100):
                try:
                    client.get(f"http://127.0.0.1:{port}/api/v1/me/")
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            ids = []
            for _ in range(20):
                response = client.post(url, json={"alias": "production", "inputs": [SETOSA] * 3})
                assert response.status_code == 200, response.text
                ids += [p["id"] for p in response.json()["predictions"]]
        assert PredictionLog.objects.count() == 0  # answered before anything was written
        assert ServingRequest.objects.count() == 0  # the request log too
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    assert server.returncode == 0
    logged = set(PredictionLog.objects.values_list("id", flat=True))
    assert {str(i) for i in logged} == set(ids) and len(ids) == 60
    assert client_for(world.users["viewer"]).get("/api/v1/predictions/").json()["count"] == 60
    requests = list(ServingRequest.objects.values_list("status_code", "rows", "alias"))
    assert requests == [(200, 3, "production")] * 20


def test_make_run_web_process_writes_every_pending_prediction_on_sigterm(world, model, trained, stack, tmp_path):
    """The web process exactly as `make run` starts it (honcho on platform/Procfile, two gunicorn workers): a
    SIGTERM to it writes every row both workers still hold."""
    from accounts_app.services import issue_token

    _, token = issue_token(user=world.users["viewer"], name="serving")
    port = _free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **stack.env,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "ECO_HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "2",
        "ECO_PREDICTION_LOG": "background",
        "ECO_PREDICTION_LOG_FLUSH_S": "600",  # nothing is written before the shutdown
        "MEDIA_ROOT": settings.MEDIA_ROOT,
    }
    argv = [str(Path(bin_dir) / "honcho"), "-f", "platform/Procfile", "-d", ".", "start", "--port", str(port), "web"]
    log_path = tmp_path / "honcho.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(argv, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/api/v1/models/{model.pk}/predict/"
        headers = {"Authorization": f"Bearer {token}"}
        ids = []
        with httpx.Client(headers=headers, timeout=30) as client:
            for _ in range(300):
                try:
                    client.get(f"http://127.0.0.1:{port}/api/v1/health/")
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            for _ in range(30):
                response = client.post(url, json={"alias": "production", "inputs": [SETOSA] * 2})
                assert response.status_code == 200, response.text
                ids += [p["id"] for p in response.json()["predictions"]]
        assert PredictionLog.objects.count() == 0  # answered before anything was written
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    output = log_path.read_text(errors="replace")
    logged = {str(i) for i in PredictionLog.objects.values_list("id", flat=True)}
    assert len(ids) == 60 and logged == set(ids), output[-3000:]
    assert len(set(re.findall(r"Booting worker with pid: (\d+)", output))) == 2, output  # gunicorn, 2 workers


def test_feedback_right_after_a_prediction_finds_its_pending_log_row(world, model, trained, settings):
    settings.ECO_PREDICTION_LOG = "background"
    settings.ECO_PREDICTION_LOG_FLUSH_S = 600  # the writer thread would not write it for ten minutes
    member = client_for(world.users["member"])
    answer = member.post(
        f"/api/v1/models/{model.pk}/predict/", {"alias": "production", "inputs": [SETOSA]}, format="json"
    ).json()
    prediction = answer["predictions"][0]["id"]
    response = member.post(f"/api/v1/predictions/{prediction}/feedback/", {"label": "setosa"}, format="json")
    assert response.status_code == 200, response.json()
    assert PredictionLog.objects.get(pk=prediction).feedback == "setosa"
    missing = member.post(
        "/api/v1/predictions/00000000-0000-0000-0000-000000000000/feedback/", {"label": "setosa"}, format="json"
    )
    assert missing.status_code == 404


def test_a_row_the_database_refuses_is_dropped_and_never_blocks_the_others(world, model, trained, settings):
    import uuid

    from django.utils import timezone

    from models_app.prediction_log import PredictionLogWriter

    settings.ECO_PREDICTION_LOG = "background"
    settings.ECO_PREDICTION_LOG_FLUSH_S = 600

    def row(version_id):
        return {
            "id": uuid.uuid4(),
            "team_id": world.alpha.pk,
            "model_id": model.pk,
            "model_version_id": version_id,
            "alias": "",
            "runtime": "torch",
            "input": {"a": 1.0},
            "output": {"label": "setosa"},
            "latency_ms": 1.0,
            "batch_size": 1,
            "created_by_id": None,
            "created_at": timezone.now(),
        }

    writer = PredictionLogWriter()
    good, orphan = row(trained.pk), row(uuid.uuid4())  # a version that does not exist (deleted, say)
    writer.add([good, orphan, row(trained.pk)])
    assert writer.flush() == 3 and writer.dropped == 1 and writer.pending() == 0
    assert PredictionLog.objects.count() == 2
    writer.shutdown()
