"""The platform around the API: schema and docs, health, the home page, production settings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.fixture
def built_dashboard(tmp_path, settings):
    (tmp_path / "index.html").write_text('<!doctype html><div id="root"></div><script src="/assets/index-abcdefgh.js">')
    settings.DASHBOARD_DIR = tmp_path
    return tmp_path


DEEP_LINKS = ["/", "/jobs/", "/jobs/0b9e2f1e-8d3a-4c52-9d8e-3f1b2a4c5d6e?keys=loss", "/models/x/promote"]


@pytest.mark.parametrize("path", DEEP_LINKS)
def test_every_app_path_gets_the_dashboard_so_deep_links_open(db, anon, built_dashboard, path):
    response = anon.get(path)
    assert response.status_code == 200 and b'<div id="root">' in response.content
    assert "no-cache" in response["Cache-Control"]  # index.html names the current bundles
    assert "csrftoken" in response.cookies  # the app sends it back on unsafe requests


def test_the_api_admin_and_static_paths_are_not_taken_by_the_dashboard(db, anon, built_dashboard):
    assert anon.get("/api/v1/no-such-thing/").json()["status"] == 404
    assert anon.get("/admin/").status_code == 302  # the admin's sign-in
    assert anon.get("/admin").status_code == 301  # APPEND_SLASH, not the app
    assert anon.get("/static/nothing.css").status_code == 404


def test_a_missing_build_answers_503_with_how_to_build_it(db, anon, settings, tmp_path):
    settings.DASHBOARD_DIR = tmp_path / "not-built"
    response = anon.get("/datasets/")
    assert response.status_code == 503 and b"make run" in response.content and b"/api/docs/" in response.content


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


def test_debug_is_off_unless_asked_for_and_then_a_secret_key_is_required(tmp_path):
    """Fail closed (issue 12): with neither DEBUG nor SECRET_KEY set, the process refuses to start; it used to
    run with debug on and a published key."""
    result = _manage("check", ECO_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize(
    "key", ["dev-only-insecure-key-change-me-in-production-0123456789", "short-key", "django-insecure-x"]
)
def test_a_public_or_weak_secret_key_is_refused_in_production(tmp_path, key):
    result = _manage("check", DEBUG="false", SECRET_KEY=key, ECO_VAR_DIR=str(tmp_path))
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_development_gets_a_random_key_of_its_own_not_a_published_one(tmp_path):
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = _manage("shell", "-c", code, DEBUG="true", ECO_VAR_DIR=str(tmp_path))
    again = _manage("shell", "-c", code, DEBUG="true", ECO_VAR_DIR=str(tmp_path))
    key = first.stdout.splitlines()[-1]
    assert first.returncode == 0 and len(key) >= 50 and key == again.stdout.splitlines()[-1]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # readable by its owner only
    other = _manage("shell", "-c", code, DEBUG="true", ECO_VAR_DIR=str(tmp_path / "other"))
    assert other.stdout.splitlines()[-1] != key


def test_production_settings_are_secure(tmp_path):
    code = (
        "from django.conf import settings as s; import json; print(json.dumps([s.DEBUG, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT]))"
    )
    result = _manage(
        "shell",
        "-c",
        code,
        DEBUG="false",
        SECRET_KEY="k" * 60,
        ALLOWED_HOSTS="eco.example.com",
        ECO_VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    import json

    debug, session_secure, csrf_secure, hsts, redirect = json.loads(result.stdout.splitlines()[-1])
    assert (debug, session_secure, csrf_secure, redirect) == (False, True, True, True) and hsts >= 31536000


def test_the_dashboard_and_docs_have_a_content_security_policy(db, anon, built_dashboard):
    for path in ("/", "/jobs/x", "/api/docs/"):
        response = anon.get(path) if path != "/api/docs/" else anon.get(path)
        policy = response.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, (
            path
        )
    # only the dashboard's page may compile (its form validator, Ajv, builds functions); no page runs inline scripts
    assert "'unsafe-eval'" in anon.get("/").headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in anon.get("/api/docs/").headers["Content-Security-Policy"]
    assert (
        "'unsafe-inline'" not in anon.get("/").headers["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    )
    # the API docs load no inline script (the policy would block it): their start-up script is a file
    html = anon.get("/api/docs/").content.decode()
    assert "<script>" not in html.replace(" ", "")
