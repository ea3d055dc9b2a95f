"""Query parameters of accounts_app's list endpoints. An invalid value answers 400 naming the parameter."""

from django_filters import rest_framework as filters

from accounts_app.models import AuditEvent


class AuditEventFilter(filters.FilterSet):
    """?team=<slug>&action=<exact>&action__startswith=<prefix>"""

    team = filters.CharFilter(field_name="team__slug", help_text="Team slug.")

    class Meta:
        model = AuditEvent
        fields = {"action": ["exact", "startswith"]}
