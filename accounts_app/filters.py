"""Query parameters of accounts_app's list endpoints. An invalid value answers 400 naming the parameter."""

from django_filters import rest_framework as filters

from accounts_app.models import AuditEvent
from config.filters import UtcDateTimeFilter


class AuditEventFilter(filters.FilterSet):
    """?team=<slug>&action=<exact>&action__startswith=<prefix>&actor=<username>&since=<ISO 8601>&until=<ISO 8601>

    `since` and `until` bound `created_at` (both inclusive); a time without a zone is in the server's zone."""

    team = filters.CharFilter(field_name="team__slug", help_text="Team slug.")
    actor = filters.CharFilter(field_name="actor__username", help_text="Username of who acted.")
    since = UtcDateTimeFilter(
        param="since", field_name="created_at", lookup_expr="gte", help_text="Events at or after this time (ISO 8601)."
    )
    until = UtcDateTimeFilter(
        param="until", field_name="created_at", lookup_expr="lte", help_text="Events at or before this time (ISO 8601)."
    )

    class Meta:
        model = AuditEvent
        fields = {"action": ["exact", "startswith"]}
