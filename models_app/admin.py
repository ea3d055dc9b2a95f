from django.contrib import admin

from models_app.models import (
    Evaluation,
    GatePolicy,
    ModelAlias,
    ModelVersion,
    ModelVersionDataset,
    PredictionLog,
    RegisteredModel,
)


class AliasInline(admin.TabularInline):
    model = ModelAlias
    extra = 0
    fields = ["alias", "version", "updated_by", "updated_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # aliases move through the API, where they are checked and audited


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "task", "created_by", "updated_at"]
    list_filter = ["task", "team"]
    search_fields = ["name", "description", "team__slug"]
    list_select_related = ["team", "created_by"]
    autocomplete_fields = ["team"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    inlines = [AliasInline]


class DatasetLinkInline(admin.TabularInline):
    model = ModelVersionDataset
    extra = 0
    raw_id_fields = ["dataset_version"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["model", "version", "status", "format", "num_parameters", "created_by", "created_at"]
    list_filter = ["status", "format", "model__team"]
    search_fields = ["model__name", "blob__sha256"]
    list_select_related = ["model", "created_by"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields if f.name != "status"]
    inlines = [DatasetLinkInline]

    def has_add_permission(self, request):
        return False


@admin.register(ModelAlias)
class ModelAliasAdmin(admin.ModelAdmin):
    list_display = ["model", "alias", "version", "updated_by", "updated_at"]
    list_filter = ["alias", "model__team"]
    search_fields = ["model__name", "alias"]
    list_select_related = ["model", "version", "updated_by"]
    readonly_fields = ["model", "alias", "version", "updated_by", "updated_at"]

    def has_add_permission(self, request):
        return False


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ["model_version", "dataset_version", "split", "metric", "score", "created_at"]
    list_filter = ["split", "metric", "model_version__model__team"]
    search_fields = ["model_version__model__name", "dataset_version__dataset__name"]
    list_select_related = ["model_version__model", "dataset_version__dataset"]
    readonly_fields = [f.name for f in Evaluation._meta.fields]

    def has_add_permission(self, request):
        return False  # evaluations come from evaluate jobs


@admin.register(GatePolicy)
class GatePolicyAdmin(admin.ModelAdmin):
    """Gates are set through the API (maintainer role, audited); the admin shows them."""

    list_display = ["model", "metric", "direction", "dataset_version", "split", "min_gain", "updated_by", "updated_at"]
    list_filter = ["metric", "model__team"]
    search_fields = ["model__name"]
    list_select_related = ["model", "dataset_version__dataset", "updated_by"]
    readonly_fields = [f.name for f in GatePolicy._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(PredictionLog)
class PredictionLogAdmin(admin.ModelAdmin):
    list_display = ["id", "model", "model_version", "alias", "runtime", "latency_ms", "feedback", "created_at"]
    list_filter = ["runtime", "alias", "model__team"]
    search_fields = ["model__name", "id"]
    list_select_related = ["model", "model_version__model"]
    readonly_fields = [f.name for f in PredictionLog._meta.fields]
    date_hierarchy = "created_at"
    show_full_result_count = False  # the log grows fast: no COUNT(*) of the whole table per page

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
