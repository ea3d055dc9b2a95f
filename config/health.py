"""GET /api/v1/health/: is the database reachable, is the broker reachable. No authentication."""

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _broker() -> str:
    from django.conf import settings

    from config.celery import app

    with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    database = serializers.CharField(help_text='"ok" or "error: <what>"')
    broker = serializers.CharField(help_text='"ok" or "error: <what>"')


class HealthApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []  # load balancers and liveness probes call it often, from one address

    @extend_schema(responses={200: HealthSerializer, 503: HealthSerializer})
    def get(self, request):
        checks = {}
        for name, check in (("database", _database), ("broker", _broker)):
            try:
                checks[name] = check()
            except Exception as exc:  # a health check reports every failure, whatever it is
                checks[name] = f"error: {exc.__class__.__name__}: {exc}"
        healthy = all(v == "ok" for v in checks.values())
        return Response({"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503)
