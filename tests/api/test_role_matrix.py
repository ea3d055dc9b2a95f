"""The role matrix: every route under /api/v1/, every method its view allows, every role.

The routes come from the URL configuration, the expectations from the table below (written here, never read
from the views' permission declarations), so an endpoint added without a row, a method added to a view, or a
role rule that drifts fails this test. Roles: `anonymous` (no credentials), `outsider` (admin of team beta
only), and viewer, member, maintainer, admin of team alpha, which owns every seeded object.

Each request runs in a savepoint rolled back after it, so every case starts from the same seed. Beyond the
status, every answer is checked for what must hold whatever the route:
- an error is the API's JSON error shape, with its status;
- a 403 names the role it takes; an outsider's 400 names the `team` field;
- an outsider's answer never mentions team alpha or any seeded object (isolation: 404, never 403);
- a refused write (401, 403, 404, and the outsider's 400) writes nothing to the database.

To add a route: one row in ROUTES, `"pattern": (path kwargs, {METHOD: expectation, ...})`. HEAD answers as
GET (derived); OPTIONS answers 200 to any authenticated caller unless the row says otherwise.
"""

import copy
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from accounts_app.models import ApiToken
from tests.factories import UserFactory
from tests.helpers import MLP_SPEC, folder_files, log_text_artifact, safetensors_file, tiny_bert

ANONYMOUS, OUTSIDER = "anonymous", "outsider"
# the team admin through an API token of the `read` scope: its answers are derived, not written per row
# (`read_token_expects`)
READ_TOKEN = "read-token"
TEAM_ROLES = ("viewer", "member", "maintainer", "admin")
ROLES = (ANONYMOUS, OUTSIDER, *TEAM_ROLES)
PREFIX = "api/v1/"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Case:
    """Expected status per role for one method of one route, and the body the request sends."""

    expect: dict[str, int]
    body: Callable[["Seed"], Any] | None = None
    fmt: str = "json"


def team(ok: int, least: str = "viewer", *, body=None, fmt: str = "json") -> Case:
    """An object of team alpha: `least` and the roles above it get `ok`, lower roles 403, the outsider 404
    (it must not learn the object exists), anonymous 401."""
    rank = TEAM_ROLES.index(least)
    roles = {role: ok if i >= rank else 403 for i, role in enumerate(TEAM_ROLES)}
    return Case({ANONYMOUS: 401, OUTSIDER: 404, **roles}, body, fmt)


def into_team(ok: int, least: str, *, body) -> Case:
    """Creating something in the team the body names: as `team`, but the outsider's answer is a 400 naming
    the `team` field (alpha is not among their teams), since the team is input, not part of the URL."""
    case = team(ok, least, body=body)
    case.expect[OUTSIDER] = 400
    return case


def anyone(ok: int, *, body=None) -> Case:
    """Any authenticated caller, outsider included (lists show only the caller's own teams' objects)."""
    return Case({ANONYMOUS: 401, **{role: ok for role in ROLES[1:]}}, body)


def public(ok: int, *, body=None) -> Case:
    """No credentials needed."""
    return Case({role: ok for role in ROLES}, body)


def _text_file(name: str, data: bytes):
    """A small in-memory upload carrying its sha256, as the hashing upload handler's files do."""
    import hashlib

    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(name, data, content_type="text/plain")
    upload.sha256 = hashlib.sha256(data).hexdigest()
    return upload


def only(statuses: dict[str, int], *, body=None) -> Case:
    """Spelled out role by role."""
    assert set(statuses) == set(ROLES), sorted(statuses)
    return Case(dict(statuses), body)


def seeded(*names: str) -> Callable:
    """For a route without URL kwargs (a list): seed these objects so that the list has something to hide."""

    def kwargs(seed) -> dict:
        for name in names:
            getattr(seed, name)
        return {}

    return kwargs


def train_spec(s) -> dict:
    return {"dataset_version": str(s.dataset_version.pk), "model": "matrix-model", "architecture": "mlp"}


@cache
def tiny_checkpoint() -> Path:
    """A tiny BERT checkpoint folder, written once per test session."""
    return tiny_bert(Path(tempfile.mkdtemp(prefix="matrix-bert-")))


# pattern (after /api/v1/) -> (URL kwargs from the seed, {METHOD: Case}). The one table to extend.
ROUTES: dict[str, tuple[Callable | None, dict[str, Case]]] = {
    "health/": (None, {"GET": public(200), "OPTIONS": public(200)}),
    "auth/token/": (
        None,
        {
            "POST": public(201, body=lambda s: {"username": "alpha-viewer", "password": s.password, "name": "m"}),
            "OPTIONS": public(200),
        },
    ),
    # The browser's session: anyone; signing in as the outsider shows only the outsider's team. CSRF (which
    # APIClient does not enforce) is tested in tests/accounts/test_session.py.
    "auth/session/": (
        None,
        {
            "GET": public(200),
            "POST": public(200, body=lambda s: {"username": "beta-admin", "password": s.password}),
            "DELETE": public(204),
            "OPTIONS": public(200),
        },
    ),
    "auth/tokens/": (
        seeded("admin_token"),
        {"GET": anyone(200), "POST": anyone(201, body=lambda s: {"name": "matrix"})},
    ),
    # A token is its owner's alone: the admin's token is unknown (404) to everybody else.
    "auth/tokens/<int:pk>/": (
        lambda s: {"pk": s.admin_token.pk},
        {
            "DELETE": only(
                {ANONYMOUS: 401, OUTSIDER: 404, "viewer": 404, "member": 404, "maintainer": 404, "admin": 204}
            )
        },
    ),
    "me/": (None, {"GET": anyone(200)}),
    "job-kinds/": (None, {"GET": anyone(200)}),
    "job-kinds/<str:kind>/": (lambda s: {"kind": "train"}, {"GET": anyone(200)}),
    "teams/": (None, {"GET": anyone(200), "POST": anyone(201, body=lambda s: {"slug": "gamma", "name": "Gamma"})}),
    "teams/<slug:slug>/": (lambda s: {"slug": "alpha"}, {"GET": team(200)}),
    "teams/<slug:slug>/members/": (
        lambda s: {"slug": "alpha"},
        {
            "GET": team(200),
            "POST": team(202, "admin", body=lambda s: {"username": s.newcomer.username, "role": "viewer"}),
        },
    ),
    "teams/<slug:slug>/invitations/": (
        lambda s: {**seeded("invitation")(s), "slug": "alpha"},
        {"GET": team(200, "admin")},
    ),
    "teams/<slug:slug>/invitations/<uuid:pk>/": (
        lambda s: {"slug": "alpha", "pk": s.invitation.pk},
        {"DELETE": team(204, "admin")},
    ),
    # An invitation is its invitee's alone (the seeded one is the newcomer's, who is none of these roles): the
    # others' lists are empty and accepting or declining it is a 404 for all of them.
    "invitations/": (seeded("invitation", "invitation_for_admin"), {"GET": anyone(200)}),
    "invitations/<uuid:pk>/accept/": (
        lambda s: {"pk": s.invitation.pk},
        {"POST": only({ANONYMOUS: 401, **{role: 404 for role in ROLES[1:]}})},
    ),
    "invitations/<uuid:pk>/decline/": (
        lambda s: {"pk": s.invitation.pk},
        {"POST": only({ANONYMOUS: 401, **{role: 404 for role in ROLES[1:]}})},
    ),
    "teams/<slug:slug>/members/<str:username>/": (
        lambda s: {"slug": "alpha", "username": "alpha-viewer"},
        {
            "GET": team(200),
            "PATCH": team(200, "admin", body=lambda s: {"role": "member"}),
            "DELETE": team(204, "admin"),
        },
    ),
    "teams/<slug:slug>/usage/": (lambda s: {"slug": "alpha"}, {"GET": team(200)}),
    "teams/<slug:slug>/overview/": (
        lambda s: {**seeded("trigger", "alias", "job")(s), "slug": "alpha"},
        {"GET": team(200)},
    ),
    # Audit events: listed to maintainers and admins only, but the list itself answers everyone.
    "audit-events/": (seeded("dataset"), {"GET": anyone(200)}),
    "datasets/": (
        seeded("dataset"),
        {
            "GET": anyone(200),
            "POST": into_team(
                201, "member", body=lambda s: {"team": "alpha", "name": "new-data", "task": "classification"}
            ),
        },
    ),
    "datasets/<uuid:pk>/": (
        lambda s: {"pk": s.dataset.pk},
        {
            "GET": team(200),
            "PATCH": team(200, "member", body=lambda s: {"description": "changed"}),
            "DELETE": team(204, "maintainer"),
        },
    ),
    "datasets/<uuid:pk>/versions/": (
        lambda s: {"pk": s.dataset_version.dataset_id},
        {"GET": team(200), "POST": team(201, "member", body=lambda s: {"builtin": "iris"})},
    ),
    "dataset-versions/<uuid:pk>/": (lambda s: {"pk": s.dataset_version.pk}, {"GET": team(200)}),
    "dataset-versions/<uuid:pk>/preview/": (lambda s: {"pk": s.dataset_version.pk}, {"GET": team(200)}),
    # Any team role for an internal data set; a restricted one's rows take a maintainer (see RESTRICTED_ROWS).
    "dataset-versions/<uuid:pk>/download/": (lambda s: {"pk": s.dataset_version.pk}, {"GET": team(200)}),
    "dataset-versions/<uuid:pk>/export/": (lambda s: {"pk": s.dataset_version.pk}, {"GET": team(200)}),
    "dataset-versions/<uuid:pk>/lineage/": (lambda s: {"pk": s.dataset_version.pk}, {"GET": team(200)}),
    "dataset-versions/<uuid:pk>/stats/": (lambda s: {"pk": s.dataset_version.pk}, {"GET": team(200)}),
    "models/": (
        seeded("model"),
        {
            "GET": anyone(200),
            "POST": into_team(
                201, "member", body=lambda s: {"team": "alpha", "name": "new-model", "task": "classification"}
            ),
        },
    ),
    "models/<uuid:pk>/": (
        lambda s: {"pk": s.model.pk},
        {
            "GET": team(200),
            "PATCH": team(200, "member", body=lambda s: {"card": "changed"}),
            "DELETE": team(204, "maintainer"),
        },
    ),
    "models/<uuid:pk>/versions/": (
        lambda s: {"pk": s.model_version.model_id},
        {
            "GET": team(200),
            "POST": team(
                201, "member", body=lambda s: {"weights": safetensors_file(), "spec": MLP_SPEC}, fmt="multipart"
            ),
        },
    ),
    "models/<uuid:pk>/versions/import/": (
        lambda s: {"pk": s.text_model.pk},
        {"POST": team(201, "member", body=lambda s: {"files": folder_files(tiny_checkpoint())}, fmt="multipart")},
    ),
    "models/<uuid:pk>/aliases/": (
        lambda s: {"pk": s.alias.model_id},
        {
            "GET": team(200),
            "POST": team(200, "member", body=lambda s: {"alias": "candidate", "version": str(s.model_version.pk)}),
        },
    ),
    # `staging` is not protected by the gate; removing a protected alias takes an admin (models_app.services).
    "models/<uuid:pk>/aliases/<str:alias>/": (
        lambda s: {"pk": s.alias.model_id, "alias": s.alias.alias},
        {"GET": team(200), "DELETE": team(204, "member")},
    ),
    "models/<uuid:pk>/gate/": (
        lambda s: {"pk": s.gate.model_id},
        {
            "GET": team(200),
            "PUT": team(200, "maintainer", body=lambda s: {"dataset_version": str(s.dataset_version.pk)}),
            "DELETE": team(204, "maintainer"),
        },
    ),
    # The dry run of an alias move: member, like the move itself; it writes nothing.
    "models/<uuid:pk>/gate/check/": (
        lambda s: {"pk": s.gate.model_id},
        {"POST": team(200, "member", body=lambda s: {"alias": "production", "version": s.model_version.version})},
    ),
    "models/<uuid:pk>/serving/": (lambda s: {"pk": s.model_version.model_id}, {"GET": team(200)}),
    "models/<uuid:pk>/timeline/": (lambda s: {"pk": s.alias.model_id}, {"GET": team(200)}),
    # Any team role may predict; an outsider's refused request is not logged (a refused write writes nothing).
    "models/<uuid:pk>/predict/": (
        lambda s: {"pk": s.model_version.model_id},
        {"POST": team(200, body=lambda s: {"version": s.model_version.version, "inputs": [[5.1, 3.5, 1.4, 0.2]]})},
    ),
    "model-versions/<uuid:pk>/": (lambda s: {"pk": s.model_version.pk}, {"GET": team(200)}),
    "model-versions/<uuid:pk>/download/": (lambda s: {"pk": s.model_version.pk}, {"GET": team(200)}),
    "model-versions/<uuid:pk>/files/<str:name>/": (
        lambda s: {"pk": s.checkpoint_version.pk, "name": "config.json"},
        {"GET": team(200)},
    ),
    "evaluations/": (seeded("evaluation"), {"GET": anyone(200)}),
    "predictions/": (seeded("prediction"), {"GET": anyone(200)}),
    "predictions/<uuid:pk>/": (lambda s: {"pk": s.prediction.pk}, {"GET": team(200)}),
    "predictions/<uuid:pk>/feedback/": (
        lambda s: {"pk": s.prediction.pk},
        {"POST": team(200, "member", body=lambda s: {"label": "setosa"})},
    ),
    "jobs/": (
        seeded("job"),
        {
            "GET": anyone(200),
            "POST": into_team(201, "member", body=lambda s: {"team": "alpha", "kind": "train", "spec": train_spec(s)}),
        },
    ),
    # Any caller: the columns of their own jobs (?team= of another team is a 404, tests/jobs/test_runs_table.py).
    "jobs/columns/": (seeded("job"), {"GET": anyone(200)}),
    "jobs/<uuid:pk>/": (lambda s: {"pk": s.job.pk}, {"GET": team(200)}),
    "jobs/<uuid:pk>/cancel/": (lambda s: {"pk": s.job.pk}, {"POST": team(200, "member")}),
    # A tracking run of the member's: only its creator ends it and writes its points (a state rule,
    # jobs_app.attempts / services.finish_run), so the roles above member are refused too.
    "jobs/<uuid:pk>/finish/": (
        lambda s: {"pk": s.tracking_run.pk},
        {
            "POST": only(
                {ANONYMOUS: 401, OUTSIDER: 404, "viewer": 403, "member": 200, "maintainer": 403, "admin": 403},
                body=lambda s: {"status": "succeeded"},
            )
        },
    ),
    # Parameters and files of a tracking run: the same state rule, only its creator writes them; any role reads.
    "jobs/<uuid:pk>/params/": (
        lambda s: {"pk": s.tracking_run.pk},
        {
            "POST": only(
                {ANONYMOUS: 401, OUTSIDER: 404, "viewer": 403, "member": 200, "maintainer": 403, "admin": 403},
                body=lambda s: {"params": {"lr": 0.01}},
            )
        },
    ),
    "jobs/<uuid:pk>/artifacts/": (
        lambda s: {"pk": s.tracking_run.pk},
        {
            "GET": team(200),
            "POST": Case(
                {ANONYMOUS: 401, OUTSIDER: 404, "viewer": 403, "member": 201, "maintainer": 403, "admin": 403},
                body=lambda s: {"file": _text_file("notes.txt", b"a note"), "path": "notes/run.txt"},
                fmt="multipart",
            ),
        },
    ),
    "jobs/<uuid:pk>/artifacts/<path:path>": (
        lambda s: {"pk": s.tracking_run.pk, "path": "seed/notes.txt"},
        {"GET": team(200)},
    ),
    # A worker job's points come only from its worker: the queued seed job answers 409 to every member (a running
    # one 403 without the attempt's credential; a tracking run takes them from its creator alone, 200, and 403
    # for everyone else: tests/jobs/test_metric_owners.py).
    "jobs/<uuid:pk>/metrics/": (
        lambda s: {"pk": s.job.pk},
        {
            "GET": team(200),
            "POST": team(409, "member", body=lambda s: {"points": [{"key": "loss", "step": 2, "value": 0.4}]}),
        },
    ),
    "jobs/<uuid:pk>/logs/": (lambda s: {"pk": s.job.pk}, {"GET": team(200)}),
    "triggers/": (
        seeded("trigger"),
        {
            "GET": anyone(200),
            "POST": into_team(
                201,
                "maintainer",
                body=lambda s: {
                    "team": "alpha",
                    "model": str(s.gate.model_id),
                    "base_dataset_version": str(s.dataset_version.pk),
                    "min_feedback": 3,
                    "train": {"architecture": "mlp"},
                },
            ),
        },
    ),
    "triggers/<uuid:pk>/": (
        lambda s: {"pk": s.trigger.pk},
        {
            "GET": team(200),
            "PATCH": team(200, "maintainer", body=lambda s: {"enabled": False}),
            "DELETE": team(204, "maintainer"),
        },
    ),
    "triggers/<uuid:pk>/runs/": (lambda s: {"pk": s.trigger_run.trigger_id}, {"GET": team(200)}),
    "triggers/<uuid:pk>/fire/": (lambda s: {"pk": s.labelled_trigger.pk}, {"POST": team(201, "maintainer")}),
    "trigger-runs/<uuid:pk>/": (lambda s: {"pk": s.trigger_run.pk}, {"GET": team(200)}),
}


@cache
def trained_once() -> tuple[bytes, dict, dict, dict]:
    """One epoch on iris, once per test session: (safetensors bytes, spec, metrics, split)."""
    from ml.artifacts import save_weights
    from ml.pipeline import train
    from ml.train import NullReporter
    from tests.helpers import iris_columns

    outcome = train(
        iris_columns(),
        task="classification",
        target="target",
        architecture="mlp",
        hyperparameters={"epochs": 1, "seed": 0},
        reporter=NullReporter(),
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.safetensors"
        save_weights(outcome.model, path)
        return path.read_bytes(), outcome.spec, outcome.metrics, outcome.split


class Seed:
    """One object of each kind, all in team alpha, each created the first time a route asks for it (so a
    route seeds only what it uses, and a dataset nothing depends on can be deleted)."""

    password = "correct horse battery staple"  # tests.factories.UserFactory's

    def __init__(self, world):
        self.world = world
        self.member = world.users["member"]

    @cached_property
    def newcomer(self):
        return UserFactory(username="newcomer")

    @cached_property
    def invitation(self):
        from accounts_app.services import invite_member

        return invite_member(actor=self.world.users["admin"], team=self.world.alpha, username="newcomer", role="viewer")

    @cached_property
    def invitation_for_admin(self):
        """alpha's admin invited to team beta (what the admin's own list shows; nobody else's)."""
        from accounts_app.services import invite_member

        return invite_member(actor=self.world.outsider, team=self.world.beta, username="alpha-admin", role="viewer")

    @cached_property
    def admin_token(self):
        from accounts_app.services import issue_token

        return issue_token(user=self.world.users["admin"], name="seed")[0]

    @cached_property
    def dataset(self):
        from datasets_app.services import create_dataset

        return create_dataset(actor=self.member, team=self.world.alpha, name="flowers", task="classification")

    @cached_property
    def dataset_version(self):
        from datasets_app.services import create_version_from_builtin

        return create_version_from_builtin(actor=self.member, dataset=self.dataset, name="iris")

    @cached_property
    def restricted_version(self):
        from datasets_app.services import create_dataset, create_version_from_builtin

        dataset = create_dataset(
            actor=self.member, team=self.world.alpha, name="secret", task="classification", sensitivity="restricted"
        )
        return create_version_from_builtin(actor=self.member, dataset=dataset, name="iris")

    @cached_property
    def model(self):
        from models_app.services import create_model

        return create_model(actor=self.member, team=self.world.alpha, name="flower-clf", task="classification")

    @cached_property
    def text_model(self):
        from models_app.services import create_model

        return create_model(actor=self.member, team=self.world.alpha, name="encoder", task="text-classification")

    @cached_property
    def checkpoint_version(self):
        """A tiny BERT checkpoint imported as a version of format hf."""
        from models_app.services import register_checkpoint

        return register_checkpoint(actor=self.member, model=self.text_model, folder=tiny_checkpoint())

    @cached_property
    def model_version(self):
        """Trained by the real pipeline (so that it can serve predictions), registered as a train job would."""
        from models_app.services import register_version

        weights, spec, metrics, split = trained_once()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "weights.safetensors"
            path.write_bytes(weights)
            with open(path, "rb") as fh:
                return register_version(
                    actor=self.member,
                    model=self.model,
                    weights_path=path,
                    weights=File(fh, name="weights.safetensors"),
                    spec=copy.deepcopy(spec),
                    metrics=dict(metrics),
                    params={"split": split},
                    dataset_versions=[self.dataset_version],
                )

    @cached_property
    def evaluation(self):
        from models_app.services import record_evaluation

        return record_evaluation(
            actor=None,
            model_version=self.model_version,
            dataset_version=self.dataset_version,
            split="test",
            metrics={"accuracy": 0.9},
            num_rows=30,
        )

    @cached_property
    def alias(self):
        from models_app.services import set_alias

        return set_alias(actor=self.member, model=self.model, alias="staging", version=self.model_version)

    @cached_property
    def gate(self):
        from models_app.services import set_gate

        self.model_version  # noqa: B018  (a gated model has a version to compare with)
        return set_gate(actor=self.world.users["maintainer"], model=self.model, dataset_version=self.dataset_version)

    @cached_property
    def job(self):
        from jobs_app import metrics
        from jobs_app.services import append_log, submit_job

        job = submit_job(actor=self.member, team=self.world.alpha, kind="train", spec=train_spec(self))
        metrics.ingest(job.pk, [("loss", 1, 0.5)])
        append_log(job_id=job.pk, lines=[(timezone.now(), "epoch 1: loss 0.5")])
        return job

    @cached_property
    def tracking_run(self):
        """A tracking run of the member's, running, with one point: only the member ends it or adds points."""
        from jobs_app import metrics
        from jobs_app.services import submit_job

        job = submit_job(actor=self.member, team=self.world.alpha, kind="tracking", spec={"model": "matrix-run"})
        metrics.ingest(job.pk, [("loss", 1, 0.5)])
        log_text_artifact(actor=self.member, job=job, path="seed/notes.txt", data=b"seeded")
        return job

    @cached_property
    def prediction(self):
        from models_app.models import PredictionLog

        return PredictionLog.objects.create(
            team=self.world.alpha,
            model=self.model,
            model_version=self.model_version,
            runtime="torch",
            input={"features": [5.1, 3.5, 1.4, 0.2]},
            output={"label": "setosa"},
            latency_ms=1,
        )

    @cached_property
    def trigger(self):
        from jobs_app.triggers import create_trigger

        return create_trigger(
            actor=self.world.users["maintainer"],
            team=self.world.alpha,
            model=self.gate.model,
            base_dataset_version=self.dataset_version,
            min_feedback=3,
            train={"architecture": "mlp"},
        )

    @cached_property
    def labelled_trigger(self):
        """A trigger whose model has feedback to retrain on, so that it can fire."""
        from models_app.services import record_feedback

        record_feedback(actor=self.member, prediction=self.prediction, label="setosa")
        return self.trigger

    @cached_property
    def trigger_run(self):
        from jobs_app.models import TriggerRun

        return TriggerRun.objects.create(trigger=self.trigger, feedback_until=timezone.now(), status="promoted")

    def created(self) -> list:
        """Everything seeded so far."""
        return [value for name, value in vars(self).items() if name not in ("world", "member")]


# --- the walk ------------------------------------------------------------------------------------------


def api_routes(patterns=None, prefix: str = "") -> dict[str, type]:
    """{pattern after /api/v1/: view class} for every route of the URL configuration under /api/v1/."""
    found = {}
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith(PREFIX) or PREFIX.startswith(route):
                found.update(api_routes(entry.url_patterns, route))
        elif isinstance(entry, URLPattern) and route.startswith(PREFIX):
            view = getattr(entry.callback, "cls", None) or getattr(entry.callback, "view_class", None)
            found[route.removeprefix(PREFIX)] = view
    return found


def allowed_methods(view) -> list[str]:
    """What the view answers: its handlers, HEAD wherever GET is (Django adds it), and OPTIONS."""
    methods = [m.upper() for m in view.http_method_names if m not in ("head", "trace") and hasattr(view, m)]
    if "GET" in methods and "head" in view.http_method_names:
        methods.append("HEAD")
    return methods


def expectations(route: str) -> tuple[Callable | None, dict[str, Case]]:
    kwargs, cases = ROUTES[route]
    cases = dict(cases)
    if "GET" in cases:
        cases.setdefault("HEAD", Case(cases["GET"].expect))
    cases.setdefault("OPTIONS", anyone(200))
    return kwargs, cases


def url_of(route: str, kwargs: dict) -> str:
    path = route
    for name, value in kwargs.items():
        start = path.index("<")
        assert path[start:].split(">", 1)[0].endswith(f":{name}"), (route, name)
        path = path[:start] + str(value) + path[start:].split(">", 1)[1]
    assert "<" not in path, (route, kwargs)
    return f"/{PREFIX}{path}"


def writes_in(queries: list[dict]) -> list[str]:
    """The statements that changed rows (a token's last-use stamp aside, which any request may move)."""
    stamp = f'UPDATE "{ApiToken._meta.db_table}" SET "last_used_at" '
    changes = [q["sql"].lstrip() for q in queries]
    return [
        sql for sql in changes if sql.upper().startswith(("INSERT", "UPDATE", "DELETE")) and not sql.startswith(stamp)
    ]


def read_token_client(world) -> APIClient:
    from accounts_app.services import issue_token

    _, raw = issue_token(user=world.users["admin"], name="matrix-read", scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def read_token_expects(method: str, case: Case) -> int:
    """The admin's answer through a read-scope token: the same for reads; a 403 naming the scope for every write
    that needs credentials. A route anyone may call without credentials (signing in) answers as to anonymous."""
    if case.expect[ANONYMOUS] != 401:
        return case.expect[ANONYMOUS]
    if method in WRITES:
        return 403
    return case.expect["admin"]


def send(client: APIClient, method: str, url: str, case: Case, seed: Seed):
    body = case.body(seed) if case.body else None
    if body is None:
        return client.generic(method, url)
    return getattr(client, method.lower())(url, body, format=case.fmt)


def check(role: str, method: str, response, expected: int, secrets: list[str], writes: list[str] | None) -> list[str]:
    """Everything wrong with one answer (empty when it is right)."""
    problems = []
    if response.status_code != expected:
        problems.append(f"answered {response.status_code}, expected {expected}: {response.content[:300]!r}")
    is_json = response.get("Content-Type", "").startswith("application/json")
    if response.status_code >= 400 and method != "HEAD":
        body = response.json()
        if body.get("status") != response.status_code or not body.get("code"):
            problems.append(f"not the error shape: {body}")
        if response.status_code == 403 and (body["code"] != "permission_denied" or "role" not in body["detail"]):
            problems.append(f"a 403 that does not name the role: {body}")
        if response.status_code == 404 and body["code"] != "not_found":
            problems.append(f"a 404 that is not 'not_found': {body}")
        if role == OUTSIDER and response.status_code == 400 and "team" not in body.get("errors", {}):
            problems.append(f"an outsider's 400 that does not name the team field: {body}")
    if role == "admin" and method == "GET" and response.status_code == 200 and is_json:
        body = response.json()
        if isinstance(body, dict) and body.get("results") == []:
            problems.append("an empty list: seed what it lists (else the outsider's view of it proves nothing)")
    if role == OUTSIDER and response.status_code != 400:  # a 400 may echo the slug the outsider sent
        text = response.content.decode(errors="replace")
        leaked = [s for s in secrets if s in text]
        if leaked:
            problems.append(f"shows the outsider {leaked}")
    if writes:
        problems.append(f"a refused write wrote: {[sql[:80] for sql in writes]}")
    return problems


ROUTE_LIST = sorted(api_routes())


def walk(world, route: str) -> list[str]:
    """Send every allowed method of `route` as every role; the problems found, one line each."""
    if route not in ROUTES:
        return [f"/{PREFIX}{route} has no row in ROUTES: write down what each role gets"]
    kwargs_of, cases = expectations(route)
    methods = allowed_methods(api_routes()[route])
    missing = [m for m in methods if m not in cases]
    stale = [m for m in cases if m not in methods]
    if missing or stale:
        return [f"/{PREFIX}{route}: no expectation for {missing}; expected but not allowed: {stale}"]

    seed = Seed(world)
    url = url_of(route, kwargs_of(seed) if kwargs_of else {})
    for case in cases.values():
        if case.body:
            case.body(seed)  # seed what the bodies use now, outside the rolled-back requests
    # team alpha's slug, as JSON gives it; the job kinds' schemas are the same text for everybody (and LoRA's
    # `alpha` setting is a field there), so only the ids stay secret on those routes
    slug = [] if route.startswith("job-kinds/") else ['"alpha"']
    secrets = [*slug, *(str(obj.pk) for obj in seed.created() if isinstance(obj.pk, uuid.UUID))]
    clients = {ANONYMOUS: APIClient(), **{role: world.client(role) for role in ROLES[1:]}}
    clients[READ_TOKEN] = read_token_client(world)

    problems = []
    for method in methods:
        case = cases[method]
        for role in (*ROLES, READ_TOKEN):
            expected = case.expect[role] if role != READ_TOKEN else read_token_expects(method, case)
            refused_write = method in WRITES and expected in (400, 401, 403, 404)
            with transaction.atomic(), CaptureQueriesContext(connection) as queries:
                response = send(clients[role], method, url, case, seed)
                transaction.set_rollback(True)  # the next request starts from the same seed
            writes = writes_in(queries.captured_queries) if refused_write else None
            for problem in check(role, method, response, expected, secrets, writes):
                problems.append(f"{method} {url} as {role}: {problem}")
    return problems


@pytest.mark.parametrize("route", ROUTE_LIST)
def test_every_role_gets_the_expected_answer(world, route):
    problems = walk(world, route)
    assert not problems, "\n".join(problems)


# The routes that read a data set's rows: for a restricted data set, maintainers and admins only (a state rule:
# datasets_app.selectors.readable_version_for_user); viewers and members get a 403 naming the role.
RESTRICTED_ROWS = ["preview", "stats", "download", "export"]


@pytest.mark.parametrize("what", RESTRICTED_ROWS)
def test_a_restricted_data_sets_rows_take_the_maintainer_role(world, monkeypatch, what):
    route = f"dataset-versions/<uuid:pk>/{what}/"
    monkeypatch.setitem(ROUTES, route, (lambda s: {"pk": s.restricted_version.pk}, {"GET": team(200, "maintainer")}))
    problems = walk(world, route)
    assert not problems, "\n".join(problems)


def test_the_table_has_no_route_the_urls_lost():
    assert sorted(set(ROUTES) - set(ROUTE_LIST)) == []


def test_the_walk_sees_a_route_without_a_row_and_a_broken_role_rule(world, monkeypatch):
    """The walk compares answers with the table, not with the views: a route missing from the table, or a
    view whose declared role is weakened, makes it fail."""
    from datasets_app.api import DatasetDetailApi
    from datasets_app.models import Dataset

    monkeypatch.delitem(ROUTES, "me/")
    assert walk(world, "me/") == ["/api/v1/me/ has no row in ROUTES: write down what each role gets"]
    monkeypatch.setattr(DatasetDetailApi, "required_roles", {"PATCH": "viewer", "DELETE": "maintainer"})
    problems = walk(world, "datasets/<uuid:pk>/")
    assert problems and all(p.startswith("PATCH ") and " as viewer: " in p for p in problems), problems
    assert "answered 200, expected 403" in problems[0]
    assert f'wrote: [\'UPDATE "{Dataset._meta.db_table}"' in problems[1], problems[1]


def test_unknown_ids_are_404(world):
    missing = "00000000-0000-0000-0000-000000000000"
    for url in [
        f"/api/v1/datasets/{missing}/",
        f"/api/v1/dataset-versions/{missing}/",
        f"/api/v1/models/{missing}/",
        f"/api/v1/model-versions/{missing}/",
        f"/api/v1/jobs/{missing}/",
        f"/api/v1/triggers/{missing}/",
        f"/api/v1/predictions/{missing}/",
        "/api/v1/teams/nope/",
    ]:
        response = world.client("admin").get(url)
        assert response.status_code == 404 and response.json()["code"] == "not_found", url
