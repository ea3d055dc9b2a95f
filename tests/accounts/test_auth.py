from datetime import timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from accounts_app.models import ApiToken, AuditEvent
from accounts_app.services import hash_token
from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"


def test_token_is_issued_once_stored_hashed_and_works(db, anon):
    UserFactory(username="ada")
    response = anon.post("/api/v1/auth/token/", {"username": "ada", "password": PASSWORD, "name": "laptop"})
    assert response.status_code == 201, response.json()
    body = response.json()
    raw = body["token"]
    assert raw.startswith("eco_") and body["prefix"] == raw[:12] and body["name"] == "laptop"
    row = ApiToken.objects.get(pk=body["id"])
    assert row.key_hash == hash_token(raw) and raw not in (row.key_hash, row.prefix)
    assert row.expires_at > timezone.now() + timedelta(days=89)

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    me = client.get("/api/v1/me/")
    assert me.status_code == 200 and me.json()["username"] == "ada"
    listing = client.get("/api/v1/auth/tokens/").json()
    assert listing["count"] == 1 and "token" not in listing["results"][0]
    assert AuditEvent.objects.filter(action="token.create", target_id=str(row.pk)).exists()


def test_wrong_password_unknown_user_and_missing_fields(db, anon):
    UserFactory(username="ada")
    wrong = anon.post("/api/v1/auth/token/", {"username": "ada", "password": "nope"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "Invalid username or password."
    unknown = anon.post("/api/v1/auth/token/", {"username": "bob", "password": "nope"})
    assert unknown.status_code == 401
    missing = anon.post("/api/v1/auth/token/", {"username": "ada"})
    assert missing.status_code == 400 and "password" in missing.json()["errors"]
    assert ApiToken.objects.count() == 0


def test_unauthenticated_and_bad_tokens_get_401(db, anon):
    assert anon.get("/api/v1/me/").status_code == 401
    anon.credentials(HTTP_AUTHORIZATION="Bearer eco_not-a-real-token")
    response = anon.get("/api/v1/me/")
    assert response.status_code == 401 and response.json()["detail"] == "Invalid token."
    assert response["WWW-Authenticate"] == "Bearer"


def test_expired_and_revoked_tokens_stop_working(db, settings):
    from accounts_app import token_cache
    from accounts_app.services import issue_token

    user = UserFactory(username="ada")
    token, raw = issue_token(user=user, expires_in_days=1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/me/").status_code == 200
    # expired behind this process's back: noticed once the per-process cache entry is older than its lifetime
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    settings.ECO_TOKEN_CACHE_S = 0
    expired = client.get("/api/v1/me/")
    assert expired.status_code == 401 and expired.json()["detail"] == "Token has expired."
    settings.ECO_TOKEN_CACHE_S = 5
    assert token_cache.get(token.key_hash) is None  # a refused token is never cached

    other, raw2 = issue_token(user=user, expires_in_days=0)
    assert other.expires_at is None
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw2}")
    assert client.get("/api/v1/me/").status_code == 200
    assert token_cache.get(other.key_hash) is not None  # verified once, trusted for ECO_TOKEN_CACHE_S
    assert client.delete(f"/api/v1/auth/tokens/{other.pk}/").status_code == 204  # revoking forgets it at once
    revoked = client.get("/api/v1/me/")
    assert revoked.status_code == 401 and revoked.json()["detail"] == "Token has been revoked."
    assert AuditEvent.objects.filter(action="token.revoke", target_id=str(other.pk)).exists()


def test_token_lifetime_is_validated(db, anon):
    UserFactory(username="ada")
    response = anon.post("/api/v1/auth/token/", {"username": "ada", "password": PASSWORD, "expires_in_days": 99999})
    assert response.status_code == 400 and "expires_in_days" in response.json()["errors"]


def test_cannot_revoke_someone_elses_token(world):
    from accounts_app.services import issue_token

    token, _ = issue_token(user=world.outsider)
    assert world.client("admin").delete(f"/api/v1/auth/tokens/{token.pk}/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_session_auth_requires_csrf_for_writes(world):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.users["admin"])
    assert client.get("/api/v1/me/").status_code == 200
    response = client.post("/api/v1/teams/", {"slug": "gamma", "name": "Gamma"})
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


def test_me_lists_teams_and_roles(world):
    body = world.client("maintainer").get("/api/v1/me/").json()
    assert body["username"] == "alpha-maintainer"
    assert body["teams"] == [{"slug": "alpha", "name": "Alpha", "role": "maintainer"}]


def test_token_requests_are_throttled(db, anon, settings):
    settings.AXES_FAILURE_LIMIT = 1000  # the rate limit of every attempt, not the lock-out after failures
    from rest_framework.settings import api_settings

    limit = int(api_settings.DEFAULT_THROTTLE_RATES["login"].split("/")[0])
    for _ in range(limit):
        assert anon.post("/api/v1/auth/token/", {"username": "x", "password": "y"}).status_code == 401
    response = anon.post("/api/v1/auth/token/", {"username": "x", "password": "y"})
    assert response.status_code == 429
    assert response.json()["code"] == "throttled" and response.json()["retry_after_s"] > 0
