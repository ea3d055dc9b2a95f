"""`eco`: the command line for the Eco REST API.

    eco login --url http://127.0.0.1:8000 --username admin        (asks for the password; saves a token)
    eco me | eco teams
    eco datasets list [--team demo] | eco datasets create demo iris --task classification
    eco datasets upload <dataset id> iris.csv --target species | eco datasets builtin <dataset id> iris
    eco versions show|preview|lineage <version id> | eco versions download <version id> out.csv
    eco models list | eco models create demo clf --task classification | eco models show clf [--team demo]
    eco models register <model id> w.safetensors --spec spec.json [--metrics '{"accuracy": 0.9}']
    eco alias set <model id> production <version id>
    eco train demo <dataset version id> digits-cnn --architecture cnn --hyperparameters '{"epochs": 5}' --wait
    eco jobs submit demo process --spec '{"dataset_version": "...", "steps": [{"op": "dropna"}]}'
    eco jobs list [--team demo --status running --kind train] | eco jobs show|cancel|wait <job id>
    eco jobs logs <job id> [--follow] | eco jobs metrics <job id> [--key loss --max-points 200]
    eco evaluations [--dataset-version <id>]    (a leaderboard when filtered by dataset version)

Settings: ECO_URL and ECO_TOKEN, or the profile `eco login` saved (--profile NAME, default "default") in
$XDG_CONFIG_HOME/eco/config.json (~/.config/eco/ without it; ECO_CONFIG names another file), mode 600.
    eco login --url URL --token eco_...      (a token made in the dashboard) | eco logout
Output is a table for people; --json on any command prints the API's JSON for scripts (and jq). A reader
that stops early (`| head`) ends the command quietly.

Data sets and models are taken by name (looked up in your teams; --team when several use it) or by id.

Exit codes: 0 done; 1 an error (the server's answer, or no server to answer); 2 a usage error (a bad
option or argument); 3 not found (404); 4 a conflict (409: a gate that refuses a move, a job that is over).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from pathlib import Path

import httpx

from eco.client import Client, EcoError


def _config_path() -> Path:
    """ECO_CONFIG, else $XDG_CONFIG_HOME/eco/config.json (~/.config when XDG_CONFIG_HOME is unset)."""
    if os.environ.get("ECO_CONFIG"):
        return Path(os.environ["ECO_CONFIG"])
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "eco" / "config.json"


CONFIG = _config_path()
PROFILE = "default"  # --profile sets it before a command runs


def _profiles() -> dict[str, dict]:
    """{profile name: {url, token}} from the config file; a file from before profiles is the default one."""
    try:
        saved = json.loads(CONFIG.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(saved, dict):
        return {}
    if "profiles" not in saved:
        return {"default": saved} if saved.get("token") else {}
    return {k: v for k, v in saved["profiles"].items() if isinstance(v, dict)}


def _save_profiles(profiles: dict[str, dict]) -> None:
    CONFIG.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(CONFIG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others, not even briefly
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps({"profiles": profiles}))


def _saved() -> dict:
    return _profiles().get(PROFILE, {})


def _client() -> Client:
    saved = _saved()
    url = os.environ.get("ECO_URL") or saved.get("url") or "http://127.0.0.1:8000"
    token = os.environ.get("ECO_TOKEN") or saved.get("token")
    if not token:
        raise SystemExit(f"eco: not logged in (profile {PROFILE}); run `eco login` or set ECO_TOKEN")
    return Client(url, token)


def _login(args) -> dict:
    """With --token: checks it (GET me/) and saves it. Else a username and password (prompted for when left
    out) buy a new API token, which is saved."""
    if args.token:
        client = Client(args.url, args.token)
        try:
            username = client.me()["username"]
        finally:
            client.close()
        token, record = args.token, {"prefix": args.token[:12], "expires_at": None}
    else:
        username = args.username or input("Username: ")
        password = args.password or os.environ.get("ECO_PASSWORD") or getpass.getpass("Password: ")
        client, record = Client.login(args.url, username, password)
        client.close()
        token = record["token"]
    profiles = _profiles()
    profiles[PROFILE] = {"url": args.url, "token": token}
    _save_profiles(profiles)
    return {
        "logged_in_as": username,
        "url": args.url,
        "profile": PROFILE,
        "token_prefix": record["prefix"],
        "expires_at": record["expires_at"],
        "saved_to": str(CONFIG),
    }


def _logout(args) -> dict:
    """Forgets the profile's saved URL and token (the token itself stays valid until revoked or expired)."""
    profiles = _profiles()
    removed = profiles.pop(PROFILE, None)
    _save_profiles(profiles)
    return {"profile": PROFILE, "logged_out": removed is not None, "saved_to": str(CONFIG)}


def _json_arg(value: str):
    """JSON text (starting with '{' or '[') or the path of a JSON file."""
    return json.loads(value if value.lstrip()[:1] in ("{", "[") else Path(value).read_text())


_spec = _json_arg


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("eco")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eco", description="Eco ML lifecycle platform")
    parser.add_argument("--version", action="version", version=f"eco {_version()}")
    parser.add_argument("--profile", default="default", help="which saved login to use (several servers or users)")
    sub = parser.add_subparsers(dest="command", required=True)

    login = sub.add_parser("login", help="get an API token and save it")
    login.add_argument(
        "--url", default=os.environ.get("ECO_URL", "http://127.0.0.1:8000"), help="the server (default: ECO_URL)"
    )
    login.add_argument("--token", help="an API token to use (made in the dashboard's Team page); checked, then saved")
    login.add_argument("--username", help="(prompted for when neither it nor --token is given)")
    login.add_argument("--password", help="(prompted for when omitted)")
    login.set_defaults(run=_login)
    sub.add_parser("logout", help="forget the profile's saved URL and token").set_defaults(run=_logout)

    sub.add_parser("me", help="who you are and your teams").set_defaults(run=lambda a: _client().me())
    teams = sub.add_parser("teams", help="the teams you belong to, with your role")
    teams.set_defaults(run=lambda a: _client().teams())

    datasets = sub.add_parser("datasets", help="data sets and their versions").add_subparsers(
        dest="action", required=True
    )
    d_list = datasets.add_parser("list", help="the data sets you can see")
    d_list.add_argument("--team", help="only this team's (slug)")
    d_list.add_argument("--search", help="text in the name or description")
    d_list.set_defaults(run=lambda a: _client().datasets(team=a.team, search=a.search))
    d_create = datasets.add_parser("create", help="a new, empty data set")
    d_create.add_argument("team", help="the team slug")
    d_create.add_argument("name", help="unique within the team")
    d_create.add_argument(
        "--task", required=True, help="classification, regression, text-classification or image-classification"
    )
    d_create.add_argument("--sensitivity", default="internal", help="public, internal (default) or restricted")
    d_create.add_argument("--license", default="", help="e.g. CC-BY-4.0")
    d_create.add_argument("--description", default="", help="what the data is (Markdown)")
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
    d_upload.add_argument("dataset", help="the data set: a name or an id")
    d_upload.add_argument("file", help="the file to upload")
    d_upload.add_argument("--target", required=True, help="the label column (the label array for NPZ)")
    d_upload.add_argument("--format", help="csv, jsonl, npz or parquet (default: from the extension)")
    d_upload.add_argument(
        "--na-values",
        help='a JSON array of the tokens that mean a missing feature value (default ["NA","N/A","NaN","null","NULL"])',
    )
    d_upload.add_argument("--delimiter", help="CSV only: the field delimiter (default ','; \\t for a tab)")
    d_upload.set_defaults(
        run=lambda a: _client().upload_version(
            a.dataset,
            a.file,
            target=a.target,
            format=a.format,
            na_values=json.loads(a.na_values) if a.na_values is not None else None,
            delimiter=a.delimiter,
        )
    )
    d_builtin = datasets.add_parser("builtin", help="a version from a scikit-learn bundled data set")
    d_builtin.add_argument("dataset", help="the data set: a name or an id")
    d_builtin.add_argument(
        "name", choices=["digits", "iris", "wine", "breast_cancer", "diabetes"], help="which scikit-learn set"
    )
    d_builtin.set_defaults(run=lambda a: _client().builtin_version(a.dataset, a.name))
    d_show = datasets.add_parser("show", help="one data set, by name or id")
    d_show.add_argument("dataset", help="a name (looked up in your teams) or an id")
    d_show.set_defaults(run=lambda a: _client().dataset(a.dataset))
    d_versions = datasets.add_parser("versions", help="a data set's versions, newest first")
    d_versions.add_argument("dataset", help="the data set: a name or an id")
    d_versions.set_defaults(run=lambda a: _client().versions(a.dataset))

    versions = sub.add_parser("versions", help="dataset versions").add_subparsers(dest="action", required=True)
    for name, method, what in (
        ("show", "dataset_version", "a version: schema, rows, hash, source"),
        ("lineage", "lineage", "the versions it came from and those made from it"),
    ):
        p = versions.add_parser(name, help=what)
        p.add_argument("version", help="the data set version id")
        p.set_defaults(run=lambda a, m=method: getattr(_client(), m)(a.version))
    v_preview = versions.add_parser("preview", help="rows of a version, as training reads them")
    v_preview.add_argument("version", help="the data set version id")
    v_preview.add_argument("--limit", type=int, default=20, help="rows to show (default 20)")
    v_preview.add_argument("--offset", type=int, default=0, help="rows to skip")
    v_preview.set_defaults(run=lambda a: _client().preview(a.version, a.limit, a.offset))
    v_download = versions.add_parser("download", help="the version's file, byte for byte")
    v_download.add_argument("version", help="the data set version id")
    v_download.add_argument("destination", help="the file to write")
    v_download.set_defaults(run=lambda a: {"saved_to": str(_client().download(a.version, a.destination))})

    models = sub.add_parser("models", help="registered models and their versions").add_subparsers(
        dest="action", required=True
    )
    m_list = models.add_parser("list", help="the models you can see")
    m_list.add_argument("--team", help="only this team's (slug)")
    m_list.set_defaults(run=lambda a: _client().models(team=a.team))
    m_show = models.add_parser("show", help="one model, with its aliases, by name or id")
    m_show.add_argument("model", help="a name (looked up in your teams) or an id")
    m_show.set_defaults(run=lambda a: _client().model(a.model))
    m_create = models.add_parser("create", help="a new model, without versions")
    m_create.add_argument("team", help="the team slug")
    m_create.add_argument("name", help="unique within the team")
    m_create.add_argument("--task", required=True, help="what it predicts: classification, regression, ...")
    m_create.add_argument("--card", default="", help="the model card (Markdown)")
    m_create.set_defaults(run=lambda a: _client().create_model(team=a.team, name=a.name, task=a.task, card=a.card))
    m_register = models.add_parser("register", help="register safetensors weights + architecture spec")
    m_register.add_argument("model", help="the model: a name or an id")
    m_register.add_argument("weights", help="a .safetensors file (pickles are refused)")
    m_register.add_argument("--spec", required=True, help="JSON text or a .json file")
    m_register.add_argument("--metrics", default="{}", help='JSON, e.g. {"accuracy": 0.9}')
    m_register.add_argument("--params", default="{}", help="JSON: how it was trained")
    m_register.add_argument(
        "--dataset-version", action="append", default=[], help="a data set version it was trained on (repeatable)"
    )
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

    alias = sub.add_parser("alias", help="movable names (production, staging) of model versions").add_subparsers(
        dest="action", required=True
    )
    a_set = alias.add_parser("set", help="point an alias at a version (through the model's gate)")
    a_set.add_argument("model", help="the model: a name or an id")
    a_set.add_argument("alias", help="e.g. production")
    a_set.add_argument("version", help="the model version id")
    a_set.add_argument("--force", action="store_true", help="past a failing gate (team admin; audited)")
    a_set.add_argument("--reason", default="", help="why (required with --force; kept in the audit trail)")
    a_set.set_defaults(run=lambda a: _client().set_alias(a.model, a.alias, a.version, force=a.force, reason=a.reason))

    gate = sub.add_parser("gate", help="a model's promotion gate").add_subparsers(dest="action", required=True)
    g_show = gate.add_parser("show", help="the gate's settings")
    g_show.add_argument("model", help="the model: a name or an id")
    g_show.set_defaults(run=lambda a: _client().gate(a.model))
    g_set = gate.add_parser("set", help="set the checks a version must pass to take a protected alias")
    g_set.add_argument("model", help="the model: a name or an id")
    g_set.add_argument("dataset_version", help="the pinned evaluation set")
    g_set.add_argument("--metric", help="the metric compared (default: the task's headline metric)")
    g_set.add_argument("--split", default="all", help="rows of the pinned set scored: all (default), test, ...")
    g_set.add_argument(
        "--min-gain", type=float, default=0.0, help="how much the candidate must beat the incumbent by (default 0)"
    )
    g_set.add_argument(
        "--max-overlap",
        type=int,
        default=0,
        help="rows of the pinned set the candidate's training data may share (leakage check; default 0)",
    )
    g_set.add_argument("--card-field", action="append", default=[], help="a model-card section it needs")
    g_set.add_argument("--alias", action="append", default=[], help="an alias it protects (production)")
    g_set.set_defaults(
        run=lambda a: _client().set_gate(
            a.model,
            dataset_version=a.dataset_version,
            split=a.split,
            min_gain=a.min_gain,
            max_overlap=a.max_overlap,
            required_card_fields=a.card_field,
            aliases=a.alias,
            **({"metric": a.metric} if a.metric else {}),
        )
    )

    predict = sub.add_parser("predict", help="predict with a model (by alias, production by default)")
    predict.add_argument("model", help="the model: a name or an id")
    predict.add_argument("inputs", help="JSON list, e.g. [[5.1, 3.5, 1.4, 0.2]], or a .json file")
    predict.add_argument("--alias", help="the alias to serve (default production)")
    predict.add_argument("--version", help="a version id or number")
    predict.add_argument(
        "--runtime", default="auto", choices=["auto", "torch", "onnxruntime"], help="auto (default): ONNX when exported"
    )
    predict.set_defaults(
        run=lambda a: _client().predict(
            a.model,
            _json_arg(a.inputs),
            alias=a.alias,
            version=int(a.version) if a.version and a.version.isdigit() else a.version,
            runtime=a.runtime,
        )
    )
    feedback = sub.add_parser("feedback", help="the true label of a prediction")
    feedback.add_argument("prediction", help="the prediction id (predict prints it)")
    feedback.add_argument("label", help="the true label (or value)")
    feedback.set_defaults(run=lambda a: _client().feedback(a.prediction, a.label))

    triggers = sub.add_parser("triggers", help="retrain policies").add_subparsers(dest="action", required=True)
    t_list = triggers.add_parser("list", help="retrain triggers")
    t_list.add_argument("--team", help="only this team's (slug)")
    t_list.set_defaults(run=lambda a: _client().triggers(a.team))
    t_create = triggers.add_parser("create", help="retrain a model once enough feedback has come in")
    t_create.add_argument("team", help="the team slug")
    t_create.add_argument("model", help="the model: a name or an id")
    t_create.add_argument("base_dataset_version", help="the data the labelled predictions are added to")
    t_create.add_argument(
        "--min-feedback", type=int, default=100, help="labelled predictions that fire it (default 100)"
    )
    t_create.add_argument("--train", default="{}", help='train spec, e.g. {"architecture": "cnn"}')
    t_create.add_argument("--alias", default="production", help="promote to this alias if the gate passes")
    t_create.add_argument("--name", default="", help="a name for people")
    t_create.set_defaults(
        run=lambda a: _client().create_trigger(
            team=a.team,
            model=a.model,
            base_dataset_version=a.base_dataset_version,
            min_feedback=a.min_feedback,
            train=_json_arg(a.train),
            promote_if={"alias": a.alias},
            name=a.name,
        )
    )
    for name, method, what in (
        ("runs", "trigger_runs", "a trigger's runs: snapshot, retrain, evaluate, promote"),
        ("fire", "fire_trigger", "fire a trigger now, whatever its feedback count"),
    ):
        p = triggers.add_parser(name, help=what)
        p.add_argument("trigger", help="the trigger id")
        p.set_defaults(run=lambda a, m=method: getattr(_client(), m)(a.trigger))

    train = sub.add_parser("train", help="submit a train job (and optionally wait for it)")
    train.add_argument("team", help="the team slug")
    train.add_argument("dataset_version", help="the data set version id to train on")
    train.add_argument("model", help="a model id, or a name (a new model is created on success)")
    train.add_argument(
        "--architecture", help="mlp, cnn, textcnn, transformer, ...: GET /api/v1/job-kinds/train/ lists them"
    )
    train.add_argument("--hyperparameters", default="{}", help='JSON, e.g. {"epochs": 5, "lr": 0.001}')
    train.add_argument("--options", default="{}", help='architecture options, e.g. {"hidden": [128]}')
    train.add_argument("--wait", action="store_true", help="print the log while it runs; return the finished job")
    train.set_defaults(run=_train)

    jobs = sub.add_parser("jobs", help="jobs (runs): submit, list, follow, cancel").add_subparsers(
        dest="action", required=True
    )
    j_submit = jobs.add_parser("submit", help="submit any job kind with a JSON spec")
    j_submit.add_argument("team", help="the team slug")
    j_submit.add_argument(
        "kind", choices=["train", "evaluate", "process", "export", "quantize", "snapshot"], help="the job kind"
    )
    j_submit.add_argument("--spec", required=True, help="JSON text or a .json file")
    j_submit.add_argument("--pool", help="worker pool (default cpu, or gpu with --gpus)")
    j_submit.add_argument("--gpus", type=int, default=0, help="GPUs it needs (default 0)")
    j_submit.add_argument("--priority", type=int, default=0, help="-10 to 10; higher runs first (default 0)")
    j_submit.add_argument("--max-retries", type=int, default=0, help="attempts after a failure (default 0)")
    j_submit.add_argument("--timeout", type=int, help="seconds")
    j_submit.add_argument("--wait", action="store_true", help="print the log while it runs; return the finished job")
    j_submit.set_defaults(run=_submit)
    j_list = jobs.add_parser("list", help="jobs, newest first")
    j_list.add_argument("--team", help="only this team's (slug)")
    j_list.add_argument("--status", help="queued, running, succeeded, failed or cancelled")
    j_list.add_argument("--kind", help="train, evaluate, process, ...")
    j_list.set_defaults(run=lambda a: _client().jobs(team=a.team, status=a.status, kind=a.kind))
    for name, method, what in (("show", "job", "one job, with its outputs"), ("cancel", "cancel_job", "stop a job")):
        p = jobs.add_parser(name, help=what)
        p.add_argument("job", help="the job id")
        p.set_defaults(run=lambda a, m=method: getattr(_client(), m)(a.job))
    j_wait = jobs.add_parser("wait", help="print the log until the job ends; exit 1 unless it succeeded")
    j_wait.add_argument("job", help="the job id")
    j_wait.set_defaults(run=lambda a: _follow(_client(), a.job))
    j_logs = jobs.add_parser("logs", help="the job's log lines")
    j_logs.add_argument("job", help="the job id")
    j_logs.add_argument("--after", type=int, default=0, help="only lines after this line id")
    j_logs.add_argument("--follow", action="store_true", help="keep printing lines until the job ends")
    j_logs.set_defaults(run=_logs)
    j_metrics = jobs.add_parser("metrics", help="the job's metric keys, or one series with --key")
    j_metrics.add_argument("job", help="the job id")
    j_metrics.add_argument("--key", help="one metric, e.g. loss")
    j_metrics.add_argument(
        "--max-points", type=int, default=1000, help="min/max buckets beyond this many points; 0 for all"
    )
    j_metrics.set_defaults(
        run=lambda a: _client().metric(a.job, a.key, max_points=a.max_points) if a.key else _client().metric_keys(a.job)
    )

    evaluations = sub.add_parser("evaluations", help="evaluations; a leaderboard with --dataset-version")
    evaluations.add_argument("--dataset-version", help="scores on this data set version (a leaderboard)")
    evaluations.add_argument("--model-version", help="one model version's evaluations")
    evaluations.set_defaults(
        run=lambda a: _client().evaluations(model_version=a.model_version, dataset_version=a.dataset_version)
    )
    # names wherever people think in names: these commands take a data set or model by name as well as by id
    for named in (d_show, d_upload, d_builtin, d_versions, m_show, m_register, a_set, g_show, g_set, predict):
        named.add_argument("--team", help="the team to look the name up in, when several teams use it")
    train.set_defaults(names=False)  # its model may be a new name: the server creates that model
    _add_json_option(parser)
    return parser


def _add_json_option(parser: argparse.ArgumentParser) -> None:
    """`--json` on every command that runs: the answer as JSON for scripts, not a table for people."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        parser.add_argument("--json", action="store_true", help="print the answer as JSON (for scripts)")
    for action in subparsers:
        for child in action.choices.values():
            _add_json_option(child)


def _resolve_names(args) -> None:
    """Replaces a data set or model given by name (args.dataset, args.model) with its id, looked up in
    args.team when given (EcoError 404 when none has the name, 409 with the candidates when several do)."""
    if not getattr(args, "names", True):
        return
    refs = [(attr, kind) for attr, kind in (("dataset", "datasets"), ("model", "models")) if getattr(args, attr, None)]
    if refs:
        client = _client()
        for attr, kind in refs:
            setattr(args, attr, client.resolve(kind, getattr(args, attr), team=getattr(args, "team", None)))


# the columns a list shows first, when its rows have them; then any other plain field, up to MAX_COLUMNS
PREFERRED = ("id", "name", "team", "version", "kind", "status", "task", "alias", "key", "count", "score", "created_at")
MAX_COLUMNS = 7


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, dict | list):
        text = json.dumps(value, separators=(", ", ": "))
        return text if len(text) <= 60 else text[:59] + "…"
    return str(value)


def render(result, console) -> None:
    """Prints a command's answer for people (a rich table): a list of objects as rows with the main plain
    fields as columns, one object as field/value rows, anything else as it is. `--json` prints the JSON
    itself instead, for scripts."""
    from rich.table import Table

    if isinstance(result, list) and result and all(isinstance(row, dict) for row in result):
        plain = [k for k in result[0] if not isinstance(result[0][k], dict | list)]
        ranked = [k for k in PREFERRED if k in plain] + [k for k in plain if k not in PREFERRED]
        columns, used = [], 1
        for key in ranked[:MAX_COLUMNS]:  # as many whole columns as the terminal holds, in rank order
            width = max(len(key), *(len(_cell(row.get(key))) for row in result)) + 3
            if columns and used + width > console.width:
                break
            columns.append(key)
            used += width
        rows = len(result)
        table = Table(caption=f"{rows} row{'s' if rows != 1 else ''}")
        for key in columns:
            # ids are what people copy into the next command: never cut
            table.add_column(key, no_wrap=key == "id", min_width=36 if key == "id" else None)
        for row in result:
            table.add_row(*(_cell(row.get(k)) for k in columns))
        console.print(table)
    elif isinstance(result, list):
        console.print("(none)" if not result else "\n".join(_cell(item) for item in result))
    elif isinstance(result, dict):
        table = Table("field", "value", show_header=False)
        for key, value in result.items():
            table.add_row(key, _cell(value))
        console.print(table)
    else:
        console.print(_cell(result))


class JobFailed(Exception):
    def __init__(self, job: dict):
        super().__init__(job.get("error") or job["status"])
        self.job = job


def _follow(client: Client, job_id: str, poll: float = 1.0) -> dict:
    """Print the job's log lines (to stderr, so stdout stays JSON) until it ends; return the job."""
    after = 0
    while True:
        page = client.logs(job_id, after=after)
        for line in page["results"]:
            print(line["line"], file=sys.stderr)
        after = page["next_after"]
        if page["status"] in ("succeeded", "failed", "cancelled") and not page["results"]:
            job = client.job(job_id)
            if job["status"] != "succeeded":
                raise JobFailed(job)
            return job
        if not page["results"]:
            time.sleep(poll)


def _logs(args) -> dict:
    client = _client()
    if args.follow:
        return _follow(client, args.job)
    return client.logs(args.job, after=args.after)


def _train(args) -> dict:
    client = _client()
    spec = {"hyperparameters": json.loads(args.hyperparameters), "options": json.loads(args.options)}
    job = client.train(
        team=args.team, dataset_version=args.dataset_version, model=args.model, architecture=args.architecture, **spec
    )
    return _follow(client, job["id"]) if args.wait else job


def _submit(args) -> dict:
    client = _client()
    resources = {"gpus": args.gpus, **({"pool": args.pool} if args.pool else {})}
    job = client.submit_job(
        team=args.team,
        kind=args.kind,
        spec=_spec(args.spec),
        priority=args.priority,
        resources=resources,
        max_retries=args.max_retries,
        timeout_s=args.timeout,
    )
    return _follow(client, job["id"]) if args.wait else job


EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_CONFLICT = 0, 1, 2, 3, 4


def exit_code(status: int) -> int:
    """The exit code for an API error answer: 3 for 404, 4 for 409, else 1."""
    return {404: EXIT_NOT_FOUND, 409: EXIT_CONFLICT}.get(status, EXIT_ERROR)


def main(argv: list[str] | None = None) -> int:
    """Runs one command; returns its exit code (see the module's docstring). argparse exits with 2 itself."""
    global PROFILE
    args = build_parser().parse_args(argv)
    PROFILE = args.profile
    try:
        _resolve_names(args)
        result = args.run(args)
        if getattr(args, "json", False):
            print(json.dumps(result, indent=2), flush=True)
        else:
            from rich.console import Console

            console = Console(soft_wrap=False)
            render(result, console)
            console.file.flush()
    except EcoError as exc:
        print(json.dumps(exc.body, indent=2), file=sys.stderr)
        return exit_code(exc.status)
    except JobFailed as exc:
        print(json.dumps(exc.job, indent=2))
        print(f"eco: job {exc.job['id']} {exc.job['status']}: {exc.job.get('error', '')}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # the reader went away (`eco jobs list | head`): what is left of stdout must not be flushed at exit
        # (that would raise again), so it points at /dev/null; see the Python docs on SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except ValueError as exc:  # a bad argument: JSON that does not parse, a number out of range
        print(f"eco: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, httpx.HTTPError) as exc:  # no server to answer, a file that cannot be read
        print(f"eco: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
