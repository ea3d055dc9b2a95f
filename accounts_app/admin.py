import json

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from accounts_app import services
from accounts_app.adminkit import ReadOnlyMixin, RefusalsAsMessagesMixin, copy_saved, report_refusal
from accounts_app.models import ApiToken, AuditEvent, Invitation, Membership, Team, User
from ml.errors import UserError


class MembershipInline(ReadOnlyMixin, admin.TabularInline):
    """Members are added, re-roled and removed on the Membership page, through the services (audited)."""

    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = fields


@admin.register(User)
class EcoUserAdmin(UserAdmin):
    list_display = ["username", "email", "is_active", "is_staff", "team_count", "last_login", "date_joined"]
    list_filter = ["is_active", "is_staff", "is_superuser", "memberships__team"]

    @admin.display(description="teams")
    def team_count(self, obj):
        return obj.memberships.count()


@admin.register(Team)
class TeamAdmin(RefusalsAsMessagesMixin, admin.ModelAdmin):
    """Teams are created (the admin user becomes their first admin) and renamed through accounts_app.services;
    a team holds data sets, models and an audit trail, so it is not deleted here."""

    list_display = ["slug", "name", "member_count", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]

    def get_fields(self, request, obj=None):
        return ["slug", "name", "created_at"] if obj is not None else ["slug", "name"]

    def get_readonly_fields(self, request, obj=None):
        return ["slug", "created_at"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            saved = services.rename_team(actor=request.user, team=obj, name=form.cleaned_data["name"])
        else:
            saved = services.create_team(actor=request.user, slug=obj.slug, name=obj.name)
        copy_saved(saved, obj)

    @admin.display(description="members")
    def member_count(self, obj):
        return obj.memberships.count()


@admin.register(Membership)
class MembershipAdmin(RefusalsAsMessagesMixin, admin.ModelAdmin):
    """Adding, re-roling and removing a member go through accounts_app.services: audited, and the last admin of
    a team cannot be demoted or removed."""

    list_display = ["team", "user", "role", "created_at"]
    list_filter = ["role", "team"]
    search_fields = ["team__slug", "user__username"]
    autocomplete_fields = ["team", "user"]
    list_select_related = ["team", "user"]

    def get_fields(self, request, obj=None):
        return ["team", "user", "role", "created_at"] if obj is not None else ["team", "user", "role"]

    def get_readonly_fields(self, request, obj=None):
        return ["team", "user", "created_at"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            saved = services.change_member_role(actor=request.user, membership=obj, role=form.cleaned_data["role"])
        else:
            saved = services.add_member(actor=request.user, team=obj.team, username=obj.user.username, role=obj.role)
        copy_saved(saved, obj)

    def delete_model(self, request, obj):
        services.remove_member(actor=request.user, membership=obj)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("team", "user"):
            try:
                services.remove_member(actor=request.user, membership=membership)
            except (UserError, ValidationError) as exc:
                report_refusal(self, request, membership, exc)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["prefix", "name", "user__username"]
    readonly_fields = [f.name for f in ApiToken._meta.fields]
    list_select_related = ["user"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # tokens are issued through the API, where the full token can be shown once

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead (audited; the row stays as a record)

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            services.revoke_token(actor=request.user, token=token)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail, read-only: who did what to which object, with the values before and after a change."""

    list_display = ["created_at", "action", "actor", "team", "target_type", "change"]
    list_filter = ["action", "team", "target_type"]
    search_fields = ["action", "target_id", "actor__username"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "team"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields if f.name != "data"] + ["change", "data_formatted"]
    exclude = ["data"]

    @admin.display(description="change")
    def change(self, obj):
        return describe_change(obj.data) or "-"

    @admin.display(description="data")
    def data_formatted(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, sort_keys=True, default=str))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def describe_change(data: dict, limit: int = 6) -> str:
    """An audit event's data in words: "max_concurrent_jobs: 1 → 2; weight: 1 → 2" for {before, after} (nested
    dicts by dotted path, only what changed), "key=value, ..." otherwise; at most `limit` items."""
    if not isinstance(data, dict):
        return str(data)
    if "before" in data and "after" in data:
        pairs = _diff(data["before"], data["after"]).items()
        changes = [f"{path}: {_shown(old)} → {_shown(new)}" for path, (old, new) in pairs]
    else:
        changes = [f"{k}={v}" for k, v in data.items() if not isinstance(v, (dict, list))]
    more = len(changes) - limit
    return "; ".join(changes[:limit]) + (f"; and {more} more" if more > 0 else "")


def _shown(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _diff(before, after, prefix: str = "") -> dict:
    """{dotted path: (before, after)} of the leaves that differ; a dict on one side only is compared with {}."""
    if isinstance(before, dict) or isinstance(after, dict):
        before = before if isinstance(before, dict) else {}
        after = after if isinstance(after, dict) else {}
        out = {}
        for key in sorted(set(before) | set(after), key=str):
            out.update(_diff(before.get(key), after.get(key), f"{prefix}{key}."))
        return out
    return {} if before == after else {prefix.rstrip("."): (before, after)}


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Invitations to teams, as the team admins made them through the API (read-only: the invitee accepts)."""

    list_display = ["username", "team", "role", "invited_by", "created_at", "expires_at", "state"]
    list_filter = ["team", "role"]
    search_fields = ["username", "team__slug"]
    list_select_related = ["team", "invited_by"]

    @admin.display(description="state")
    def state(self, obj):
        if obj.accepted_at:
            return "accepted"
        if obj.declined_at:
            return "declined"
        if obj.revoked_at:
            return "revoked"
        return "pending" if obj.is_pending else "expired"
