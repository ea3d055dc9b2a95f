"""MLflow's own Python client (mlflow-skinny, pinned in the dev extras) against a live Eco server.

The client reads its server and token from the environment, as a user's unchanged script does: the fixtures
set MLFLOW_TRACKING_URI to the live server and MLFLOW_TRACKING_TOKEN to an Eco API token. Retries are off, so
an error answer reaches the test at once instead of after MLflow's minutes of backoff."""

import pytest

from accounts_app.services import issue_token
from tests.factories import MembershipFactory, TeamFactory, UserFactory


@pytest.fixture
def alpha(transactional_db):
    return TeamFactory(slug="alpha")


@pytest.fixture
def ada(alpha):
    user = UserFactory(username="ada")
    MembershipFactory(team=alpha, user=user, role="member")
    return user


def use_token(monkeypatch, user, scope: str = "write") -> str:
    """Point MLflow's client at the live server as `user` (an Eco token of `scope`)."""
    raw = issue_token(user=user, name=f"mlflow-{scope}", scope=scope)[1]
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", raw)
    return raw


@pytest.fixture
def mlflow_env(live_server, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", live_server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    # the fluent API remembers the active experiment in the process: each test starts as a fresh script
    monkeypatch.setattr("mlflow.tracking.fluent._active_experiment_id", None)
    mlflow.set_tracking_uri(live_server.url)
    yield live_server
    while mlflow.active_run() is not None:
        mlflow.end_run()
