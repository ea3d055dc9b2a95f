"""Every write of accounts_app: teams, memberships, API tokens and audit events."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import login, logout
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from accounts_app import token_cache
from accounts_app.models import ApiToken, AuditEvent, Invitation, Membership, Role, Team, TokenScope, User
from config.errors import Conflict
from ml.names import clean_name

TOKEN_PREFIX = "eco_"


def record_audit(
    *, actor: User | None, action: str, team: Team | None = None, target=None, data: dict | None = None
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        team=team,
        action=action,
        target_type=type(target).__name__.lower() if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        data=data or {},
    )


@transaction.atomic
def create_team(*, actor: User, slug: str, name: str) -> Team:
    """A new team whose admin is `actor`; audited. `name` must be printable and is stored in NFC."""
    name = clean_name(name, max_length=200)
    if Team.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": [f"A team with slug '{slug}' already exists."]})
    team = Team(slug=slug, name=name)
    team.full_clean()
    try:
        with transaction.atomic():
            team.save()
    except IntegrityError as exc:
        raise ValidationError({"slug": [f"A team with slug '{slug}' already exists."]}) from exc
    Membership.objects.create(team=team, user=actor, role=Role.ADMIN)
    record_audit(actor=actor, action="team.create", team=team, target=team, data={"slug": slug})
    return team


@transaction.atomic
def rename_team(*, actor: User, team: Team, name: str) -> Team:
    """Change a team's display name (the slug is its permanent address); audited. Raises UserError for a name
    that is not printable."""
    name = clean_name(name, max_length=200)
    team = Team.objects.select_for_update().get(pk=team.pk)
    if team.name != name:
        old, team.name = team.name, name
        team.save(update_fields=["name"])
        record_audit(
            actor=actor, action="team.update", team=team, target=team, data={"name": {"old": old, "new": name}}
        )
    return team


def _admin_count(team: Team) -> int:
    return Membership.objects.filter(team=team, role=Role.ADMIN).count()


@transaction.atomic
def add_member(*, actor: User, team: Team, username: str, role: str) -> Membership:
    """Make `username` a member at once, without an invitation: for the admin site and set-up commands only
    (the API invites, see `invite_member`). Raises ValidationError for an unknown or existing member."""
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise ValidationError({"username": [f"No active user '{username}'."]})
    if Membership.objects.filter(team=team, user=user).exists():
        raise ValidationError({"username": [f"'{username}' is already a member of '{team.slug}'."]})
    membership = Membership.objects.create(team=team, user=user, role=role)
    record_audit(
        actor=actor, action="membership.add", team=team, target=membership, data={"user": username, "role": role}
    )
    return membership


@transaction.atomic
def invite_member(*, actor: User, team: Team, username: str, role: str) -> Invitation:
    """Invite `username` to `team` with `role`; the user joins by accepting (`accept_invitation`). Whether the
    name belongs to a user, an existing member or nobody, the same thing happens (a pending invitation for the
    name, renewed with the new role and expiry if one was pending), so the answer reveals nothing. Audited."""
    username = username.strip()
    expires_at = timezone.now() + timedelta(days=settings.ECO_INVITATION_DAYS)
    invitation = (
        Invitation.objects.select_for_update()
        .filter(
            team=team, username=username, accepted_at__isnull=True, declined_at__isnull=True, revoked_at__isnull=True
        )
        .first()
    )
    if invitation is None:
        invitation = Invitation.objects.create(
            team=team, username=username, role=role, invited_by=actor, expires_at=expires_at
        )
    else:
        invitation.role, invitation.invited_by, invitation.expires_at = role, actor, expires_at
        invitation.save(update_fields=["role", "invited_by", "expires_at"])
    record_audit(
        actor=actor, action="membership.invite", team=team, target=invitation, data={"user": username, "role": role}
    )
    return invitation


def _own_pending(actor: User, invitation: Invitation) -> Invitation:
    invitation = Invitation.objects.select_for_update().select_related("team").get(pk=invitation.pk)
    if invitation.username != actor.username or not invitation.is_pending:
        raise Http404("No such invitation.")
    return invitation


@transaction.atomic
def accept_invitation(*, actor: User, invitation: Invitation) -> Membership:
    """Join the invitation's team with its role. Raises Http404 for an invitation that is not the actor's
    or no longer pending, Http404 (404); Conflict (409) when the actor is already a member (the invitation then stays
    pending, for an admin to revoke)."""
    invitation = _own_pending(actor, invitation)
    if Membership.objects.filter(team=invitation.team, user=actor).exists():
        raise Conflict(f"You are already a member of '{invitation.team.slug}'.")
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    membership = Membership.objects.create(team=invitation.team, user=actor, role=invitation.role)
    record_audit(
        actor=actor,
        action="membership.accept",
        team=invitation.team,
        target=membership,
        data={"user": actor.username, "role": invitation.role},
    )
    return membership


@transaction.atomic
def decline_invitation(*, actor: User, invitation: Invitation) -> Invitation:
    """Turn the invitation down (Http404 as for accepting); audited."""
    invitation = _own_pending(actor, invitation)
    invitation.declined_at = timezone.now()
    invitation.save(update_fields=["declined_at"])
    record_audit(actor=actor, action="membership.decline", team=invitation.team, target=invitation)
    return invitation


@transaction.atomic
def revoke_invitation(*, actor: User, invitation: Invitation) -> Invitation:
    """An admin withdraws a pending invitation (a no-op for one that has ended); audited."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.is_pending:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        record_audit(
            actor=actor,
            action="membership.revoke_invitation",
            team=invitation.team,
            target=invitation,
            data={"user": invitation.username},
        )
    return invitation


@transaction.atomic
def change_member_role(*, actor: User, membership: Membership, role: str) -> Membership:
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    Team.objects.select_for_update().get(pk=membership.team_id)  # serialize last-admin checks
    old = membership.role
    if old == role:
        return membership
    if old == Role.ADMIN and _admin_count(membership.team) <= 1:
        raise Conflict(f"'{membership.user.username}' is the last admin of '{membership.team.slug}'.")
    membership.role = role
    membership.save(update_fields=["role"])
    record_audit(
        actor=actor,
        action="membership.role",
        team=membership.team,
        target=membership,
        data={"user": membership.user.username, "from": old, "to": role},
    )
    return membership


@transaction.atomic
def remove_member(*, actor: User, membership: Membership) -> None:
    Team.objects.select_for_update().get(pk=membership.team_id)
    if membership.role == Role.ADMIN and _admin_count(membership.team) <= 1:
        raise Conflict(f"'{membership.user.username}' is the last admin of '{membership.team.slug}'.")
    record_audit(
        actor=actor,
        action="membership.remove",
        team=membership.team,
        target=membership,
        data={"user": membership.user.username, "role": membership.role},
    )
    membership.delete()


@transaction.atomic
def sign_in(*, request, user: User) -> None:
    """Start a browser session for `user` (already authenticated): django.contrib.auth.login, which gives the
    session a new key and the CSRF cookie a new secret (no fixation); audited as session.login."""
    login(request, user)
    record_audit(actor=user, action="session.login", target=user)


@transaction.atomic
def sign_out(*, request) -> None:
    """End the browser session (a no-op without one); audited as session.logout when someone was signed in."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        record_audit(actor=user, action="session.logout", target=user)
    logout(request)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def issue_token(
    *, user: User, name: str = "", expires_in_days: int | None = None, scope: str = TokenScope.ADMIN
) -> tuple[ApiToken, str]:
    """Create a token with `scope` (read, write or admin; see TokenScope); returns the row and the full token,
    which is never stored or shown again."""
    days = settings.ECO_TOKEN_DEFAULT_DAYS if expires_in_days is None else expires_in_days
    if days < 0 or days > 3650:
        raise ValidationError({"expires_in_days": ["Use 0 (never expires) to 3650 days."]})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=raw[:12],
        key_hash=hash_token(raw),
        expires_at=timezone.now() + timedelta(days=days) if days else None,
        scope=scope,
    )
    record_audit(
        actor=user, action="token.create", target=token, data={"prefix": token.prefix, "name": name, "scope": scope}
    )
    return token, raw


@transaction.atomic
def revoke_token(*, actor: User, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        token_cache.forget(token.key_hash)
        # and again once committed: a request in between could have cached the still-valid row
        transaction.on_commit(lambda key=token.key_hash: token_cache.forget(key))
        record_audit(actor=actor, action="token.revoke", target=token, data={"prefix": token.prefix})
    return token


def touch_token(token: ApiToken) -> None:
    """Note when a token was last used, at most once a minute (no write on every request)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
