"""The admin writes only through services (so its edits are checked and audited, the admin user as actor), and
immutable records (versions, lineage, evaluations, predictions, blobs, aliases) are read-only there."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts_app.models import AuditEvent
from datasets_app.models import Dataset
from models_app.models import Evaluation, ModelAlias, ModelVersion, PredictionLog, RegisteredModel


@pytest.fixture
def staff(world):
    superuser = world.users["admin"]
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    client = Client()
    client.force_login(superuser)
    client.user = superuser
    return client


def _url(model, view, *args):
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def _inline_management(client, url) -> dict:
    """Empty management forms for the page's inlines (they are read-only: nothing to send for their rows)."""
    data = {}
    for inline in client.get(url).context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000})
    return data


def _post_form(client, model, view, fields, *args):
    url = _url(model, view, *args)
    return client.post(url, {**_inline_management(client, url), **fields})


DATASET_FIELDS = {
    "name": "added",
    "description": "",
    "task": "classification",
    "sensitivity": "internal",
    "license": "",
}
MODEL_FIELDS = {"name": "added", "description": "", "task": "classification", "card": ""}


@pytest.mark.parametrize(
    "kind, fields, action", [(Dataset, DATASET_FIELDS, "dataset"), (RegisteredModel, MODEL_FIELDS, "model")]
)
def test_adding_in_the_admin_goes_through_the_service(world, staff, kind, fields, action):
    response = _post_form(staff, kind, "add", {**fields, "team": world.alpha.pk, "name": "Cafe\u0301"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    created = kind.objects.get(team=world.alpha)
    assert created.name == "Caf\u00e9" and created.created_by == staff.user  # the service stored the NFC form
    event = AuditEvent.objects.get(action=f"{action}.create")
    assert event.actor == staff.user and event.target_id == str(created.pk)


@pytest.mark.parametrize(
    "kind, fields, action, fixture",
    [(Dataset, DATASET_FIELDS, "dataset", "dataset"), (RegisteredModel, MODEL_FIELDS, "model", "model")],
)
def test_editing_in_the_admin_goes_through_the_service(request, world, staff, kind, fields, action, fixture):
    obj = request.getfixturevalue(fixture)
    response = _post_form(staff, kind, "change", {**fields, "name": "renamed", "description": "new words"}, obj.pk)
    assert response.status_code == 302, response.context["adminform"].form.errors
    obj.refresh_from_db()
    assert obj.name == "renamed" and obj.description == "new words"
    event = AuditEvent.objects.get(action=f"{action}.update")
    assert event.actor == staff.user and event.data["fields"] == ["description", "name"]


@pytest.mark.parametrize(
    "kind, fields, fixture, bad",
    [
        (Dataset, DATASET_FIELDS, "dataset", "bad\u202ename"),
        (Dataset, DATASET_FIELDS, "dataset", "TWIN"),
        (RegisteredModel, MODEL_FIELDS, "model", "bad\u200bname"),
        (RegisteredModel, MODEL_FIELDS, "model", "TWIN"),
    ],
)
def test_the_admin_form_refuses_what_the_service_would(request, world, staff, kind, fields, fixture, bad):
    obj = request.getfixturevalue(fixture)
    kind.objects.create(team=world.alpha, name="twin", task="classification")
    response = _post_form(staff, kind, "change", {**fields, "name": bad}, obj.pk)
    assert response.status_code == 200  # the form again, with the error on the name
    assert "name" in response.context["adminform"].form.errors
    obj.refresh_from_db()
    assert obj.name != bad and not AuditEvent.objects.filter(action__endswith=".update").exists()


def test_team_and_fixed_task_are_read_only_on_change(world, staff, dataset, iris_version, model):
    form = staff.get(_url(Dataset, "change", dataset.pk)).context["adminform"].form
    assert "team" not in form.fields and "task" not in form.fields
    form = staff.get(_url(RegisteredModel, "change", model.pk)).context["adminform"].form
    assert "team" not in form.fields and "task" not in form.fields


@pytest.mark.parametrize(
    "kind, action, fixture", [(Dataset, "dataset", "dataset"), (RegisteredModel, "model", "model")]
)
def test_deleting_in_the_admin_goes_through_the_service(request, world, staff, kind, action, fixture):
    obj = request.getfixturevalue(fixture)
    pk = str(obj.pk)
    assert staff.post(_url(kind, "delete", pk), {"post": "yes"}).status_code == 302
    assert not kind.objects.filter(pk=pk).exists()
    event = AuditEvent.objects.get(action=f"{action}.delete")
    assert event.actor == staff.user and event.data["id"] == pk


def test_bulk_delete_in_the_admin_goes_through_the_service(world, staff):
    from datasets_app.services import create_dataset

    made = [create_dataset(actor=world.users["member"], team=world.alpha, name=n, task="regression") for n in "ab"]
    response = staff.post(
        _url(Dataset, "changelist"),
        {"action": "delete_selected", "_selected_action": [str(d.pk) for d in made], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Dataset.objects.exists()
    assert AuditEvent.objects.filter(action="dataset.delete", actor=staff.user).count() == 2


@pytest.fixture
def records(world, iris_version, model_version):
    """One of each immutable record."""
    from models_app.models import PredictionLog

    evaluation = Evaluation.objects.create(
        model_version=model_version, dataset_version=iris_version, metric="accuracy", score=0.9
    )
    alias = ModelAlias.objects.create(model=model_version.model, alias="staging", version=model_version)
    prediction = PredictionLog.objects.create(
        team=world.alpha,
        model=model_version.model,
        model_version=model_version,
        runtime="torch",
        input={"x": 1},
        output={"label": 0},
        latency_ms=1.0,
    )
    return [iris_version, iris_version.blob, model_version, evaluation, alias, prediction]


def test_immutable_records_cannot_be_added_changed_or_deleted_in_the_admin(staff, records):
    for obj in records:
        model = type(obj)
        before = {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields}
        assert staff.get(_url(model, "change", obj.pk)).status_code == 200, model  # viewing is fine
        assert staff.get(_url(model, "add")).status_code == 403, model
        assert staff.post(_url(model, "change", obj.pk), {"status": "archived", "score": "1"}).status_code == 403
        assert staff.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403, model
        obj.refresh_from_db()
        assert {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields} == before, model


def test_lineage_and_training_links_are_read_only_inlines(staff, records):
    version, model_version = records[0], records[2]
    for obj in (version, model_version):
        for inline in staff.get(_url(type(obj), "change", obj.pk)).context["inline_admin_formsets"]:
            assert not inline.has_add_permission and not inline.has_change_permission
            assert not inline.has_delete_permission


def test_archiving_a_version_is_an_action_through_the_service(world, staff, records):
    model_version = records[2]
    url = _url(ModelVersion, "changelist")
    staff.post(url, {"action": "archive", "_selected_action": [str(model_version.pk)]})
    model_version.refresh_from_db()
    assert model_version.status == "ready"  # the alias "staging" holds it: refused
    assert not AuditEvent.objects.filter(action="model_version.archive").exists()

    ModelAlias.objects.filter(version=model_version).delete()
    staff.post(url, {"action": "archive", "_selected_action": [str(model_version.pk)]})
    model_version.refresh_from_db()
    assert model_version.status == "archived"
    event = AuditEvent.objects.get(action="model_version.archive")
    assert event.actor == staff.user and event.data["version"] == model_version.version
    staff.post(url, {"action": "restore", "_selected_action": [str(model_version.pk)]})
    model_version.refresh_from_db()
    assert model_version.status == "ready" and AuditEvent.objects.filter(action="model_version.restore").exists()


def test_a_staff_member_without_the_change_permission_cannot_archive(world, records):
    from django.contrib.auth.models import Permission

    viewer = world.users["viewer"]
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(Permission.objects.get(codename="view_modelversion"))
    client = Client()
    client.force_login(viewer)
    model_version = records[2]
    ModelAlias.objects.filter(version=model_version).delete()
    client.post(_url(ModelVersion, "changelist"), {"action": "archive", "_selected_action": [str(model_version.pk)]})
    model_version.refresh_from_db()
    assert model_version.status == "ready"


def test_predictions_stay_in_the_admin_list(staff, records):
    response = staff.get(_url(PredictionLog, "changelist"))
    assert response.status_code == 200 and str(records[-1].pk) in response.content.decode()


def test_teams_and_members_change_in_the_admin_only_through_services(db, client):
    """A team created in the admin gets its creator as admin and an audit event; a member added, re-roled and
    removed there is audited; the last admin cannot be demoted; tokens cannot be edited or deleted there."""
    from accounts_app.models import ApiToken, AuditEvent, Membership, Role, Team
    from accounts_app.services import issue_token
    from tests.factories import UserFactory

    staff = UserFactory(username="root-admin", is_staff=True, is_superuser=True)
    client.force_login(staff)
    answer = client.post("/admin/accounts_app/team/add/", {"slug": "omega", "name": "Omega", **_empty_inline()})
    assert answer.status_code == 302, answer.context["adminform"].form.errors
    team = Team.objects.get(slug="omega")
    assert Membership.objects.get(team=team, user=staff).role == Role.ADMIN
    assert AuditEvent.objects.filter(action="team.create", team=team, actor=staff).exists()

    ada = UserFactory(username="ada")
    answer = client.post("/admin/accounts_app/membership/add/", {"team": team.pk, "user": ada.pk, "role": Role.MEMBER})
    assert answer.status_code == 302, answer.content[:500]
    membership = Membership.objects.get(team=team, user=ada)
    assert AuditEvent.objects.filter(action="membership.add", team=team, actor=staff).exists()

    answer = client.post(f"/admin/accounts_app/membership/{membership.pk}/change/", {"role": Role.MAINTAINER})
    assert answer.status_code == 302, answer.content[:500]
    assert AuditEvent.objects.filter(action="membership.role", team=team, data__to=Role.MAINTAINER).exists()

    own = Membership.objects.get(team=team, user=staff)
    answer = client.post(f"/admin/accounts_app/membership/{own.pk}/delete/", {"post": "yes"}, follow=True)
    assert Membership.objects.filter(pk=own.pk).exists()  # the last admin stays, and the page says why
    assert "is the last admin of &#x27;omega&#x27;" in answer.content.decode()
    answer = client.post(f"/admin/accounts_app/membership/{own.pk}/change/", {"role": Role.VIEWER}, follow=True)
    assert Membership.objects.get(pk=own.pk).role == Role.ADMIN
    assert "is the last admin" in answer.content.decode()

    client.post(f"/admin/accounts_app/membership/{membership.pk}/delete/", {"post": "yes"})
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEvent.objects.filter(action="membership.remove", team=team, actor=staff).exists()

    token, _ = issue_token(user=ada, name="t")
    assert client.post(f"/admin/accounts_app/apitoken/{token.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert client.get(f"/admin/accounts_app/team/{team.pk}/delete/").status_code == 403


def _empty_inline() -> dict:
    return {"memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"}
