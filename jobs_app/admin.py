from django.contrib import admin
from django.utils.html import format_html_join

from jobs_app import metrics
from jobs_app.models import Job, JobLog, JobOutput, RetrainTrigger, TriggerRun


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
    # the state machine belongs to the services: nothing here is edited by hand; cancel is an action
    readonly_fields = [f.name for f in Job._meta.fields] + ["metric_keys"]
    inlines = [JobLogInline]
    actions = ["cancel_jobs"]

    def has_add_permission(self, request):
        return False  # jobs are submitted through the API, where their spec is checked

    def has_delete_permission(self, request, obj=None):
        return False  # a job is part of its outputs' lineage

    @admin.action(description="Cancel the selected jobs", permissions=["change"])
    def cancel_jobs(self, request, queryset):
        from config.errors import Conflict
        from jobs_app.services import cancel_job

        done = 0
        for job in queryset:
            try:
                cancel_job(actor=request.user, job=job)
                done += 1
            except Conflict:
                pass
        self.message_user(request, f"Cancelled or asked to stop {done} job(s).")

    @admin.display(description="metrics")
    def metric_keys(self, obj):
        rows = metrics.keys(obj.pk) if obj.pk else []
        return (
            format_html_join(
                "\n", "<div>{}: {} points, last {}</div>", ((r["key"], r["count"], r["last_value"]) for r in rows)
            )
            or "-"
        )


@admin.register(JobOutput)
class JobOutputAdmin(admin.ModelAdmin):
    """Provenance: what each job registered. Written by the runners only, so read-only here."""

    list_display = ["job", "kind", "object_id", "created_at"]
    list_filter = ["kind"]
    search_fields = ["job__id", "object_id"]
    list_select_related = ["job"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(JobLog)
class JobLogAdmin(admin.ModelAdmin):
    list_display = ["job", "time", "line"]
    search_fields = ["job__id", "line"]
    list_select_related = ["job"]
    readonly_fields = ["job", "time", "line"]

    def has_add_permission(self, request):
        return False


class TriggerRunInline(admin.TabularInline):
    model = TriggerRun
    extra = 0
    fields = ["status", "step", "feedback_count", "dataset_version", "model_version", "error", "created_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(RetrainTrigger)
class RetrainTriggerAdmin(admin.ModelAdmin):
    """Triggers are created through the API, where the train spec is checked; here they can be paused."""

    list_display = ["__str__", "team", "model", "min_feedback", "enabled", "feedback_seen_until", "last_checked_at"]
    list_filter = ["enabled", "team"]
    search_fields = ["name", "model__name"]
    list_select_related = ["team", "model"]
    readonly_fields = [f.name for f in RetrainTrigger._meta.fields if f.name != "enabled"]
    inlines = [TriggerRunInline]

    def has_add_permission(self, request):
        return False


class RunJobInline(admin.TabularInline):
    model = Job
    fk_name = "trigger_run"
    extra = 0
    fields = ["kind", "status", "error", "created_at", "finished_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TriggerRun)
class TriggerRunAdmin(admin.ModelAdmin):
    list_display = ["trigger", "status", "step", "feedback_count", "model_version", "created_at", "finished_at"]
    list_filter = ["status", "trigger__team"]
    list_select_related = ["trigger", "model_version"]
    readonly_fields = [f.name for f in TriggerRun._meta.fields]
    inlines = [RunJobInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
