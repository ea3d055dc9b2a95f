"""Every model of every app has a factory in tests/factories.py, and each one makes a valid row."""

import inspect

import factory
import pytest
from django.apps import apps

from tests import factories

FACTORIES = {
    f._meta.model: f
    for _, f in inspect.getmembers(factories, inspect.isclass)
    if issubclass(f, factory.django.DjangoModelFactory) and f._meta.model is not None
}


def test_every_model_has_a_factory():
    ours = [m for m in apps.get_models() if m._meta.app_label.endswith("_app")]
    assert sorted(m._meta.label for m in ours if m not in FACTORIES) == []


@pytest.mark.parametrize("model", sorted(FACTORIES, key=lambda m: m._meta.label), ids=lambda m: m._meta.label)
def test_each_factory_makes_a_valid_row(db, model):
    made = FACTORIES[model]()
    again = FACTORIES[model]()  # sequences keep unique fields apart
    assert model.objects.filter(pk=made.pk).exists() and model.objects.filter(pk=again.pk).exists()
    exclude = {f.name for f in model._meta.fields if f.name in ("password", "pk")}
    made.full_clean(exclude=exclude)  # fields, choices and constraints hold


def test_a_version_factory_makes_a_readable_blob(db):
    from datasets_app.blobs import open_blob

    version = factories.DatasetVersionFactory()
    with open_blob(version.blob) as fh:
        assert fh.read().startswith(b"a,b\n")
    assert factories.DatasetVersionFactory(dataset=version.dataset).version == 2


def test_a_token_factory_token_authenticates(db):
    from rest_framework.test import APIClient

    token = factories.ApiTokenFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.raw}")
    assert client.get("/api/v1/me/").json()["username"] == token.user.username
