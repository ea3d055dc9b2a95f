from django.contrib import admin

from jobs_app.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "team", "kind", "status", "progress", "attempts", "worker", "created_at", "finished_at"]
    list_filter = ["status", "kind", "team"]
    search_fields = ["id", "worker", "error"]
    list_select_related = ["team"]
    readonly_fields = ["created_at", "started_at", "finished_at", "attempts", "worker", "progress"]
