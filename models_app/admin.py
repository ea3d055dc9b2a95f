from django.contrib import admin
from django.core.exceptions import ValidationError

from accounts_app.adminkit import ReadOnlyMixin, ServiceWriteMixin, TeamNameForm, copy_saved, report_refusal
from datasets_app.admin import SoftDeleteAdminMixin
from ml.errors import UserError
from models_app import services
from models_app.models import (
    Evaluation,
    GatePolicy,
    ModelAlias,
    ModelVersion,
    ModelVersionDataset,
    ModelVersionFile,
    PredictionLog,
    RegisteredModel,
    RowHashes,
    ServingRequest,
    VersionStatus,
)


class AliasInline(ReadOnlyMixin, admin.TabularInline):
    """Aliases move through the API, where the promotion gate checks them and the move is audited."""

    model = ModelAlias
    extra = 0
    fields = ["alias", "version", "updated_by", "updated_at"]
    readonly_fields = fields


class RegisteredModelForm(TeamNameForm):
    noun = "model"

    class Meta:
        model = RegisteredModel
        fields = ["team", "name", "description", "task", "card"]


@admin.register(RegisteredModel)
class RegisteredModelAdmin(SoftDeleteAdminMixin, ServiceWriteMixin, admin.ModelAdmin):
    """Adds, edits and deletes go through models_app.services (checked and audited, the admin user as actor).
    A delete is a soft delete; deleted models stay listed (filter "deleted") until purged, and can be restored
    until then (action "Restore")."""

    form = RegisteredModelForm
    create_service = staticmethod(services.create_model)
    update_service = staticmethod(services.update_model)
    delete_service = staticmethod(services.delete_model)
    restore_service = staticmethod(services.restore_model)
    service_noun = "model"
    create_fields = ("name", "task", "description", "card")
    editable_fields = services.EDITABLE_FIELDS
    list_display = ["name", "team", "task", "created_by", "updated_at", "deleted_at"]
    list_filter = [("deleted_at", admin.EmptyFieldListFilter), "task", "team"]
    search_fields = ["name", "description", "team__slug"]
    list_select_related = ["team", "created_by"]
    autocomplete_fields = ["team"]
    readonly_fields = ["created_by", "created_at", "updated_at", "deleted_at", "deleted_by", "purge_after"]
    inlines = [AliasInline]

    def get_readonly_fields(self, request, obj=None):
        # a model stays in its team, and its task is fixed (its versions were trained for it)
        return [*self.readonly_fields, "team", "task"] if obj is not None else self.readonly_fields


class DatasetLinkInline(ReadOnlyMixin, admin.TabularInline):
    model = ModelVersionDataset
    fields = ["dataset_version"]
    readonly_fields = fields
    extra = 0


class FileInline(ReadOnlyMixin, admin.TabularInline):
    """The files of a version stored as a folder (a Hugging Face checkpoint, its ONNX export)."""

    model = ModelVersionFile
    fields = ["name", "blob"]
    readonly_fields = fields
    extra = 0


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Versions are immutable; the one change, archiving (and restoring), is an action that calls
    services.set_version_status (audited; refused while an alias holds the version)."""

    list_display = ["model", "version", "status", "format", "num_parameters", "created_by", "created_at"]
    list_filter = ["status", "format", "model__team"]
    search_fields = ["model__name", "blob__sha256"]
    list_select_related = ["model", "created_by"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields]
    inlines = [DatasetLinkInline, FileInline]
    actions = ["archive", "restore"]

    def has_archive_permission(self, request):
        return request.user.has_perm("models_app.change_modelversion")

    def _set_status(self, request, queryset, status):
        done = 0
        for version in queryset.select_related("model"):
            try:
                services.set_version_status(actor=request.user, version=version, status=status)
                done += 1
            except (UserError, ValidationError) as exc:
                report_refusal(self, request, version, exc)
        if done:
            self.message_user(request, f"{done} version(s) now {status}.")

    @admin.action(description="Archive selected versions", permissions=["archive"])
    def archive(self, request, queryset):
        self._set_status(request, queryset, VersionStatus.ARCHIVED)

    @admin.action(description="Restore selected versions", permissions=["archive"])
    def restore(self, request, queryset):
        self._set_status(request, queryset, VersionStatus.READY)


@admin.register(ModelAlias)
class ModelAliasAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Aliases move through the API (promotion gate, audit)."""

    list_display = ["model", "alias", "version", "updated_by", "updated_at"]
    list_filter = ["alias", "model__team"]
    search_fields = ["model__name", "alias"]
    list_select_related = ["model", "version", "updated_by"]
    readonly_fields = ["model", "alias", "version", "updated_by", "updated_at"]


@admin.register(Evaluation)
class EvaluationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["model_version", "dataset_version", "split", "metric", "score", "created_at"]
    list_filter = ["split", "metric", "model_version__model__team"]
    search_fields = ["model_version__model__name", "dataset_version__dataset__name"]
    list_select_related = ["model_version__model", "dataset_version__dataset"]
    readonly_fields = [f.name for f in Evaluation._meta.fields]  # evaluations come from evaluate jobs


@admin.register(GatePolicy)
class GatePolicyAdmin(admin.ModelAdmin):
    """Gates are set through the API (maintainer role, audited); here only the allowed leakage overlap
    (`max_overlap`) may be changed, through services.set_gate (audited, the admin user as actor)."""

    list_display = [
        "model",
        "metric",
        "direction",
        "dataset_version",
        "split",
        "min_gain",
        "max_overlap",
        "updated_by",
        "updated_at",
    ]
    list_filter = ["metric", "model__team"]
    search_fields = ["model__name"]
    list_select_related = ["model", "dataset_version__dataset", "updated_by"]
    readonly_fields = [f.name for f in GatePolicy._meta.fields if f.name != "max_overlap"]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        saved = services.set_gate(
            actor=request.user,
            model=obj.model,
            dataset_version=obj.dataset_version,
            metric=obj.metric,
            direction=obj.direction,
            split=obj.split,
            min_gain=obj.min_gain,
            max_overlap=form.cleaned_data["max_overlap"],
            required_card_fields=obj.required_card_fields,
            aliases=obj.aliases,
        )
        copy_saved(saved, obj)

    def delete_model(self, request, obj):
        services.delete_gate(actor=request.user, gate=obj)

    def delete_queryset(self, request, queryset):
        for gate in queryset.select_related("model__team"):
            services.delete_gate(actor=request.user, gate=gate)


@admin.register(PredictionLog)
class PredictionLogAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "model", "model_version", "alias", "runtime", "latency_ms", "feedback", "created_at"]
    list_filter = ["runtime", "alias", "model__team"]
    search_fields = ["model__name", "id"]
    list_select_related = ["model", "model_version__model"]
    readonly_fields = [f.name for f in PredictionLog._meta.fields]
    date_hierarchy = "created_at"
    show_full_result_count = False  # the log grows fast: no COUNT(*) of the whole table per page


@admin.register(ServingRequest)
class ServingRequestAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "model", "model_version", "alias", "status_code", "latency_ms", "rows", "created_at"]
    list_filter = ["status_code", "model__team"]
    search_fields = ["model__name", "error"]
    list_select_related = ["model", "model_version__model"]
    readonly_fields = [f.name for f in ServingRequest._meta.fields]
    date_hierarchy = "created_at"
    show_full_result_count = False  # one row per predict request: no COUNT(*) of the whole table per page


@admin.register(RowHashes)
class RowHashesAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The leakage check's cache of row content hashes per dataset version (written by models_app.leakage)."""

    list_display = ["dataset_version", "columns_count", "num_rows", "distinct_rows", "seconds_taken", "created_at"]
    list_select_related = ["dataset_version__dataset"]
    exclude = ["hashes"]

    @admin.display(description="columns")
    def columns_count(self, obj):
        return len(obj.columns)

    @admin.display(description="seconds")
    def seconds_taken(self, obj):
        return f"{obj.seconds:.2f}"
