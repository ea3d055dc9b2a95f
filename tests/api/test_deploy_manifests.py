"""The run files under platform/: the supervisord configurations `make run` and a production machine start, the
compose file and the Kubernetes manifests. No container runtime or cluster runs here, so the compose file is
validated against the Compose Specification's JSON Schema (vendored in platform/schemas/, see its README) and
every manifest against the Kubernetes schemas the `kubernetes-validate` package ships, offline and strictly
(an unknown field, a typo like `livenesProbe`, fails). A deliberately broken copy of each must fail too, so a
validator that accepts anything cannot pass these tests."""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from django.urls import reverse
from kubernetes_validate.utils import latest_version

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = ROOT / "platform"
K8S = PLATFORM / "k8s"
MANIFESTS = sorted(K8S.rglob("*.yaml"))
SUPERVISED = ("web", "worker", "reaper")
SECRET_KEYS = {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "CACHE_URL"}
K8S_VERSION = latest_version()


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def resources() -> dict[tuple[str, str], dict]:
    """Every Kubernetes resource under platform/k8s/, by (kind, name)."""
    found = {}
    for path in MANIFESTS:
        for doc in documents(path):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def k8s_errors(doc: dict) -> str | None:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{'.'.join(map(str, exc.path))}: {exc.message}"
    return None


def compose() -> dict:
    return yaml.safe_load((PLATFORM / "compose.yaml").read_text())


def compose_errors(doc: dict) -> list[str]:
    schema = json.loads((PLATFORM / "schemas" / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]


def health_path() -> str:
    return reverse("health")  # config/urls.py: /api/v1/health/ (config/health.py)


# --- Kubernetes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", MANIFESTS, ids=[str(p.relative_to(K8S)) for p in MANIFESTS])
def test_every_kubernetes_manifest_validates_against_the_published_schema(path):
    docs = documents(path)
    assert docs, f"{path} holds no resource"
    for doc in docs:
        assert k8s_errors(doc) is None, (path.name, doc["kind"], k8s_errors(doc))


def _web_deployment() -> dict:
    return copy.deepcopy(resources()[("Deployment", "eco-web")])


def _container(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]["containers"][0]


def _typo(doc):
    container = _container(doc)
    container["livenesProbe"] = container.pop("livenessProbe")  # strict: an unknown field


def _wrong_type(doc):
    doc["spec"]["replicas"] = "two"


def _missing_required(doc):
    del _container(doc)["name"]


def _bad_probe(doc):
    _container(doc)["readinessProbe"]["httpGet"]["port"] = {"name": "http"}


@pytest.mark.parametrize("breakage", [_typo, _wrong_type, _missing_required, _bad_probe])
def test_a_broken_copy_of_a_manifest_fails_validation(breakage):
    doc = _web_deployment()
    assert k8s_errors(doc) is None
    breakage(doc)
    assert k8s_errors(doc) is not None


def test_an_unknown_kind_or_version_is_refused_not_skipped():
    """kubernetes-validate's command line only warns about a kind it has no schema for; the test must not."""
    doc = _web_deployment()
    doc["apiVersion"] = "apps/v1beta9"
    with pytest.raises(kubernetes_validate.utils.SchemaNotFoundError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_every_process_is_a_deployment_that_restarts_probes_and_requests_resources():
    found = resources()
    configmap = found[("ConfigMap", "eco-config")]["data"]
    for component in SUPERVISED:
        deployment = found[("Deployment", f"eco-{component}")]
        pod = deployment["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Always", component
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(), component
        for container in pod["containers"]:
            assert container["livenessProbe"] and container["readinessProbe"], component
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), component
            assert {"name": "eco-config"} in [ref.get("configMapRef") for ref in container["envFrom"]], component
            secrets = {
                e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "secretKeyRef" in e["valueFrom"]
            }
            assert set(secrets) >= SECRET_KEYS, component
            assert {ref["name"] for ref in secrets.values()} == {"eco-secrets"}
            assert all(ref["key"] == name for name, ref in secrets.items())
    assert found[("Deployment", "eco-reaper")]["spec"]["replicas"] == 1  # one reaper per deployment
    assert found[("Deployment", "eco-reaper")]["spec"]["strategy"]["type"] == "Recreate"  # never two, even briefly
    assert set(found[("Secret", "eco-secrets")]["stringData"]) == SECRET_KEYS  # the example names every key
    assert "DATABASE_URL" not in configmap and "SECRET_KEY" not in configmap  # secrets are not configuration


def test_the_web_readiness_probe_asks_the_health_endpoint_as_an_allowed_host():
    found = resources()
    web = _container(found[("Deployment", "eco-web")])
    probe = web["readinessProbe"]["httpGet"]
    assert probe["path"] == health_path()
    assert probe["port"] in [p["name"] for p in web["ports"]]
    headers = {h["name"]: h["value"] for h in probe["httpHeaders"]}
    allowed = found[("ConfigMap", "eco-config")]["data"]["ALLOWED_HOSTS"].split(",")
    assert headers["Host"] in allowed  # else Django answers 400 and the pod never becomes ready
    assert headers["X-Forwarded-Proto"] == "https"  # else SECURE_SSL_REDIRECT answers 301
    service = found[("Service", "eco-web")]
    assert (
        service["spec"]["selector"].items()
        <= found[("Deployment", "eco-web")]["spec"]["template"]["metadata"]["labels"].items()
    )
    assert service["spec"]["ports"][0]["targetPort"] == probe["port"]


def test_the_example_secret_is_not_applied_with_the_rest_and_its_key_is_refused():
    """`kubectl apply -f platform/k8s/` does not descend into example/; and its placeholder key is too short for
    config/settings.py, so a deployment that applied it anyway fails closed."""
    top = {doc["kind"] for path in K8S.glob("*.yaml") for doc in documents(path)}
    assert "Secret" not in top
    assert len(resources()[("Secret", "eco-secrets")]["stringData"]["SECRET_KEY"]) < 50


# --- compose --------------------------------------------------------------------------------------------------


def test_the_compose_file_validates_against_the_compose_specification():
    assert compose_errors(compose()) == []


def _compose_typo(doc):
    doc["services"]["web"]["restarts"] = "always"


def _compose_bad_condition(doc):
    doc["services"]["web"]["depends_on"]["postgres"]["condition"] = "service_ready"


def _compose_bad_healthcheck(doc):
    doc["services"]["web"]["healthcheck"]["test"] = {"http": "/api/v1/health/"}  # a string or a list


def _compose_bad_ports(doc):
    doc["services"]["web"]["ports"] = "8000:8000"


@pytest.mark.parametrize(
    "breakage", [_compose_typo, _compose_bad_condition, _compose_bad_healthcheck, _compose_bad_ports]
)
def test_a_broken_copy_of_the_compose_file_fails_validation(breakage):
    doc = compose()
    breakage(doc)
    assert compose_errors(doc) != []


def test_compose_restarts_every_service_and_checks_its_health():
    services = compose()["services"]
    assert {"postgres", "redis", "web", "worker", "reaper"} <= set(services)
    for name in ("postgres", "redis", *SUPERVISED):
        assert services[name]["restart"] in ("always", "unless-stopped"), name
        assert services[name]["healthcheck"]["test"], name
    web_check = " ".join(services["web"]["healthcheck"]["test"])
    assert f"http://127.0.0.1:8000{health_path()}" in web_check and '"X-Forwarded-Proto": "https"' in web_check
    assert "localhost" in services["web"]["environment"]["ALLOWED_HOSTS"].split(",")  # the check's Host
    for name in SUPERVISED:  # the migrations first; the same settings (and volume) for every process
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert set(services[name]["environment"]) >= SECRET_KEYS
        assert "media:/var/lib/eco/media" in services[name]["volumes"]
    assert services["migrate"]["command"][-2:] == ["migrate", "--noinput"]


# --- supervisord ----------------------------------------------------------------------------------------------


def supervisord_programs(name: str, monkeypatch, tmp_path) -> dict:
    """The programs of a supervisord configuration, read by supervisord's own parser (what it would refuse, this
    refuses)."""
    from supervisor.options import ServerOptions

    monkeypatch.setenv("ECO_VAR_DIR", str(tmp_path))  # platform/supervise sets it
    options = ServerOptions()
    options.realize(args=["-c", str(PLATFORM / name)])
    # one group: a stop signals every process at once (supervisord stops one group after another)
    assert [group.name for group in options.process_group_configs] == ["eco"]
    return {p.name: p for group in options.process_group_configs for p in group.process_configs}


def procfile() -> dict[str, str]:
    lines = (PLATFORM / "Procfile").read_text().splitlines()
    return dict(re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line).groups() for line in lines if re.match(r"^\w+:", line))


def test_make_run_supervises_the_procfile_commands_and_restarts_each(monkeypatch, tmp_path):
    programs = supervisord_programs("supervisord.conf", monkeypatch, tmp_path)
    assert set(programs) == {*SUPERVISED, "demo"}
    lines = procfile()
    for name in SUPERVISED:
        program = programs[name]
        # the Procfile's line as it is, through /bin/sh (the ${VAR:-default}s), exec'ed: the pid supervisord
        # watches is the process itself
        assert shlex.split(program.command) == ["/bin/sh", "-c", f"exec {lines[name]}"], name
        assert program.autorestart is not False and program.startretries >= 3, name
        assert program.killasgroup, name  # a process killed for not stopping takes its children with it
        assert program.stdout_logfile == "/dev/fd/1" and program.redirect_stderr, name  # the terminal
        assert Path(program.directory).resolve() == ROOT
    assert programs["demo"].autorestart is False  # runs once
    assert (ROOT / "Makefile").read_text().count("platform/supervise") == 1


def test_the_production_run_file_supervises_web_worker_and_reaper(monkeypatch, tmp_path):
    programs = supervisord_programs("supervisord.production.conf", monkeypatch, tmp_path)
    assert set(programs) == set(SUPERVISED)
    for name, program in programs.items():
        assert program.autorestart is not False and program.killasgroup, name
    assert programs["web"].command == "gunicorn -c config/gunicorn.py config.wsgi"  # config/gunicorn.py: 0.0.0.0
    dockerfile = (PLATFORM / "Dockerfile").read_text()
    assert 'CMD ["platform/supervise", "production"]' in dockerfile
    assert not (PLATFORM / "Procfile.production").exists()  # one production run file
    assert not (PLATFORM / "__init__.py").exists()  # a package named `platform` would shadow the standard library
