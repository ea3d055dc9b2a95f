"""Create the demo admin user and demo team (idempotent) and print how to log in."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts_app.models import Membership, Role, Team, User
from accounts_app.services import create_team


def server_url() -> str:
    """The address `make run` serves on: platform/Procfile binds the web process to ECO_HOST:PORT."""
    host = os.environ.get("ECO_HOST") or "127.0.0.1"
    port = os.environ.get("PORT") or "8000"
    if host in ("0.0.0.0", "::"):  # every interface: this machine answers on its loopback address too
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


class Command(BaseCommand):
    help = "Create a demo admin user and a demo team if they do not exist, and print the login."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("ECO_DEMO_USER", "admin"))
        parser.add_argument("--password", default=os.environ.get("ECO_DEMO_PASSWORD", "eco-admin"))
        parser.add_argument("--team", default=os.environ.get("ECO_DEMO_TEAM", "demo"))

    @transaction.atomic
    def handle(self, *args, username, password, team, **options):
        if not settings.DEBUG:  # a superuser with a published password must never exist in production
            raise CommandError(
                "bootstrap_demo creates a superuser with a known password: development only (DEBUG=true). "
                "In production create the first admin with `manage.py createsuperuser`."
            )
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_superuser(username=username, email=f"{username}@example.com", password=password)
            self.stdout.write(f"Created superuser '{username}'.")
        demo = Team.objects.filter(slug=team).first()
        if demo is None:
            demo = create_team(actor=user, slug=team, name="Demo team")
            self.stdout.write(f"Created team '{team}'.")
        Membership.objects.get_or_create(team=demo, user=user, defaults={"role": Role.ADMIN})
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Eco is at {server_url()}  (admin: /admin/, API docs: /api/docs/)\n"
                f"  Log in as '{username}' with password '{password}' (team '{team}').\n"
            )
        )
