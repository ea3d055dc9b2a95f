"""Sign-in limits (issue 12's holes: a client-sent X-Forwarded-For reset the limit, the admin and the browsable
API's login had none, and the counter lived in each process's memory). django-axes counts failed sign-ins per
account and per client address on every path that checks a password, in the database (or Redis when CACHE_URL
names it), and accounts_app.client_ip decides the address."""

import pytest
from django.test import Client, RequestFactory

from accounts_app.client_ip import client_ip
from tests.factories import UserFactory

LIMIT = 3


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.ECO_TRUSTED_PROXIES = []


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", password="right-password-1")


def _token(client, username, password, addr="10.0.0.5", **headers):
    return client.post(
        "/api/v1/auth/token/",
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=addr,
        **headers,
    )


def _fail(client, n, username="alice", addr="10.0.0.5", **headers):
    for _ in range(n):
        assert _token(client, username, "wrong", addr, **headers).status_code == 401


def test_an_account_is_locked_after_the_limit_whatever_the_address(alice):
    client = Client()
    _fail(client, LIMIT - 1, addr="10.1.0.1")
    assert _token(client, "alice", "wrong", "10.2.0.1").status_code == 429  # the failure that reaches the limit
    locked = _token(client, "alice", "right-password-1", "10.3.0.1")
    assert locked.status_code == 429, locked.content
    body = locked.json()
    assert body["code"] == "throttled" and "Too many failed sign-ins" in body["detail"]
    assert int(locked["Retry-After"]) > 0


def test_an_address_is_locked_after_the_limit_across_accounts(alice):
    client = Client()
    for name in ("bob", "carol", "dave")[:LIMIT]:
        _token(client, name, "wrong", "10.9.9.9")
    assert _token(client, "alice", "right-password-1", "10.9.9.9").status_code == 429
    assert _token(client, "alice", "right-password-1", "10.9.9.10").status_code == 201  # another address


def test_a_client_sent_x_forwarded_for_does_not_reset_the_limit(alice):
    client = Client()
    for i in range(LIMIT):
        _token(client, f"user{i}", "wrong", "10.4.4.4", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    fresh_header = _token(client, "alice", "right-password-1", "10.4.4.4", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert fresh_header.status_code == 429


def test_behind_a_trusted_proxy_each_forwarded_client_counts_alone(alice, settings):
    settings.ECO_TRUSTED_PROXIES = ["10.0.0.0/8"]
    client = Client()
    for i in range(LIMIT):
        _token(client, f"user{i}", "wrong", "10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.1")
    assert _token(client, "alice", "right-password-1", "10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 429
    other = _token(client, "alice", "right-password-1", "10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.2")
    assert other.status_code == 201


@pytest.mark.parametrize(
    ("remote", "xff", "trusted", "expected"),
    [
        ("203.0.113.9", "1.2.3.4", [], "203.0.113.9"),  # no proxy configured: the header is ignored
        ("203.0.113.9", "1.2.3.4", ["10.0.0.1"], "203.0.113.9"),  # not from the proxy: ignored
        ("10.0.0.1", "1.2.3.4", ["10.0.0.1"], "1.2.3.4"),
        ("10.0.0.1", "6.6.6.6, 1.2.3.4", ["10.0.0.1"], "1.2.3.4"),  # the client's own entry is not believed
        ("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", ["10.0.0.0/24"], "1.2.3.4"),  # two proxies
        ("10.0.0.1", "not-an-address", ["10.0.0.1"], "10.0.0.1"),
        ("10.0.0.1", "", ["10.0.0.1"], "10.0.0.1"),
        ("2001:db8::1", "2001:db8::5", ["2001:db8::1"], "2001:db8::5"),
    ],
)
def test_client_ip_believes_x_forwarded_for_only_from_trusted_proxies(settings, remote, xff, trusted, expected):
    settings.ECO_TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=xff)
    assert client_ip(request) == expected


def test_the_admin_login_is_limited(alice):
    client = Client()
    for _ in range(LIMIT):
        page = client.post("/admin/login/", {"username": "alice", "password": "wrong"}, REMOTE_ADDR="10.5.5.5")
        assert page.status_code in (200, 429)
    locked = client.post("/admin/login/", {"username": "alice", "password": "right-password-1"}, REMOTE_ADDR="10.5.5.6")
    assert locked.status_code == 429


def test_the_browsable_api_login_is_limited(alice):
    client = Client()
    for _ in range(LIMIT):
        client.post("/api-auth/login/", {"username": "alice", "password": "wrong"}, REMOTE_ADDR="10.6.6.6")
    locked = client.post(
        "/api-auth/login/", {"username": "alice", "password": "right-password-1"}, REMOTE_ADDR="10.6.6.7"
    )
    assert locked.status_code == 429


def test_the_dashboard_session_sign_in_is_limited(alice):
    client = Client()
    for _ in range(LIMIT):
        client.post(
            "/api/v1/auth/session/",
            {"username": "alice", "password": "wrong"},
            content_type="application/json",
            REMOTE_ADDR="10.7.7.7",
        )
    locked = client.post(
        "/api/v1/auth/session/",
        {"username": "alice", "password": "right-password-1"},
        content_type="application/json",
        REMOTE_ADDR="10.7.7.8",
    )
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_failures_are_counted_outside_the_process(alice):
    """Shared by every process: the failures are rows in the database (AxesDatabaseHandler), not memory."""
    from axes.models import AccessAttempt

    _fail(Client(), 2)
    assert AccessAttempt.objects.filter(username="alice").values_list("failures_since_start", flat=True).get() == 2


def test_with_cache_url_the_counters_live_in_redis(tmp_path):
    """CACHE_URL=redis://… puts the throttles and django-axes' counters in Redis."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = "from django.conf import settings as s;print(s.CACHES['default']['BACKEND'], s.AXES_HANDLER)"
    env = {**os.environ, "CACHE_URL": "redis://127.0.0.1:6379/13", "ECO_VAR_DIR": str(tmp_path), "DEBUG": "true"}
    out = (
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.splitlines()[-1]
        .split()
    )
    assert out == ["django.core.cache.backends.redis.RedisCache", "axes.handlers.cache.AxesCacheHandler"]
