"""Runs the Playwright suite (`frontend/e2e/`) in headless Chromium against a live server and worker.

The server is the Procfile's web line (gunicorn) serving the dashboard build from `frontend/dist/` (make test
builds it first). The worker that trains is started with ECO_TRAIN_STEP_DELAY_S, a test-only setting, so a
training curve grows over several seconds while the browser watches. Screenshots of every page (light and
dark, 1280 px and 390 px) are written to var/screenshots/ for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import global_settings, settings
from django.test import override_settings

from accounts_app.models import User
from accounts_app.services import add_member, create_team
from tests.stack import Process

FRONTEND = Path(settings.BASE_DIR) / "frontend"
PASSWORD = "e2e-password-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, web: Process) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/v1/health/", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, web.log()
        time.sleep(0.2)


@pytest.fixture
def slow_worker(stack, worker):
    """A worker whose training sleeps after each logged step. The shared worker is paused meanwhile, so the
    e2e jobs go to this one, and started again afterwards."""
    worker.stop()
    slow = Process(
        "worker-e2e",
        [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "config",
            "worker",
            "-Q",
            "cpu",
            "-c",
            "1",
            "-n",
            "e2e@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ],
        {**stack.env, "ECO_TRAIN_STEP_DELAY_S": "0.15"},
        stack.log_dir,
        ready="ready.",
    ).start()
    yield slow
    slow.stop()
    worker.start()


@pytest.fixture
def server(stack, tmp_path):
    if not (FRONTEND / "dist" / "index.html").exists():
        pytest.fail("the dashboard is not built: run `make frontend` (make test does)")
    port = _free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {**stack.env, "PATH": f"{bin_dir}:{stack.env.get('PATH', '')}", "PORT": str(port), "ECO_HOST": "127.0.0.1"}
    argv = [str(Path(bin_dir) / "honcho"), "-f", "platform/Procfile", "-d", ".", "start", "--port", str(port), "web"]
    web = Process("web-e2e", argv, env, tmp_path, ready="Booting worker").start()
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, web)
    yield url, web
    web.stop()


def _tracked_run(owner, team) -> None:
    """A finished tracking run with points, its environment and one artifact, as the tracking client leaves
    one: the pages test opens its job page (Source and environment, Artifacts)."""
    from jobs_app import metrics, services
    from tests.helpers import log_text_artifact

    environment = {
        "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": True, "branch": "main", "remote": None},
        "python": "3.11.7",
        "host": "laptop",
        "command": "train.py --lr 0.01",
        "packages": {"torch": "2.13.0", "numpy": "2.4.6"},
    }
    run = services.submit_job(
        actor=owner, team=team, kind="tracking", spec={"params": {"lr": 0.01}, "environment": environment}
    )
    # what MLflow's client sets on a run it starts: an experiment, a name and tags
    from jobs_app.services import experiments

    run.experiment = experiments.create_experiment(actor=owner, team=team, name="churn")
    run.name, run.tags = "sgd-baseline", {"stage": "dev", "mlflow.user": "e2e-owner"}
    run.save(update_fields=["experiment", "name", "tags"])
    metrics.ingest(run.pk, [("loss", step, 1.0 / (step + 1)) for step in range(50)])
    log_text_artifact(actor=owner, job=run, path="notes.md", data=b"# notes\nconverged")
    _mlflow_model(owner, team, run)
    services.finish_run(actor=owner, job=run, status="succeeded")


def _mlflow_model(owner, team, run) -> None:
    """What `mlflow.sklearn.log_model(..., registered_model_name="churn-sk")` leaves: a logged model among the
    run's files and a model of no task whose version is an MLflow folder Eco stores but never loads."""
    from jobs_app.models import JobArtifact
    from jobs_app.services import experiments
    from models_app import services
    from tests.helpers import log_text_artifact

    logged = experiments.create_logged_model(actor=owner, job=run, name="model", model_type="sklearn")
    mlmodel = b"flavors:\n  sklearn: {pickled_model: model.pkl, serialization_format: cloudpickle}\n"
    for name, data in (("MLmodel", mlmodel), ("model.pkl", b"not loaded")):
        log_text_artifact(actor=owner, job=run, path=f"{logged.artifact_prefix}/{name}", data=data)
    experiments.update_logged_model(actor=owner, logged_model=logged, status="ready")
    files = [(a.path.rsplit("/", 1)[1], a.blob) for a in JobArtifact.objects.filter(path__startswith="models/")]
    model = services.create_model(actor=owner, team=team, name="churn-sk", task="")
    services.register_mlflow_version(actor=owner, model=model, files=files, source=f"models:/m-{logged.pk.hex}")


def _base_model(owner, team, folder: Path) -> None:
    """A tiny BERT imported as the base model `e2e-base` (format hf): 10-finetune fine-tunes it from its page."""
    from models_app import services
    from tests.helpers import tiny_bert

    model = services.create_model(actor=owner, team=team, name="e2e-base", task="text-classification")
    services.register_checkpoint(actor=owner, model=model, folder=tiny_bert(folder), description="a tiny BERT")


def test_the_dashboard_end_to_end_in_headless_chromium(transactional_db, stack, server, slow_worker, tmp_path):
    npx = shutil.which("npx")
    chromium = shutil.which("chromium")
    assert npx and chromium, "the browser tests need npm and Debian's chromium (.ci/run installs them)"
    # the server checks passwords with the production hashers, not the tests' fast MD5
    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        owner = User.objects.create_user(username="e2e-owner", password=PASSWORD)
        User.objects.create_user(username="e2e-viewer", password=PASSWORD)
    team = create_team(actor=owner, slug="e2e", name="E2E team")
    add_member(actor=owner, team=team, username="e2e-viewer", role="viewer")
    with override_settings(MEDIA_ROOT=str(stack.media)):  # the blobs where the server and the worker read them
        _tracked_run(owner, team)
        _base_model(owner, team, tmp_path / "tiny-bert")

    url, web = server
    shots = Path(settings.BASE_DIR) / "var" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "E2E_BASE_URL": url,
        "E2E_USER": "e2e-owner",
        "E2E_VIEWER": "e2e-viewer",
        "E2E_PASSWORD": PASSWORD,
        "E2E_TEAM": "e2e",
        "E2E_SCREENSHOTS": str(shots),
        "CHROMIUM_PATH": chromium,
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
    }
    run = subprocess.run(
        # E2E_SPECS="10-finetune" runs only those spec files (while working on one; CI runs them all)
        [npx, "playwright", "test", *os.environ.get("E2E_SPECS", "").split()],
        cwd=FRONTEND,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    results = Path(settings.BASE_DIR) / "var" / "e2e-results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "playwright.log").write_text(run.stdout)  # the whole report; the assertion shows its end
    report = f"{run.stdout[-12000:]}\n--- web ---\n{web.log()[-3000:]}\n--- worker ---\n{slow_worker.log()[-3000:]}"
    assert run.returncode == 0, report
