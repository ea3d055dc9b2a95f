import pytest

from accounts_app.models import AuditEvent, Membership
from tests.factories import UserFactory


def test_creating_a_team_makes_the_creator_admin(world):
    client = world.client("viewer")
    response = client.post("/api/v1/teams/", {"slug": "vision", "name": "Vision"})
    assert response.status_code == 201, response.json()
    assert response.json()["role"] == "admin"
    assert Membership.objects.get(team__slug="vision", user=world.users["viewer"]).role == "admin"
    slugs = [t["slug"] for t in client.get("/api/v1/teams/").json()["results"]]
    assert slugs == ["alpha", "vision"]


@pytest.mark.parametrize(
    ("payload", "field", "needle"),
    [
        ({"slug": "alpha", "name": "again"}, "slug", "already exists"),
        ({"slug": "Bad Slug!", "name": "x"}, "slug", "lowercase"),
        ({"slug": "ok"}, "name", "required"),
    ],
)
def test_team_input_errors(world, payload, field, needle):
    response = world.client("member").post("/api/v1/teams/", payload)
    assert response.status_code == 400
    assert needle in " ".join(response.json()["errors"][field])


def _join(world, username: str, role: str) -> None:
    """An admin invites, the user accepts."""
    from accounts_app.models import Invitation

    assert (
        world.client("admin").post("/api/v1/teams/alpha/members/", {"username": username, "role": role}).status_code
        == 202
    )
    invitation = Invitation.objects.get(team=world.alpha, username=username, accepted_at__isnull=True)
    from rest_framework.test import APIClient

    from accounts_app.models import User

    client = APIClient()
    client.force_authenticate(User.objects.get(username=username))
    assert client.post(f"/api/v1/invitations/{invitation.pk}/accept/").status_code == 201


def test_admin_manages_members_and_every_change_is_audited(world):
    UserFactory(username="newcomer")
    admin = world.client("admin")
    _join(world, "newcomer", "viewer")
    changed = admin.patch("/api/v1/teams/alpha/members/newcomer/", {"role": "maintainer"})
    assert changed.status_code == 200 and changed.json()["role"] == "maintainer"
    assert admin.delete("/api/v1/teams/alpha/members/newcomer/").status_code == 204
    actions = list(
        AuditEvent.objects.filter(team=world.alpha, action__startswith="membership.")
        .order_by("id")
        .values_list("action", "data")
    )
    assert actions == [
        ("membership.invite", {"user": "newcomer", "role": "viewer"}),
        ("membership.accept", {"user": "newcomer", "role": "viewer"}),
        ("membership.role", {"user": "newcomer", "from": "viewer", "to": "maintainer"}),
        ("membership.remove", {"user": "newcomer", "role": "maintainer"}),
    ]
    audit = admin.get("/api/v1/audit-events/?team=alpha&action__startswith=membership.").json()
    assert audit["count"] == 4


@pytest.mark.parametrize("role", ["viewer", "member", "maintainer"])
def test_only_admins_manage_members(world, role):
    UserFactory(username="newcomer")
    client = world.client(role)
    assert client.post("/api/v1/teams/alpha/members/", {"username": "newcomer", "role": "viewer"}).status_code == 403
    assert client.patch("/api/v1/teams/alpha/members/alpha-viewer/", {"role": "admin"}).status_code == 403
    assert client.delete("/api/v1/teams/alpha/members/alpha-viewer/").status_code == 403
    assert Membership.objects.get(team=world.alpha, user=world.users["viewer"]).role == "viewer"


def test_member_input_errors(world):
    admin = world.client("admin")
    bad_role = admin.patch("/api/v1/teams/alpha/members/alpha-viewer/", {"role": "owner"})
    assert bad_role.status_code == 400 and "role" in bad_role.json()["errors"]
    bad_invite = admin.post("/api/v1/teams/alpha/members/", {"username": "x", "role": "owner"})
    assert bad_invite.status_code == 400 and "role" in bad_invite.json()["errors"]
    assert admin.post("/api/v1/teams/alpha/members/", {"role": "viewer"}).status_code == 400


def test_the_last_admin_cannot_leave_or_be_demoted(world):
    admin = world.client("admin")
    demote = admin.patch("/api/v1/teams/alpha/members/alpha-admin/", {"role": "member"})
    assert demote.status_code == 409 and "last admin" in demote.json()["detail"]
    assert admin.delete("/api/v1/teams/alpha/members/alpha-admin/").status_code == 409
    admin.patch("/api/v1/teams/alpha/members/alpha-maintainer/", {"role": "admin"})
    assert admin.patch("/api/v1/teams/alpha/members/alpha-admin/", {"role": "member"}).status_code == 200


def test_audit_trail_is_for_maintainers_and_admins_of_the_team(world):
    world.client("admin").post("/api/v1/teams/alpha/members/", {"username": "beta-admin", "role": "viewer"})
    assert world.client("maintainer").get("/api/v1/audit-events/").json()["count"] >= 1
    assert world.client("member").get("/api/v1/audit-events/").json()["count"] == 0
    outsider_view = world.client("outsider").get("/api/v1/audit-events/?team=alpha").json()
    assert outsider_view["count"] == 0
