"""The platform around the API: schema and docs, health, the home page, production settings."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_schema_and_local_swagger_ui(world):
    schema = world.client("viewer").get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in [
        "/api/v1/auth/token/",
        "/api/v1/me/",
        "/api/v1/teams/{slug}/members/",
        "/api/v1/datasets/{id}/versions/",
        "/api/v1/dataset-versions/{id}/lineage/",
        "/api/v1/models/{id}/aliases/",
        "/api/v1/model-versions/{id}/",
    ]:
        assert path in paths, path
    docs = world.client("viewer").get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()


def test_error_body_is_the_same_everywhere(world, anon):
    for response, status in [
        (anon.get("/api/v1/me/"), 401),
        (world.client("viewer").get("/api/v1/datasets/00000000-0000-0000-0000-000000000000/"), 404),
        (world.client("viewer").post("/api/v1/teams/", {"slug": "!"}, format="json"), 400),
        (world.client("viewer").delete("/api/v1/teams/alpha/members/alpha-member/"), 403),
    ]:
        body = response.json()
        assert response.status_code == status
        assert set(body) >= {"status", "code", "detail", "errors"} and body["status"] == status


def test_health_checks_database_and_broker(db, anon):
    response = anon.get("/api/v1/health/")
    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_health_reports_a_broker_that_is_down(db, anon, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = anon.get("/api/v1/health/")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded" and response.json()["broker"].startswith("error:")


def test_home_page_is_served(db, anon):
    response = anon.get("/")
    assert response.status_code == 200 and b"Eco" in response.content and b"/api/docs/" in response.content


def _manage(*args, **env):
    full_env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    full_env.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True, text=True)


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="x" * 20 + "-production-secret-key-for-deploy-checks-0123456789",
        ALLOWED_HOSTS="eco.example.com",
        ECO_VAR_DIR=str(tmp_path),
        SECURE_HSTS_PRELOAD="true",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_secret_key_is_required_when_debug_is_off(tmp_path):
    result = _manage("check", DEBUG="false", ECO_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
