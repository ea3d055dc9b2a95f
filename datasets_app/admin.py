from django.contrib import admin

from accounts_app.adminkit import ReadOnlyMixin, ServiceWriteMixin, TeamNameForm
from datasets_app import services
from datasets_app.models import Blob, Dataset, DatasetLineage, DatasetVersion


@admin.register(Blob)
class BlobAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Content-addressed files: written by uploads and jobs, collected when unused; never edited here."""

    list_display = ["sha256", "size_bytes", "created_at"]
    search_fields = ["sha256"]
    readonly_fields = ["sha256", "size_bytes", "created_at"]


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
class DatasetAdmin(ServiceWriteMixin, admin.ModelAdmin):
    """Adds, edits and deletes go through datasets_app.services (checked and audited, the admin user as actor)."""

    form = DatasetForm
    create_service = staticmethod(services.create_dataset)
    update_service = staticmethod(services.update_dataset)
    delete_service = staticmethod(services.delete_dataset)
    service_noun = "dataset"
    create_fields = ("name", "task", "description", "sensitivity", "license")
    editable_fields = services.EDITABLE_FIELDS
    list_display = ["name", "team", "task", "sensitivity", "license", "created_by", "updated_at"]
    list_filter = ["task", "sensitivity", "team"]
    search_fields = ["name", "description", "team__slug"]
    list_select_related = ["team", "created_by"]
    autocomplete_fields = ["team"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
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
