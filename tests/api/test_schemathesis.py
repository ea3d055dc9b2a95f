"""Schemathesis over every operation of /api/schema/: the coverage and fuzzing phases with a fixed seed, against a
live gunicorn server on the test database, as the admin of a seeded team. Every answer must be a non-5xx that
conforms to the schema (status code, content type, body; errors in the one error shape). The last test prints a
table per operation and fails when an operation that documents a 2xx never got one, so a run that collected
only 401s and 404s fails.

How the seed stays whole: generated values are kept for bodies and queries, but most cases get the ids of real
objects in their path (some keep the generated ones, which exercises 404s). Operations that destroy or disable
their target (DELETE, cancel, a member's role, a gate's replacement, a token's revocation) get an object made for
that one case instead of a seed object (THROWAWAY), so the run can never remove its own token, demote its admin,
or delete what the other operations read. The server runs with its own media folder and the database is flushed
when the module ends.

To cover a new endpoint: give `make_seed` the object it needs, add its path to PATH_IDS (and to THROWAWAY when it
destroys its target), and add a body to VALID_BODIES when a generated body cannot reach a 2xx (ids of other
objects, names that must be unique). An operation missing from PATH_IDS fails the run, it is not skipped.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import requests
import schemathesis
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

SEED = 20261130
MAX_EXAMPLES = int(os.environ.get("ECO_SCHEMATHESIS_EXAMPLES", "25"))  # fuzzing cases per operation
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def _schema_dict() -> dict:
    """/api/schema/ as the server serves it (the same generator, without a request)."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES},
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_dict(_schema_dict(), config=CONFIG)


# ---------------------------------------------------------------------------------------------------- the seed


@dataclass
class Seed:
    admin: object
    token: str
    team: object
    viewer: object
    dataset: object
    dataset_version: object
    model: object
    model_version: object
    prediction_id: str
    job: object
    trigger: object
    run: object
    tracked: object
    counter: int = 0
    made: list = field(default_factory=list)
    checkpoint: object = None  # a version of format hf, made on first use (_checkpoint_version)

    def unique(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"


def make_seed() -> Seed:
    """Everything the operations read: one team `st` administered by `st-admin` (whose token the run uses), a
    viewer, a dataset with a CSV version, a model with two trained versions, `production` and a gate, a served
    prediction, an evaluate job with metric points and log lines, a retrain trigger and one of its runs."""
    from accounts_app.services import add_member, create_team, issue_token
    from datasets_app.services import create_dataset, create_version_from_builtin
    from jobs_app import metrics, triggers
    from jobs_app.services import append_log, submit_job
    from models_app import serving
    from models_app.models import PredictionLog
    from models_app.services import create_model, record_evaluation, record_feedback, set_alias, set_gate
    from tests.factories import UserFactory
    from tests.helpers import log_text_artifact, register_trained

    admin = UserFactory(username="st-admin")
    viewer = UserFactory(username="st-viewer")
    team = create_team(actor=admin, slug="st", name="Schemathesis")
    add_member(actor=admin, team=team, username=viewer.username, role="viewer")
    _, raw = issue_token(user=admin, name="schemathesis")
    dataset = create_dataset(actor=admin, team=team, name="st-flowers", task="classification")
    iris = create_version_from_builtin(actor=admin, dataset=dataset, name="iris")
    model = create_model(actor=admin, team=team, name="st-clf", task="classification")
    v1 = register_trained(actor=admin, model=model, dataset_version=iris, epochs=10)
    register_trained(actor=admin, model=model, dataset_version=iris, epochs=5, seed=1)
    set_alias(actor=admin, model=model, alias="production", version=v1)
    record_evaluation(
        actor=None, model_version=v1, dataset_version=iris, split="all", metrics={"accuracy": 0.9}, num_rows=150
    )
    set_gate(actor=admin, model=model, dataset_version=iris)
    answer = serving.predict(user=admin, model_pk=model.pk, alias="production", inputs=[IRIS_ROW])
    prediction = PredictionLog.objects.get(pk=answer["predictions"][0]["id"])
    record_feedback(actor=admin, prediction=prediction, label="setosa")
    job = submit_job(
        actor=admin,
        team=team,
        kind="evaluate",
        spec={"model_version": str(v1.pk), "dataset_version": str(iris.pk)},
    )
    metrics.ingest(job.pk, [("loss", step, 1.0 / (step + 1)) for step in range(50)])
    append_log(job_id=job.pk, lines=[(timezone.now(), f"line {i}") for i in range(5)])
    trigger = triggers.create_trigger(
        actor=admin,
        team=team,
        model=model,
        base_dataset_version=iris,
        min_feedback=5,
        train={"architecture": "mlp", "hyperparameters": {"epochs": 1}},
    )
    run = triggers.fire(actor=admin, trigger=trigger)
    tracked = submit_job(actor=admin, team=team, kind="tracking", spec={"model": "st-clf"})
    log_text_artifact(actor=admin, job=tracked, path="notes/run.txt", data=b"a note")
    return Seed(
        admin=admin,
        token=raw,
        team=team,
        viewer=viewer,
        dataset=dataset,
        dataset_version=iris,
        model=model,
        model_version=v1,
        prediction_id=answer["predictions"][0]["id"],
        job=job,
        trigger=trigger,
        run=run,
        tracked=tracked,
    )


# Path parameters of each path: the seed objects. A new endpoint with path parameters needs a line here.
PATH_IDS = {
    "/api/v1/auth/tokens/{id}/": lambda s: {"id": _throwaway_token(s)},
    "/api/v1/dataset-versions/{id}/": lambda s: {"id": str(s.dataset_version.pk)},
    "/api/v1/dataset-versions/{id}/download/": lambda s: {"id": str(s.dataset_version.pk)},
    "/api/v1/dataset-versions/{id}/export/": lambda s: {"id": str(s.dataset_version.pk)},
    "/api/v1/dataset-versions/{id}/lineage/": lambda s: {"id": str(s.dataset_version.pk)},
    "/api/v1/dataset-versions/{id}/preview/": lambda s: {"id": str(s.dataset_version.pk)},
    "/api/v1/dataset-versions/{id}/stats/": lambda s: {"id": str(s.dataset_version.pk)},
    "/api/v1/datasets/{id}/": lambda s: {"id": str(s.dataset.pk)},
    "/api/v1/datasets/{id}/versions/": lambda s: {"id": str(s.dataset.pk)},
    "/api/v1/job-kinds/{kind}/": lambda s: {"kind": "train"},
    "/api/v1/jobs/{id}/": lambda s: {"id": str(s.job.pk)},
    "/api/v1/jobs/{id}/cancel/": lambda s: {"id": str(s.job.pk)},
    "/api/v1/jobs/{id}/finish/": lambda s: _throwaway_tracking_run(s),
    "/api/v1/jobs/{id}/logs/": lambda s: {"id": str(s.job.pk)},
    "/api/v1/jobs/{id}/metrics/": lambda s: {"id": str(s.job.pk)},
    "/api/v1/jobs/{id}/params/": lambda s: _throwaway_tracking_run(s),
    "/api/v1/jobs/{id}/artifacts/": lambda s: {"id": str(s.tracked.pk)},
    "/api/v1/jobs/{id}/artifacts/{path}": lambda s: {"id": str(s.tracked.pk), "path": "notes/run.txt"},
    "/api/v1/model-versions/{id}/": lambda s: {"id": str(s.model_version.pk)},
    "/api/v1/model-versions/{id}/download/": lambda s: {"id": str(s.model_version.pk)},
    "/api/v1/model-versions/{id}/files/{name}/": lambda s: {
        "id": str(_checkpoint_version(s).pk),
        "name": "config.json",
    },
    "/api/v1/models/{id}/versions/import/": lambda s: {"id": str(_checkpoint_version(s).model_id)},
    "/api/v1/models/{id}/": lambda s: {"id": str(s.model.pk)},
    "/api/v1/models/{id}/aliases/": lambda s: {"id": str(s.model.pk)},
    "/api/v1/models/{id}/aliases/{alias}/": lambda s: {"id": str(s.model.pk), "alias": "production"},
    "/api/v1/models/{id}/gate/": lambda s: {"id": str(s.model.pk)},
    "/api/v1/models/{id}/gate/check/": lambda s: {"id": str(s.model.pk)},
    "/api/v1/models/{id}/predict/": lambda s: {"id": str(s.model.pk)},
    "/api/v1/models/{id}/serving/": lambda s: {"id": str(s.model.pk)},
    "/api/v1/models/{id}/timeline/": lambda s: {"id": str(s.model.pk)},
    "/api/v1/models/{id}/versions/": lambda s: {"id": str(s.model.pk)},
    "/api/v1/predictions/{id}/": lambda s: {"id": s.prediction_id},
    "/api/v1/predictions/{id}/feedback/": lambda s: {"id": s.prediction_id},
    "/api/v1/teams/{slug}/": lambda s: {"slug": s.team.slug},
    "/api/v1/teams/{slug}/members/": lambda s: {"slug": s.team.slug},
    "/api/v1/teams/{slug}/members/{username}/": lambda s: {"slug": s.team.slug, "username": s.viewer.username},
    "/api/v1/teams/{slug}/usage/": lambda s: {"slug": s.team.slug},
    "/api/v1/teams/{slug}/invitations/": lambda s: {"slug": s.team.slug},
    "/api/v1/teams/{slug}/invitations/{id}/": lambda s: _throwaway_invitation(s),
    "/api/v1/invitations/{id}/accept/": lambda s: _invitation_for_the_fuzzer(s),
    "/api/v1/invitations/{id}/decline/": lambda s: _invitation_for_the_fuzzer(s),
    "/api/v1/teams/{slug}/overview/": lambda s: {"slug": s.team.slug},
    "/api/v1/trigger-runs/{id}/": lambda s: {"id": str(s.run.pk)},
    "/api/v1/triggers/{id}/": lambda s: {"id": str(s.trigger.pk)},
    "/api/v1/triggers/{id}/fire/": lambda s: {"id": str(s.trigger.pk)},
    "/api/v1/triggers/{id}/runs/": lambda s: {"id": str(s.trigger.pk)},
}


def _throwaway_token(s: Seed) -> int:
    from accounts_app.services import issue_token

    token, _ = issue_token(user=s.admin, name=s.unique("throwaway"))
    return token.pk


def _throwaway_dataset(s: Seed) -> dict:
    from datasets_app.services import create_dataset

    return {"id": str(create_dataset(actor=s.admin, team=s.team, name=s.unique("st-gone"), task="regression").pk)}


def _throwaway_model(s: Seed) -> dict:
    from models_app.services import create_model

    return {"id": str(create_model(actor=s.admin, team=s.team, name=s.unique("st-gone"), task="classification").pk)}


def _throwaway_gated_model(s: Seed) -> dict:
    from models_app.models import RegisteredModel
    from models_app.services import set_gate

    ids = _throwaway_model(s)
    set_gate(actor=s.admin, model=RegisteredModel.objects.get(pk=ids["id"]), dataset_version=s.dataset_version)
    return ids


def _throwaway_alias(s: Seed) -> dict:
    from models_app.services import set_alias

    alias = s.unique("gone")
    set_alias(actor=s.admin, model=s.model, alias=alias, version=s.model_version)
    return {"id": str(s.model.pk), "alias": alias}


def _throwaway_member(s: Seed) -> dict:
    from accounts_app.services import add_member
    from tests.factories import UserFactory

    user = UserFactory(username=s.unique("st-guest"))
    add_member(actor=s.admin, team=s.team, username=user.username, role="member")
    return {"slug": s.team.slug, "username": user.username}


def _throwaway_invitation(s: Seed) -> dict:
    from accounts_app.services import invite_member

    invitation = invite_member(actor=s.admin, team=s.team, username=s.unique("st-invitee"), role="viewer")
    return {"slug": s.team.slug, "id": str(invitation.pk)}


def _invitation_for_the_fuzzer(s: Seed) -> dict:
    """An invitation for the fuzzing user (st-admin) to a team of its own, which it may accept or decline."""
    from accounts_app.services import create_team, invite_member
    from tests.factories import UserFactory

    owner = UserFactory(username=s.unique("st-owner"))
    team = create_team(actor=owner, slug=s.unique("st-inv"), name="Inviting team")
    return {"id": str(invite_member(actor=owner, team=team, username=s.admin.username, role="viewer").pk)}


def _throwaway_job(s: Seed) -> dict:
    from jobs_app.services import submit_job

    spec = {"model_version": str(s.model_version.pk), "dataset_version": str(s.dataset_version.pk)}
    return {"id": str(submit_job(actor=s.admin, team=s.team, kind="evaluate", spec=spec).pk)}


def _throwaway_tracking_run(s: Seed) -> dict:
    """A running tracking run of the admin's: the only job that takes points from a user, and that its
    creator ends."""
    from jobs_app.services import submit_job

    return {"id": str(submit_job(actor=s.admin, team=s.team, kind="tracking", spec={"model": "st-clf"}).pk)}


def _throwaway_trigger(s: Seed) -> dict:
    from jobs_app import triggers

    trigger = triggers.create_trigger(
        actor=s.admin, team=s.team, model=s.model, base_dataset_version=s.dataset_version, name=s.unique("gone")
    )
    return {"id": str(trigger.pk)}


# Operations that destroy or disable their target: each real-id case gets a fresh object, never a seed one.
THROWAWAY = {
    ("DELETE", "/api/v1/auth/tokens/{id}/"): lambda s: {"id": _throwaway_token(s)},
    ("DELETE", "/api/v1/teams/{slug}/invitations/{id}/"): _throwaway_invitation,
    ("DELETE", "/api/v1/datasets/{id}/"): _throwaway_dataset,
    ("DELETE", "/api/v1/models/{id}/"): _throwaway_model,
    ("DELETE", "/api/v1/models/{id}/aliases/{alias}/"): _throwaway_alias,
    ("PUT", "/api/v1/models/{id}/gate/"): _throwaway_model,
    ("DELETE", "/api/v1/models/{id}/gate/"): _throwaway_gated_model,
    ("PATCH", "/api/v1/teams/{slug}/members/{username}/"): _throwaway_member,
    ("DELETE", "/api/v1/teams/{slug}/members/{username}/"): _throwaway_member,
    ("POST", "/api/v1/jobs/{id}/cancel/"): _throwaway_job,
    # a worker job takes points only from its worker (409 / 403); a tracking run from its creator, the admin
    ("POST", "/api/v1/jobs/{id}/metrics/"): _throwaway_tracking_run,
    ("POST", "/api/v1/jobs/{id}/finish/"): _throwaway_tracking_run,
    ("PATCH", "/api/v1/triggers/{id}/"): _throwaway_trigger,
    ("DELETE", "/api/v1/triggers/{id}/"): _throwaway_trigger,
}


def _checkpoint_version(s: Seed):
    """A tiny BERT checkpoint imported into a text-classification model of the team (once per run)."""
    if s.checkpoint is None:
        from models_app.services import create_model, register_checkpoint
        from tests.api.test_role_matrix import tiny_checkpoint

        model = create_model(actor=s.admin, team=s.team, name="st-encoder", task="text-classification")
        s.checkpoint = register_checkpoint(actor=s.admin, model=model, folder=tiny_checkpoint())
    return s.checkpoint


def _checkpoint_archive() -> bytes:
    import io
    import tarfile

    from tests.api.test_role_matrix import tiny_checkpoint

    fh = io.BytesIO()
    with tarfile.open(fileobj=fh, mode="w:gz") as archive:
        for path in sorted(tiny_checkpoint().iterdir()):
            archive.add(path, arcname=path.name)
    return fh.getvalue()


def _weights() -> bytes:
    from safetensors.numpy import save

    return save({"net.0.weight": np.ones((3, 4), dtype=np.float32), "net.0.bias": np.zeros(3, dtype=np.float32)})


# A valid body for operations whose 2xx needs ids of other objects or unique names: (media type, body).
VALID_BODIES = {
    ("POST", "/api/v1/auth/token/"): lambda s: ("application/json", {"username": "st-admin", "password": "password"}),
    ("POST", "/api/v1/auth/session/"): lambda s: (
        "application/json",
        {"username": "st-admin", "password": "password"},
    ),
    ("POST", "/api/v1/auth/tokens/"): lambda s: ("application/json", {"name": s.unique("st-token")}),
    ("POST", "/api/v1/teams/"): lambda s: ("application/json", {"slug": s.unique("st-t"), "name": "A team"}),
    ("POST", "/api/v1/teams/{slug}/members/"): lambda s: ("application/json", _new_member(s)),
    ("PATCH", "/api/v1/teams/{slug}/members/{username}/"): lambda s: ("application/json", {"role": "maintainer"}),
    ("POST", "/api/v1/datasets/"): lambda s: (
        "application/json",
        {"team": "st", "name": s.unique("st-ds"), "task": "classification"},
    ),
    ("PATCH", "/api/v1/datasets/{id}/"): lambda s: ("application/json", {"description": s.unique("text")}),
    ("POST", "/api/v1/datasets/{id}/versions/"): lambda s: ("application/json", {"builtin": "iris"}),
    ("POST", "/api/v1/models/"): lambda s: (
        "application/json",
        {"team": "st", "name": s.unique("st-m"), "task": "classification"},
    ),
    ("PATCH", "/api/v1/models/{id}/"): lambda s: ("application/json", {"description": s.unique("text")}),
    ("POST", "/api/v1/models/{id}/versions/"): lambda s: (
        "multipart/form-data",
        {
            "weights": _weights(),
            "spec": json.dumps({"architecture": "mlp", "in_features": 4, "hidden": [], "num_outputs": 3}),
            "dataset_versions": [str(s.dataset_version.pk)],
        },
    ),
    ("POST", "/api/v1/models/{id}/versions/import/"): lambda s: (
        "multipart/form-data",
        {"archive": _checkpoint_archive(), "description": "imported"},
    ),
    ("POST", "/api/v1/models/{id}/aliases/"): lambda s: (
        "application/json",
        {"alias": "staging", "version": str(s.model_version.pk)},
    ),
    ("PUT", "/api/v1/models/{id}/gate/"): lambda s: (
        "application/json",
        {"dataset_version": str(s.dataset_version.pk)},
    ),
    ("POST", "/api/v1/models/{id}/gate/check/"): lambda s: (
        "application/json",
        {"alias": "production", "version": str(s.model_version.pk)},
    ),
    ("POST", "/api/v1/models/{id}/predict/"): lambda s: (
        "application/json",
        {"alias": "production", "inputs": [IRIS_ROW]},
    ),
    ("POST", "/api/v1/predictions/{id}/feedback/"): lambda s: ("application/json", {"label": "setosa"}),
    ("POST", "/api/v1/jobs/"): lambda s: (
        "application/json",
        {
            "team": "st",
            "kind": "evaluate",
            "spec": {"model_version": str(s.model_version.pk), "dataset_version": str(s.dataset_version.pk)},
        },
    ),
    ("POST", "/api/v1/jobs/{id}/metrics/"): lambda s: (
        "application/json",
        {"points": [{"key": "acc", "step": s.counter, "value": 0.5}]},
    ),
    ("POST", "/api/v1/jobs/{id}/finish/"): lambda s: ("application/json", {"status": "succeeded"}),
    ("POST", "/api/v1/jobs/{id}/params/"): lambda s: ("application/json", {"params": {"lr": 0.01}}),
    ("POST", "/api/v1/jobs/{id}/artifacts/"): lambda s: (
        "multipart/form-data",
        {"file": b"some text", "path": f"files/{s.unique('f')}.txt"},
    ),
    ("POST", "/api/v1/triggers/"): lambda s: (
        "application/json",
        {
            "team": "st",
            "name": s.unique("st-trigger"),
            "model": str(s.model.pk),
            "base_dataset_version": str(s.dataset_version.pk),
        },
    ),
    ("PATCH", "/api/v1/triggers/{id}/"): lambda s: ("application/json", {"min_feedback": 7}),
}


# Operations that check CSRF whoever calls (the browser's sign-in and sign-out): every other case gets a
# matching csrftoken cookie and X-CSRFToken header (the others must answer the 403 in the error shape).
CSRF_CHECKED = {("POST", "/api/v1/auth/session/"), ("DELETE", "/api/v1/auth/session/")}
CSRF_TOKEN = "schemathesisCsrfToken01234567890"  # 32 characters: the form of a CSRF secret


def _new_member(s: Seed) -> dict:
    from tests.factories import UserFactory

    return {"username": UserFactory(username=s.unique("st-new")).username, "role": "viewer"}


# -------------------------------------------------------------------------------------------------- the server


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host = (db.get("HOST") or "127.0.0.1").replace("/", "%2F")
    return f"postgres://{db.get('USER') or ''}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Api:
    url: str
    seed: Seed
    blocker: object
    tally: dict = field(default_factory=lambda: defaultdict(Counter))
    started: float = field(default_factory=time.monotonic)


@pytest.fixture(scope="module")
def api(django_db_setup, django_db_blocker, tmp_path_factory):
    base = tmp_path_factory.mktemp("schemathesis")
    media, uploads = base / "media", base / "uploads"
    media.mkdir()
    uploads.mkdir()
    files = {"MEDIA_ROOT": str(media), "FILE_UPLOAD_TEMP_DIR": str(uploads)}
    try:
        with django_db_blocker.unblock(), override_settings(**files, ECO_PREDICTION_LOG="inline"):
            seed = make_seed()
    except BaseException:
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)
        raise
    port = _free_port()
    env = {
        **os.environ,
        **files,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",  # production answers: handler404/500, not the debug pages
        "SECURE_SSL_REDIRECT": "false",
        "SECRET_KEY": "schemathesis-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "ECO_PREDICTION_LOG": "inline",
        "ECO_LOGIN_RATE": "100000/min",
        # fuzzed sign-ins with made-up passwords would lock the one client address out (django-axes)
        "ECO_LOGIN_FAILURE_LIMIT": "1000000",
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "WARNING",
    }
    log = open(base / "server.log", "wb")
    argv = [str(Path(sys.executable).with_name("gunicorn")), "-c", "config/gunicorn.py", "config.wsgi"]
    server = subprocess.Popen(
        [*argv, "--bind", f"127.0.0.1:{port}"],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/api/v1/health/", timeout=10).status_code in (200, 503):
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((base / "server.log").read_text(errors="replace")[-5000:])
            time.sleep(0.2)
        from accounts_app.models import User

        with django_db_blocker.unblock():
            admin = User.objects.get(pk=seed.admin.pk)
            # the server checks with the production hashers, not the tests' fast one
            admin.password = PBKDF2PasswordHasher().encode("password", "schemathesis", iterations=1000)
            admin.save()
        api = Api(url=url, seed=seed, blocker=django_db_blocker)
        api.files = files
        yield api
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        log.close()
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)
    text = (base / "server.log").read_text(errors="replace")
    assert "Traceback" not in text, text[-5000:]


# ----------------------------------------------------------------------------------------------------- the run


def _prepare(case, api: Api) -> None:
    """Point most cases at real objects (every fourth keeps its generated ids), and give every other case of an
    operation that needs one a valid body."""
    method, path = case.operation.method.upper(), case.operation.path
    counts = api.tally[f"{method} {path}"]
    n = counts["cases"]
    counts["cases"] += 1
    if case.path_parameters is not None and path in PATH_IDS and n % 4 != 3:
        with api.blocker.unblock(), override_settings(**api.files):
            make = THROWAWAY.get((method, path)) or PATH_IDS[path]
            case.path_parameters.update(make(api.seed))
    elif "{" in path and path not in PATH_IDS:
        pytest.fail(f"{path} has path parameters but no entry in PATH_IDS: add the seed object it reads")
    if (method, path) in VALID_BODIES and n % 2 == 0:
        with api.blocker.unblock():
            media_type, body = VALID_BODIES[(method, path)](api.seed)
        case.media_type, case.body = media_type, body
    if (method, path) in CSRF_CHECKED and n % 2 == 0:
        case.headers = {**(case.headers or {}), "X-CSRFToken": CSRF_TOKEN}
        case.cookies = {**(case.cookies or {}), settings.CSRF_COOKIE_NAME: CSRF_TOKEN}


@schema.parametrize()
def test_api(case, api):
    _prepare(case, api)
    headers = {"Authorization": f"Bearer {api.seed.token}"}
    response = case.call_and_validate(base_url=api.url, headers=headers, checks=CHECKS, timeout=60)
    counts = api.tally[f"{case.operation.method.upper()} {case.operation.path}"]
    counts[f"{response.status_code // 100}xx"] += 1


def _documents_2xx(operation) -> bool:
    return any(str(code).startswith("2") for code in operation.definition.raw.get("responses", {}))


def test_every_operation_answered_2xx(api, capsys):
    """Runs after test_api's operations (file order): a table per operation, and a failure for each operation
    that documents a 2xx but never got one."""
    operations = {f"{op.method.upper()} {op.path}": op for op in (r.ok() for r in schema.get_all_operations())}
    lines = [f"{'operation':<58} {'cases':>6} {'2xx':>5} {'4xx':>5} {'2xx %':>6}"]
    never = []
    for label in sorted(operations):
        counts = api.tally.get(label)
        if counts is None:
            continue
        cases = counts["cases"]
        share = 100 * counts["2xx"] / cases if cases else 0
        lines.append(f"{label:<58} {cases:>6} {counts['2xx']:>5} {counts['4xx']:>5} {share:>5.0f}%")
        if counts["2xx"] == 0 and _documents_2xx(operations[label]):
            never.append(label)
    total = sum(c["cases"] for c in api.tally.values())
    lines.append(f"{len(api.tally)} operations, {total} cases, {time.monotonic() - api.started:.0f} s")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert api.tally, "no operation ran: run the whole module"
    assert not never, f"operations that never answered 2xx: {never}"


def test_every_method_on_every_path_answers_json_without_5xx(api):
    """OPTIONS, HEAD and the methods a path does not take, on every path (seed ids, or throwaway ones where the
    method destroys): never a 5xx; an error is the one JSON error shape."""
    headers = {"Authorization": f"Bearer {api.seed.token}", "Content-Type": "application/json"}
    for path in schema.raw_schema["paths"]:
        for method in ("OPTIONS", "HEAD", "GET", "PUT", "PATCH", "POST", "DELETE", "TRACE"):
            with api.blocker.unblock(), override_settings(**api.files):
                make = THROWAWAY.get((method, path)) or PATH_IDS.get(path) or (lambda s: {})
                url = api.url + path.format(**make(api.seed))
            response = requests.request(method, url, headers=headers, data=b"{}", timeout=60)
            assert response.status_code < 500, (method, url, response.text[:500])
            if response.status_code >= 400 and method != "HEAD":
                body = response.json()
                assert set(body) >= {"status", "code", "detail", "errors"}, (method, url, body)
                assert body["status"] == response.status_code


# The marker only makes pytest-django create the test database when this module runs alone; the other tests
# here must not run inside a transaction (the server has to see the objects they make), so they carry none.
@pytest.mark.django_db
def test_bad_text_and_bad_ids_answer_json_errors(api):
    headers = {"Authorization": f"Bearer {api.seed.token}", "Content-Type": "application/json"}
    s = api.seed
    cases = [
        ("GET", "/api/v1/datasets/not-a-uuid/", None, 404),
        ("GET", "/api/v1/no-such-thing/", None, 404),
        ("POST", f"/api/v1/predictions/{s.prediction_id}/feedback/", b'{"label": "\\ud800"}', 400),
        ("POST", "/api/v1/datasets/", b'{"team": "st", "name": "\xff\xfe", "task": "classification"}', 400),
        ("GET", "/api/v1/datasets/?search=%ff%fe", None, 400),
        ("GET", "/api/v1/datasets/?search=%ed%a0%80", None, 400),
        ("GET", "/api/v1/datasets/%ff/", None, 400),
    ]
    for method, path, body, expected in cases:
        response = requests.request(method, api.url + path, headers=headers, data=body, timeout=30)
        assert response.status_code == expected, (method, path, response.status_code, response.text[:300])
        assert response.json()["status"] == expected


def test_only_uploads_parse_multipart(api):
    headers = {"Authorization": f"Bearer {api.seed.token}"}
    form = {"team": "st", "name": "st-form", "task": "classification"}
    for path in ("/api/v1/datasets/", "/api/v1/auth/token/", "/api/v1/teams/"):
        response = requests.post(api.url + path, headers=headers, files={"file": ("a.csv", io.BytesIO(b"a\n1\n"))})
        assert response.status_code == 415, (path, response.text[:300])
        response = requests.post(api.url + path, headers=headers, data=form)
        assert response.status_code == 415, (path, response.text[:300])
    upload = requests.post(
        f"{api.url}/api/v1/datasets/{api.seed.dataset.pk}/versions/",
        headers=headers,
        data={"target": "y"},
        files={"file": ("a.csv", io.BytesIO(b"x,y\n1,a\n2,b\n3,a\n4,b\n"))},
    )
    assert upload.status_code == 201, upload.text[:300]
