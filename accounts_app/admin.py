from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts_app.models import ApiToken, AuditEvent, Membership, Team, User


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(User)
class EcoUserAdmin(UserAdmin):
    list_display = ["username", "email", "is_active", "is_staff", "team_count", "last_login", "date_joined"]
    list_filter = ["is_active", "is_staff", "is_superuser", "memberships__team"]

    @admin.display(description="teams")
    def team_count(self, obj):
        return obj.memberships.count()


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "member_count", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]

    @admin.display(description="members")
    def member_count(self, obj):
        return obj.memberships.count()


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["team", "user", "role", "created_at"]
    list_filter = ["role", "team"]
    search_fields = ["team__slug", "user__username"]
    autocomplete_fields = ["team", "user"]
    list_select_related = ["team", "user"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["prefix", "name", "user__username"]
    readonly_fields = ["user", "prefix", "key_hash", "created_at", "last_used_at"]
    list_select_related = ["user"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # tokens are issued through the API, where the full token can be shown once

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        from accounts_app.services import revoke_token

        for token in queryset:
            revoke_token(actor=request.user, token=token)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "actor", "team", "target_type", "target_id"]
    list_filter = ["action", "team", "target_type"]
    search_fields = ["action", "target_id", "actor__username"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "team"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
