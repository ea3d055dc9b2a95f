"""Shared fixtures. Tests run against PostgreSQL when DATABASE_URL is set (CI sets it), SQLite otherwise."""

import json

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tests.helpers import MLP_SPEC, World, register_trained, safetensors_file

# the live stack (a real worker, shared media) as one set of session fixtures for every folder that uses it
pytest_plugins = ["tests.stack"]


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """PBKDF2 at production strength costs ~1 s per user on these CPUs; tests don't need it."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def _own_cache(tmp_path_factory):
    """This run's own cache folder: another run on the same checkout (or `make run`) clears var/cache."""
    location = str(tmp_path_factory.mktemp("cache"))
    backend = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": location}
    with override_settings(CACHES={"default": backend}):
        yield


@pytest.fixture(autouse=True)
def _fresh_cache(_own_cache):
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


@pytest.fixture(scope="session", autouse=True)
def _background_writers_stopped(django_db_setup, django_db_blocker):
    """The background log writers that tests with committed data start keep a connection of their own open;
    stopping them before the test database is dropped lets the drop go through (it warned "being accessed by
    other users" and left the database behind)."""
    yield
    from models_app.prediction_log import shutdown

    with django_db_blocker.unblock():  # what is pending is written now, not at exit against a dropped database
        shutdown()


@pytest.fixture
def media_root(settings):
    return settings.MEDIA_ROOT


@pytest.fixture
def world(db) -> World:
    return World()


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


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


@pytest.fixture
def trained(world, model, iris_version):
    """flower-clf v1, trained on iris, with `production` pointing at it (no gate yet)."""
    from models_app.services import set_alias

    version = register_trained(actor=world.users["member"], model=model, dataset_version=iris_version)
    set_alias(actor=world.users["member"], model=model, alias="production", version=version)
    return version


@pytest.fixture(autouse=True)
def _empty_serving_cache():
    from models_app.serving import cache

    cache.clear()
    yield
    cache.clear()
