"""`eco`: the command line for the Eco REST API.

    eco login --url http://127.0.0.1:8000 --username admin        (asks for the password; saves a token)
    eco me | eco teams
    eco datasets list [--team demo] | eco datasets create demo iris --task classification
    eco datasets upload <dataset id> iris.csv --target species | eco datasets builtin <dataset id> iris
    eco versions show|preview|lineage <version id> | eco versions download <version id> out.csv
    eco models list | eco models create demo clf --task classification
    eco models register <model id> w.safetensors --spec spec.json [--metrics '{"accuracy": 0.9}']
    eco alias set <model id> production <version id>

Settings: ECO_URL and ECO_TOKEN, or the file written by `eco login` (~/.config/eco/config.json, mode 600).
Output is JSON, so it pipes into jq.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

import httpx

from eco.client import Client, EcoError

CONFIG = Path(os.environ.get("ECO_CONFIG", Path.home() / ".config" / "eco" / "config.json"))


def _saved() -> dict:
    try:
        return json.loads(CONFIG.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _client() -> Client:
    saved = _saved()
    url = os.environ.get("ECO_URL") or saved.get("url") or "http://127.0.0.1:8000"
    token = os.environ.get("ECO_TOKEN") or saved.get("token")
    if not token:
        raise SystemExit("eco: not logged in; run `eco login` or set ECO_TOKEN")
    return Client(url, token)


def _login(args) -> dict:
    password = args.password or os.environ.get("ECO_PASSWORD") or getpass.getpass("Password: ")
    client, record = Client.login(args.url, args.username, password)
    client.close()
    CONFIG.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(CONFIG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others, not even briefly
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps({"url": args.url, "token": record["token"]}))
    return {
        "logged_in_as": args.username,
        "url": args.url,
        "token_prefix": record["prefix"],
        "expires_at": record["expires_at"],
        "saved_to": str(CONFIG),
    }


def _spec(value: str) -> dict:
    """JSON text (starting with '{') or the path of a JSON file."""
    return json.loads(value if value.lstrip().startswith("{") else Path(value).read_text())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eco", description="Eco ML lifecycle platform")
    sub = parser.add_subparsers(dest="command", required=True)

    login = sub.add_parser("login", help="get an API token and save it")
    login.add_argument("--url", default=os.environ.get("ECO_URL", "http://127.0.0.1:8000"))
    login.add_argument("--username", required=True)
    login.add_argument("--password", help="(prompted for when omitted)")
    login.set_defaults(run=_login)

    sub.add_parser("me").set_defaults(run=lambda a: _client().me())
    sub.add_parser("teams").set_defaults(run=lambda a: _client().teams())

    datasets = sub.add_parser("datasets").add_subparsers(dest="action", required=True)
    d_list = datasets.add_parser("list")
    d_list.add_argument("--team")
    d_list.add_argument("--search")
    d_list.set_defaults(run=lambda a: _client().datasets(team=a.team, search=a.search))
    d_create = datasets.add_parser("create")
    d_create.add_argument("team")
    d_create.add_argument("name")
    d_create.add_argument("--task", required=True)
    d_create.add_argument("--sensitivity", default="internal")
    d_create.add_argument("--license", default="")
    d_create.add_argument("--description", default="")
    d_create.set_defaults(
        run=lambda a: _client().create_dataset(
            team=a.team,
            name=a.name,
            task=a.task,
            sensitivity=a.sensitivity,
            license=a.license,
            description=a.description,
        )
    )
    d_upload = datasets.add_parser("upload", help="upload a CSV, JSONL or NPZ file as a new version")
    d_upload.add_argument("dataset")
    d_upload.add_argument("file")
    d_upload.add_argument("--target", required=True)
    d_upload.add_argument("--format")
    d_upload.set_defaults(run=lambda a: _client().upload_version(a.dataset, a.file, target=a.target, format=a.format))
    d_builtin = datasets.add_parser("builtin", help="a version from a scikit-learn bundled data set")
    d_builtin.add_argument("dataset")
    d_builtin.add_argument("name", choices=["digits", "iris", "wine", "breast_cancer", "diabetes"])
    d_builtin.set_defaults(run=lambda a: _client().builtin_version(a.dataset, a.name))
    d_versions = datasets.add_parser("versions")
    d_versions.add_argument("dataset")
    d_versions.set_defaults(run=lambda a: _client().versions(a.dataset))

    versions = sub.add_parser("versions", help="dataset versions").add_subparsers(dest="action", required=True)
    for name, method in (("show", "dataset_version"), ("lineage", "lineage")):
        p = versions.add_parser(name)
        p.add_argument("version")
        p.set_defaults(run=lambda a, m=method: getattr(_client(), m)(a.version))
    v_preview = versions.add_parser("preview")
    v_preview.add_argument("version")
    v_preview.add_argument("--limit", type=int, default=20)
    v_preview.set_defaults(run=lambda a: _client().preview(a.version, a.limit))
    v_download = versions.add_parser("download")
    v_download.add_argument("version")
    v_download.add_argument("destination")
    v_download.set_defaults(run=lambda a: {"saved_to": str(_client().download(a.version, a.destination))})

    models = sub.add_parser("models").add_subparsers(dest="action", required=True)
    m_list = models.add_parser("list")
    m_list.add_argument("--team")
    m_list.set_defaults(run=lambda a: _client().models(team=a.team))
    m_create = models.add_parser("create")
    m_create.add_argument("team")
    m_create.add_argument("name")
    m_create.add_argument("--task", required=True)
    m_create.add_argument("--card", default="")
    m_create.set_defaults(run=lambda a: _client().create_model(team=a.team, name=a.name, task=a.task, card=a.card))
    m_register = models.add_parser("register", help="register safetensors weights + architecture spec")
    m_register.add_argument("model")
    m_register.add_argument("weights")
    m_register.add_argument("--spec", required=True, help="JSON text or a .json file")
    m_register.add_argument("--metrics", default="{}")
    m_register.add_argument("--params", default="{}")
    m_register.add_argument("--dataset-version", action="append", default=[])
    m_register.set_defaults(
        run=lambda a: _client().register_version(
            a.model,
            a.weights,
            _spec(a.spec),
            metrics=json.loads(a.metrics),
            params=json.loads(a.params),
            dataset_versions=a.dataset_version,
        )
    )

    alias = sub.add_parser("alias").add_subparsers(dest="action", required=True)
    a_set = alias.add_parser("set")
    a_set.add_argument("model")
    a_set.add_argument("alias")
    a_set.add_argument("version")
    a_set.set_defaults(run=lambda a: _client().set_alias(a.model, a.alias, a.version))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except EcoError as exc:
        print(json.dumps(exc.body, indent=2), file=sys.stderr)
        return 1
    except (OSError, ValueError, httpx.HTTPError) as exc:
        print(f"eco: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
