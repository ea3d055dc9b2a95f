"""GET audit-events/: the trail of the teams the caller maintains or administers, newest first, paginated, with
filters by team, action, actor and time. A bad filter value is a 400 naming the parameter."""

from datetime import UTC, datetime, timedelta

import pytest

from accounts_app.models import AuditEvent
from tests.factories import TeamFactory

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def trail(world):
    """Five events in alpha (by two actors, an hour apart) and one in beta; stamped by hand so times are known."""
    maintainer, admin = world.users["maintainer"], world.users["admin"]
    rows = [
        (maintainer, world.alpha, "dataset.update", 0),
        (admin, world.alpha, "alias.set", 1),
        (maintainer, world.alpha, "alias.force", 2),
        (admin, world.alpha, "dataset.delete", 3),
        (None, world.alpha, "trigger.fire", 4),
        (world.outsider, world.beta, "dataset.update", 5),
    ]
    events = [
        AuditEvent.objects.create(actor=a, team=t, action=act, created_at=T0 + timedelta(hours=h))
        for a, t, act, h in rows
    ]
    return events


def actions(client, query: str = "") -> list[str]:
    response = client.get(f"/api/v1/audit-events/?{query}")
    assert response.status_code == 200, response.json()
    return [e["action"] for e in response.json()["results"]]


def test_newest_first_and_only_the_teams_the_caller_maintains(world, trail):
    assert actions(world.client("maintainer")) == [
        "trigger.fire",
        "dataset.delete",
        "alias.force",
        "alias.set",
        "dataset.update",
    ]
    assert actions(world.client("member")) == []
    assert actions(world.client("viewer")) == []
    assert actions(world.client("outsider")) == ["dataset.update"]
    body = world.client("admin").get("/api/v1/audit-events/?page_size=2").json()
    assert body["count"] == 5 and len(body["results"]) == 2 and body["next"]
    first = body["results"][0]
    assert set(first) == {"id", "created_at", "actor", "team", "action", "target_type", "target_id", "data"}
    assert first["actor"] is None and first["team"] == "alpha"


def test_filters_by_team_action_actor_and_time(world, trail):
    admin = world.client("admin")
    assert actions(admin, "actor=alpha-maintainer") == ["alias.force", "dataset.update"]
    assert actions(admin, "actor=beta-admin") == []  # another team's actor: nothing of theirs is visible here
    assert actions(admin, "actor=nobody") == []
    assert actions(admin, "action=alias.set") == ["alias.set"]
    assert actions(admin, "action__startswith=alias.") == ["alias.force", "alias.set"]
    assert actions(admin, "team=alpha&actor=alpha-admin") == ["dataset.delete", "alias.set"]
    assert actions(admin, "team=beta") == []
    since, until = "2026-03-01T13:00:00Z", "2026-03-01T15:00:00Z"
    assert actions(admin, f"since={since}") == ["trigger.fire", "dataset.delete", "alias.force", "alias.set"]
    assert actions(admin, f"until={until}") == ["dataset.delete", "alias.force", "alias.set", "dataset.update"]
    assert actions(admin, f"since={since}&until={until}") == ["dataset.delete", "alias.force", "alias.set"]
    # an offset is the same instant (%2B: a `+` in a query string is a space)
    assert actions(admin, "since=2026-03-01T15:00:00%2B02:00") == actions(admin, "since=2026-03-01T13:00:00Z")
    assert actions(admin, "since=2026-03-02") == []  # a date is its midnight
    # an offset PostgreSQL itself refuses (beyond 15:59) is turned into UTC first, not a 500
    assert actions(admin, "since=2026-03-02T07:00:00%2B18:00") == actions(admin, "since=2026-03-01T13:00:00Z")
    assert actions(admin, "since=2026-03-01T16:00:00Z&until=2026-03-01T13:00:00Z") == []


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("since=2026-03-01T25:00", "since"),
        ("until=0001-01-01T00:00:00%2B01:00", "until"),  # before year 1 in UTC
    ],
)
def test_a_bad_time_is_a_400_naming_the_parameter(world, trail, query, param):
    response = world.client("admin").get(f"/api/v1/audit-events/?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and list(response.json()["errors"]) == [param]


def test_the_list_costs_the_same_queries_for_more_events(world, trail, django_assert_max_num_queries):
    client = world.client("admin")
    client.get("/api/v1/me/")  # the token's first use writes last_used_at
    team = TeamFactory()
    for i in range(30):
        AuditEvent.objects.create(actor=world.users["admin"], team=world.alpha, action=f"bulk.{i}")
        AuditEvent.objects.create(actor=world.users["admin"], team=team, action="elsewhere")
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/audit-events/?page_size=100&actor=alpha-admin&since=2026-01-01T00:00:00Z")
    assert response.json()["count"] == 32
