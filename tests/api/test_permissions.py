"""accounts_app.permissions.TeamRole on the team a request body names: it reads the slug as the body's
serializer will (trimmed; numbers as text), so no spelling of a team gets past the role check."""

import pytest

from datasets_app.models import Dataset


@pytest.mark.parametrize("team", ["alpha", " alpha ", "alpha\n"])
def test_the_role_is_checked_on_the_team_however_it_is_spelled(world, team):
    body = {"team": team, "name": "new-data", "task": "classification"}
    response = world.client("viewer").post("/api/v1/datasets/", body, format="json")
    assert response.status_code == 403 and "'member' role in team 'alpha'" in response.json()["detail"]
    assert world.client("member").post("/api/v1/datasets/", body, format="json").status_code == 201
    assert Dataset.objects.count() == 1


@pytest.mark.parametrize("team", [None, ["alpha"], {"slug": "alpha"}, True, ""])
def test_a_team_that_is_not_a_slug_is_a_400_naming_the_field(world, team):
    body = {"team": team, "name": "new-data", "task": "classification"}
    response = world.client("viewer").post("/api/v1/datasets/", body, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["team"], response.json()
    assert not Dataset.objects.exists()


def test_the_role_comes_before_the_rest_of_the_body(world):
    """A caller without the role learns nothing about what the body lacks."""
    response = world.client("viewer").post("/api/v1/jobs/", {"team": "alpha", "kind": "dance"}, format="json")
    assert response.status_code == 403
    response = world.client("member").post("/api/v1/jobs/", {"team": "alpha", "kind": "dance"}, format="json")
    assert response.status_code == 400 and "kind" in response.json()["errors"]


def test_a_number_names_the_team_whose_slug_it_spells(world):
    from tests.factories import MembershipFactory, TeamFactory

    MembershipFactory(team=TeamFactory(slug="42"), user=world.users["viewer"], role="viewer")
    body = {"team": 42, "name": "new-data", "task": "classification"}
    response = world.client("viewer").post("/api/v1/datasets/", body, format="json")
    assert response.status_code == 403 and "team '42'" in response.json()["detail"]
