from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from accounts_app.adminkit import ReadOnlyMixin, ServiceWriteMixin, TeamNameForm, report_refusal
from datasets_app import retention, services
from datasets_app.models import Blob, Dataset, DatasetLineage, DatasetVersion
from ml.errors import UserError


@admin.register(Blob)
class BlobAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Content-addressed files: written by uploads and jobs, collected when unused; never edited here."""

    list_display = ["sha256", "size_bytes", "created_at"]
    search_fields = ["sha256"]
    readonly_fields = ["sha256", "size_bytes", "created_at"]


class SoftDeleteAdminMixin:
    """For the ModelAdmin of a soft-deletable record (a dataset, a model; datasets_app.retention): deleting goes
    through the service (a soft delete), the list shows deleted rows too (filter "deleted"), and the action
    "Restore" brings deleted ones back within ECO_RETENTION_DAYS through `restore_service` (audited, the admin
    user as actor; refusals shown as messages)."""

    restore_service = None
    actions = ["restore"]

    def get_queryset(self, request):
        queryset = self.model.all_objects.get_queryset()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    @admin.display(description="purge after")
    def purge_after(self, obj):
        return retention.purge_after(obj.deleted_at) if obj.deleted_at else None

    @admin.action(description="Restore selected deleted %(verbose_name_plural)s", permissions=["change"])
    def restore(self, request, queryset):
        restored = 0
        for obj in queryset.filter(deleted_at__isnull=False):
            try:
                self.restore_service(actor=request.user, **{self.service_noun: obj})
                restored += 1
            except (UserError, ValidationError) as exc:
                report_refusal(self, request, obj, exc)
        if restored:
            self.message_user(request, f"Restored {restored}.", level=messages.SUCCESS)


class DatasetVersionInline(ReadOnlyMixin, admin.TabularInline):
    model = DatasetVersion
    fields = ["version", "format", "num_rows", "source", "status", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True


class DatasetForm(TeamNameForm):
    noun = "dataset"

    class Meta:
        model = Dataset
        fields = ["team", "name", "description", "task", "sensitivity", "license"]


@admin.register(Dataset)
class DatasetAdmin(SoftDeleteAdminMixin, ServiceWriteMixin, admin.ModelAdmin):
    """Adds, edits and deletes go through datasets_app.services (checked and audited, the admin user as actor).
    A delete is a soft delete; deleted datasets stay listed (filter "deleted") until purged, and can be
    restored until then (action "Restore")."""

    form = DatasetForm
    create_service = staticmethod(services.create_dataset)
    update_service = staticmethod(services.update_dataset)
    delete_service = staticmethod(services.delete_dataset)
    restore_service = staticmethod(services.restore_dataset)
    service_noun = "dataset"
    create_fields = ("name", "task", "description", "sensitivity", "license")
    editable_fields = services.EDITABLE_FIELDS
    list_display = ["name", "team", "task", "sensitivity", "license", "created_by", "updated_at", "deleted_at"]
    list_filter = [("deleted_at", admin.EmptyFieldListFilter), "task", "sensitivity", "team"]
    search_fields = ["name", "description", "team__slug"]
    list_select_related = ["team", "created_by"]
    autocomplete_fields = ["team"]
    readonly_fields = ["created_by", "created_at", "updated_at", "deleted_at", "deleted_by", "purge_after"]
    inlines = [DatasetVersionInline]

    def get_readonly_fields(self, request, obj=None):
        fixed = list(self.readonly_fields)
        if obj is not None:  # a dataset stays in its team; its task is fixed once it has versions
            fixed += ["team", "task"] if obj.versions.exists() else ["team"]
        return fixed


class LineageInline(ReadOnlyMixin, admin.TabularInline):
    model = DatasetLineage
    fk_name = "child"
    fields = ["parent"]
    readonly_fields = fields
    extra = 0


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Versions are immutable: created through the API (which validates and stores the file), never edited."""

    list_display = ["dataset", "version", "format", "num_rows", "size", "source", "status", "created_by", "created_at"]
    list_filter = ["format", "source", "status", "dataset__team"]
    search_fields = ["dataset__name", "blob__sha256", "filename"]
    list_select_related = ["dataset", "blob", "created_by"]
    readonly_fields = [f.name for f in DatasetVersion._meta.fields]
    inlines = [LineageInline]

    @admin.display(description="size (bytes)", ordering="blob__size_bytes")
    def size(self, obj):
        return obj.blob.size_bytes
