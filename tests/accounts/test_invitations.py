"""Team membership by invitation: an admin invites a username, only that user accepts or declines, and the
answer to an invite never tells whether the name exists or is a member already (issue 12's hole: anyone could
add anyone, and the error for an unknown name listed which names exist)."""

import pytest
from rest_framework.test import APIClient

from accounts_app.models import Invitation, Membership
from tests.factories import UserFactory


def _as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _invite(world, username, role="member"):
    return world.client("admin").post("/api/v1/teams/alpha/members/", {"username": username, "role": role})


def test_an_invite_answers_the_same_for_unknown_existing_and_member_names(world):
    UserFactory(username="newcomer")
    answers = [_invite(world, name) for name in ("newcomer", "ghost-who-does-not-exist", "alpha-viewer")]
    assert [a.status_code for a in answers] == [202, 202, 202]
    bodies = [
        a.json()["detail"].replace(name, "NAME")
        for a, name in zip(answers, ("newcomer", "ghost-who-does-not-exist", "alpha-viewer"), strict=True)
    ]
    assert bodies[0] == bodies[1] == bodies[2]
    assert set(answers[0].json()) == set(answers[1].json()) == {"detail"}
    # nobody joined by being invited
    assert not Membership.objects.filter(user__username="newcomer").exists()
    # and the admin's list of pending invitations shows all three names alike
    pending = world.client("admin").get("/api/v1/teams/alpha/invitations/").json()["results"]
    assert sorted(p["username"] for p in pending) == ["alpha-viewer", "ghost-who-does-not-exist", "newcomer"]


def test_the_invited_user_accepts_and_joins_with_the_role(world):
    newcomer = UserFactory(username="newcomer")
    _invite(world, "newcomer", role="maintainer")
    mine = _as(newcomer).get("/api/v1/invitations/").json()["results"]
    assert [(i["team"], i["role"], i["invited_by"]) for i in mine] == [("alpha", "maintainer", "alpha-admin")]
    accepted = _as(newcomer).post(f"/api/v1/invitations/{mine[0]['id']}/accept/")
    assert accepted.status_code == 201 and accepted.json()["role"] == "maintainer"
    assert Membership.objects.get(team=world.alpha, user=newcomer).role == "maintainer"
    assert _as(newcomer).get("/api/v1/invitations/").json()["count"] == 0
    # accepting again: the invitation has ended
    assert _as(newcomer).post(f"/api/v1/invitations/{mine[0]['id']}/accept/").status_code == 404


def test_nobody_else_can_accept_or_see_an_invitation(world):
    UserFactory(username="newcomer")
    _invite(world, "newcomer")
    invitation = Invitation.objects.get(username="newcomer")
    for role in ("admin", "member", "outsider"):
        client = world.client(role)
        assert client.get("/api/v1/invitations/").json()["count"] == 0
        assert client.post(f"/api/v1/invitations/{invitation.pk}/accept/").status_code == 404
        assert client.post(f"/api/v1/invitations/{invitation.pk}/decline/").status_code == 404
    assert not Membership.objects.filter(team=world.alpha, user__username="newcomer").exists()


@pytest.mark.parametrize("role", ["viewer", "member", "maintainer"])
def test_only_admins_invite_and_see_or_revoke_invitations(world, role):
    UserFactory(username="newcomer")
    client = world.client(role)
    assert client.post("/api/v1/teams/alpha/members/", {"username": "newcomer", "role": "admin"}).status_code == 403
    assert client.get("/api/v1/teams/alpha/invitations/").status_code == 403
    _invite(world, "newcomer")
    invitation = Invitation.objects.get(username="newcomer")
    assert client.delete(f"/api/v1/teams/alpha/invitations/{invitation.pk}/").status_code == 403
    assert not Invitation.objects.filter(revoked_at__isnull=False).exists()
    assert not Invitation.objects.filter(username="newcomer", role="admin").exists()


def test_outsiders_cannot_invite_to_a_team_they_are_not_in(world):
    response = world.client("outsider").post("/api/v1/teams/alpha/members/", {"username": "x", "role": "admin"})
    assert response.status_code == 404
    assert not Invitation.objects.exists()


def test_decline_revoke_and_expiry_end_an_invitation(world):
    from datetime import timedelta

    from django.utils import timezone

    a, b, c = UserFactory(username="a-user"), UserFactory(username="b-user"), UserFactory(username="c-user")
    for name in ("a-user", "b-user", "c-user"):
        _invite(world, name)
    by_name = {i.username: i for i in Invitation.objects.all()}
    assert _as(a).post(f"/api/v1/invitations/{by_name['a-user'].pk}/decline/").status_code == 204
    assert world.client("admin").delete(f"/api/v1/teams/alpha/invitations/{by_name['b-user'].pk}/").status_code == 204
    Invitation.objects.filter(pk=by_name["c-user"].pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for user, name in ((a, "a-user"), (b, "b-user"), (c, "c-user")):
        assert _as(user).post(f"/api/v1/invitations/{by_name[name].pk}/accept/").status_code == 404
    assert not Membership.objects.filter(user__in=[a, b, c]).exists()
    assert world.client("admin").get("/api/v1/teams/alpha/invitations/").json()["count"] == 0


def test_inviting_again_renews_the_one_pending_invitation(world):
    UserFactory(username="newcomer")
    _invite(world, "newcomer", role="viewer")
    _invite(world, "newcomer", role="maintainer")
    assert list(Invitation.objects.values_list("username", "role")) == [("newcomer", "maintainer")]


def test_a_member_accepting_an_invitation_again_is_a_conflict(world):
    _invite(world, "alpha-viewer", role="admin")
    invitation = Invitation.objects.get(username="alpha-viewer")
    response = world.client("viewer").post(f"/api/v1/invitations/{invitation.pk}/accept/")
    assert response.status_code == 409 and "already a member" in response.json()["detail"]
    assert Membership.objects.get(team=world.alpha, user=world.users["viewer"]).role == "viewer"
