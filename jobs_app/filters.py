"""Query parameters of jobs_app's list endpoints. An invalid value answers 400 naming the parameter."""

import re

from django.db.models import F, Q, TextField
from django.db.models.functions import Cast
from django_filters import rest_framework as filters

from config.filters import UtcDateTimeFilter
from jobs_app.models import Experiment, Job, JobStatus, RetrainTrigger
from jobs_app.selectors import runs_of

# ?ordering= values -> the order by; nulls (a job not started or not finished yet) go last either way, and the
# id breaks ties so that pages never overlap
ORDERINGS = {
    f"{sign}{field}": (getattr(F(field), "desc" if sign else "asc")(nulls_last=True), f"{sign}id")
    for field in ("created_at", "started_at", "finished_at", "status", "kind", "progress")
    for sign in ("", "-")
}
SEARCH_MODELS = 100  # model names a search matches, at most (their ids are looked up in the specs)


class StatusInFilter(filters.BaseInFilter, filters.ChoiceFilter):
    """A comma list of statuses, each checked."""


class JobFilter(filters.FilterSet):
    """?team=<slug>&status=<s>[,<s>...]&kind=&search=&created_after=&created_before=&ordering="""

    team = filters.CharFilter(field_name="team__slug", help_text="Team slug.")
    status = StatusInFilter(
        field_name="status", choices=JobStatus.choices, help_text="One status or a comma list: queued,running."
    )
    experiment = filters.CharFilter(
        method="in_experiment",
        help_text="An experiment's id, name or team/name (MLflow's runs are grouped in experiments; a team's "
        "Default one also holds the tracking runs started without one).",
    )
    search = filters.CharFilter(
        method="search_jobs",
        help_text="Any case: the start of the job id, or part of the kind, of the model's name (train jobs) or "
        "of the error.",
    )
    created_after = UtcDateTimeFilter(
        param="created_after", field_name="created_at", lookup_expr="gte", help_text="ISO 8601; created at or after."
    )
    created_before = UtcDateTimeFilter(
        param="created_before", field_name="created_at", lookup_expr="lt", help_text="ISO 8601; created before."
    )
    ordering = filters.ChoiceFilter(
        choices=[(name, name) for name in ORDERINGS],
        method="order_jobs",
        empty_label=None,
        help_text="Default -created_at. Jobs not started (finished) yet come last when ordering by started_at "
        "(finished_at), either way.",
    )

    class Meta:
        model = Job
        fields = ["status", "kind"]  # choice fields: anything else is a 400

    def in_experiment(self, queryset, name, value):
        if re.fullmatch(r"[0-9]{1,18}", value):
            which = Q(pk=int(value))
        elif "/" in value:  # team/name, as MLflow's clients see experiment names
            slug, plain = value.split("/", 1)
            which = Q(team__slug=slug, name=plain)
        else:
            which = Q(name=value)
        return queryset.filter(runs_of(list(Experiment.objects.filter(which))))

    def search_jobs(self, queryset, name, value):
        from models_app.models import RegisteredModel

        text = value.strip()
        if not text:
            return queryset
        models = RegisteredModel.objects.filter(team__in=queryset.values("team_id"), name__icontains=text).values_list(
            "pk", flat=True
        )[:SEARCH_MODELS]
        model_ids = [str(pk) for pk in models]
        matches = (
            Q(id_text__istartswith=text)
            | Q(kind__icontains=text)
            | Q(error__icontains=text)
            | Q(spec__model_name__icontains=text)
            | Q(spec__model__icontains=text)  # a tracking run's model is a name
        )
        if model_ids:
            matches |= Q(spec__model__in=model_ids) | Q(outputs__model__in=model_ids)
        return queryset.annotate(id_text=Cast("id", TextField())).filter(matches)

    def order_jobs(self, queryset, name, value):
        return queryset.order_by(*ORDERINGS[value])

    @property
    def qs(self):
        queryset = super().qs
        if not self.form.cleaned_data.get("ordering"):
            queryset = queryset.order_by(*ORDERINGS["-created_at"])
        return queryset


class TriggerFilter(filters.FilterSet):
    """?team=<slug>"""

    team = filters.CharFilter(field_name="team__slug", help_text="Team slug.")

    class Meta:
        model = RetrainTrigger
        fields = ["team"]
