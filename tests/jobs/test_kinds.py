"""The job-kind registry: every kind is one module holding its spec check, the JSON Schema of its spec and its
runner; the list of kinds (model choices, API filters, the schemas served) and dispatch come from the registry,
and each kind's schema accepts what its check accepts."""

import sys
import types

import pytest
from django.core.exceptions import ValidationError
from jsonschema import Draft202012Validator

from jobs_app import kinds, runners, specs
from jobs_app.models import Job, JobKind
from jobs_app.serializers import JobKindSerializer, JobSubmitSerializer
from tests.helpers import register_trained


@pytest.fixture
def trained_version(world, model, iris_version):
    return register_trained(actor=world.users["member"], model=model, dataset_version=iris_version, epochs=2)


def _valid_specs(iris_version, model, trained_version) -> dict[str, list[dict]]:
    """Specs each kind's check accepts: the smallest one and one that sets every field."""
    data, source = str(iris_version.pk), str(trained_version.pk)
    feature = next(c["name"] for c in iris_version.schema["columns"] if c["name"] != iris_version.target)
    return {
        "train": [
            {"dataset_version": data, "model": "new-model"},
            {
                "dataset_version": data,
                "model": str(model.pk),
                "architecture": "mlp",
                "hyperparameters": {"epochs": 3, "batch_size": 8, "lr": 0.01, "weight_decay": 0.0001, "seed": 2},
                "options": {"hidden": [32, 16], "dropout": 0.2, "impute": "median"},
                "split": {"seed": 3, "validation": 0.0, "test": 0.25, "stratify": False},
                "description": "every field",
            },
        ],
        "evaluate": [
            {"model_version": source, "dataset_version": data},
            {"model_version": source, "dataset_version": data, "split": "validation", "description": "x"},
        ],
        "process": [
            {"dataset_version": data, "steps": [{"op": "dropna"}]},
            {
                "dataset_version": data,
                "steps": [
                    {"op": "dedupe", "columns": [feature]},
                    {"op": "filter", "column": feature, "operator": ">", "value": 1.5},
                    {"op": "filter", "column": feature, "operator": "not_null"},
                    {"op": "standardize", "columns": [feature]},
                    {"op": "map_labels", "mapping": {"setosa": "small"}},
                    {"op": "sample", "fraction": 0.5, "seed": 7, "complement": True},
                    {"op": "sample", "n": 20},
                    {"op": "fillna", "columns": [feature], "strategy": "median"},
                    {"op": "fillna", "value": 0},
                    {"op": "cast", "columns": [feature], "to": "string"},
                    {"op": "cast", "columns": [feature], "to": "float64", "decimal": ","},
                ],
                "description": "every op",
            },
        ],
        "export": [
            {"model_version": source, "format": "onnx"},
            {"model_version": source, "format": "torchscript", "dataset_version": data, "split": "train"},
        ],
        "quantize": [
            {"model_version": source},
            {"model_version": source, "dtype": "int8", "dataset_version": data, "split": "test", "description": "x"},
        ],
        "snapshot": [
            {"dataset_version": data, "model": str(model.pk)},
            {"dataset_version": data, "model": str(model.pk), "until": "2026-11-29T12:00:00Z", "description": "x"},
        ],
        "tracking": [
            {},
            {"model": str(model.pk), "dataset_version": data, "params": {"lr": 0.01}, "description": "x"},
        ],
    }


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(kinds.get(name).SPEC_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_kinds_everywhere_are_the_registry():
    names = list(kinds.REGISTRY)
    assert {"train", "evaluate", "process", "export", "quantize", "snapshot"} <= set(names)
    assert JobKind.values == names
    assert [value for value, _ in Job._meta.get_field("kind").choices] == names
    assert list(JobSubmitSerializer().fields["kind"].choices) == names
    assert list(JobKindSerializer().fields["kind"].choices) == names
    assert JobKind.TRAIN == "train" and JobKind.SNAPSHOT == "snapshot"


@pytest.mark.parametrize("name", list(kinds.REGISTRY))
def test_each_kind_module_holds_a_description_a_valid_schema_a_check_and_a_runner(name):
    module = kinds.get(name)
    assert isinstance(module.DESCRIPTION, str) and module.DESCRIPTION.strip()
    Draft202012Validator.check_schema(module.SPEC_SCHEMA)
    assert module.SPEC_SCHEMA["$schema"] == kinds.SCHEMA_DIALECT and module.SPEC_SCHEMA["type"] == "object"
    assert callable(module.check) and callable(module.run)
    assert runners._runner(name) is module.run


def test_a_kind_added_to_the_registry_is_dispatched_to(world, monkeypatch):
    """The one line in REGISTRY is all the task's dispatch and the spec check need."""
    echo = types.ModuleType("tests_echo_kind")
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    echo.DESCRIPTION, echo.SPEC_SCHEMA = "echo", schema
    echo.check = lambda *, user, team, spec: {"echoed": spec}
    echo.run = lambda job, reporter: None
    monkeypatch.setitem(sys.modules, "tests_echo_kind", echo)
    monkeypatch.setitem(kinds.REGISTRY, "echo", "tests_echo_kind")
    user = world.users["member"]
    assert specs.check_spec(user=user, team=world.alpha, kind="echo", spec={"a": 1}) == {"echoed": {"a": 1}}
    assert runners._runner("echo") is echo.run
    assert kinds.describe("echo") == {
        "kind": "echo",
        "description": "echo",
        "spec_schema": schema,
        "distributed": False,
        "preemptible": False,
    }
    with pytest.raises(ValidationError) as refused:  # the schema's properties are the spec's only fields
        specs.check_spec(user=user, team=world.alpha, kind="echo", spec={"a": 1, "b": 2})
    assert "spec.b" in refused.value.message_dict


def test_each_schema_accepts_the_specs_its_check_accepts(world, iris_version, model, trained_version):
    user = world.users["member"]
    for name, cases in _valid_specs(iris_version, model, trained_version).items():
        validator = _validator(name)
        for spec in cases:
            specs.check_spec(user=user, team=world.alpha, kind=name, spec=spec)  # raises if refused
            errors = [e.message for e in validator.iter_errors(spec)]
            assert not errors, (name, spec, errors)


def test_each_schema_refuses_what_every_check_refuses(world, iris_version, model, trained_version):
    """An unknown field and a missing required field are refused by both, so a form cannot send them."""
    from django.core.exceptions import ValidationError

    from ml.errors import UserError

    user = world.users["member"]
    for name, cases in _valid_specs(iris_version, model, trained_version).items():
        validator = _validator(name)
        smallest = cases[0]
        with pytest.raises((ValidationError, UserError)):
            specs.check_spec(user=user, team=world.alpha, kind=name, spec={**smallest, "bogus": 1})
        assert not validator.is_valid({**smallest, "bogus": 1})
        for field in kinds.get(name).SPEC_SCHEMA["required"]:
            partial = {k: v for k, v in smallest.items() if k != field}
            with pytest.raises((ValidationError, UserError)):
                specs.check_spec(user=user, team=world.alpha, kind=name, spec=partial)
            assert not validator.is_valid(partial), (name, field)


def test_the_train_schema_lists_each_architectures_options():
    schema = kinds.get("train").SPEC_SCHEMA
    validator = _validator("train")
    base = {"dataset_version": "6f1d7c8e-4a55-4c38-9a57-2f6c1e0b3c11", "model": "m"}
    assert validator.is_valid({**base, "architecture": "cnn", "options": {"channels": [8]}})
    assert not validator.is_valid({**base, "architecture": "mlp", "options": {"channels": [8]}})
    for name in ("mlp", "cnn", "textcnn", "transformer"):  # a data option every architecture takes
        assert validator.is_valid({**base, "architecture": name, "options": {"impute": "drop_rows"}})
        assert not validator.is_valid({**base, "architecture": name, "options": {"impute": "zero"}})
    assert schema["properties"]["hyperparameters"]["properties"]["epochs"]["type"] == "integer"


def test_the_api_serves_every_kind_and_its_schema(world, anon):
    client = world.client("viewer")
    response = client.get("/api/v1/job-kinds/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["count"] == len(kinds.REGISTRY)
    assert [k["kind"] for k in body["results"]] == list(kinds.REGISTRY)
    for item in body["results"]:
        assert set(item) == {"kind", "description", "spec_schema", "distributed", "preemptible"}
        assert item["spec_schema"] == kinds.get(item["kind"]).SPEC_SCHEMA
        assert item["distributed"] == (item["kind"] in kinds.DISTRIBUTED)
    assert {k["kind"] for k in body["results"] if k["distributed"]} == {"finetune", "train"}
    one = client.get("/api/v1/job-kinds/process/")
    assert one.status_code == 200 and one.json() == kinds.describe("process")
    missing = client.get("/api/v1/job-kinds/nope/")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    assert anon.get("/api/v1/job-kinds/").status_code == 401


def test_the_openapi_schema_describes_the_kinds_endpoints(world):
    schema = world.client("viewer").get("/api/schema/?format=json").json()
    listed = schema["paths"]["/api/v1/job-kinds/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["schema"]["$ref"].endswith("/PaginatedJobKindList")
    kind = schema["components"]["schemas"]["JobKind"]
    assert set(kind["properties"]) == {"kind", "description", "spec_schema", "distributed", "preemptible"}
    assert kind["properties"]["spec_schema"]["type"] == "object"
