"""Query parameters of models_app's list endpoints. An invalid value answers 400 naming the parameter."""

from django_filters import rest_framework as filters

from models_app import selectors
from models_app.models import Evaluation, ModelVersion, PredictionLog, RegisteredModel, Split, WeightsFormat


class ModelFilter(filters.FilterSet):
    """?team=<slug>&task=&search=<part of the name, any case>&weights_format=<a format one of its versions has>"""

    team = filters.CharFilter(field_name="team__slug", help_text="Team slug.")
    # not `format`: DRF reads ?format= as the response format (URL_FORMAT_OVERRIDE)
    weights_format = filters.ChoiceFilter(
        choices=WeightsFormat.choices,
        method="with_format",
        help_text="Models with a version of this weights format (hf: Hugging Face checkpoints).",
    )
    search = filters.CharFilter(field_name="name", lookup_expr="icontains", help_text="Part of the name, any case.")

    class Meta:
        model = RegisteredModel
        fields = ["task"]

    def with_format(self, queryset, name, value):
        return queryset.filter(pk__in=ModelVersion.objects.filter(format=value).values("model_id"))


class EvaluationFilter(filters.FilterSet):
    """?model=&model_version=&dataset_version=&split=&team=. Filtered by dataset version, the list is a leaderboard
    of one split (`test` unless ?split= says otherwise): best headline score first."""

    # Plain id filters, not ModelChoiceFilter: validating against every row would tell an id of another
    # team (400) from an unknown one.
    model = filters.UUIDFilter(field_name="model_version__model_id", help_text="Every version of this model.")
    model_version = filters.UUIDFilter(field_name="model_version_id")
    dataset_version = filters.UUIDFilter(field_name="dataset_version_id")
    split = filters.ChoiceFilter(choices=Split.choices)
    team = filters.CharFilter(field_name="model_version__model__team__slug", help_text="Team slug.")

    class Meta:
        model = Evaluation
        fields = ["model", "model_version", "dataset_version", "split", "team"]

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.form.cleaned_data.get("dataset_version") is None:
            return queryset
        if not self.form.cleaned_data.get("split"):
            queryset = queryset.filter(split=Split.TEST)  # a leaderboard ranks like with like: held-out rows
        return selectors.leaderboard(queryset)


class PredictionFilter(filters.FilterSet):
    """?model=&model_version=&has_feedback=true|false"""

    model = filters.UUIDFilter(field_name="model_id")
    model_version = filters.UUIDFilter(field_name="model_version_id")
    has_feedback = filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")], method="filter_has_feedback", help_text="true or false."
    )

    class Meta:
        model = PredictionLog
        fields = ["model", "model_version", "has_feedback"]

    def filter_has_feedback(self, queryset, name, value):
        return queryset.filter(feedback_at__isnull=value == "false")
