"""API token scopes (read, write, admin) cap a token below its user's roles, and expiry ends it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts_app.models import ApiToken, Invitation
from accounts_app.services import issue_token


def _bearer(user, scope) -> APIClient:
    _, raw = issue_token(user=user, name=scope, scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_a_read_token_reads_and_writes_nothing(world):
    client = _bearer(world.users["admin"], "read")
    assert client.get("/api/v1/datasets/").status_code == 200
    assert client.get("/api/v1/me/").status_code == 200
    refused = client.post("/api/v1/datasets/", {"team": "alpha", "name": "x", "task": "classification"})
    assert refused.status_code == 403
    assert "scope is 'read'" in refused.json()["detail"] and "'write'" in refused.json()["detail"]
    assert client.post("/api/v1/teams/alpha/members/", {"username": "x", "role": "admin"}).status_code == 403
    assert client.post("/api/v1/auth/tokens/", {"name": "more"}).status_code == 403
    assert not Invitation.objects.exists() and ApiToken.objects.count() == 1


def test_a_write_token_writes_but_does_no_admin_work(world):
    client = _bearer(world.users["admin"], "write")
    made = client.post("/api/v1/datasets/", {"team": "alpha", "name": "x", "task": "classification"})
    assert made.status_code == 201, made.json()
    invite = client.post("/api/v1/teams/alpha/members/", {"username": "x", "role": "admin"})
    assert invite.status_code == 403 and "'admin' scope" in invite.json()["detail"]
    assert client.patch("/api/v1/teams/alpha/members/alpha-viewer/", {"role": "admin"}).status_code == 403
    assert client.post("/api/v1/auth/tokens/", {"name": "more"}).status_code == 403  # no wider token from it


def test_an_admin_token_does_what_its_user_may_and_no_more(world):
    admin = _bearer(world.users["admin"], "admin")
    assert admin.post("/api/v1/teams/alpha/members/", {"username": "x", "role": "viewer"}).status_code == 202
    assert admin.post("/api/v1/auth/tokens/", {"name": "more", "scope": "read"}).json()["scope"] == "read"
    viewer = _bearer(world.users["viewer"], "admin")  # the scope never lifts a role
    assert viewer.post("/api/v1/datasets/", {"team": "alpha", "name": "y", "task": "classification"}).status_code == 403


def test_the_scope_is_chosen_at_creation_and_listed(world):
    client = world.client("member")  # a session-like caller
    made = client.post("/api/v1/auth/tokens/", {"name": "ci", "scope": "read", "expires_in_days": 7})
    assert made.status_code == 201 and made.json()["scope"] == "read"
    listed = {t["name"]: t["scope"] for t in client.get("/api/v1/auth/tokens/").json()["results"]}
    assert listed["ci"] == "read"
    bad = client.post("/api/v1/auth/tokens/", {"name": "ci", "scope": "root"})
    assert bad.status_code == 400 and "scope" in bad.json()["errors"]


@pytest.mark.parametrize("scope", ["read", "write", "admin"])
def test_an_expired_token_is_refused_whatever_its_scope(world, scope):
    token, raw = issue_token(user=world.users["admin"], name="old", scope=scope)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get("/api/v1/me/")
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_requests_are_throttled_per_token(world, monkeypatch):
    from accounts_app.throttling import CallerRateThrottle

    monkeypatch.setattr(CallerRateThrottle, "THROTTLE_RATES", {"caller": "3/min", "anonymous": "2/min"})
    first, second = _bearer(world.users["admin"], "read"), _bearer(world.users["admin"], "read")
    assert [first.get("/api/v1/me/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert second.get("/api/v1/me/").status_code == 200  # each token has its own budget
    anon = APIClient()  # per address, on a route that needs no credentials
    answers = [anon.get("/api/v1/auth/session/").status_code for _ in range(3)]
    assert answers == [200, 200, 200]  # reading who you are is not limited: the dashboard asks on every load
    schema = [anon.get("/api/schema/").status_code for _ in range(3)]
    assert schema[-1] == 429 and 429 not in schema[:2]


def test_a_team_field_that_is_no_slug_is_a_400_naming_it_not_a_500(world):
    """Schemathesis found it: a NUL in the body's team reached PostgreSQL, which cannot hold one."""
    response = world.client("admin").post(
        "/api/v1/datasets/", {"team": "\u00dcl\u0000x", "name": "n", "task": "regression"}, format="json"
    )
    assert response.status_code == 400 and "team" in response.json()["errors"]
