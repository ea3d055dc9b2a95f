"""`manage.py bootstrap_demo` (run by `make run`): the demo login, and a banner naming the real address."""

import io

import pytest
from django.core.management import call_command

from accounts_app.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _development(settings):
    settings.DEBUG = True  # what `make run` sets; pytest-django turns it off for tests


def test_it_refuses_outside_development_and_creates_nobody(settings):
    from django.core.management.base import CommandError

    from accounts_app.models import User

    settings.DEBUG = False
    with pytest.raises(CommandError, match="development only"):
        call_command("bootstrap_demo", stdout=io.StringIO())
    assert not User.objects.exists()


def _banner(monkeypatch, **environ) -> str:
    for name in ("ECO_HOST", "PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    call_command("bootstrap_demo", stdout=out)
    return out.getvalue()


def test_the_banner_shows_the_port_and_host_the_web_process_binds(monkeypatch):
    assert "http://127.0.0.1:8000/" in _banner(monkeypatch)
    assert "http://127.0.0.1:8765/" in _banner(monkeypatch, PORT="8765")
    shown = _banner(monkeypatch, PORT="9001", ECO_HOST="10.1.2.3")
    assert "http://10.1.2.3:9001/" in shown and "8000" not in shown
    assert "http://127.0.0.1:9002/" in _banner(monkeypatch, PORT="9002", ECO_HOST="0.0.0.0")
    assert Membership.objects.get(team__slug="demo", user__username="admin").role == "admin"  # idempotent
