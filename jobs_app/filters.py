"""Query parameters of jobs_app's list endpoints. An invalid value answers 400 naming the parameter."""

from django_filters import rest_framework as filters

from jobs_app.models import Job, RetrainTrigger


class JobFilter(filters.FilterSet):
    """?team=<slug>&status=&kind="""

    team = filters.CharFilter(field_name="team__slug", help_text="Team slug.")

    class Meta:
        model = Job
        fields = ["status", "kind"]  # choice fields: anything else is a 400


class TriggerFilter(filters.FilterSet):
    """?team=<slug>"""

    team = filters.CharFilter(field_name="team__slug", help_text="Team slug.")

    class Meta:
        model = RetrainTrigger
        fields = ["team"]
