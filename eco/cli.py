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
    eco datasets push flowers.csv --dataset flowers --team demo --target species  (creates it when new)
    eco models card show|edit clf [--file card.md] | eco models promote clf 3 --alias production
    eco models predict clf --input @rows.json [--alias staging | --version 2]
    eco alias list clf | eco alias delete clf staging
    eco runs [list --team demo | show <run id>] | eco export tensorboard <job id> tb/

Following a job (--wait, jobs logs -f, jobs wait): a live progress bar with the latest metrics on a terminal,
plain lines in a pipe, the log on stderr and the final job on stdout with --json; exit 1 unless it succeeded.

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
from pathlib import Path

import httpx

from eco.client import Client, EcoError
from eco.follow import JobFailed, follow


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
    """JSON text (starting with '{' or '['), @FILE (@- for standard input), or the path of a JSON file.
    ValueError (a usage error) for text that does not parse."""
    if value.startswith("@"):
        return json.loads(sys.stdin.read() if value == "@-" else Path(value[1:]).read_text())
    return json.loads(value if value.lstrip()[:1] in ("{", "[") else Path(value).read_text())


class CliError(Exception):
    """A command's own refusal: printed as `eco: message`, ending the command with `code`."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


_CONSOLE = None


def _console():
    """The rich Console every table and live display of this run prints to (stdout)."""
    global _CONSOLE
    if _CONSOLE is None:
        from rich.console import Console

        _CONSOLE = Console(soft_wrap=False)
    return _CONSOLE


_spec = _json_arg


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for distribution in ("eco", "eco-client"):  # the whole server, or the light client (eco/pyproject.toml)
        try:
            return version(distribution)
        except PackageNotFoundError:
            continue
    return "unknown"  # run from a source tree that was never installed


WAIT_HELP = (
    "follow the job until it ends (a live progress bar and the latest metrics on a terminal, plain lines in a "
    "pipe, the log on stderr with --json); exit 1 unless it succeeded"
)


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
    d_push = datasets.add_parser(
        "push", help="upload a file as a new version of a data set, creating the data set when its name is new"
    )
    d_push.add_argument("file", help="a CSV, JSONL, NPZ or Parquet file")
    d_push.add_argument("--dataset", required=True, help="the data set's name (or id); a new name creates it")
    d_push.add_argument("--target", required=True, help="the label column (the label array for NPZ)")
    d_push.add_argument(
        "--task",
        choices=["classification", "regression", "text-classification", "image-classification"],
        help="for a new data set (default: what the file fits: images, text, a label or a number)",
    )
    d_push.add_argument("--format", help="csv, jsonl, npz or parquet (default: from the extension)")
    d_push.add_argument("--delimiter", help="CSV only: the field delimiter (default ',')")
    d_push.add_argument("--na-values", help="a JSON array of the tokens that mean a missing feature value")
    d_push.add_argument("--description", default="", help="a new data set's description (Markdown)")
    d_push.add_argument("--sensitivity", default="internal", help="a new data set's: public, internal, restricted")
    d_push.add_argument("--license", default="", help="a new data set's license, e.g. CC-BY-4.0")
    d_push.set_defaults(run=_push, view=_view_push, names=False)  # the name may be new: _push looks it up

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
    m_list.add_argument(
        "--format", choices=["hf"], help="only models with a version of this format (hf: Hugging Face checkpoints)"
    )
    m_list.set_defaults(run=lambda a: _client().models(team=a.team, weights_format=a.format), view=_view_models)
    m_versions = models.add_parser(
        "versions", help="a model's versions, newest first: format, parameters, the base a fine-tune started from"
    )
    m_versions.add_argument("model", help="a name (looked up in your teams) or an id")
    m_versions.add_argument("--team", help="where the name is looked up (several teams)")
    m_versions.set_defaults(run=lambda a: _client().model_versions(a.model), view=_view_versions)
    m_show = models.add_parser("show", help="one model, with its aliases, by name or id")
    m_show.add_argument("model", help="a name (looked up in your teams) or an id")
    m_show.set_defaults(run=lambda a: _client().model(a.model))
    m_create = models.add_parser("create", help="a new model, without versions")
    m_create.add_argument("team", help="the team slug")
    m_create.add_argument("name", help="unique within the team")
    m_create.add_argument("--task", required=True, help="what it predicts: classification, regression, ...")
    m_create.add_argument("--card", default="", help="the model card (Markdown)")
    m_create.set_defaults(run=lambda a: _client().create_model(team=a.team, name=a.name, task=a.task, card=a.card))
    m_card = models.add_parser("card", help="a model's card (Markdown): show or edit it").add_subparsers(
        dest="card_action", required=True
    )
    c_show = m_card.add_parser("show", help="print the card")
    c_show.add_argument("model", help="the model: a name or an id")
    c_show.set_defaults(run=lambda a: _client().model(a.model), view=_view_card)
    c_edit = m_card.add_parser("edit", help="edit the card in $VISUAL or $EDITOR (or set it from --file) and save it")
    c_edit.add_argument("model", help="the model: a name or an id")
    c_edit.add_argument("--file", help="set the card from this file (- for standard input), without an editor")
    c_edit.set_defaults(run=_card_edit, view=_view_card_saved)
    m_promote = models.add_parser(
        "promote", help="point an alias at a version through the model's gate (exit 4 with the failed checks)"
    )
    m_promote.add_argument("model", help="the model: a name or an id")
    m_promote.add_argument("version", help="the version: a number (3 or v3) or an id")
    m_promote.add_argument("--alias", default="production", help="the alias to move (default production)")
    m_promote.set_defaults(run=_set_alias)
    m_predict = models.add_parser("predict", help="predict with a version of the model (production by default)")
    m_predict.add_argument("model", help="the model: a name or an id")
    m_predict.add_argument(
        "--input", required=True, help="a JSON list of inputs, e.g. [[5.1, 3.5, 1.4, 0.2]], or @FILE (@- for stdin)"
    )
    m_predict.set_defaults(inputs=None)
    m_register = models.add_parser(
        "register",
        help="register a model you bring: an ONNX graph (with its serving spec) or safetensors weights (with an Eco "
        "architecture spec); pickles and TorchScript are refused",
    )
    m_register.add_argument("model", help="the model: a name (created in --team when new) or an id")
    m_register.add_argument("file", help="a .onnx or .safetensors file (its format is told by its content)")
    m_register.add_argument("--spec", required=True, help="JSON text or a .json file (README: Models you bring)")
    m_register.add_argument("--format", choices=["onnx", "safetensors"], help="default: told by the content")
    m_register.add_argument("--run", dest="from_run", help="the tracking run that made it (its lineage)")
    m_register.add_argument("--description", default="", help="a line about this version")
    m_register.add_argument("--metrics", default="{}", help='JSON, e.g. {"accuracy": 0.9}')
    m_register.add_argument("--params", default="{}", help="JSON: how it was trained")
    m_register.add_argument(
        "--dataset-version", action="append", default=[], help="a data set version it was trained on (repeatable)"
    )
    m_register.set_defaults(run=_register, names=False)  # a new name is created: eco.byo looks it up

    m_import = models.add_parser(
        "import",
        help="import a Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer files) as a new "
        "version of format hf; code and pickled weights are refused",
    )
    m_import.add_argument("directory", help="the checkpoint folder, as save_pretrained writes it")
    m_import.add_argument(
        "--model",
        help="the model: a name (created in --team as a text-classification model) or an id; "
        "default: the folder's name",
    )
    m_import.add_argument("--description", default="", help="a line about this version")
    m_import.set_defaults(run=_import, names=False)

    alias = sub.add_parser("alias", help="movable names (production, staging) of model versions").add_subparsers(
        dest="action", required=True
    )
    a_set = alias.add_parser("set", help="point an alias at a version (through the model's gate)")
    a_set.add_argument("model", help="the model: a name or an id")
    a_set.add_argument("alias", help="e.g. production")
    a_set.add_argument("version", help="the version: a number (3 or v3) or an id")
    a_set.set_defaults(run=_set_alias)
    for p in (a_set, m_promote):
        p.add_argument("--force", action="store_true", help="past a failing gate (team admin; audited)")
        p.add_argument("--reason", default="", help="why (required with --force; kept in the audit trail)")
    a_list = alias.add_parser("list", help="a model's aliases and the versions they point at")
    a_list.add_argument("model", help="the model: a name or an id")
    a_list.set_defaults(run=lambda a: _client().aliases(a.model), view=_view_aliases)
    a_delete = alias.add_parser("delete", help="remove an alias (the version stays)")
    a_delete.add_argument("model", help="the model: a name or an id")
    a_delete.add_argument("alias", help="e.g. staging")
    a_delete.set_defaults(run=_delete_alias)

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
    predict.add_argument("inputs", help="JSON list, e.g. [[5.1, 3.5, 1.4, 0.2]], @FILE or a .json file")
    for p in (predict, m_predict):
        which = p.add_mutually_exclusive_group()
        which.add_argument("--alias", help="the alias to serve (default production)")
        which.add_argument("--version", help="a version id or number")
        p.add_argument(
            "--runtime",
            default="auto",
            choices=["auto", "torch", "onnxruntime"],
            help="auto (default): ONNX when exported",
        )
        p.set_defaults(run=_predict, view=_view_predictions)
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
    train.add_argument("--wait", action="store_true", help=WAIT_HELP)
    train.set_defaults(run=_train)

    jobs = sub.add_parser("jobs", help="jobs (runs): submit, list, follow, cancel").add_subparsers(
        dest="action", required=True
    )
    j_submit = jobs.add_parser("submit", help="submit any job kind with a JSON spec")
    j_submit.add_argument("team", help="the team slug")
    j_submit.add_argument(
        "kind",
        choices=["train", "finetune", "evaluate", "process", "export", "quantize", "snapshot"],
        help="the job kind",
    )
    j_submit.add_argument("--spec", required=True, help="JSON text or a .json file")
    j_submit.add_argument("--pool", help="worker pool (default cpu, or gpu with --gpus)")
    j_submit.add_argument("--gpus", type=int, default=0, help="GPUs it needs (default 0)")
    j_submit.add_argument(
        "--processes", type=int, default=1, help="training processes on the CPU (finetune; default 1): N slots"
    )
    j_submit.add_argument("--priority", type=int, default=0, help="-10 to 10; higher runs first (default 0)")
    j_submit.add_argument("--max-retries", type=int, default=0, help="attempts after a failure (default 0)")
    j_submit.add_argument("--timeout", type=int, help="seconds")
    j_submit.add_argument("--wait", action="store_true", help=WAIT_HELP)
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
    j_wait = jobs.add_parser("wait", help="follow the job until it ends (as logs -f); exit 1 unless it succeeded")
    j_wait.add_argument("job", help="the job id")
    j_wait.set_defaults(run=lambda a: follow(_client(), a.job, json_output=a.json, console=_console()))
    j_logs = jobs.add_parser("logs", help="the job's log lines")
    j_logs.add_argument("job", help="the job id")
    j_logs.add_argument("--after", type=int, default=0, help="only lines after this line id")
    j_logs.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="follow until the job ends: a live progress bar and the latest metrics on a terminal, plain lines "
        "in a pipe; exit 1 unless it succeeded",
    )
    j_logs.set_defaults(run=_logs, view=_view_log)
    j_metrics = jobs.add_parser("metrics", help="the job's metric keys, or one series with --key")
    j_metrics.add_argument("job", help="the job id")
    j_metrics.add_argument("--key", help="one metric, e.g. loss")
    j_metrics.add_argument(
        "--max-points", type=int, default=1000, help="min/max buckets beyond this many points; 0 for all"
    )
    j_metrics.set_defaults(
        run=lambda a: _client().metric(a.job, a.key, max_points=a.max_points) if a.key else _client().metric_keys(a.job)
    )

    runs = sub.add_parser("runs", help="tracked runs (runs outside the workers): `eco runs` lists them")
    run_actions = runs.add_subparsers(dest="action")
    r_list = run_actions.add_parser("list", help="tracked runs, newest first: model, params, latest metrics")
    for p in (runs, r_list):
        p.add_argument("--team", help="only this team's (slug)")
        p.add_argument("--status", help="running, succeeded, failed or cancelled (a comma list for several)")
        p.add_argument("--experiment", help="only this experiment's (its id or name; MLflow's runs)")
        p.set_defaults(run=_runs, view=_view_runs)
    r_show = run_actions.add_parser("show", help="one run: its params and every metric's latest, lowest and highest")
    r_show.add_argument("run_id", metavar="run", help="the run (job) id")  # `run` is the handler's attribute
    r_show.set_defaults(run=lambda a: _client().job(a.run_id), view=_view_run)

    export = sub.add_parser("export", help="a job's data in other tools' formats").add_subparsers(
        dest="action", required=True
    )
    x_tb = export.add_parser(
        "tensorboard", help="every metric series of a job, every point, as TensorBoard event files (eco[tensorboard])"
    )
    x_tb.add_argument("job", help="the job (or run) id")
    x_tb.add_argument("directory", help="where the event files go (made when missing): tensorboard --logdir DIR")
    x_tb.set_defaults(run=_export_tensorboard)

    sync = sub.add_parser(
        "sync", help="send tracked runs spooled while the server was unreachable (eco.start_run's spool folders)"
    )
    sync.add_argument(
        "directory",
        nargs="?",
        help="one run's spool folder, or a folder of them (default: ECO_SPOOL_DIR or ~/.local/share/eco/runs)",
    )
    sync.add_argument("--url", help="send to this server instead of the one each run was started on")
    sync.set_defaults(run=_sync)

    evaluations = sub.add_parser("evaluations", help="evaluations; a leaderboard with --dataset-version")
    evaluations.add_argument("--dataset-version", help="scores on this data set version (a leaderboard)")
    evaluations.add_argument("--model-version", help="one model version's evaluations")
    evaluations.set_defaults(
        run=lambda a: _client().evaluations(model_version=a.model_version, dataset_version=a.dataset_version)
    )
    # names wherever people think in names: these commands take a data set or model by name as well as by id
    named_commands = (d_show, d_upload, d_builtin, d_versions, m_show, a_set, a_list, a_delete, g_show)
    m_register.add_argument("--team", help="the team of a new model, and where the name is looked up (several teams)")
    m_import.add_argument("--team", help="the team of a new model, and where the name is looked up (several teams)")
    d_push.add_argument("--team", help="the team of a new data set, and where the name is looked up (several teams)")
    for named in (*named_commands, g_set, predict, m_predict, m_promote, c_show, c_edit):
        named.add_argument("--team", help="the team to look the name up in, when several teams use it")
    train.set_defaults(names=False)  # its model may be a new name: the server creates that model
    _add_json_option(parser)
    return parser


def _register(args) -> dict:
    """A brought model file registered as the model's next version (eco.byo.register_model_file)."""
    from eco import byo
    from eco.formats import RefusedFile

    try:
        return byo.register_model_file(
            _client(),
            model=args.model,
            path=args.file,
            spec=_spec(args.spec),
            format=args.format,
            team=args.team,
            job=args.from_run,
            metrics=json.loads(args.metrics),
            params=json.loads(args.params),
            dataset_versions=args.dataset_version,
            description=args.description,
        )
    except RefusedFile as exc:  # told before anything is sent
        raise EcoError(400, {"detail": f"{args.file}: {exc}"}) from None


def _import(args) -> dict:
    """A Hugging Face checkpoint folder imported as the model's next version (Client.import_checkpoint)."""
    from eco import byo
    from eco.formats import RefusedFile

    folder = Path(args.directory)
    client = _client()
    try:
        model = byo._model_id(client, args.model or folder.resolve().name, team=args.team, task="text-classification")
        return client.import_checkpoint(model, folder, description=args.description)
    except RefusedFile as exc:  # told before anything is sent
        raise EcoError(400, {"detail": f"{folder}: {exc}"}) from None


def _sync(args) -> list[dict]:
    """Runs in the spool sent (eco.tracking.sync); exit 1 when some could not be sent."""
    from eco import tracking

    folder = Path(args.directory) if args.directory else tracking.spool_root()
    if not folder.exists():
        raise SystemExit(f"eco: {folder} does not exist: nothing to send")
    results = tracking.sync(folder, url=args.url, profile=PROFILE)
    if any(r["status"] != "synced" for r in results):
        print("eco: some runs were not sent (see status); run eco sync again later", file=sys.stderr)
        args.exit_code = EXIT_ERROR  # after the answer is printed: scripts see what was and was not sent
    return results


def _add_json_option(parser: argparse.ArgumentParser) -> None:
    """`--json` on every command that runs: the answer as JSON for scripts, not a table for people."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers or not any(a.required for a in subparsers):  # a command that runs without a subcommand
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


def render(result, console, *, order: tuple[str, ...] = PREFERRED) -> None:
    """Prints a command's answer for people (a rich table): a list of objects as rows with the main plain
    fields as columns (those named in `order` first, in that order), one object as field/value rows, anything
    else as it is. `--json` prints the JSON itself instead, for scripts."""
    from rich.table import Table

    if isinstance(result, list) and result and all(isinstance(row, dict) for row in result):
        plain = [k for k in result[0] if not isinstance(result[0][k], dict | list)]
        ranked = [k for k in order if k in plain] + [k for k in plain if k not in order]
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


# --- views: how a command's answer is shown to people (--json prints the answer itself) ---


def _view_log(result, console) -> None:
    if "results" not in result:  # --follow answers the finished job
        render(result, console)
        return
    for line in result["results"]:
        console.print(line["line"], markup=False, highlight=False, emoji=False)


def _view_card(model: dict, console) -> None:
    console.print(
        model["card"] or f"({model['name']} has no card yet: eco models card edit {model['name']})", markup=False
    )


def _view_card_saved(model: dict, console) -> None:
    console.print(f"The card of {model['team']}/{model['name']} holds {len(model['card'])} characters.", markup=False)


def _view_models(models: list[dict], console) -> None:
    rows = [{**m, "formats": ", ".join(m.get("formats") or []) or None} for m in models]
    render(rows, console, order=("id", "name", "team", "task", "formats", "latest_version", "num_versions"))


def _view_versions(versions: list[dict], console) -> None:
    """A model's versions with the base each was fine-tuned (or derived) from, as "<model> v<n>"."""
    names = {v["id"]: f"v{v['version']}" for v in versions}  # most parents are the model's own versions
    rows = []
    for v in versions:
        parent = v.get("parent")
        if parent and parent not in names:  # a fine-tune's base, in another model
            try:
                base = _client().model_version(parent)
                names[parent] = f"{base['model_name']} v{base['version']}"
            except EcoError:  # not visible to the caller
                names[parent] = parent[:8]
        architecture = (v.get("spec") or {}).get("architecture")
        rows.append(
            {
                "version": v["version"],
                "format": v["format"],
                "architecture": architecture if isinstance(architecture, str) else None,
                "parameters": v["num_parameters"],
                "parent": names.get(parent) if parent else None,
                "status": v["status"],
                "id": v["id"],
            }
        )
    render(rows, console, order=("version", "format", "architecture", "parameters", "parent", "status", "id"))


def _view_aliases(aliases: list[dict], console) -> None:
    render(aliases, console, order=("alias", "version_number", "version", "updated_by", "updated_at"))


def _view_predictions(answer: dict, console) -> None:
    rows = []
    for p in answer["predictions"]:
        scores = p.get("scores")
        score = max(scores.values()) if isinstance(scores, dict) and scores else None
        rows.append({"id": p["id"], "label": p["label"], "score": None if score is None else round(score, 4)})
    render(rows, console)
    console.print(f"model version {answer.get('model_version')} ({answer.get('runtime', 'torch')})", markup=False)


def _view_push(result: dict, console) -> None:
    from rich.table import Table

    dataset, version = result["dataset"], result["version"]
    summary = {
        "dataset": f"{dataset['team']}/{dataset['name']}" + (" (created)" if result["created"] else ""),
        "dataset id": dataset["id"],
        "task": dataset["task"] + (f" ({result['inferred_task']['reason']})" if result["inferred_task"] else ""),
        "version": version["version"],
        "version id": version["id"],
        "rows": version["num_rows"],
        "sha256": version["sha256"],
        "size_bytes": version["size_bytes"],
    }
    render(summary, console)
    columns = Table("column", "dtype", "missing", caption=f"target: {version['schema'].get('target')}")
    for column in version["schema"].get("columns", []):
        columns.add_row(column["name"], column["dtype"], str(column.get("missing", 0)))
    console.print(columns)


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else _cell(value)


def _summary(values: dict, width: int) -> str:
    """`k=v k=v …` cut to `width` characters (numbers to 4 significant digits)."""
    text = " ".join(f"{k}={_number(v)}" for k, v in values.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def _run_model(run: dict) -> str | None:
    spec = run.get("spec") or {}
    return spec.get("model_name") or spec.get("model")


def _run_params(run: dict) -> dict:
    """A tracking run's own params (its spec's), else the job's flattened spec."""
    return (run.get("spec") or {}).get("params") or run.get("params") or {}


RUN_COLUMNS = ("id", "status", "model", "params", "metrics", "created_at")


def _view_runs(runs: list[dict], console) -> None:
    rows = [
        {
            "id": r["id"],
            "status": r["status"],
            "model": _run_model(r),
            "params": _summary(_run_params(r), 20),  # the widths let id to metrics fit 120 columns
            "metrics": _summary({k: m["last"] for k, m in (r.get("metric_summaries") or {}).items()}, 28),
            "created_at": r["created_at"],
        }
        for r in runs
    ]
    render(rows, console, order=RUN_COLUMNS)


def _view_run(run: dict, console) -> None:
    from rich.table import Table

    fields = ("id", "kind", "team", "status", "created_by", "created_at", "started_at", "finished_at", "error")
    shown = {k: run.get(k) for k in fields}
    for key in ("name", "experiment_name"):  # an MLflow run's (Eco's own runs have neither)
        if run.get(key):
            shown[key] = run[key]
    if run.get("tags"):
        shown["tags"] = _summary(run["tags"], 60)
    render({**shown, "model": _run_model(run), "params": _run_params(run)}, console)
    summaries = run.get("metric_summaries") or {}
    table = Table("metric", "latest", "step", "lowest", "highest", "points", caption=f"{len(summaries)} metrics")
    for key, m in summaries.items():
        table.add_row(key, *(_number(m.get(f)) for f in ("last", "last_step", "min", "max", "count")))
    console.print(table)


def _view_checks(body: dict, console) -> None:
    """A refused gate's checks, one row each."""
    from rich.table import Table

    table = Table("check", "passed", "detail")
    for check in body["checks"]:
        if isinstance(check, dict):
            table.add_row(
                str(check.get("check") or check.get("name")),
                "yes" if check.get("passed") else "NO",
                check.get("detail", ""),
            )
    console.print(table)


def _wait(client: Client, job: dict, args) -> dict:
    """Follows a job just submitted when --wait asks (see eco.follow), else returns it as submitted."""
    return follow(client, job["id"], json_output=args.json, console=_console()) if args.wait else job


def _logs(args) -> dict:
    client = _client()
    if args.follow:
        return follow(client, args.job, json_output=args.json, console=_console())
    return client.logs(args.job, after=args.after)


def _train(args) -> dict:
    client = _client()
    spec = {"hyperparameters": json.loads(args.hyperparameters), "options": json.loads(args.options)}
    job = client.train(
        team=args.team, dataset_version=args.dataset_version, model=args.model, architecture=args.architecture, **spec
    )
    return _wait(client, job, args)


def _submit(args) -> dict:
    client = _client()
    resources = {
        "gpus": args.gpus,
        **({"pool": args.pool} if args.pool else {}),
        **({"processes": args.processes} if args.processes > 1 else {}),
    }
    job = client.submit_job(
        team=args.team,
        kind=args.kind,
        spec=_spec(args.spec),
        priority=args.priority,
        resources=resources,
        max_retries=args.max_retries,
        timeout_s=args.timeout,
    )
    return _wait(client, job, args)


def _set_alias(args) -> dict:
    """`alias set` and `models promote`: the version may be a number (3, v3) or an id."""
    client = _client()
    version = client.version_id(args.model, args.version)
    return client.set_alias(args.model, args.alias, version, force=args.force, reason=args.reason)


def _delete_alias(args) -> dict:
    _client().delete_alias(args.model, args.alias)
    return {"model": args.model, "alias": args.alias, "deleted": True}


def _predict(args) -> dict:
    inputs = _json_arg(getattr(args, "input", None) or args.inputs)
    if not isinstance(inputs, list):
        raise CliError("the inputs must be a JSON list: rows, texts or images, e.g. [[5.1, 3.5, 1.4, 0.2]]", 2)
    version = args.version
    if version and version.lstrip("vV").isdigit():  # a number (3 or v3), else an id
        version = int(version.lstrip("vV"))
    return _client().predict(args.model, inputs, alias=args.alias, version=version, runtime=args.runtime)


def _edit_text(text: str, suffix: str) -> str:
    """`text` after the person edited it in $VISUAL or $EDITOR (vi without either). CliError when the editor
    fails, so nothing is saved."""
    import shlex
    import subprocess
    import tempfile

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="eco-") as folder:
        path = Path(folder) / f"card{suffix}"
        path.write_text(text)
        try:
            finished = subprocess.run([*shlex.split(editor), str(path)])
        except FileNotFoundError:
            raise CliError(f"the editor {editor!r} was not found; set EDITOR, or pass --file") from None
        if finished.returncode != 0:
            raise CliError(f"the editor {editor!r} exited with {finished.returncode}; nothing was saved")
        return path.read_text()


def _card_edit(args) -> dict:
    """PATCHes the model card from --file (- for standard input) or from an editor session on the card."""
    client = _client()
    model = client.model(args.model)
    if args.file:
        card = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    else:
        card = _edit_text(model["card"], ".md")
    if card == model["card"]:
        print(f"eco: the card of {model['team']}/{model['name']} is unchanged; nothing was saved", file=sys.stderr)
        return model
    return client.update_model(model["id"], card=card)


def _only_team(client: Client, what: str) -> str:
    """The caller's team when they have exactly one; CliError (usage) naming their teams otherwise."""
    teams = [t["slug"] for t in client.me()["teams"]]
    if len(teams) == 1:
        return teams[0]
    raise CliError(f"{what}: name its team with --team (yours: {', '.join(teams) or 'none'})", EXIT_USAGE)


def _push(args) -> dict:
    """`datasets push`: the file as a new version of the data set named --dataset, which is created first (in
    --team, with --task or the task the file fits) when the name is new. A file the local reading refuses
    creates nothing; a data set created here is deleted again when the server refuses the upload."""
    from eco.datafiles import inspect_file

    try:
        from ml.formats import FormatError
    except ImportError:  # the light client: no local reading; the server checks the file
        FormatError = None  # noqa: N806
    client = _client()
    na_values = json.loads(args.na_values) if args.na_values is not None else None
    try:
        dataset = client.dataset(client.resolve("datasets", args.dataset, team=args.team))
    except EcoError as exc:
        if exc.status != 404:
            raise
        dataset = None
    inferred = None
    if dataset is None:
        team = args.team or _only_team(client, f"no data set is named {args.dataset!r} in your teams; to create it")
        if FormatError is None and not args.task:
            raise CliError("this light install cannot read the file to infer its task: pass --task", EXIT_USAGE)
        if FormatError is not None:
            try:
                inferred = inspect_file(
                    args.file, args.target, fmt=args.format, delimiter=args.delimiter, na_values=na_values
                )
            except FormatError as exc:
                raise CliError(f"{args.file}: {exc}") from None
        task = args.task or inferred["task"]
        dataset = client.create_dataset(
            team=team,
            name=args.dataset,
            task=task,
            description=args.description,
            sensitivity=args.sensitivity,
            license=args.license,
        )
        created = True
    else:
        created = False
        if args.task and args.task != dataset["task"]:
            message = f"{dataset['team']}/{dataset['name']} is a {dataset['task']} data set, not {args.task}"
            raise CliError(message, EXIT_USAGE)
    try:
        version = client.upload_version(
            dataset["id"],
            args.file,
            target=args.target,
            format=args.format,
            na_values=na_values,
            delimiter=args.delimiter,
        )
    except BaseException:
        if created:  # nothing half-made stays behind
            try:
                client.delete_dataset(dataset["id"])
            except EcoError as exc:
                print(f"eco: the new data set {dataset['id']} could not be deleted again: {exc}", file=sys.stderr)
        raise
    return {
        "dataset": dataset,
        "created": created,
        "inferred_task": {"task": inferred["task"], "reason": inferred["reason"]}
        if inferred and not args.task
        else None,
        "version": version,
    }


def _runs(args) -> list[dict]:
    return _client().jobs(team=args.team, status=args.status, kind="tracking", experiment=args.experiment)


def _export_tensorboard(args) -> dict:
    from eco.tensorboard import MissingExtra, export_job

    try:
        return export_job(_client(), args.job, args.directory)
    except MissingExtra as exc:
        raise CliError(str(exc)) from None


EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_CONFLICT = 0, 1, 2, 3, 4


def exit_code(status: int) -> int:
    """The exit code for an API error answer: 3 for 404, 4 for 409, else 1."""
    return {404: EXIT_NOT_FOUND, 409: EXIT_CONFLICT}.get(status, EXIT_ERROR)


def main(argv: list[str] | None = None) -> int:
    """Runs one command; returns its exit code (see the module's docstring). argparse exits with 2 itself."""
    global PROFILE
    args = build_parser().parse_args(argv)
    PROFILE = args.profile
    as_json = getattr(args, "json", False)
    try:
        _resolve_names(args)
        result = args.run(args)
        if as_json:
            print(json.dumps(result, indent=2), flush=True)
        else:
            console = _console()
            getattr(args, "view", render)(result, console)
            console.file.flush()
        if getattr(args, "exit_code", None) is not None:
            return args.exit_code
    except EcoError as exc:
        if as_json or not isinstance(exc.body, dict):
            print(json.dumps(exc.body, indent=2), file=sys.stderr)
        else:
            print(f"eco: {exc.body.get('detail') or exc}", file=sys.stderr)
            if isinstance(exc.body.get("checks"), list) and exc.body["checks"]:
                from rich.console import Console

                _view_checks(exc.body, Console(stderr=True, soft_wrap=False))
        return exit_code(exc.status)
    except JobFailed as exc:
        if as_json:
            print(json.dumps(exc.job, indent=2))
        else:
            render(exc.job, _console())
        print(f"eco: job {exc.job['id']} {exc.job['status']}: {exc.job.get('error', '')}", file=sys.stderr)
        return EXIT_ERROR
    except CliError as exc:
        print(f"eco: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        job = getattr(args, "job", None)
        print(f"\neco: stopped{f' following; job {job} goes on' if job else ''}", file=sys.stderr)
        return 130
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
