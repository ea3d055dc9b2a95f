"""Shared fixtures. Tests run against PostgreSQL when DATABASE_URL is set (CI sets it), SQLite otherwise."""

import io
import json

import numpy as np
import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tests.factories import MembershipFactory, TeamFactory, UserFactory


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """PBKDF2 at production strength costs ~1 s per user on these CPUs; tests don't need it."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in the cache; each test starts with none."""
    from django.core.cache import cache

    from accounts_app import token_cache

    cache.clear()
    token_cache._entries.clear()


@pytest.fixture(autouse=True)
def _isolated_files(tmp_path):
    """Each test gets its own blob store and upload folder, never var/."""
    (tmp_path / "media").mkdir()
    (tmp_path / "uploads").mkdir()
    with override_settings(MEDIA_ROOT=str(tmp_path / "media"), FILE_UPLOAD_TEMP_DIR=str(tmp_path / "uploads")):
        yield


@pytest.fixture(autouse=True)
def _inline_prediction_log(settings):
    """Tests that run inside one rolled-back transaction write prediction logs in the request; the
    background writer (its own connection, so it sees only committed rows) is tested with committed data."""
    settings.ECO_PREDICTION_LOG = "inline"


@pytest.fixture
def media_root(settings):
    return settings.MEDIA_ROOT


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


@pytest.fixture
def world(db) -> World:
    return World()


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


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


@pytest.fixture
def dataset(world):
    from datasets_app.services import create_dataset

    return create_dataset(actor=world.users["member"], team=world.alpha, name="flowers", task="classification")


@pytest.fixture
def iris_version(world, dataset):
    from datasets_app.services import create_version_from_builtin

    return create_version_from_builtin(actor=world.users["member"], dataset=dataset, name="iris")


@pytest.fixture
def model(world):
    from models_app.services import create_model

    return create_model(actor=world.users["member"], team=world.alpha, name="flower-clf", task="classification")


@pytest.fixture
def model_version(world, model, iris_version):

    client = world.client("member")
    response = client.post(
        f"/api/v1/models/{model.pk}/versions/",
        {
            "weights": safetensors_file(),
            "spec": MLP_SPEC,
            "dataset_versions": [str(iris_version.pk)],
            "metrics": json.dumps({"accuracy": 0.9}),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    from models_app.models import ModelVersion

    return ModelVersion.objects.get(pk=response.json()["id"])


from tests.trained import _empty_serving_cache, trained  # noqa: E402, F401  (fixtures for every folder)
