"""The one home of role rules for views.

A view declares the least team role each method needs, and where the team comes from:

    class DatasetDetailApi(generics.RetrieveUpdateDestroyAPIView):
        required_roles = {"PATCH": Role.MEMBER, "DELETE": Role.MAINTAINER}

`TeamRole` (a default permission class, after `IsAuthenticated`) enforces it. A method absent from
`required_roles` needs no team role: any authenticated caller may use it, and what they see is still limited
by the selectors. `team_from` says where the team is:

- `"object"` (the default): the team of the object the view's `get_object()` returns (a `Team`, or anything
  with a `team`, `model` or `dataset` leading to one). Views whose objects are team-scoped call
  `self.check_object_permissions(request, obj)` right after fetching it through a selector, as DRF's own
  `get_object()` does; so the selector has already answered 404 for an object of another team.
- `"body"`: the team slug in the request body's `team` field (creating something in a team). A slug that is
  not one of the caller's teams answers 400 naming the field (the body is input, not a URL).
- `"path"`: the team slug in the URL (`teams/{slug}/...`); not one of the caller's teams answers 404.

Below the role: 403 naming the role needed and the caller's. Team isolation is not a role rule: it stays in
the selectors (an object of another team is a 404, never a 403 that confirms it exists).

An API token's scope caps it below its user's roles (`TokenScopeAllows`, also a default permission class):
`read` tokens only read (safe methods, and the POSTs a view marks `reads_only`: MLflow's searches), `write`
tokens also make the writes whose least role is at most maintainer, `admin` tokens do all their user may.

Rules that depend on an object's state, not only on the caller's role, stay in services (and a selector):

- Moving an alias past a failing promotion gate (`force: true`) needs the team admin role, and then a
  non-empty `reason` (400): `models_app.services.set_alias`.
- Removing an alias the model's gate protects needs the team admin role: `models_app.services.delete_alias`.
- A protected alias moves only to a version that passes the gate, else 409: `models_app.services.set_alias`
  (checks in `models_app.gates.report`, which the dry run POST /models/{id}/gate/check/ runs too).
- The last admin of a team cannot be demoted or removed (409): `accounts_app.services.change_member_role`,
  `accounts_app.services.remove_member`.
- A finished job cannot be cancelled (409): `jobs_app.services.cancel_job`.
- Metric points belong to their writer (after the member role): a worker job's come only from the worker
  running its current attempt, with that attempt's credential (403 without it or with a stale one, 409 while
  the job is not running); a tracking run's only from its creator, also after it ended (403 for anyone else):
  `jobs_app.attempts.check_writer`.
- Only a tracking run's creator ends it (403), only while it runs (409), and only a tracking run is ended this
  way (400): `jobs_app.services.finish_run`.
- A model or dataset still in use cannot be deleted (409): `models_app.services.delete_model`,
  `datasets_app.services.delete_dataset`. A delete is soft (datasets_app.retention): the object answers 404 at
  once; restoring it within ECO_RETENTION_DAYS is for staff users, in the Django admin (action "Restore").
- A restricted data set's rows (preview, statistics, download, safe CSV export) need the maintainer role;
  viewers and members get a 403 naming the sensitivity: `datasets_app.selectors.readable_version_for_user`
  (ROWS_MIN_ROLE). Its metadata, schema and lineage stay visible to every team role.
- A trigger fires only when no run of it is going and the model has labelled predictions (409), and a run
  acts for the trigger's creator, who must still be a maintainer or admin: `jobs_app.triggers.fire`,
  `jobs_app.triggers._start_run`.
- Team membership is by invitation: an admin invites a username (the answer is the same for any name), and
  only the user of that name accepts or declines it (404 for anyone else): `accounts_app.services
  .invite_member`, `accept_invitation`, `decline_invitation`.
- Audit events are visible only to maintainers and admins of their team: `accounts_app.selectors
  .audit_events_for_user`. Tokens are their owner's alone: `accounts_app.selectors.tokens_of_user`.
"""

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts_app.models import ROLE_RANK, SCOPE_RANK, Role, Team, TokenScope
from accounts_app.selectors import role_of, team_for_user, team_for_write

TEAM_FROM = ("object", "body", "path")


def team_of(obj) -> Team:
    """The team an object belongs to: the object itself, its `team`, or its model's or dataset's team."""
    while not isinstance(obj, Team):
        for attr in ("team", "model", "dataset"):
            if hasattr(obj, attr):
                obj = getattr(obj, attr)
                break
        else:
            raise TypeError(f"{type(obj).__name__} has no team to check a role against.")
    return obj


def require_role(*, user, team: Team, minimum: str) -> None:
    """Raise 403 (naming both roles) when the user's role in `team` is below `minimum`, 404 when they have none."""
    check_role(role=role_of(user=user, team=team), team_slug=team.slug, minimum=minimum)


def check_role(*, role: str | None, team_slug: str, minimum: str) -> None:
    """The rule of `require_role` for a role already read (a hot path reads it with the object, in one query):
    404 for no role, 403 naming both roles below `minimum`."""
    if role is None:
        raise exceptions.NotFound()
    if ROLE_RANK[Role(role)] < ROLE_RANK[Role(minimum)]:
        raise exceptions.PermissionDenied(f"This needs the '{minimum}' role in team '{team_slug}'; you are '{role}'.")


def _body_slug(request, field: str) -> str | None:
    """The team slug as the body's serializer will read it (a CharField: strings and numbers, trimmed); None
    when it is missing or of another type, which the serializer then refuses with a 400 naming the field."""
    data = request.data
    value = data.get(field) if hasattr(data, "get") else None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return str(value).strip() or None


class TeamRole(BasePermission):
    """Enforces a view's `required_roles = {METHOD: Role}` in the team `team_from` names (see the module)."""

    def _minimum(self, request, view) -> str | None:
        roles = getattr(view, "required_roles", None) or {}
        return roles.get(request.method)

    def has_permission(self, request, view) -> bool:
        minimum = self._minimum(request, view)
        if minimum is None:
            return True
        source = getattr(view, "team_from", "object")
        if source not in TEAM_FROM:
            raise TypeError(f"{type(view).__name__}.team_from must be one of {', '.join(TEAM_FROM)}.")
        if source == "path":
            team = team_for_user(user=request.user, slug=view.kwargs["slug"])
        elif source == "body":
            slug = _body_slug(request, "team")
            if slug is None:
                return True  # the view's serializer answers 400 before any team is used
            team = team_for_write(user=request.user, slug=slug)  # not one of the caller's teams: 400
        else:
            return True  # checked on the object, in has_object_permission
        require_role(user=request.user, team=team, minimum=minimum)
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        minimum = self._minimum(request, view)
        if minimum is None or getattr(view, "team_from", "object") != "object":
            return True
        require_role(user=request.user, team=team_of(obj), minimum=minimum)
        return True


class TokenScopeAllows(BasePermission):
    """An API token's scope caps what it may do, below its user's roles: `read` only safe methods (GET, HEAD,
    OPTIONS), `write` also the writes whose least role is at most maintainer, `admin` everything. A view may
    name a stricter `required_scope` for its writes (making tokens needs `admin`). Sessions are not capped."""

    def has_permission(self, request, view) -> bool:
        token = request.auth
        scope = getattr(token, "scope", None)
        if scope is None:
            return True
        if request.method in SAFE_METHODS or getattr(view, "reads_only", False):  # a search sent as a POST
            needed = TokenScope.READ
        else:
            needed = getattr(view, "required_scope", None)
            if needed is None:
                minimum = (getattr(view, "required_roles", None) or {}).get(request.method)
                needed = TokenScope.ADMIN if minimum == Role.ADMIN else TokenScope.WRITE
        if SCOPE_RANK[TokenScope(scope)] < SCOPE_RANK[TokenScope(needed)]:
            raise exceptions.PermissionDenied(
                f"This token's scope is '{scope}', which caps it below your role; this request needs a token with "
                f"the '{needed}' scope."
            )
        return True
