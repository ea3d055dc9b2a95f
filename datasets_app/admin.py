from django.contrib import admin

from datasets_app.models import Blob, Dataset, DatasetLineage, DatasetVersion


@admin.register(Blob)
class BlobAdmin(admin.ModelAdmin):
    list_display = ["sha256", "size_bytes", "created_at"]
    search_fields = ["sha256"]
    readonly_fields = ["sha256", "size_bytes", "created_at"]


class DatasetVersionInline(admin.TabularInline):
    model = DatasetVersion
    fields = ["version", "format", "num_rows", "source", "status", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "task", "sensitivity", "license", "created_by", "updated_at"]
    list_filter = ["task", "sensitivity", "team"]
    search_fields = ["name", "description", "team__slug"]
    list_select_related = ["team", "created_by"]
    autocomplete_fields = ["team"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    inlines = [DatasetVersionInline]


class LineageInline(admin.TabularInline):
    model = DatasetLineage
    fk_name = "child"
    extra = 0
    raw_id_fields = ["parent"]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin):
    list_display = ["dataset", "version", "format", "num_rows", "size", "source", "status", "created_by", "created_at"]
    list_filter = ["format", "source", "status", "dataset__team"]
    search_fields = ["dataset__name", "blob__sha256", "filename"]
    list_select_related = ["dataset", "blob", "created_by"]
    readonly_fields = [f.name for f in DatasetVersion._meta.fields]
    inlines = [LineageInline]

    @admin.display(description="size (bytes)", ordering="blob__size_bytes")
    def size(self, obj):
        return obj.blob.size_bytes

    def has_add_permission(self, request):
        return False  # versions are created through the API, which validates and stores the file
