"""Query-parameter filters shared by the apps' list endpoints."""

from datetime import UTC

from django.core.exceptions import ValidationError
from django_filters import rest_framework as filters


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    """An ISO 8601 time, turned into UTC before it reaches the database (PostgreSQL refuses UTC offsets beyond
    15:59, which ISO 8601 text may carry); one that cannot be (year 1 at +01:00) is a 400 naming the parameter."""

    def __init__(self, *args, param: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.param = param

    def filter(self, qs, value):
        if value is not None:
            try:
                value = value.astimezone(UTC)
            except (OverflowError, ValueError):
                raise ValidationError({self.param: ["is out of range."]}) from None
        return super().filter(qs, value)
