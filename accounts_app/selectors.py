"""Reads for accounts_app, and the role checks every app's views use."""

import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from accounts_app.models import ROLE_RANK, ApiToken, AuditEvent, Invitation, Membership, Role, Team, User

SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?")


def teams_for_user(user: User) -> QuerySet[Team]:
    return Team.objects.filter(memberships__user=user).distinct()


def team_ids_for_user(user: User) -> QuerySet:
    return Membership.objects.filter(user=user).values("team_id")


def team_for_user(*, user: User, slug: str) -> Team:
    """The team with this slug, if the user belongs to it; otherwise 404 (never reveal it exists)."""
    team = Team.objects.filter(slug=slug, memberships__user=user).first()
    if team is None:
        raise Http404(f"No team '{slug}'.")
    return team


def team_for_write(*, user: User, slug: str, field: str = "team") -> Team:
    """The team named in a request body: 400 naming the field when it is not one of the caller's teams.
    The role it takes to write there is the view's (accounts_app.permissions)."""
    if not SLUG.fullmatch(slug):  # not a slug at all (a NUL, say, which PostgreSQL text cannot even hold)
        raise ValidationError({field: ["No such team among your teams: a team slug is lowercase letters, digits, -."]})
    team = Team.objects.filter(slug=slug, memberships__user=user).first()
    if team is None:
        raise ValidationError({field: [f"No team '{slug}' among your teams."]})
    return team


def role_of(*, user: User, team: Team) -> str | None:
    return Membership.objects.filter(user=user, team=team).values_list("role", flat=True).first()


def ensure_role(*, user: User, team: Team, minimum: str) -> None:
    """Raise 404 when the user is not in the team, 403 when their role is below `minimum`."""
    role = role_of(user=user, team=team)
    if role is None:
        raise Http404("Not found.")
    if ROLE_RANK[Role(role)] < ROLE_RANK[Role(minimum)]:
        raise PermissionDenied(f"This needs the '{minimum}' role in team '{team.slug}'; you are '{role}'.")


def memberships_of_team(*, team: Team) -> QuerySet[Membership]:
    return Membership.objects.filter(team=team).select_related("user").order_by("user__username")


def memberships_of_user(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("team").order_by("team__slug")


def tokens_of_user(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def audit_events_for_user(*, user: User) -> QuerySet[AuditEvent]:
    """Audit events of the teams where the user is an admin or maintainer."""
    teams = Membership.objects.filter(user=user, role__in=[Role.ADMIN, Role.MAINTAINER]).values("team_id")
    return AuditEvent.objects.filter(team_id__in=teams).select_related("actor", "team")


def _pending_invitations() -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        accepted_at__isnull=True, declined_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).select_related("team", "invited_by")


def invitations_for_user(*, user: User) -> QuerySet[Invitation]:
    """The pending invitations addressed to the user's username, newest first."""
    return _pending_invitations().filter(username=user.username)


def invitations_of_team(*, team: Team) -> QuerySet[Invitation]:
    """A team's pending invitations (its admins' view), newest first."""
    return _pending_invitations().filter(team=team)
