from django.contrib import admin
from django.utils.html import format_html_join

from accounts_app.adminkit import ReadOnlyMixin
from jobs_app import metrics
from jobs_app.models import (
    Experiment,
    Job,
    JobArtifact,
    JobLog,
    JobOutput,
    LoggedModel,
    ResourcePool,
    RetrainTrigger,
    TeamMonthUsage,
    TeamQuota,
    TriggerRun,
)


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
    list_display = ["id", "team", "kind", "status", "priority", "waiting_because", "pool", "worker", "created_at"]
    list_filter = ["status", "kind", "pool", "team"]
    search_fields = ["id", "worker", "error"]
    list_select_related = ["team"]
    # the state machine belongs to the services: nothing here is edited by hand; cancel is an action
    readonly_fields = [f.name for f in Job._meta.fields] + ["metric_keys"]
    inlines = [JobLogInline]
    actions = ["cancel_jobs", "requeue_jobs", "raise_priority", "lower_priority"]

    @admin.action(description="Requeue the selected jobs (they wait for admission again)", permissions=["change"])
    def requeue_jobs(self, request, queryset):
        from jobs_app.services.governance import requeue_job

        done = sum(1 for job in queryset if requeue_job(actor=request.user, job=job))
        self.message_user(request, f"Requeued {done} job{'s' if done != 1 else ''}.")

    @admin.display(description="queue reason")
    def waiting_because(self, obj):
        from jobs_app.selectors import queue_reason

        return queue_reason(obj) or "-"

    def _reprioritise(self, request, queryset, step: int) -> None:
        from jobs_app.services.governance import set_priority

        changed = sum(1 for job in queryset if set_priority(actor=request.user, job=job, priority=job.priority + step))
        self.message_user(request, f"Changed the priority of {changed} job{'s' if changed != 1 else ''}.")

    @admin.action(description="Raise the priority of the selected waiting jobs by 1", permissions=["change"])
    def raise_priority(self, request, queryset):
        self._reprioritise(request, queryset, +1)

    @admin.action(description="Lower the priority of the selected waiting jobs by 1", permissions=["change"])
    def lower_priority(self, request, queryset):
        self._reprioritise(request, queryset, -1)

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
        self.message_user(request, f"Cancelled or asked to stop {done} job{'s' if done != 1 else ''}.")

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
class JobOutputAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Provenance: what each job registered. Written by the runners only, so read-only here."""

    list_display = ["job", "kind", "object_id", "created_at"]
    list_filter = ["kind"]
    search_fields = ["job__id", "object_id"]
    list_select_related = ["job"]


@admin.register(JobArtifact)
class JobArtifactAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Files tracking runs logged. Written by the runs' clients only (through the API), so read-only here."""

    list_display = ["job", "path", "size_bytes", "created_at"]
    search_fields = ["job__id", "path"]
    list_select_related = ["job"]


@admin.register(Experiment)
class ExperimentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Teams' experiments (groups of tracking runs). Made, renamed, deleted and restored by the teams through
    the API (MLflow's protocol), so read-only here."""

    list_display = ["team", "name", "lifecycle_stage", "created_at"]
    list_filter = ["lifecycle_stage"]
    search_fields = ["name", "team__slug"]
    list_select_related = ["team"]


@admin.register(LoggedModel)
class LoggedModelAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Models tracking runs logged through MLflow's client (their files are the runs' artifacts). Written by the
    runs' clients only, so read-only here."""

    list_display = ["__str__", "job", "status", "model_type", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "job__id"]
    list_select_related = ["job"]


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


# --- resource governance: pools, quotas and weights, usage per team and month, the queue ----------------


class TeamQuotaInline(admin.TabularInline):
    model = TeamQuota
    extra = 0
    autocomplete_fields = ["team"]
    fields = [
        "team",
        "weight",
        "max_concurrent_jobs",
        "max_gpus",
        "gpu_hours_per_month",
        "cpu_hours_per_month",
        "storage_bytes",
    ]


@admin.register(ResourcePool)
class ResourcePoolAdmin(admin.ModelAdmin):
    """Pools and each team's quota and weight on it. A save runs an admission round of the pool (a raised limit
    lets waiting jobs through at once) and is audited with the values before and after."""

    list_display = ["name", "queue", "accelerator", "capacity", "in_use", "waiting", "teams_with_quota"]
    inlines = [TeamQuotaInline]

    @admin.display(description="in use")
    def in_use(self, obj):
        held = Job.objects.filter(pool=obj.name, status__in=["queued", "running"], admitted_at__isnull=False)
        used = sum(held.values_list("units", flat=True))
        return f"{used} of {obj.capacity}"

    @admin.display(description="waiting jobs")
    def waiting(self, obj):
        return Job.objects.filter(pool=obj.name, status="queued", admitted_at__isnull=True).count()

    @admin.display(description="teams with a quota")
    def teams_with_quota(self, obj):
        return ", ".join(obj.quotas.values_list("team__slug", flat=True)) or "-"

    def save_model(self, request, obj, form, change):
        from jobs_app.services.governance import snapshot

        # the values before this save, read from the database (the form has already changed `obj`)
        request._pool_before = snapshot(ResourcePool.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        from jobs_app.services.governance import pool_saved

        super().save_related(request, form, formsets, change)
        pool_saved(actor=request.user, pool=form.instance, before=getattr(request, "_pool_before", None))


@admin.register(TeamMonthUsage)
class TeamMonthUsageAdmin(admin.ModelAdmin):
    """What each team used of each pool per month (UTC): written as jobs' attempts end, never by hand."""

    list_display = ["month_label", "team", "pool", "gpu_hours", "cpu_hours", "jobs"]
    list_filter = ["pool", "team", "month"]
    list_select_related = ["team"]
    months_charted = 6

    def changelist_view(self, request, extra_context=None):
        from jobs_app.governance_charts import usage_charts

        charts = usage_charts(months=self.months_charted)
        extra = {"usage_charts": charts, "usage_months": self.months_charted, **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    @admin.display(description="month", ordering="month")
    def month_label(self, obj):
        return f"{obj.month:%B %Y}"

    @admin.display(description="GPU-hours", ordering="gpu_seconds")
    def gpu_hours(self, obj):
        return f"{obj.gpu_seconds / 3600:,.2f}"

    @admin.display(description="CPU-hours", ordering="cpu_seconds")
    def cpu_hours(self, obj):
        return f"{obj.cpu_seconds / 3600:,.2f}"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TeamQuota)
class TeamQuotaAdmin(admin.ModelAdmin):
    """Every team's quota on every pool, in one list (edited on the pool's page, where a save is audited and
    runs admission)."""

    list_display = [
        "team",
        "pool",
        "weight",
        "max_concurrent_jobs",
        "max_gpus",
        "gpu_hours_per_month",
        "cpu_hours_per_month",
    ]
    list_filter = ["pool", "team"]
    list_select_related = ["team", "pool"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
