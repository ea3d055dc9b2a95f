"""Browser sign-in (auth/session/) and tokens made from a signed-in browser (POST auth/tokens/).

The clients here enforce CSRF as a browser's requests meet it (Django's test client skips the check unless
asked), and carry cookies from answer to answer."""

from django.conf import settings
from django.test import Client

from accounts_app.models import ApiToken, AuditEvent

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's
URL = "/api/v1/auth/session/"


def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def csrf(client: Client) -> str:
    """The csrftoken cookie GET auth/session/ sets."""
    response = client.get(URL)
    assert response.status_code == 200
    return response.cookies[settings.CSRF_COOKIE_NAME].value


def sign_in(client: Client, username: str, password: str = PASSWORD):
    token = csrf(client)
    return client.post(
        URL, {"username": username, "password": password}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )


def test_get_sets_the_csrf_cookie_and_says_nobody_is_signed_in(db):
    client = browser()
    response = client.get(URL)
    assert response.status_code == 200
    assert response.json() == {"authenticated": False, "username": None, "is_staff": False, "teams": []}
    assert response.cookies[settings.CSRF_COOKIE_NAME].value


def test_sign_in_starts_a_session_that_the_api_accepts(world):
    client = browser()
    before = csrf(client)
    response = client.post(
        URL,
        {"username": "alpha-maintainer", "password": PASSWORD},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=before,
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "authenticated": True,
        "username": "alpha-maintainer",
        "is_staff": False,
        "teams": [{"slug": "alpha", "name": "Alpha", "role": "maintainer"}],
    }
    assert response.cookies[settings.SESSION_COOKIE_NAME].value
    after = response.cookies[settings.CSRF_COOKIE_NAME].value  # rotated at sign-in
    assert after and after != before
    assert AuditEvent.objects.filter(action="session.login", actor=world.users["maintainer"]).exists()

    assert client.get(URL).json()["username"] == "alpha-maintainer"
    assert client.get("/api/v1/me/").json()["username"] == "alpha-maintainer"
    assert client.get("/api/v1/datasets/").status_code == 200
    made = client.post(
        "/api/v1/datasets/",
        {"team": "alpha", "name": "from-browser", "task": "classification"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=after,
    )
    assert made.status_code == 201, made.json()


def test_unsafe_methods_with_the_session_but_without_the_csrf_header_are_refused(world, dataset):
    client = browser()
    assert sign_in(client, "alpha-admin").status_code == 200
    create = client.post(
        "/api/v1/datasets/", {"team": "alpha", "name": "x", "task": "classification"}, content_type="application/json"
    )
    assert create.status_code == 403 and create.json()["code"] == "permission_denied"
    assert "CSRF" in create.json()["detail"]
    patch = client.patch(f"/api/v1/datasets/{dataset.pk}/", {"description": "no"}, content_type="application/json")
    delete = client.delete(f"/api/v1/datasets/{dataset.pk}/", HTTP_X_CSRFTOKEN="x" * 32)
    assert (patch.status_code, delete.status_code) == (403, 403)
    dataset.refresh_from_db()
    assert dataset.description == ""


def test_sign_in_without_or_with_a_wrong_csrf_token_is_refused(world):
    client = browser()
    body = {"username": "alpha-admin", "password": PASSWORD}
    no_cookie = client.post(URL, body, content_type="application/json")
    assert no_cookie.status_code == 403
    assert no_cookie.json()["code"] == "permission_denied" and "CSRF" in no_cookie.json()["detail"]
    assert set(no_cookie.json()) >= {"status", "code", "detail", "errors"}
    token = csrf(client)
    no_header = client.post(URL, body, content_type="application/json")
    wrong = client.post(URL, body, content_type="application/json", HTTP_X_CSRFTOKEN="a" * 32)
    assert (no_header.status_code, wrong.status_code) == (403, 403)
    assert not client.get(URL).json()["authenticated"]
    assert not AuditEvent.objects.filter(action="session.login").exists()
    assert client.post(URL, body, content_type="application/json", HTTP_X_CSRFTOKEN=token).status_code == 200


def test_wrong_password_unknown_user_and_inactive_user_get_one_answer(world):
    world.users["viewer"].is_active = False
    world.users["viewer"].save()
    answers = [
        sign_in(browser(), "alpha-admin", "wrong").json(),
        sign_in(browser(), "nobody", "wrong").json(),
        sign_in(browser(), "alpha-viewer").json(),
    ]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["status"] == 400 and answers[0]["detail"] == "Invalid username or password."
    missing = browser()
    token = csrf(missing)
    response = missing.post(URL, {"username": "alpha-admin"}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 400 and list(response.json()["errors"]) == ["password"]


def test_sign_out_ends_the_session(world):
    client = browser()
    assert sign_in(client, "alpha-member").status_code == 200
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    refused = client.delete(URL)  # no CSRF header
    assert refused.status_code == 403 and client.get(URL).json()["authenticated"]
    assert client.delete(URL, HTTP_X_CSRFTOKEN=token).status_code == 204
    assert client.get(URL).json() == {"authenticated": False, "username": None, "is_staff": False, "teams": []}
    assert client.get("/api/v1/me/").status_code == 401  # no credentials left
    assert AuditEvent.objects.filter(action="session.logout", actor=world.users["member"]).exists()
    token = csrf(client)
    assert client.delete(URL, HTTP_X_CSRFTOKEN=token).status_code == 204  # signing out twice is fine


def test_sign_in_is_throttled_with_the_login_scope(db, settings):
    settings.AXES_FAILURE_LIMIT = 1000  # the rate limit of every attempt, not the lock-out after failures
    from rest_framework.settings import api_settings

    limit = int(api_settings.DEFAULT_THROTTLE_RATES["login"].split("/")[0])
    client = browser()
    token = csrf(client)
    for _ in range(limit):
        response = client.post(
            URL, {"username": "x", "password": "y"}, content_type="application/json", HTTP_X_CSRFTOKEN=token
        )
        assert response.status_code == 400
    response = client.post(
        URL, {"username": "x", "password": "y"}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 429 and response.json()["code"] == "throttled"
    assert client.get(URL).status_code == 200  # only sign-in attempts count


def test_a_signed_in_browser_makes_and_revokes_tokens(world):
    client = browser()
    assert sign_in(client, "alpha-viewer").status_code == 200
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    refused = client.post("/api/v1/auth/tokens/", {"name": "ci"}, content_type="application/json")
    assert refused.status_code == 403 and ApiToken.objects.count() == 0
    made = client.post(
        "/api/v1/auth/tokens/",
        {"name": "ci", "expires_in_days": 0},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert made.status_code == 201, made.json()
    body = made.json()
    assert set(body) >= {"id", "name", "prefix", "token", "created_at", "expires_at"}
    assert body["name"] == "ci" and body["token"].startswith(body["prefix"]) and body["expires_at"] is None
    listed = client.get("/api/v1/auth/tokens/").json()["results"]
    assert [t["id"] for t in listed] == [body["id"]] and "token" not in listed[0]
    assert AuditEvent.objects.filter(action="token.create", target_id=str(body["id"])).exists()

    from rest_framework.test import APIClient

    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert bearer.get("/api/v1/me/").json()["username"] == "alpha-viewer"
    assert client.delete(f"/api/v1/auth/tokens/{body['id']}/", HTTP_X_CSRFTOKEN=token).status_code == 204
    assert bearer.get("/api/v1/me/").status_code == 401


def test_token_creation_checks_its_input_and_needs_a_caller(world, anon):
    client = world.client("member")
    for body, field in [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "expires_in_days": -1}, "expires_in_days"),
    ]:
        response = client.post("/api/v1/auth/tokens/", body, format="json")
        assert response.status_code == 400 and list(response.json()["errors"]) == [field], body
    assert client.post("/api/v1/auth/tokens/", {"name": "a\u202eb"}, format="json").status_code == 400
    assert anon.post("/api/v1/auth/tokens/", {"name": "x"}, format="json").status_code == 401
    made = client.post("/api/v1/auth/tokens/", {"name": "by-token"}, format="json")
    assert made.status_code == 201 and ApiToken.objects.get(pk=made.json()["id"]).user == world.users["member"]


def test_a_multipart_body_without_a_boundary_is_a_400_not_a_500(db):
    client = browser()
    token = csrf(client)
    response = client.generic("POST", URL, b"username=x", content_type="multipart/form-data", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 400
    assert "boundary" in response.json()["detail"].lower()
