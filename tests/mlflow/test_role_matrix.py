"""The role matrix of MLflow's endpoints: every route Eco serves under /api/2.0/mlflow/ and /api/2.0/mlflow-artifacts/,
every role, with the experiment and run ids in the query string or the JSON body as MLflow's client sends them.

Roles: anonymous, outsider (admin of team beta only), viewer, member (who started the run), maintainer and admin
of team alpha, which owns the experiment and the run; and alpha's admin through a `read`-scoped token. Each
request runs in a savepoint rolled back after it. Beyond the status, every answer is checked for what holds
whatever the route: an error is MLflow's `{error_code, message}` with the code MLflow gives that status; an
outsider learns nothing of team alpha; a refused request changes nothing.

To add a route: one row in ROUTES, and the test that lists the routes fails until it has one."""

import hashlib
import io
import json
from dataclasses import dataclass

import pytest
from django.core.files import File
from django.db import transaction
from django.urls import URLPattern
from rest_framework.test import APIClient

from accounts_app.services import issue_token
from jobs_app import metrics
from jobs_app.models import Experiment, Job, JobArtifact, LoggedModel, MetricChunk
from jobs_app.services import experiments as services
from jobs_app.services import tracking
from models_app import services as model_services
from models_app.models import ModelAlias, ModelVersion, RegisteredModel
from tests.factories import MembershipFactory, TeamFactory, UserFactory

ANONYMOUS, OUTSIDER, READ_TOKEN = "anonymous", "outsider", "read-token"
TEAM_ROLES = ("viewer", "member", "maintainer", "admin")
ROLES = (ANONYMOUS, OUTSIDER, *TEAM_ROLES, READ_TOKEN)
CODES = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "RESOURCE_DOES_NOT_EXIST"}

READ = {ANONYMOUS: 401, OUTSIDER: 404, **dict.fromkeys(TEAM_ROLES, 200), READ_TOKEN: 200}
LIST = {ANONYMOUS: 401, OUTSIDER: 200, **dict.fromkeys(TEAM_ROLES, 200), READ_TOKEN: 200}
MEMBER = {ANONYMOUS: 401, OUTSIDER: 404, "viewer": 403, "member": 200, "maintainer": 200, "admin": 200, READ_TOKEN: 403}
MAINTAINER = {**MEMBER, "member": 403}
# only the run's creator (the member) writes to it, whatever the role
CREATOR = {**MEMBER, "maintainer": 403, "admin": 403}
CREATOR_OR_MAINTAINER = MEMBER
DATASET = {"name": "d", "digest": "1", "source_type": "local", "source": "{}"}


@dataclass
class Case:
    method: str
    path: str
    expect: dict
    data: object = None  # a query dict (GET), a JSON body, or bytes (a PUT's file)


def routes(seed) -> dict[str, Case]:
    e, r, lm = seed["experiment"], seed["run"], seed["logged_model"]
    point = {"key": "acc", "value": 0.5, "timestamp": 1_700_000_000_000, "step": 3}
    artifacts = f"/api/2.0/mlflow-artifacts/artifacts/{e}/{r}/artifacts"
    m = "/api/2.0/mlflow"
    return {
        "experiments/create": Case("POST", f"{m}/experiments/create", MEMBER, {"name": "alpha/new"}),
        "experiments/get": Case("GET", f"{m}/experiments/get", READ, {"experiment_id": e}),
        "experiments/get-by-name": Case("GET", f"{m}/experiments/get-by-name", READ, {"experiment_name": "alpha/exp"}),
        "experiments/search": Case("POST", f"{m}/experiments/search", LIST, {"max_results": 10}),
        "experiments/list": Case("GET", f"{m}/experiments/list", LIST, {}),
        "experiments/update": Case("POST", f"{m}/experiments/update", MEMBER, {"experiment_id": e, "new_name": "x"}),
        "experiments/delete": Case("POST", f"{m}/experiments/delete", MAINTAINER, {"experiment_id": e}),
        "experiments/restore": Case("POST", f"{m}/experiments/restore", MAINTAINER, {"experiment_id": e}),
        "experiments/set-experiment-tag": Case(
            "POST", f"{m}/experiments/set-experiment-tag", MEMBER, {"experiment_id": e, "key": "k", "value": "v"}
        ),
        "experiments/delete-experiment-tag": Case(
            "POST", f"{m}/experiments/delete-experiment-tag", MEMBER, {"experiment_id": e, "key": "area"}
        ),
        "runs/create": Case("POST", f"{m}/runs/create", MEMBER, {"experiment_id": e}),
        "runs/get": Case("GET", f"{m}/runs/get", READ, {"run_id": r}),
        "runs/update": Case("POST", f"{m}/runs/update", CREATOR, {"run_id": r, "run_name": "renamed"}),
        "runs/delete": Case("POST", f"{m}/runs/delete", CREATOR_OR_MAINTAINER, {"run_id": r}),
        "runs/restore": Case("POST", f"{m}/runs/restore", CREATOR_OR_MAINTAINER, {"run_id": r}),
        "runs/search": Case("POST", f"{m}/runs/search", READ, {"experiment_ids": [e]}),
        "runs/log-metric": Case("POST", f"{m}/runs/log-metric", CREATOR, {"run_id": r, **point}),
        "runs/log-batch": Case(
            "POST",
            f"{m}/runs/log-batch",
            CREATOR,
            {
                "run_id": r,
                "metrics": [point],
                "params": [{"key": "b", "value": "2"}],
                "tags": [{"key": "t", "value": "1"}],
            },
        ),
        "runs/log-parameter": Case("POST", f"{m}/runs/log-parameter", CREATOR, {"run_id": r, "key": "b", "value": "2"}),
        "runs/set-tag": Case("POST", f"{m}/runs/set-tag", CREATOR, {"run_id": r, "key": "t", "value": "1"}),
        "runs/delete-tag": Case("POST", f"{m}/runs/delete-tag", CREATOR, {"run_id": r, "key": "stage"}),
        "runs/log-inputs": Case(
            "POST",
            f"{m}/runs/log-inputs",
            CREATOR,
            {
                "run_id": r,
                "datasets": [{"dataset": {"name": "d", "digest": "1", "source_type": "local", "source": "{}"}}],
            },
        ),
        "metrics/get-history": Case("GET", f"{m}/metrics/get-history", READ, {"run_id": r, "metric_key": "loss"}),
        "metrics/get-history-bulk-interval": Case(
            "GET", f"{m}/metrics/get-history-bulk-interval", READ, {"run_ids": r, "metric_key": "loss"}
        ),
        "logged-models/search": Case("POST", f"{m}/logged-models/search", READ, {"experiment_ids": [e]}),
        "runs/outputs": Case("POST", f"{m}/runs/outputs", MEMBER, {"run_id": r, "models": [{"model_id": lm}]}),
        "logged-models": Case(
            "POST", f"{m}/logged-models", CREATOR, {"experiment_id": e, "source_run_id": r, "name": "second"}
        ),
        "logged-models/<str:model_id>": Case("GET", f"{m}/logged-models/{lm}", READ),
        "logged-models/<str:model_id> (PATCH)": Case(
            "PATCH", f"{m}/logged-models/{lm}", CREATOR, {"model_id": lm, "status": "LOGGED_MODEL_READY"}
        ),
        "logged-models/<str:model_id> (DELETE)": Case("DELETE", f"{m}/logged-models/{lm}", CREATOR, {}),
        "logged-models/<str:model_id>/tags": Case(
            "PATCH", f"{m}/logged-models/{lm}/tags", CREATOR, {"tags": [{"key": "k", "value": "v"}]}
        ),
        "logged-models/<str:model_id>/tags/<path:tag_key>": Case(
            "DELETE", f"{m}/logged-models/{lm}/tags/t", CREATOR, {}
        ),
        "logged-models/<str:model_id>/params": Case(
            "POST", f"{m}/logged-models/{lm}/params", CREATOR, {"params": [{"key": "p", "value": "1"}]}
        ),
        "registered-models/create": Case("POST", f"{m}/registered-models/create", MEMBER, {"name": "alpha/new"}),
        "registered-models/get": Case("GET", f"{m}/registered-models/get", READ, {"name": "alpha/reg"}),
        "registered-models/rename": Case(
            "POST", f"{m}/registered-models/rename", MEMBER, {"name": "alpha/reg", "new_name": "alpha/reg2"}
        ),
        "registered-models/update": Case(
            "PATCH", f"{m}/registered-models/update", MEMBER, {"name": "alpha/reg", "description": "d"}
        ),
        "registered-models/delete": Case(
            "DELETE", f"{m}/registered-models/delete", MAINTAINER, {"name": "alpha/spare"}
        ),
        "registered-models/search": Case("GET", f"{m}/registered-models/search", LIST, {"filter": "name LIKE '%'"}),
        "registered-models/get-latest-versions": Case(
            "POST", f"{m}/registered-models/get-latest-versions", READ, {"name": "alpha/reg"}
        ),
        "registered-models/set-tag": Case(
            "POST", f"{m}/registered-models/set-tag", MEMBER, {"name": "alpha/reg", "key": "k", "value": "v"}
        ),
        "registered-models/delete-tag": Case(
            "DELETE", f"{m}/registered-models/delete-tag", MEMBER, {"name": "alpha/reg", "key": "area"}
        ),
        "registered-models/alias": Case(
            "GET", f"{m}/registered-models/alias", READ, {"name": "alpha/reg", "alias": "staging"}
        ),
        "registered-models/alias (POST)": Case(
            "POST", f"{m}/registered-models/alias", MEMBER, {"name": "alpha/reg", "alias": "champion", "version": "1"}
        ),
        "registered-models/alias (DELETE)": Case(
            "DELETE", f"{m}/registered-models/alias", MEMBER, {"name": "alpha/reg", "alias": "staging"}
        ),
        "model-versions/create": Case(
            "POST", f"{m}/model-versions/create", MEMBER, {"name": "alpha/reg", "source": f"models:/{lm}"}
        ),
        "model-versions/get": Case("GET", f"{m}/model-versions/get", READ, {"name": "alpha/reg", "version": "1"}),
        "model-versions/update": Case(
            "PATCH", f"{m}/model-versions/update", MEMBER, {"name": "alpha/reg", "version": "1", "description": "d"}
        ),
        "model-versions/delete": Case(
            "DELETE", f"{m}/model-versions/delete", MAINTAINER, {"name": "alpha/reg", "version": "2"}
        ),
        "model-versions/transition-stage": Case(
            "POST",
            f"{m}/model-versions/transition-stage",
            MAINTAINER,
            {"name": "alpha/reg", "version": "2", "stage": "Archived"},
        ),
        "model-versions/search": Case("GET", f"{m}/model-versions/search", LIST, {"filter": "name = 'reg'"}),
        "model-versions/get-download-uri": Case(
            "GET", f"{m}/model-versions/get-download-uri", READ, {"name": "alpha/reg", "version": "1"}
        ),
        "model-versions/set-tag": Case(
            "POST",
            f"{m}/model-versions/set-tag",
            MEMBER,
            {"name": "alpha/reg", "version": "1", "key": "k", "value": "v"},
        ),
        "model-versions/delete-tag": Case(
            "DELETE", f"{m}/model-versions/delete-tag", MEMBER, {"name": "alpha/reg", "version": "1", "key": "k"}
        ),
        "artifacts (list)": Case("GET", "/api/2.0/mlflow-artifacts/artifacts", READ, {"path": f"{e}/{r}/artifacts"}),
        "artifacts (download)": Case("GET", f"{artifacts}/notes.txt", READ),
        "artifacts (upload)": Case("PUT", f"{artifacts}/new.txt", CREATOR, b"new file"),
    }


@pytest.fixture
def seed(db, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    alpha, beta = TeamFactory(slug="alpha"), TeamFactory(slug="beta")
    users = {}
    for role in TEAM_ROLES:
        users[role] = UserFactory(username=f"alpha-{role}")
        MembershipFactory(team=alpha, user=users[role], role=role)
    users[OUTSIDER] = UserFactory(username="beta-admin")
    MembershipFactory(team=beta, user=users[OUTSIDER], role="admin")
    member = users["member"]
    experiment = services.create_experiment(actor=member, team=alpha, name="exp", tags={"area": "a"})
    job = services.start_run(actor=member, experiment=experiment, name="seeded", tags={"stage": "dev"})
    services.log_batch(actor=member, job=job, points=[("loss", 0, 1.0, 1_700_000_000.0)], params={"a": "1"}, tags={})
    content = b"notes"
    tracking.log_artifact(
        actor=member,
        job=job,
        path="notes.txt",
        content=File(io.BytesIO(content), name="notes.txt"),
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
    )
    # a logged model (an MLflow model folder among the run's files), registered twice, one version aliased
    logged = services.create_logged_model(actor=member, job=job, name="model", tags={"t": "1"})
    for name, data in (("MLmodel", b"flavors:\n  sklearn: {pickled_model: model.pkl}\n"), ("model.pkl", b"pickle")):
        tracking.log_artifact(
            actor=member,
            job=job,
            path=f"{logged.artifact_prefix}/{name}",
            content=File(io.BytesIO(data), name=name),
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )
    logged = services.update_logged_model(actor=member, logged_model=logged, status="ready")
    files = [(a.path.rsplit("/", 1)[1], a.blob) for a in JobArtifact.objects.filter(path__startswith="models/")]
    model = model_services.create_model(actor=member, team=alpha, name="reg", task="")
    model_services.set_tags(actor=member, obj=model, tags={"area": "a"})
    first, _ = (
        model_services.register_mlflow_version(
            actor=member, model=model, files=files, source=f"models:/m-{logged.pk.hex}", tags={"k": "v"}
        )
        for _ in range(2)
    )
    model_services.set_alias(actor=member, model=model, alias="staging", version=first)
    model_services.create_model(actor=member, team=alpha, name="spare", task="classification")
    read_token = issue_token(user=users["admin"], name="read", scope="read")[1]
    return {
        "users": users,
        "experiment": str(experiment.pk),
        "run": job.pk.hex,
        "logged_model": f"m-{logged.pk.hex}",
        "read_token": read_token,
    }


def snapshot() -> tuple:
    """What a refused request must leave as it was."""
    return (
        list(Experiment.objects.order_by("pk").values_list("pk", "name", "lifecycle_stage", "tags")),
        list(Job.objects.order_by("pk").values_list("pk", "name", "tags", "spec", "status", "deleted_at")),
        MetricChunk.objects.count(),
        sum(c["count"] for c in MetricChunk.objects.values("count")),
        list(JobArtifact.objects.order_by("pk").values_list("path", "size_bytes")),
        list(LoggedModel.objects.order_by("pk").values_list("pk", "status", "tags", "params", "deleted_at")),
        list(RegisteredModel.all_objects.order_by("pk").values_list("pk", "name", "description", "tags", "deleted_at")),
        list(ModelVersion.objects.order_by("pk").values_list("pk", "status", "description", "tags")),
        list(ModelAlias.objects.order_by("pk").values_list("alias", "version_id")),
    )


def client_for(seed, role: str) -> APIClient:
    client = APIClient()
    if role == READ_TOKEN:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {seed['read_token']}")
    elif role != ANONYMOUS:
        client.force_authenticate(seed["users"][role])
    return client


def send(client: APIClient, case: Case):
    if case.method == "GET":
        return client.get(case.path, case.data or {})
    if case.method == "PUT":
        return client.put(case.path, case.data, content_type="application/octet-stream")
    return client.generic(
        case.method, case.path, data=__import__("json").dumps(case.data), content_type="application/json"
    )


def _renamed(data):
    if isinstance(data, (dict, list)):
        return json.loads(json.dumps(data).replace("alpha", "nosuch"))
    return data


@pytest.mark.parametrize("role", ROLES)
def test_every_route_for_every_role(seed, role):
    client = client_for(seed, role)
    failures = []
    for name, case in routes(seed).items():
        before = snapshot()
        with transaction.atomic():
            answer = send(client, case)
            after = snapshot()
            transaction.set_rollback(True)
        expected = case.expect[role]
        body = answer.json() if answer["Content-Type"].startswith("application/json") else None
        if answer.status_code != expected:
            failures.append(f"{name}: {answer.status_code} (expected {expected}) {body}")
            continue
        if expected != 200:
            if body is None or body.get("error_code") != CODES[expected] or not body.get("message"):
                failures.append(f"{name}: the error is not MLflow's {CODES[expected]}: {body}")
            if after != before:
                failures.append(f"{name}: a refused request changed something")
        if role == OUTSIDER and expected != 200:
            # the same request naming a team that does not exist gets the same answer: nothing is revealed
            unknown = Case(case.method, case.path.replace("alpha", "nosuch"), case.expect, _renamed(case.data))
            with transaction.atomic():
                other = send(client, unknown).json()
                transaction.set_rollback(True)
            if json.loads(json.dumps(other).replace("nosuch", "alpha")) != body:
                failures.append(
                    f"{name}: the outsider's answer differs from one for a team that does not exist: {body}"
                )
        if role == OUTSIDER and expected == 200 and ("alpha" in str(body) or seed["run"] in str(body)):
            failures.append(f"{name}: the outsider's list shows team alpha's objects: {body}")
    assert not failures, "\n".join(failures)


def test_every_route_has_a_row(seed):
    from mlflow_app import artifact_urls, urls

    served = {str(p.pattern) for p in urls.urlpatterns if isinstance(p, URLPattern)} - {"^.*$"}
    rows = {name.split(" (")[0] for name in routes(seed) if not name.startswith("artifacts")}
    assert served == rows
    assert {str(p.pattern) for p in artifact_urls.urlpatterns} == {"artifacts", "artifacts/<path:path>"}


def test_points_logged_by_the_matrix_member_are_a_history(seed):
    """The member's log-metric and log-batch above wrote a point each at step 3: both are kept."""
    client = client_for(seed, "member")
    case = routes(seed)["runs/log-metric"]
    assert send(client, case).status_code == 200
    assert (
        send(
            client, Case("POST", case.path, CREATOR, {**case.data, "value": 0.6, "timestamp": 1_700_000_000_001})
        ).status_code
        == 200
    )
    job = Job.objects.get(pk=seed["run"])
    assert [(s, v) for _, s, v, _ in metrics.stored_points(job.pk, "acc")] == [(3, 0.5), (3, 0.6)]
    assert send(client, case).status_code == 200  # the same point again (a retry): stored once
    assert len(metrics.stored_points(job.pk, "acc")) == 2
