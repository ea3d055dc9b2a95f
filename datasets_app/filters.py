"""Query parameters of datasets_app's list endpoints. An invalid value answers 400 naming the parameter."""

from django.db.models import Q
from django_filters import rest_framework as filters

from datasets_app.models import Dataset


class DatasetFilter(filters.FilterSet):
    """?team=<slug>&task=&sensitivity=&search=<part of the name or description, any case>"""

    team = filters.CharFilter(field_name="team__slug", help_text="Team slug.")
    search = filters.CharFilter(method="filter_search", help_text="Part of the name or the description, any case.")

    class Meta:
        model = Dataset
        fields = ["task", "sensitivity"]  # choice fields: anything else is a 400

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))
