"""Query parameters of datasets_app's list endpoints. An invalid value answers 400 naming the parameter."""

from django_filters import rest_framework as filters

from datasets_app.models import Dataset


class DatasetFilter(filters.FilterSet):
    """?team=<slug>&task=&sensitivity=&search=<part of the name, any case>"""

    team = filters.CharFilter(field_name="team__slug", help_text="Team slug.")
    search = filters.CharFilter(field_name="name", lookup_expr="icontains", help_text="Part of the name, any case.")

    class Meta:
        model = Dataset
        fields = ["task", "sensitivity"]  # choice fields: anything else is a 400
