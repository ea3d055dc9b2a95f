from django.contrib import admin
from django.utils.html import format_html_join

from jobs_app import metrics
from jobs_app.models import Job, JobLog


class JobLogInline(admin.TabularInline):
    model = JobLog
    extra = 0
    fields = ["time", "line"]
    readonly_fields = fields
    can_delete = False
    ordering = ["id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "team", "kind", "status", "progress", "attempts", "pool", "worker", "created_at"]
    list_filter = ["status", "kind", "pool", "team"]
    search_fields = ["id", "worker", "error"]
    list_select_related = ["team"]
    readonly_fields = [
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "attempts",
        "worker",
        "progress",
        "task_id",
        "checkpoint",
        "outputs",
        "metric_keys",
    ]
    inlines = [JobLogInline]

    def has_add_permission(self, request):
        return False  # jobs are submitted through the API, where their spec is checked

    @admin.display(description="metrics")
    def metric_keys(self, obj):
        rows = metrics.keys(obj.pk) if obj.pk else []
        return (
            format_html_join(
                "\n", "<div>{}: {} points, last {}</div>", ((r["key"], r["count"], r["last_value"]) for r in rows)
            )
            or "-"
        )


@admin.register(JobLog)
class JobLogAdmin(admin.ModelAdmin):
    list_display = ["job", "time", "line"]
    search_fields = ["job__id", "line"]
    list_select_related = ["job"]
    readonly_fields = ["job", "time", "line"]

    def has_add_permission(self, request):
        return False
