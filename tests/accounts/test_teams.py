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


def test_admin_manages_members_and_every_change_is_audited(world):
    UserFactory(username="newcomer")
    admin = world.client("admin")
    added = admin.post("/api/v1/teams/alpha/members/", {"username": "newcomer", "role": "viewer"})
    assert added.status_code == 201, added.json()
    changed = admin.patch("/api/v1/teams/alpha/members/newcomer/", {"role": "maintainer"})
    assert changed.status_code == 200 and changed.json()["role"] == "maintainer"
    assert admin.delete("/api/v1/teams/alpha/members/newcomer/").status_code == 204
    actions = list(
        AuditEvent.objects.filter(team=world.alpha, action__startswith="membership.")
        .order_by("id")
        .values_list("action", "data")
    )
    assert actions == [
        ("membership.add", {"user": "newcomer", "role": "viewer"}),
        ("membership.role", {"user": "newcomer", "from": "viewer", "to": "maintainer"}),
        ("membership.remove", {"user": "newcomer", "role": "maintainer"}),
    ]
    audit = admin.get("/api/v1/audit-events/?team=alpha&action__startswith=membership.").json()
    assert audit["count"] == 3


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
    unknown = admin.post("/api/v1/teams/alpha/members/", {"username": "ghost", "role": "viewer"})
    assert unknown.status_code == 400 and "No active user 'ghost'" in unknown.json()["detail"]
    twice = admin.post("/api/v1/teams/alpha/members/", {"username": "alpha-viewer", "role": "viewer"})
    assert twice.status_code == 400 and "already a member" in twice.json()["detail"]
    bad_role = admin.patch("/api/v1/teams/alpha/members/alpha-viewer/", {"role": "owner"})
    assert bad_role.status_code == 400 and "role" in bad_role.json()["errors"]


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
